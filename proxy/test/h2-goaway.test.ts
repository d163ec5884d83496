// HTTP/2 session shutdown between a sidecar and its upstream (a peer sidecar
// in the mesh): a GOAWAY while requests stream in must not fail any request.
// Streams the upstream accepted finish on the old session; streams above the
// GOAWAY's last-stream-id were never processed and are sent once more on a
// new session, with no retry policy configured. And the listener side: idle
// HTTP/2 sessions close only without open streams, and HTTP/1.1 over the
// TLS+h2 listener gets the keep-alive idle timeout.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import tls from 'node:tls';
import { Agent, request } from 'undici';
import { Registry } from 'prom-client';
import type { Sidecar } from '../sidecar.js';
import { selfSigned } from './certs.js';
import { close, listen, node, RecordingTelemetry, startSidecar } from './helpers.js';
import { load, portOf } from './resilience-helpers.js';

/** An h2c upstream that closes each session (GOAWAY) after `every` streams and answers after a tick. */
async function goawayUpstream(every: number): Promise<http2.Http2Server & { sessions: number; streams: number }> {
  const s = http2.createServer() as http2.Http2Server & { sessions: number; streams: number };
  s.sessions = 0;
  s.streams = 0;
  s.on('session', (session) => {
    s.sessions++;
    let n = 0;
    session.on('error', () => {});
    session.on('stream', () => {
      // Closed on the next turn, not inside the 'stream' callback: Node 20's http2 corrupts its heap
      // now and then when a session is closed from within nghttp2's header callback (the process
      // aborts with "malloc(): mismatching next->prev_size" — the vitest worker that "exited
      // unexpectedly"). Streams the client sent meanwhile still cross the GOAWAY.
      if (++n === every) setImmediate(() => session.close());
    });
  });
  s.on('stream', (stream) => {
    s.streams++;
    stream.on('error', () => {});
    setTimeout(() => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200 });
      stream.end(`ok ${s.streams}`);
    }, 1);
  });
  return listen(s);
}

/** A slow h2c upstream: answers after `ms`. */
async function slowUpstream(ms: number): Promise<http2.Http2Server> {
  const s = http2.createServer();
  s.on('stream', (stream) => {
    stream.on('error', () => {});
    setTimeout(() => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200 });
      stream.end('slow');
    }, ms);
  });
  return listen(s);
}

function bootstrap(opts: { goawayPort: number; slowPort: number; cert: { cert: string; key: string } }): string {
  const cluster = (name: string, port: number) => `
    - name: ${name}
      connectTimeout: 1s
      upstreamProtocol: http2
      loadAssignment:
        endpoints: [{ address: { address: 127.0.0.1, port: ${port} } }]`;
  return `${node}
staticResources:
  secrets:
    - name: server-cert
      tlsCertificate:
        certificateChain: ${JSON.stringify(opts.cert.cert)}
        privateKey: ${JSON.stringify(opts.cert.key)}
  listeners:
    - name: bulk
      address: { address: 127.0.0.1, port: 0 }
      filterChains:
        - name: plain
          filter: { kind: http, rdsRouteConfigName: routes }
    - name: http
      address: { address: 127.0.0.1, port: 0 }
      filterChains:
        - name: tls
          filterChainMatch: { transportProtocol: tls }
          transportSocket: { certificateSecret: server-cert }
          filter:
            kind: http
            rdsRouteConfigName: routes
            limits: { idleTimeout: 150ms }
        - name: plain
          filter:
            kind: http
            rdsRouteConfigName: routes
            limits: { idleTimeout: 150ms }
  routeConfigurations:
    - name: routes
      virtualHosts:
        - name: all
          domains: ["*"]
          routes:
            - match: { prefix: /goaway }
              route: { cluster: goaway }
            - match: { prefix: /slow }
              route: { cluster: slow }
  clusters:${cluster('goaway', opts.goawayPort)}${cluster('slow', opts.slowPort)}
`;
}

describe('HTTP/2 GOAWAY and idle sessions', () => {
  let goaway: Awaited<ReturnType<typeof goawayUpstream>>;
  let slow: http2.Http2Server;
  let sidecar: Sidecar;
  let port: number;
  let bulkPort: number;
  const registry = new Registry();
  const agent = new Agent({ connections: 64 });

  beforeAll(async () => {
    goaway = await goawayUpstream(50);
    slow = await slowUpstream(600);
    const telemetry = Object.assign(new RecordingTelemetry(), { registry });
    const started = await startSidecar(bootstrap({ goawayPort: portOf(goaway), slowPort: portOf(slow), cert: await selfSigned() }), telemetry);
    sidecar = started.sidecar;
    port = started.port();
    bulkPort = started.port('bulk');
  });

  afterAll(async () => {
    await sidecar?.close();
    await agent.close();
    await Promise.all([close(goaway), close(slow)]);
  });

  it('an upstream closing its sessions under load: every request answered, unprocessed streams sent again', async () => {
    const N = 600;
    const results = await load(N, 16, async () => {
      const r = await request(`http://127.0.0.1:${bulkPort}/goaway`, { dispatcher: agent });
      await r.body.text();
      return { status: r.statusCode, error: r.headers['x-tsmesh-error'] };
    });
    const failed = results.filter((r) => r.status !== 200);
    expect(failed).toEqual([]);
    // The race really happened: many sessions were closed under load and some streams crossed a GOAWAY.
    expect(goaway.sessions).toBeGreaterThan(10);
    expect(goaway.streams).toBe(N); // each request processed exactly once
    const retried = Number(/tsmesh_cluster_upstream_rq_unprocessed_retry\{cluster_name="goaway"\} (\d+)/.exec(await registry.metrics())?.[1]);
    expect(retried).toBeGreaterThan(0);
  });

  it('an idle HTTP/2 session is not closed while a stream on it is open, and is closed once idle', async () => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', () => {});
    const events: string[] = [];
    client.on('goaway', () => events.push('goaway'));
    const status = await new Promise<number>((resolve, reject) => {
      const st = client.request({ ':path': '/slow' });
      st.on('response', (h) => {
        events.push('response');
        resolve(Number(h[':status']));
      });
      st.on('error', reject);
      st.resume();
    });
    expect(status).toBe(200);
    // The open stream was quiet for 4× the idle timeout: no GOAWAY before its response.
    await new Promise<void>((r) => (client.closed ? r() : client.once('close', () => r())));
    expect(events).toEqual(['response', 'goaway']);
  });

  it('HTTP/1.1 over the TLS+h2 listener: an idle keep-alive connection is closed after the idle timeout', async () => {
    const sock = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    sock.on('error', () => {}); // a reset instead of a FIN must fail the assertion below, not the worker
    await new Promise((r) => sock.once('secureConnect', r));
    expect(sock.alpnProtocol).toBe('http/1.1');
    let got = '';
    sock.on('data', (c: Buffer) => (got += c.toString()));
    sock.write('GET /goaway HTTP/1.1\r\nhost: x\r\n\r\n');
    // Keep-alive: the server ends the idle connection itself (before the fix it stayed open for good).
    await new Promise((r) => sock.once('close', r));
    expect(got).toMatch(/^HTTP\/1\.1 200/);
  });
});
