import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTelemetry } from '../index.js';
import { httpRecord, node, tcpRecord } from './records.js';
import { ISTIO_TEXT_FORMAT } from '../log-format.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('JSON access log', () => {
  it("writes one JSON object per request: Istio's JSON fields, typed, plus trace, attempts, gRPC status and peer", async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-alog-'));
    const path = join(dir, 'access.log');
    const t = createTelemetry({ node, accessLog: { path } });
    const traced = t.startSpan({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' }, 'in');
    const headers = { 'user-agent': 'curl/8', 'x-request-id': 'req-1' };
    t.httpRequestDone(httpRecord({ method: 'POST', path: '/reviews', requestBytes: 42, attempts: 2, requestHeaders: headers, responseCodeDetails: 'via_upstream' }), traced);
    t.httpRequestDone(httpRecord({ responseCode: 504, responseFlags: ['UT', 'URX'], requestHeaders: {} }), undefined);
    await t.shutdown();
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    const [a, b] = lines.map((l) => JSON.parse(l));
    expect(a).toEqual({
      start_time: '2023-11-14T22:13:20.000Z',
      method: 'POST',
      path: '/reviews',
      protocol: 'HTTP/1.1',
      response_code: 200,
      response_flags: '-',
      response_code_details: 'via_upstream',
      connection_termination_details: null,
      upstream_transport_failure_reason: null,
      bytes_received: 42,
      bytes_sent: 120,
      duration: 3,
      upstream_service_time: null,
      x_forwarded_for: null,
      user_agent: 'curl/8',
      request_id: 'req-1',
      authority: 'reviews.default.svc.cluster.local:9080',
      upstream_host: '127.0.0.1:9080',
      upstream_cluster: 'inbound|9080||',
      upstream_local_address: null,
      downstream_local_address: null,
      downstream_remote_address: '10.0.0.9:51000',
      requested_server_name: null,
      route_name: null,
      upstream_request_attempt_count: 2,
      grpc_status: null,
      downstream_peer_uri_san: 'spiffe://cluster.local/ns/default/sa/productpage',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    });
    expect(b).toMatchObject({ response_code: 504, response_flags: 'UT,URX', user_agent: null, trace_id: null });
  });

  it("writes Istio's TEXT line with format: text, and a custom line", async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-alog-'));
    const t = createTelemetry({ node, accessLog: { path: join(dir, 'istio.log'), format: { text: ISTIO_TEXT_FORMAT } } });
    const custom = createTelemetry({ node, accessLog: { path: join(dir, 'custom.log'), format: { text: '%REQ(:METHOD)% %RESPONSE_CODE% %UPSTREAM_CLUSTER%\n' } } });
    for (const x of [t, custom]) {
      x.httpRequestDone(httpRecord({ requestHeaders: { 'user-agent': 'curl/8' } }), undefined);
      await x.shutdown();
    }
    expect(readFileSync(join(dir, 'istio.log'), 'utf8')).toMatch(/^\[2023-11-14T22:13:20\.000Z\] "GET \/reviews\/1 HTTP\/1\.1" 200 - - - "-" 0 120 3 - "-" "curl\/8" "req-1" "reviews\.default\.svc\.cluster\.local:9080" "127\.0\.0\.1:9080" inbound\|9080\|\| - - 10\.0\.0\.9:51000 - -\n$/);
    expect(readFileSync(join(dir, 'custom.log'), 'utf8')).toBe('GET 200 inbound|9080||\n');
  });

  it('batches lines: nothing is written synchronously per request, everything after a flush', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-alog-'));
    const path = join(dir, 'access.log');
    const t = createTelemetry({ node, accessLog: { path, flushIntervalMs: 60_000 } });
    for (let i = 0; i < 100; i++) t.httpRequestDone(httpRecord({ path: `/r/${i}` }), undefined);
    let before = '';
    try {
      before = readFileSync(path, 'utf8');
    } catch {
      // not created yet
    }
    expect(before).toBe('');
    await t.shutdown();
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).path)).toEqual(Array.from({ length: 100 }, (_, i) => `/r/${i}`));
  });

  it('logs closed TCP connections too', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-alog-'));
    const path = join(dir, 'access.log');
    const t = createTelemetry({ node, accessLog: { path } });
    t.tcpConnectionClosed(tcpRecord({ responseFlags: ['UF'] }));
    await t.shutdown();
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({
      protocol: null,
      method: null,
      response_code: 0,
      response_flags: 'UF',
      bytes_received: 100,
      bytes_sent: 2500,
      upstream_cluster: 'outbound|6379||redis.cache.svc.cluster.local',
      upstream_host: '10.0.1.1:6379',
    });
  });

  it('refuses a bad format when the log is created', () => {
    expect(() => createTelemetry({ node, accessLog: { path: 'stdout', format: { text: '%NOT_AN_OPERATOR%' } } })).toThrow(/unknown or unsupported command operator %NOT_AN_OPERATOR%/);
  });
});

describe('access log to stdout', () => {
  it('writes JSON lines on the process stdout and flushes them at shutdown (built JS)', async () => {
    const { spawnSync } = await import('node:child_process');
    const { fileURLToPath, pathToFileURL } = await import('node:url');
    const dist = join(fileURLToPath(new URL('../../../', import.meta.url)), 'dist/proxy/telemetry/index.js');
    const script = `
      const { createTelemetry } = await import(${JSON.stringify(pathToFileURL(dist).href)});
      const t = createTelemetry({ node: ${JSON.stringify(node)}, accessLog: { path: 'stdout' } });
      const rec = ${JSON.stringify(httpRecord({ path: '/from-child' }))};
      t.httpRequestDone(rec, undefined);
      t.httpRequestDone({ ...rec, path: '/second' }, undefined);
      await t.shutdown();`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.path)).toEqual(['/from-child', '/second']);
  });
});
