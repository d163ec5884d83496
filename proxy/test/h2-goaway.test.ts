// HTTP/2 session shutdown between a sidecar and its upstream (a peer sidecar
// in the mesh): a GOAWAY while requests stream in must not fail any request.
// Streams the upstream accepted finish on the old session; streams above the
// GOAWAY's last-stream-id were never processed and are sent once more on a
// new session, with no retry policy configured. And the listener side: idle
// HTTP/2 sessions close only without open streams, and HTTP/1.1 over the
// TLS+h2 listener gets the keep-alive idle timeout.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http2 from 'node:http2';
import { frame, headerBlock, PREFACE, rawConnection, u32 } from './h2-frames.js';
import tls from 'node:tls';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Agent, request } from 'undici';
import { Registry } from 'prom-client';
import type { Sidecar } from '../sidecar.js';
import { selfSigned } from './certs.js';
import { close, listen, node, RecordingTelemetry, startSidecar } from './helpers.js';
import { load, portOf } from './resilience-helpers.js';

// The upstream that closes its sessions runs in a child process: Node 20's http2 aborts now and then
// with heap corruption ("malloc(): mismatching next->prev_size") when one process churns through
// server and client sessions under GOAWAY — in the test worker that was the vitest "worker exited
// unexpectedly" (reproduced in-process about once per 2,000 requests; with the upstream in its own
// process the sidecar side never crashed in 14 runs of 6,000). A peer sidecar is another process too.
const GOAWAY_UPSTREAM = `
const http2 = require('node:http2');
const every = Number(process.argv[1]);
const s = http2.createServer();
let sessions = 0, streams = 0;
s.on('session', (session) => {
  sessions++;
  let n = 0;
  session.on('error', () => {});
  // Closed from inside the 'stream' callback: streams the client sent in the same read are above the
  // GOAWAY's last-stream-id (the race under test). Node 20 has aborted on this pattern (heap
  // corruption) about once in 50,000 streams: here it would fail the test with 'goaway upstream
  // exited', not kill the test worker.
  session.on('stream', () => { if (++n === every) session.close(); });
});
s.on('stream', (stream) => {
  streams++;
  stream.on('error', () => {});
  setTimeout(() => {
    if (stream.destroyed) return;
    stream.respond({ ':status': 200 });
    stream.end('ok ' + streams);
  }, 1);
});
process.stdin.on('data', () => process.stdout.write(JSON.stringify({ sessions, streams }) + '\\n'));
process.stdin.on('end', () => process.exit(0));
s.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: s.address().port }) + '\\n'));
`;

interface GoawayUpstream {
  port: number;
  stats(): Promise<{ sessions: number; streams: number }>;
  stop(): Promise<void>;
}

/** An h2c upstream (child process) that closes each session (GOAWAY) after `every` streams and answers after a tick. */
async function goawayUpstream(every: number): Promise<GoawayUpstream> {
  const child = spawn(process.execPath, ['-e', GOAWAY_UPSTREAM, String(every)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const next = () => new Promise<Record<string, number>>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`goaway upstream exited (${code})`));
    child.once('exit', onExit);
    lines.once('line', (l) => {
      child.off('exit', onExit);
      resolve(JSON.parse(l));
    });
  });
  const { port } = await next();
  return {
    port: port!,
    stats: async () => {
      const p = next();
      child.stdin!.write('stats\n');
      return (await p) as { sessions: number; streams: number };
    },
    stop: () => new Promise<void>((r) => (child.exitCode !== null ? r() : (child.once('exit', () => r()), child.stdin!.end()))),
  };
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
    const started = await startSidecar(bootstrap({ goawayPort: goaway.port, slowPort: portOf(slow), cert: await selfSigned() }), telemetry);
    sidecar = started.sidecar;
    port = started.port();
    bulkPort = started.port('bulk');
  });

  afterAll(async () => {
    await sidecar?.close();
    await agent.close();
    await Promise.all([goaway?.stop(), close(slow)]);
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
    const stats = await goaway.stats();
    expect(stats.sessions).toBeGreaterThan(10);
    expect(stats.streams).toBe(N); // each request processed exactly once
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

  it('a session whose only stream the client reset (NO_ERROR) in the same read as its HEADERS is still closed once idle', async () => {
    const { sock, closed } = await rawConnection(port);
    const block = headerBlock([[':method', 'GET'], [':scheme', 'http'], [':path', '/slow'], [':authority', 'a']]);
    sock.write(Buffer.concat([PREFACE, frame(4, 0, 0, Buffer.alloc(0)), frame(1, 4, 1, block), frame(3, 0, 1, u32(0))]));
    // Counted open but never closed, the stream kept the session from ever being idle (its socket stayed).
    await expect.poll(closed, { timeout: 5000, interval: 50 }).toBe(true);
    sock.destroy();
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
