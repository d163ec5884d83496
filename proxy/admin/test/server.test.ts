import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import type { Cluster, ConfigSnapshot, Secret } from '../../config/resources.js';
import { startAdminServer, type AdminServer } from '../server.js';
import type { AdminSource, ClusterStatus } from '../types.js';
import { createTelemetry, type SidecarTelemetry } from '../../telemetry/index.js';
import { httpRecord, node } from '../../telemetry/test/records.js';

const KEY_PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC-secret-material\n-----END PRIVATE KEY-----\n';

function snapshot(): ConfigSnapshot {
  const secret: Secret = {
    name: 'default',
    tlsCertificate: { certificateChain: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', privateKey: KEY_PEM },
  };
  const cluster = (name: string) => ({ name, type: 'EDS', lbPolicy: 'ROUND_ROBIN', metadata: {} }) as unknown as Cluster;
  return {
    resources: {
      listener: new Map(),
      routeConfiguration: new Map(),
      cluster: new Map([
        ['outbound|9080||ratings.default.svc.cluster.local', cluster('outbound|9080||ratings.default.svc.cluster.local')],
        ['inbound|9080||', cluster('inbound|9080||')],
      ]),
      clusterLoadAssignment: new Map(),
      secret: new Map([['default', secret]]),
    },
    versions: { listener: 'l1', routeConfiguration: 'r1', cluster: 'c7', clusterLoadAssignment: 'e3', secret: 's2' },
  };
}

/** Stands in for the sidecar: the admin listener only reads through AdminSource. */
class FakeSidecar implements AdminSource {
  readyNow = true;
  drainCalls = 0;
  quitCalls = 0;
  node = () => node;
  snapshot = snapshot;
  clusters = (): ClusterStatus[] => [
    {
      name: 'outbound|9080||ratings.default.svc.cluster.local',
      lbPolicy: 'ROUND_ROBIN',
      circuitBreakers: { maxRequests: 1024, activeRequests: 1 },
      endpoints: [
        { address: '10.0.0.1:9080', weight: 1, healthStatus: 'HEALTHY', ejected: false, activeRequests: 1, metadata: { version: 'v1' } },
        { address: '10.0.0.2:9080', weight: 3, healthStatus: 'HEALTHY', ejected: true, activeRequests: 0, metadata: {}, stats: { consecutive5xx: 5 } },
      ],
    },
  ];
  ready = () => this.readyNow;
  state = () => (this.readyNow ? 'LIVE' : 'DRAINING') as 'LIVE' | 'DRAINING';
  drain = async () => {
    this.drainCalls++;
    this.readyNow = false;
  };
  quit = async () => {
    this.quitCalls++;
  };
  extraStatus = () => ({ identity: { spiffeId: 'spiffe://cluster.local/ns/default/sa/reviews', notAfter: '2030-01-01T00:00:00Z' } });
}

let admin: AdminServer;
let sidecar: FakeSidecar;
let telemetry: SidecarTelemetry;

beforeEach(async () => {
  sidecar = new FakeSidecar();
  telemetry = createTelemetry({ node });
  admin = await startAdminServer({ address: { port: 0 }, source: sidecar, telemetry, maxTapClients: 2 });
});
afterEach(async () => {
  await admin.close();
  await telemetry.shutdown();
});

function call(method: string, path: string, body?: string): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: admin.port, method, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Opens a tap stream; `lines` fills as records arrive, `ended` resolves when the server ends it. */
function openTap(query = '') {
  const lines: Record<string, unknown>[] = [];
  let res!: IncomingMessage;
  const req = httpRequest({ host: '127.0.0.1', port: admin.port, path: `/tap${query}` });
  const opened = new Promise<number>((resolve) => {
    req.on('response', (r) => {
      res = r;
      let buf = '';
      r.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          lines.push(JSON.parse(buf.slice(0, nl)));
          buf = buf.slice(nl + 1);
        }
      });
      resolve(r.statusCode!);
    });
  });
  req.on('error', () => {});
  req.end();
  // Resolves with whether the server ended the stream properly (true) or the connection just went away.
  const ended = opened.then(
    () => new Promise<boolean>((r) => (res.closed ? r(res.complete) : res.on('close', () => r(res.complete)))),
  );
  return { lines, opened, ended, abort: () => req.destroy() };
}

async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await cond())) await new Promise((r) => setTimeout(r, 5));
}

