// Circuit breaking, fault injection and local rate limiting end to end,
// with counts (not timings) as the evidence.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type http from 'node:http';
import { Agent } from 'undici';
import { Registry } from 'prom-client';
import type { Sidecar } from '../sidecar.js';
import { httpBootstrap, RecordingTelemetry, startSidecar } from './helpers.js';
import { close, get, load, multiCluster, ok, portOf, routeTo, upstream } from './resilience-helpers.js';

describe('circuit breaker, fault injection and rate limit through the sidecar', () => {
  let holding: Awaited<ReturnType<typeof upstream>>;
  let plain: Awaited<ReturnType<typeof upstream>>;
  const held: http.ServerResponse[] = [];
  let sidecar: Sidecar;
  let port: number;
  const registry = new Registry();
  const telemetry = Object.assign(new RecordingTelemetry(), { registry });
  const agent = new Agent({ connections: 128 });

  beforeAll(async () => {
    holding = await upstream((_req, res) => held.push(res));
    plain = await upstream(ok);
    const routes = [
      routeTo('flood', '/flood', 'small'),
      routeTo('abort', '/abort', 'plain', '', `
              fault: { abort: { httpStatus: 418, percent: 100 } }`),
      routeTo('gated', '/gated', 'plain', '', `
              fault:
                abort: { httpStatus: 503, percent: 100 }
                headers: [{ name: x-chaos, presentMatch: true }]`),
      routeTo('delay', '/delay', 'plain', '', `
              fault: { delay: { fixedDelay: 30ms, percent: 100 } }`),
      routeTo('limited', '/limited', 'plain', '', `
              rateLimit: { statPrefix: limited_route, tokenBucket: { maxTokens: 3, tokensPerFill: 1, fillInterval: 1h } }`),
    ].join('');
    const clusters = [
      multiCluster('small', [portOf(holding)], `
      circuitBreakers: { maxRequests: 5, maxPendingRequests: 5 }`),
      multiCluster('plain', [portOf(plain)]),
    ].join('');
    const started = await startSidecar(httpBootstrap(routes, clusters), telemetry);
    sidecar = started.sidecar;
    port = started.port();
  });

  afterAll(async () => {
    for (const r of held) r.destroy();
    await sidecar?.close();
    await agent.close();
    await Promise.all([close(holding), close(plain)]);
  });

  const recordsFor = (path: string) => telemetry.records.filter((r) => r.path.startsWith(path));

  it('a flood beyond max_requests gets fast 503 UO while the admitted requests are still held upstream', async () => {
    const N = 60;
    const all = Array.from({ length: N }, () => get(agent, port, '/flood'));
    // The overflowing requests are answered while the upstream still holds every admitted one: nothing queues.
    const settled: { status: number; code: unknown }[] = [];
    const overflowed = all.map((p) => p.then((r) => settled.push({ status: r.status, code: r.headers['x-tsmesh-error'] })));
    while (settled.length < N - 5) await new Promise((r) => setTimeout(r, 10));
    expect(holding.hits).toBe(5);
    expect(settled.every((s) => s.status === 503 && s.code === 'MESH_UPSTREAM_OVERFLOW')).toBe(true);
    const cb = sidecar.clusters().find((c) => c.name === 'small')!.circuitBreakers!;
    expect(cb.rqOpen).toBe(5);
    const text = await registry.metrics();
    expect(text).toMatch(new RegExp(`envoy_cluster_upstream_rq_pending_overflow\\{cluster_name="small"\\} ${N - 5}\n`));
    for (const r of held.splice(0)) r.end('held');
    await Promise.all(overflowed);
    expect(settled.filter((s) => s.status === 200)).toHaveLength(5);
    expect(recordsFor('/flood').filter((r) => r.responseFlags.includes('UO'))).toHaveLength(N - 5);
    expect(sidecar.clusters().find((c) => c.name === 'small')!.circuitBreakers!.rqOpen).toBe(0);
  });

  it('fault abort answers the configured status with flag FI and never calls the upstream', async () => {
    const before = plain.hits;
    const r = await get(agent, port, '/abort');
    expect(r.status).toBe(418);
    expect(plain.hits).toBe(before);
    expect(recordsFor('/abort').at(-1)!.responseFlags).toEqual(['FI']);
  });

  it('a header-gated fault only hits requests carrying the header', async () => {
    expect((await get(agent, port, '/gated')).status).toBe(200);
    expect((await get(agent, port, '/gated', { 'x-chaos': '1' })).status).toBe(503);
  });

  it('fault delay holds the request, then forwards it (flag DI)', async () => {
    const before = plain.hits;
    const r = await get(agent, port, '/delay');
    expect(r.status).toBe(200);
    expect(plain.hits).toBe(before + 1);
    expect(recordsFor('/delay').at(-1)!.responseFlags).toEqual(['DI']);
  });

  it('the local rate limit answers 429 with retry-after and flag RL once the bucket is empty', async () => {
    const before = plain.hits;
    const results = await load(5, 1, () => get(agent, port, '/limited'));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 429, 429]);
    expect(Number(results[3]!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(results[3]!.body).toContain('local_rate_limited');
    expect(plain.hits).toBe(before + 3);
    expect(recordsFor('/limited').filter((r) => r.responseFlags.includes('RL'))).toHaveLength(2);
    expect(await registry.metrics()).toMatch(/envoy_http_local_rate_limit_rate_limited\{[^}]*limited_route[^}]*\} 2/);
  });
});
