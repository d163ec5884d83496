import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTelemetry } from '../index.js';
import { httpRecord, node, tcpRecord } from './records.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('JSON access log', () => {
  it('writes one JSON object per request with Envoy-like fields', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tsmesh-alog-'));
    const path = join(dir, 'access.log');
    const t = createTelemetry({ node, accessLog: { path, format: 'json' } });
    const traced = t.startSpan({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' }, 'in');
    t.httpRequestDone(httpRecord({ method: 'POST', path: '/reviews', requestBytes: 42, attempts: 2 }), traced);
    t.httpRequestDone(httpRecord({ responseCode: 504, responseFlags: ['UT', 'URX'], userAgent: undefined }), undefined);
    await t.shutdown();
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    const [a, b] = lines.map((l) => JSON.parse(l));
    expect(a).toMatchObject({
      start_time: '2023-11-14T22:13:20.000Z',
      method: 'POST',
      path: '/reviews',
      protocol: 'HTTP/1.1',
      response_code: 200,
      response_flags: '-',
      bytes_received: 42,
      bytes_sent: 120,
      duration: 3,
      upstream_host: '127.0.0.1:9080',
      upstream_cluster: 'inbound|9080||',
      x_forwarded_for: '10.0.0.9:51000',
      user_agent: 'curl/8',
      request_id: 'req-1',
      authority: 'reviews.default.svc.cluster.local:9080',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      attempts: 2,
      downstream_peer_principal: 'spiffe://cluster.local/ns/default/sa/productpage',
    });
    expect(b).toMatchObject({ response_code: 504, response_flags: 'UT,URX', user_agent: null, trace_id: null });
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
      protocol: 'TCP',
      response_flags: 'UF',
      bytes_received: 100,
      bytes_sent: 2500,
      upstream_cluster: 'outbound|6379||redis.cache.svc.cluster.local',
      downstream_peer_principal: 'spiffe://cluster.local/ns/cache/sa/redis',
    });
  });

  it('refuses an unknown format', () => {
    expect(() => createTelemetry({ node, accessLog: { path: 'stdout', format: 'text' as 'json' } })).toThrow(
      /accessLog.format must be json/,
    );
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
