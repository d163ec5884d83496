// Retries, per-try timeouts, connect failures, outlier ejection and the retry
// budget, end to end: a real sidecar on 127.0.0.1 in front of upstreams that
// misbehave on purpose. Assertions are on counts and statuses, not timings.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { Agent, request } from 'undici';
import { parseBootstrap } from '../config/bootstrap.js';
import type { Sidecar } from '../sidecar.js';
import { httpBootstrap, RecordingTelemetry, startSidecar } from './helpers.js';
import { close, deadPort, get, load, multiCluster, ok, portOf, routeTo, upstream } from './resilience-helpers.js';

describe('retries and outlier detection through the sidecar', () => {
  const servers: http.Server[] = [];
  let flaky: Awaited<ReturnType<typeof upstream>>;
  let resetting: Awaited<ReturnType<typeof upstream>>;
  let hanging: Awaited<ReturnType<typeof upstream>>;
  let healthy: Awaited<ReturnType<typeof upstream>>;
  let failing: Awaited<ReturnType<typeof upstream>>;
  let bodySink: Awaited<ReturnType<typeof upstream>>;
  const bodies: number[] = [];
  let down: number;
  let sidecar: Sidecar;
  let port: number;
  let yaml: string;
  const telemetry = new RecordingTelemetry();
  const agent = new Agent({ connections: 64 });

  beforeAll(async () => {
    let n = 0;
    flaky = await upstream((_req, res) => {
      n++;
      if (n % 3 !== 0) {
        res.statusCode = 503;
        res.end('busy');
      } else res.end('third time');
    });
    resetting = await upstream((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('x'.repeat(100));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    hanging = await upstream(() => {});
    healthy = await upstream(ok);
    failing = await upstream((_req, res) => {
      setTimeout(() => {
        res.statusCode = 503;
        res.end('down');
      }, 30);
    });
    // Reads the whole request body, then answers 503 twice and 200 the third time.
    bodySink = await upstream((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        bodies.push(n);
        res.statusCode = bodies.length % 3 === 0 ? 200 : 503;
        res.end(String(n));
      });
    });
    servers.push(flaky, resetting, hanging, healthy, failing, bodySink);
    down = await deadPort();
    const fast = `
                  retryBackOff: { baseInterval: 1ms, maxInterval: 5ms }`;
    const routes = [
      routeTo('flaky', '/flaky', 'flaky', `
                retryPolicy:
                  retryOn: [5xx]
                  numRetries: 3${fast}`),
      routeTo('resetting', '/reset', 'resetting', `
                retryPolicy:
                  retryOn: [5xx, reset]
                  numRetries: 3${fast}`),
      routeTo('hang', '/hang', 'hangy', `
                retryPolicy:
                  retryOn: [gateway-error]
                  numRetries: 2
                  perTryTimeout: 150ms
                  retryOtherHosts: true${fast}`),
      routeTo('down', '/down', 'half-down', `
                retryPolicy:
                  retryOn: [connect-failure]
                  numRetries: 2
                  retryOtherHosts: true${fast}`),
      routeTo('storm', '/storm', 'failing', `
                retryPolicy:
                  retryOn: [5xx]
                  numRetries: 5
                  retryBackOff: { baseInterval: 20ms, maxInterval: 40ms }`),
      routeTo('panic', '/panic', 'panicky', `
                retryPolicy:
                  retryOn: [connect-failure]
                  numRetries: 2
                  retryOtherHosts: true${fast}`),
      routeTo('body', '/body', 'body', `
                retryPolicy:
                  retryOn: [5xx]
                  numRetries: 3${fast}`),
      routeTo('timeout', '/timeout', 'hanging', `
                timeout: 100ms`),
    ].join('');
    const clusters = [
      multiCluster('flaky', [portOf(flaky)]),
      multiCluster('resetting', [portOf(resetting)]),
      multiCluster('hangy', [portOf(hanging), portOf(healthy)], `
      lbPolicy: ROUND_ROBIN`),
      multiCluster('half-down', [down, portOf(healthy)], `
      lbPolicy: ROUND_ROBIN
      healthyPanicThreshold: 40
      outlierDetection: { consecutive5xx: 2, consecutiveGatewayFailure: 2, enforcingConsecutiveGatewayFailure: 100, interval: 30s, baseEjectionTime: 30s, maxEjectionPercent: 50 }`),
      multiCluster('failing', [portOf(failing)], `
      circuitBreakers: { retryBudget: { budgetPercent: 20, minRetryConcurrency: 2 } }`),
      multiCluster('hanging', [portOf(hanging)]),
      multiCluster('body', [portOf(bodySink)]),
      multiCluster('panicky', [down, portOf(healthy)], `
      lbPolicy: ROUND_ROBIN
      healthyPanicThreshold: 60
      outlierDetection: { consecutive5xx: 2, interval: 30s, baseEjectionTime: 30s, maxEjectionPercent: 100 }`),
    ].join('');
    yaml = httpBootstrap(routes, clusters, `
            limits: { maxRequestBodyBytes: 65536 }`);
    const started = await startSidecar(yaml, telemetry);
    sidecar = started.sidecar;
    port = started.port();
  });

  afterAll(async () => {
    await sidecar?.close();
    await agent.close();
    await Promise.all(servers.map((s) => close(s)));
  });

  const recordFor = (path: string) => telemetry.records.filter((r) => r.path.startsWith(path));

  it('retries 503s and succeeds on the third attempt, counting attempts upstream and in telemetry', async () => {
    const r = await get(agent, port, '/flaky');
    expect(r.status).toBe(200);
    expect(r.body).toBe('third time');
    expect(flaky.attempts).toEqual(['1', '2', '3']);
    const rec = recordFor('/flaky').at(-1)!;
    expect(rec.attempts).toBe(3);
    expect(rec.responseCode).toBe(200);
  });

  it('replays a request body under the buffer limit on every retry; a larger body is not retried', async () => {
    const small = await request(`http://127.0.0.1:${port}/body`, { method: 'POST', body: Buffer.alloc(20_000, 1), dispatcher: agent });
    expect(small.statusCode).toBe(200);
    expect(await small.body.text()).toBe('20000');
    expect(bodies).toEqual([20_000, 20_000, 20_000]);
    const big = await request(`http://127.0.0.1:${port}/body`, { method: 'POST', body: Buffer.alloc(100_000, 1), dispatcher: agent });
    expect(big.statusCode).toBe(503);
    await big.body.text();
    expect(bodies).toEqual([20_000, 20_000, 20_000, 100_000]);
    expect(recordFor('/body').at(-1)!.attempts).toBe(1);
  });

  it('never retries a response that already started: the downstream sees the truncation, upstream is hit once', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/reset', agent: false }, (res) => {
        let got = 0;
        res.on('data', (c: Buffer) => (got += c.length));
        res.on('end', () => resolve(`complete ${got}`));
        res.on('error', () => resolve(`truncated ${got}`));
        res.on('aborted', () => resolve(`truncated ${got}`));
      });
      req.on('error', () => resolve('error'));
    });
    expect(outcome).toMatch(/^truncated|^error/);
    expect(resetting.hits).toBe(1);
    const rec = recordFor('/reset').at(-1)!;
    expect(rec.responseFlags).toContain('UR');
    expect(rec.attempts).toBe(1);
  });

  it('a hanging endpoint: the per-try timeout fires and the retry succeeds on the other endpoint', async () => {
    const results = await load(6, 1, () => get(agent, port, '/hang'));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(hanging.hits).toBeGreaterThanOrEqual(1);
    const retried = recordFor('/hang').filter((r) => r.attempts === 2);
    expect(retried.length).toBe(hanging.hits);
    for (const r of retried) expect(r.upstreamHost).toBe(`127.0.0.1:${portOf(healthy)}`);
  });

  it('a route timeout answers 504 with flag UT', async () => {
    const r = await get(agent, port, '/timeout');
    expect(r.status).toBe(504);
    expect(r.headers['x-tsmesh-error']).toBe('MESH_UPSTREAM_TIMEOUT');
    expect(recordFor('/timeout').at(-1)!.responseFlags).toEqual(['UT']);
  });

  it('a down endpoint: connect failures are retried on the other endpoint, then the endpoint is ejected', async () => {
    const first = await load(8, 1, () => get(agent, port, '/down'));
    expect(first.every((r) => r.status === 200)).toBe(true);
    const status = sidecar.clusters().find((c) => c.name === 'half-down')!;
    const dead = status.endpoints.find((e) => e.address === `127.0.0.1:${down}`)!;
    expect(dead.ejected).toBe(true);
    expect(dead.stats?.timesEjected).toBe(1);
    // A configuration push rebuilds the cluster; the ejection carries over.
    await sidecar.applySnapshot(parseBootstrap(yaml, 'test.yaml').snapshot);
    const again = sidecar.clusters().find((c) => c.name === 'half-down')!.endpoints.find((e) => e.address === `127.0.0.1:${down}`)!;
    expect(again.ejected).toBe(true);
    expect(again.stats?.timesEjected).toBe(1);
    // Once ejected, no request tries it first: every later request takes one attempt.
    const before = recordFor('/down').length;
    const later = await load(10, 2, () => get(agent, port, '/down'));
    expect(later.every((r) => r.status === 200)).toBe(true);
    expect(recordFor('/down').slice(before).every((r) => r.attempts === 1)).toBe(true);
  });

  it('panic threshold: with fewer healthy endpoints than the threshold, ejected ones still get traffic', async () => {
    await load(8, 1, () => get(agent, port, '/panic'));
    const dead = sidecar.clusters().find((c) => c.name === 'panicky')!.endpoints.find((e) => e.address === `127.0.0.1:${down}`)!;
    expect(dead.ejected).toBe(true);
    const before = recordFor('/panic').length;
    const later = await load(10, 1, () => get(agent, port, '/panic'));
    expect(later.every((r) => r.status === 200)).toBe(true);
    // 50% healthy < 60%: panic mode balances over both, so the dead endpoint is still tried (then retried).
    expect(recordFor('/panic').slice(before).filter((r) => r.attempts === 2).length).toBeGreaterThanOrEqual(4);
  });

  it('a retry storm against a failing cluster stays under the retry budget', async () => {
    const N = 40;
    const before = failing.hits;
    const results = await load(N, N, () => get(agent, port, '/storm'));
    expect(results.every((r) => r.status === 503)).toBe(true);
    // Requests whose retries ran out are flagged URX; the rest were cut off by the budget.
    expect(recordFor('/storm').some((r) => r.responseFlags.includes('URX'))).toBe(true);
    const attempts = failing.hits - before;
    // Without a budget: N × 6 = 240 attempts. The budget allows max(2, 20% of active) concurrent retries.
    expect(attempts).toBeGreaterThan(N);
    expect(attempts).toBeLessThanOrEqual(N + N * 0.2 * 3);
    const b = sidecar.clusters().find((c) => c.name === 'failing')!.circuitBreakers!;
    expect(b.rqRetryOpen).toBe(0);
    expect(b.rqOpen).toBe(0);
  });

  it('an unknown retryOn is rejected at load time with file:line and field path', () => {
    const yaml = httpBootstrap(routeTo('bad', '/', 'c', `
                retryPolicy:
                  retryOn: [5xx, sometimes]`), multiCluster('c', [1]));
    expect(() => parseBootstrap(yaml, 'test.yaml')).toThrow(/test\.yaml:\d+.*retryOn\[1\].*sometimes|test\.yaml:\d+.*retryOn/s);
  });
});
