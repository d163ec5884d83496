// The policy plane against the real xDS snapshot cache and XdsServer status:
// a sidecar's node (as the xDS client builds it) registers, an apply over the
// admin API reaches its snapshot, and the receipt is keyed by the apply's version.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySnapshotCache } from '../xds/cache.js';
import { XdsServer } from '../xds/xds-server.js';
import { buildNode } from '../../proxy/xds/node.js';
import { startPolicyPlane, type PolicyPlane } from '../policy-plane.js';
import { AdminClient } from '../admin/client.js';

let dir: string;
let plane: PolicyPlane;
let cache: MemorySnapshotCache;

const node = (id: string, service: string, sa: string, inbound: string, version: string) =>
  buildNode(
    { id, cluster: service, namespace: 'default', serviceAccount: sa, workload: `${service}-${version}`, version, labels: { app: service }, trustDomain: 'cluster.local' },
    { inboundAddresses: [inbound], outboundAddresses: ['127.0.0.1:15001'], metadata: { APP_PORT: '9080' } },
  );

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsmesh-plane-'));
  cache = new MemorySnapshotCache();
  const xds = new XdsServer({ cache });
  plane = await startPolicyPlane({ stateDir: dir, cache, status: xds, debounceMs: 1, trustBundle: () => 'PEM' });
  cache.onDemand = (nodeId, _kind, names) => plane.controller.onDemand(nodeId, names);
});
afterAll(async () => {
  await plane.close();
  await rm(dir, { recursive: true, force: true });
});

describe('policy plane', () => {
  it('registers sidecars from their xDS node and publishes applies into the snapshot cache', async () => {
    plane.onConnect('reviews-v1-1', node('reviews-v1-1', 'reviews', 'reviews', '127.0.0.2:15006', 'v1'));
    plane.onConnect('reviews-v2-1', node('reviews-v2-1', 'reviews', 'reviews', '127.0.0.3:15006', 'v2'));
    plane.onConnect('productpage-1', node('productpage-1', 'productpage', 'productpage', '127.0.0.1:15006', 'v1'));
    cache.onDemand!('productpage-1', 'cluster', ['outbound|9080||reviews.default.svc.cluster.local']);
    expect(cache.getSnapshot('productpage-1')!.resources.cluster.has('outbound|9080||reviews.default.svc.cluster.local')).toBe(true);

    const client = await AdminClient.discover(dir); // address and token from the state dir
    const out = await client.apply(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: reviews }
spec:
  parentRefs: [{ kind: Service, name: reviews }]
  rules:
    - backendRefs: [{ name: reviews-v1, weight: 90 }, { name: reviews-v2, weight: 10 }]
`);
    expect(out.version).toBe(1);
    const deps = await fetch(`http://127.0.0.1:${plane.adminPort}/v1/proxies/productpage-1/dependencies`, { headers: { authorization: `Bearer ${plane.adminToken}` } });
    expect(await deps.json()).toEqual({ nodeId: 'productpage-1', dependencies: ['default/reviews'] });
    await new Promise((r) => setTimeout(r, 30));
    const snap = cache.getSnapshot('productpage-1')!;
    expect(snap.version).toBe('1');
    const route = snap.resources.routeConfiguration.get('outbound')!.virtualHosts[0]!.routes[0]!;
    expect(route.route!.weightedClusters!.map((w) => w.weight)).toEqual([90, 10]);
    expect(snap.resources.listener.get('virtualOutbound')!.address).toEqual({ address: '127.0.0.1', port: 15001 });
  });

  it('after a restart, a reconnecting proxy gets exactly the config it had (no shrink, no delete-everything push)', async () => {
    const before = cache.getSnapshot('productpage-1')!;
    await plane.close(); // flushes registrations and dependencies
    const cache2 = new MemorySnapshotCache();
    const plane2 = await startPolicyPlane({ stateDir: dir, cache: cache2, status: new XdsServer({ cache: cache2 }), debounceMs: 1, trustBundle: () => 'PEM' });
    try {
      // Only productpage has reconnected so far; reviews' sidecars have not.
      plane2.onConnect('productpage-1', node('productpage-1', 'productpage', 'productpage', '127.0.0.1:15006', 'v1'));
      const after = cache2.getSnapshot('productpage-1')!;
      expect(after.version).toBe(before.version);
      for (const kind of ['listener', 'routeConfiguration', 'cluster', 'clusterLoadAssignment', 'secret'] as const) {
        expect(after.types[kind].version, kind).toBe(before.types[kind].version);
      }
      // Restored sidecars that never come back are dropped after the grace period.
      plane2.controller.expireRestored();
      await new Promise((r) => setTimeout(r, 30));
      const eps = cache2.getSnapshot('productpage-1')!.resources.clusterLoadAssignment.get('outbound|9080|v1|reviews.default.svc.cluster.local');
      expect(eps?.endpoints ?? []).toEqual([]);
    } finally {
      await plane2.close();
      plane = plane2; // afterAll closes it again (idempotent)
    }
  });
});
