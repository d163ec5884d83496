// On-demand config for unknown hosts: a host that could be a mesh service is
// asked for (and waited for, bounded); one that no service can have — an
// outside name like api.example.com — is neither asked for nor waited on.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBootstrap } from '../config/bootstrap.js';
import { Sidecar } from '../sidecar.js';
import { close, cluster, echoUpstream, node } from './helpers.js';

function get(port: number, host: string): Promise<{ status: number; error?: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode!, error: res.headers['x-tsmesh-error'] as string | undefined });
    }).on('error', reject);
  });
}

describe('on-demand hosts', () => {
  let app: Awaited<ReturnType<typeof echoUpstream>>;
  let sidecar: Sidecar;
  let port: number;
  const asked: string[] = [];

  beforeAll(async () => {
    app = await echoUpstream('reviews');
    const b = parseBootstrap(`${node}
staticResources:
  listeners:
    - name: out
      address: { address: 127.0.0.1, port: 0 }
      trafficDirection: OUTBOUND
      filterChains:
        - filter:
            kind: http
            routeConfig: { name: out, virtualHosts: [{ name: reviews, domains: [reviews], routes: [{ match: { prefix: / }, route: { cluster: reviews } }] }] }
  clusters:${cluster('reviews', (app.address() as { port: number }).port)}
`, 'test.yaml');
    sidecar = new Sidecar({ node: b.node, drainTimeout: 1000 });
    sidecar.setOnDemand((names) => asked.push(...names));
    await sidecar.applySnapshot(b.snapshot);
    port = sidecar.listenerPort('out')!;
  });
  afterAll(async () => {
    await sidecar?.close();
    await close(app);
  });

  it('asks the control plane for a host that could be a service, once, then answers 404 NR', async () => {
    expect((await get(port, 'reviews')).status).toBe(200);
    for (const host of ['ratings', 'ratings.prod:9080', 'ratings.prod.svc.cluster.local', '10.96.0.12:5432']) {
      expect(await get(port, host)).toEqual({ status: 404, error: 'MESH_NO_ROUTE' });
    }
    expect((await get(port, 'ratings')).status).toBe(404);
    expect(asked).toEqual(['ratings', 'ratings.prod:9080', 'ratings.prod.svc.cluster.local', '10.96.0.12:5432']);
  }, 15_000);

  it('never asks for (nor waits on) a host outside the mesh naming scheme', async () => {
    const before = asked.length;
    for (const host of ['api.example.com', 'www.github.com:443', 'a.b.c.d']) {
      expect(await get(port, host)).toEqual({ status: 404, error: 'MESH_NO_ROUTE' });
    }
    expect(asked.length).toBe(before);
  });
});
