// Several Envoy response flags on one request, end to end: connect failures
// that used up the retries are UF and URX; a fault delay followed by a route
// timeout is DI and UT. Recorded in Envoy's order, the order the access log
// and the metrics label print them in (telemetry's own tests cover those).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import type { Sidecar } from '../sidecar.js';
import { httpBootstrap, RecordingTelemetry, startSidecar } from './helpers.js';
import { close, deadPort, get, multiCluster, portOf, routeTo, upstream } from './resilience-helpers.js';

describe('several response flags per request', () => {
  let hanging: Awaited<ReturnType<typeof upstream>>;
  let sidecar: Sidecar;
  let port: number;
  const telemetry = new RecordingTelemetry();
  const agent = new Agent();

  beforeAll(async () => {
    hanging = await upstream(() => {});
    const routes = [
      routeTo('down', '/down', 'dead', `
                retryPolicy:
                  retryOn: [connect-failure]
                  numRetries: 1
                  retryBackOff: { baseInterval: 1ms, maxInterval: 2ms }`),
      routeTo('delayed', '/delayed', 'hanging', `
                timeout: 50ms`, `
              fault: { delay: { fixedDelay: 5ms, percent: 100 } }`),
    ].join('');
    const clusters = [multiCluster('dead', [await deadPort()]), multiCluster('hanging', [portOf(hanging)])].join('');
    const started = await startSidecar(httpBootstrap(routes, clusters), telemetry);
    sidecar = started.sidecar;
    port = started.port();
  });

  afterAll(async () => {
    await sidecar?.close();
    await agent.close();
    await close(hanging);
  });

  it('connect failures that used up the retries: 503 with UF and URX', async () => {
    const r = await get(agent, port, '/down');
    expect(r.status).toBe(503);
    expect(r.headers['x-tsmesh-error']).toBe('MESH_UPSTREAM_CONNECT_FAILURE');
    const rec = telemetry.records.find((x) => x.path === '/down')!;
    expect(rec.responseFlags).toEqual(['UF', 'URX']);
    expect(rec.attempts).toBe(2);
  });

  it('a fault delay and then the route timeout: 504 with UT and DI', async () => {
    const r = await get(agent, port, '/delayed');
    expect(r.status).toBe(504);
    expect(telemetry.records.find((x) => x.path === '/delayed')!.responseFlags).toEqual(['UT', 'DI']);
  });
});