describe('admin listener', () => {
  it('listens on loopback by default', () => {
    expect(admin.address).toBe('127.0.0.1');
  });

  it('/ready says LIVE while serving and 503 DRAINING once a drain started', async () => {
    expect(await call('GET', '/ready')).toMatchObject({ status: 200, body: 'LIVE\n' });
    const drained = await call('POST', '/drain_listeners');
    expect(drained.status).toBe(200);
    expect(await call('GET', '/ready')).toMatchObject({ status: 503, body: 'DRAINING\n' });
    expect((await call('GET', '/healthz/ready')).status).toBe(503);
    await call('POST', '/drain_listeners');
    expect(sidecar.drainCalls).toBe(1);
  });

  it('/quitquitquit drains and quits through the sidecar', async () => {
    expect((await call('POST', '/quitquitquit')).status).toBe(200);
    expect(sidecar.quitCalls).toBe(1);
  });

  it('/stats/prometheus exposes the shared registry in the text format', async () => {
    telemetry.httpRequestDone(httpRecord(), undefined);
    const r = await call('GET', '/stats/prometheus');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('text/plain; version=0.0.4');
    expect(r.body).toMatch(/^istio_requests_total\{reporter="destination",.*response_code="200".*\} 1$/m);
  });

  it('/config_dump lists every resource type with its version, names sorted, private keys redacted', async () => {
    const r = await call('GET', '/config_dump');
    expect(r.status).toBe(200);
    expect(r.body).not.toContain('PRIVATE KEY');
    expect(r.body).not.toContain('secret-material');
    const dump = JSON.parse(r.body);
    expect(dump.node.id).toBe(node.id);
    expect(dump.configs.map((c: { kind: string; version: string }) => [c.kind, c.version])).toEqual([
      ['listener', 'l1'],
      ['routeConfiguration', 'r1'],
      ['cluster', 'c7'],
      ['clusterLoadAssignment', 'e3'],
      ['secret', 's2'],
    ]);
    const clusters = dump.configs.find((c: { kind: string }) => c.kind === 'cluster');
    expect(clusters['@type']).toBe('type.googleapis.com/envoy.config.cluster.v3.Cluster');
    expect(clusters.resources.map((x: { name: string }) => x.name)).toEqual([
      'inbound|9080||',
      'outbound|9080||ratings.default.svc.cluster.local',
    ]);
    const secret = dump.configs.find((c: { kind: string }) => c.kind === 'secret').resources[0].resource;
    expect(secret.tlsCertificate.privateKey).toBe('[redacted]');
    expect(secret.tlsCertificate.certificateChain).toContain('BEGIN CERTIFICATE');

    const only = JSON.parse((await call('GET', '/config_dump?resource=secret')).body);
    expect(only.configs.map((c: { kind: string }) => c.kind)).toEqual(['secret']);
    const bad = await call('GET', '/config_dump?resource=bogus');
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('unknown resource type "bogus"');
  });

  it('/clusters gives endpoint state as JSON, and Envoy-style lines with ?format=text', async () => {
    const json = JSON.parse((await call('GET', '/clusters')).body);
    expect(json.clusters[0].endpoints[1]).toMatchObject({ address: '10.0.0.2:9080', ejected: true, weight: 3 });
    const text = (await call('GET', '/clusters?format=text')).body.split('\n');
    const c = 'outbound|9080||ratings.default.svc.cluster.local';
    expect(text).toContain(`${c}::10.0.0.1:9080::health_flags::healthy`);
    expect(text).toContain(`${c}::10.0.0.2:9080::health_flags::/failed_outlier_check`);
    expect(text).toContain(`${c}::10.0.0.2:9080::weight::3`);
    expect(text).toContain(`${c}::10.0.0.1:9080::rq_active::1`);
    expect(text).toContain(`${c}::10.0.0.2:9080::consecutive5xx::5`);
    expect(text).toContain(`${c}::default_priority::max_requests::1024`);
  });

  it('/status shows the node, state and the sidecar’s extra sections', async () => {
    const s = JSON.parse((await call('GET', '/status')).body);
    expect(s).toMatchObject({
      node: { workload: 'reviews-v2' },
      state: 'LIVE',
      versions: { cluster: 'c7' },
      identity: { spiffeId: 'spiffe://cluster.local/ns/default/sa/reviews' },
    });
  });

  it('/memory reports the heap in Envoy\'s terms, RSS with its peak, and every V8 heap space', async () => {
    const r = await call('GET', '/memory');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('application/json');
    const m = JSON.parse(r.body);
    expect(m.allocated).toBeGreaterThan(1024 * 1024);
    expect(m.heap_size).toBeGreaterThanOrEqual(m.allocated);
    expect(m.total_physical_bytes).toBeGreaterThan(m.heap_size);
    expect(m.peak_physical_bytes).toBeGreaterThanOrEqual(m.total_physical_bytes);
    expect(m.array_buffers).toBeLessThanOrEqual(m.external);
    const names = m.heap_spaces.map((s: { name: string }) => s.name);
    expect(names).toEqual(expect.arrayContaining(['new_space', 'old_space', 'code_space', 'large_object_space']));
    const old = m.heap_spaces.find((s: { name: string }) => s.name === 'old_space');
    expect(old.used).toBeGreaterThan(0);
    expect(old.used).toBeLessThanOrEqual(old.size);
    expect((await call('POST', '/memory')).status).toBe(405);
  });

  it('refuses what it does not serve: unknown path 404 with the endpoint list, wrong method 405, big body 413', async () => {
    const nf = await call('GET', '/nope');
    expect(nf.status).toBe(404);
    expect(nf.body).toContain('no endpoint /nope');
    expect(nf.body).toContain('GET /config_dump');
    const put = await call('PUT', '/ready');
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe('GET, POST');
    expect((await call('GET', '/quitquitquit')).status).toBe(405);
    expect(sidecar.quitCalls).toBe(0);
    expect((await call('POST', '/drain_listeners', 'x'.repeat(10_000))).status).toBe(413);
    expect(sidecar.drainCalls).toBe(0);
  });

  it('answers a malformed request with 400 and keeps serving', async () => {
    const raw = await new Promise<string>((resolve) => {
      const s = connect(admin.port, '127.0.0.1', () => s.end('GARBAGE\r\n\r\n'));
      let out = '';
      s.on('data', (c) => (out += c.toString()));
      s.on('close', () => resolve(out));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect((await call('GET', '/ready')).status).toBe(200);
  });
});

describe('/tap', () => {
  it('streams finished requests as NDJSON, filtered, and ends after ?limit', async () => {
    const tap = openTap('?service=reviews&limit=2');
    expect(await tap.opened).toBe(200);
    telemetry.httpRequestDone(httpRecord({ path: '/a', durationMs: 12.5 }), undefined);
    telemetry.httpRequestDone(
      httpRecord({ path: '/other', authority: 'ratings:9080', destination: { service: 'ratings.default.svc.cluster.local' } }),
      undefined,
    );
    telemetry.httpRequestDone(httpRecord({ path: '/b', responseCode: 503, responseFlags: ['UO'] }), undefined);
    telemetry.httpRequestDone(httpRecord({ path: '/c' }), undefined);
    expect(await tap.ended).toBe(true);
    expect(tap.lines.map((l) => l.path)).toEqual(['/a', '/b']);
    expect(tap.lines[0]).toMatchObject({
      method: 'GET',
      authority: 'reviews.default.svc.cluster.local:9080',
      status: 200,
      latency_ms: 12.5,
      source: { principal: 'spiffe://cluster.local/ns/default/sa/productpage', workload: 'productpage-v1' },
      destination: { service: 'reviews.default.svc.cluster.local' },
    });
    expect(tap.lines[1]).toMatchObject({ status: 503, response_flags: 'UO' });
  });

  it('limits concurrent clients and releases a slot when a client disconnects', async () => {
    const a = openTap();
    const b = openTap();
    expect(await a.opened).toBe(200);
    expect(await b.opened).toBe(200);
    const c = await call('GET', '/tap');
    expect(c.status).toBe(429);
    expect(c.body).toContain('too many tap clients (max 2)');
    a.abort();
    await until(async () => (await tapClients()) === 1);
    const d = openTap('?limit=1');
    expect(await d.opened).toBe(200);
    telemetry.httpRequestDone(httpRecord(), undefined);
    await d.ended;
    expect(d.lines).toHaveLength(1);
    b.abort();
  });

  it('ends open streams when the admin listener closes', async () => {
    const tap = openTap();
    expect(await tap.opened).toBe(200);
    await admin.close();
    await tap.ended;
    expect(tap.lines).toEqual([]);
  });

  it('drops records for a client that does not read, instead of buffering them, and says how many', async () => {
    await admin.close();
    admin = await startAdminServer({ address: { port: 0 }, source: sidecar, telemetry, maxTapQueuedBytes: 64 * 1024 });
    // A raw client that stops reading: the kernel buffers fill, then the server's queue.
    const sock = connect(admin.port, '127.0.0.1');
    await new Promise((r) => sock.on('connect', r));
    sock.write('GET /tap HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(async () => (await tapClients()) === 1);
    sock.pause();
    const big = 'x'.repeat(8 * 1024);
    const N = 4000; // 32 MiB of records, far beyond socket buffers plus the 64 KiB queue
    for (let i = 0; i < N; i++) telemetry.httpRequestDone(httpRecord({ path: `/${i}/${big}` }), undefined);
    let received = '';
    sock.on('data', (c: Buffer) => (received += c.toString('latin1')));
    sock.resume();
    // Once the client reads again, new records flow and the loss is reported before them.
    let n = 0;
    await until(() => {
      telemetry.httpRequestDone(httpRecord({ path: `/after-${n++}` }), undefined);
      return received.includes('/after-');
    });
    sock.destroy();
    const dropped = [...received.matchAll(/\{"dropped":(\d+)\}/g)].reduce((k, m) => k + Number(m[1]), 0);
    const delivered = (received.match(/"path":"\/\d+\//g) ?? []).length;
    expect(dropped).toBeGreaterThan(0);
    expect(delivered).toBeGreaterThan(0);
    expect(delivered).toBeLessThan(N);
    // The loss is reported before the first record that follows it.
    const firstAfter = received.indexOf('"path":"/after-');
    expect(received.lastIndexOf('{"dropped":', firstAfter)).toBeGreaterThan(received.lastIndexOf('"path":"/', firstAfter - 1));
  });
});

async function tapClients(): Promise<number> {
  return JSON.parse((await call('GET', '/status')).body).tapClients;
}
