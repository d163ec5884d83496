// Circuit breaking per cluster through the sidecar, against real upstreams
// that hold every request: max_connections counts the connections of all
// the cluster's endpoints, max_pending_requests the requests waiting for a
// connection. Beyond either limit a request is answered 503 UO at once
// (while the admitted ones are still held) and counted.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type http from 'node:http';
import { Agent } from 'undici';
import { Registry } from 'prom-client';
import type { Sidecar } from '../sidecar.js';
import { httpBootstrap, RecordingTelemetry, startSidecar } from './helpers.js';
import { close, get, multiCluster, portOf, routeTo, upstream, type Answer } from './resilience-helpers.js';

describe('circuit breaker per cluster: connections and pending requests', () => {
  const held: http.ServerResponse[] = [];
  const hold = (_req: http.IncomingMessage, res: http.ServerResponse) => held.push(res);
  let a: Awaited<ReturnType<typeof upstream>>;
  let b: Awaited<ReturnType<typeof upstream>>;
  let c: Awaited<ReturnType<typeof upstream>>;
  let sidecar: Sidecar;
  let port: number;
  const registry = new Registry();
  const telemetry = Object.assign(new RecordingTelemetry(), { registry });
  const agent = new Agent({ connections: 64 });

  beforeAll(async () => {
    [a, b, c] = await Promise.all([upstream(hold), upstream(hold), upstream(hold)]);
    const routes = [routeTo('cx', '/cx', 'two-endpoints'), routeTo('pending', '/pending', 'one-endpoint')].join('');
    const clusters = [
      multiCluster('two-endpoints', [portOf(a), portOf(b)], `
      lbPolicy: ROUND_ROBIN
      circuitBreakers: { maxConnections: 2, maxPendingRequests: 100, maxRequests: 100 }`),
      multiCluster('one-endpoint', [portOf(c)], `
      circuitBreakers: { maxConnections: 2, maxPendingRequests: 3, maxRequests: 100 }`),
    ].join('');
    const started = await startSidecar(httpBootstrap(routes, clusters), telemetry);
    sidecar = started.sidecar;
    port = started.port();
  });

  afterAll(async () => {
    for (const r of held.splice(0)) r.destroy();
    await sidecar?.close();
    await agent.close();
    await Promise.all([close(a), close(b), close(c)]);
  });

  const until = async (cond: () => boolean) => {
    while (!cond()) await new Promise((r) => setTimeout(r, 5));
  };
  const breaker = (name: string) => sidecar.clusters().find((x) => x.name === name)!.circuitBreakers!;
  const metric = async (name: string, cluster: string) =>
    Number(new RegExp(`${name}\\{cluster_name="${cluster}"\\} (\\d+)`).exec(await registry.metrics())?.[1] ?? NaN);

  it('max_connections spans all endpoints: a request needing a third connection gets 503 UO at once (upstream_cx_overflow)', async () => {
    // One held request per endpoint: each endpoint has one busy connection, the cluster its 2.
    const first = [get(agent, port, '/cx'), get(agent, port, '/cx')];
    await until(() => a.hits + b.hits === 2);
    expect([a.hits, b.hits]).toEqual([1, 1]);
    expect(breaker('two-endpoints').cxOpen).toBe(2);
    // Every further request needs a new connection on its endpoint; the cluster has none left.
    const more = await Promise.all(Array.from({ length: 10 }, () => get(agent, port, '/cx')));
    expect(more.map((r) => [r.status, r.headers['x-tsmesh-error']])).toEqual(Array(10).fill([503, 'MESH_UPSTREAM_OVERFLOW']));
    expect(a.hits + b.hits).toBe(2);
    expect(await metric('envoy_cluster_upstream_cx_overflow', 'two-endpoints')).toBe(10);
    expect(telemetry.records.filter((r) => r.path === '/cx' && r.responseFlags.includes('UO'))).toHaveLength(10);
    for (const r of held.splice(0)) r.end('held');
    expect((await Promise.all(first)).map((r: Answer) => r.status)).toEqual([200, 200]);
  });

  it('max_pending_requests bounds the requests waiting for a connection; beyond it 503 UO at once (upstream_rq_pending_overflow)', async () => {
    const first = [get(agent, port, '/pending'), get(agent, port, '/pending')];
    await until(() => c.hits === 2); // both connections up and busy
    const flood = Array.from({ length: 10 }, () => get(agent, port, '/pending'));
    const settled: Answer[] = [];
    for (const p of flood) void p.then((r) => settled.push(r));
    // 3 wait for a connection; the other 7 are answered while everything admitted is still held.
    await until(() => settled.length === 7);
    expect(settled.every((r) => r.status === 503 && r.headers['x-tsmesh-error'] === 'MESH_UPSTREAM_OVERFLOW')).toBe(true);
    expect(breaker('one-endpoint').rqPendingOpen).toBe(3);
    expect(c.hits).toBe(2);
    expect(await metric('envoy_cluster_upstream_rq_pending_overflow', 'one-endpoint')).toBe(7);
    // Released, the held ones answer and the waiting ones get the freed connections.
    while (c.hits < 5 || held.length > 0) {
      for (const r of held.splice(0)) r.end('held');
      await new Promise((r) => setTimeout(r, 5));
    }
    const rest = await Promise.all([...first, ...flood]);
    expect(rest.filter((r) => r.status === 200)).toHaveLength(5);
    expect(c.hits).toBe(5);
    expect(breaker('one-endpoint').rqPendingOpen).toBe(0);
  });
});
