// The admin API's canary endpoints on a real policy plane (HTTP on 127.0.0.1,
// the control plane's own store and canary host): routing, errors, the long
// poll of events, and the TSMESH_ADMIN addresses the host learns from nodes.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNode } from '../../../proxy/xds/node.js';
import { startPolicyPlane, type PolicyPlane } from '../../policy-plane.js';
import { MemorySnapshotCache } from '../../xds/cache.js';
import { XdsServer } from '../../xds/xds-server.js';
import { AdminApiError, AdminClient } from '../client.js';

let dir: string;
let plane: PolicyPlane;
let client: AdminClient;

const node = (id: string, version: string, admin?: string) =>
  buildNode(
    { id, cluster: 'reviews', namespace: 'default', serviceAccount: 'reviews', workload: `reviews-${version}`, version, labels: { app: 'reviews' }, trustDomain: 'cluster.local' },
    { inboundAddresses: [`127.0.0.${version === 'v1' ? 2 : 3}:15006`], metadata: { APP_PORT: '9080', ...(admin ? { TSMESH_ADMIN: admin } : {}) } },
  );

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsmesh-canary-api-'));
  const cache = new MemorySnapshotCache();
  plane = await startPolicyPlane({ stateDir: dir, cache, status: new XdsServer({ cache }), debounceMs: 1 });
  plane.onConnect('reviews-v1-1', node('reviews-v1-1', 'v1', '127.0.0.1:15000'));
  plane.onConnect('reviews-v2-1', node('reviews-v2-1', 'v2', '0.0.0.0:15001'));
  client = await AdminClient.discover(dir);
  await client.apply(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: reviews }
spec:
  parentRefs: [{ kind: Service, name: reviews }]
  rules:
    - backendRefs: [{ name: reviews-v1, weight: 100 }]
---
apiVersion: tsmesh.io/v1alpha1
kind: Canary
metadata: { name: reviews-v2 }
spec:
  targetRef: { kind: HTTPRoute, name: reviews }
  service: reviews
  stableBackend: { name: reviews-v1 }
  canaryBackend: { name: reviews-v2 }
  steps: [20, 100]
  interval: 1h
  analysis: { successRate: 99 }
`);
});
afterAll(async () => {
  await plane.close();
  await rm(dir, { recursive: true, force: true });
});

const refused = (p: Promise<unknown>) => p.then(() => undefined, (e: AdminApiError) => ({ status: e.status, code: e.code, message: e.message }));

describe('admin API /v1/canaries', () => {
  it('lists the canary the apply started, and shows it with its events', async () => {
    // The first step is recorded once its route change reached the proxies, or after 2 s (none answers here).
    await expect.poll(async () => (await client.canaries()).items[0]?.weight, { timeout: 5000 }).toBe(20);
    const { items } = await client.canaries();
    expect(items).toMatchObject([{ name: 'reviews-v2', namespace: 'default', route: 'HTTPRoute/reviews', stable: 'reviews-v1', canary: 'reviews-v2', weight: 20, mirroring: false }]);
    const one = await client.canary('default', 'reviews-v2');
    expect(one.events).toMatchObject([{ seq: 1, weight: 20, phase: 'Progressing', reason: 'start: 20% of traffic to reviews-v2', applied: { version: expect.any(Number) } }]);
    expect((await client.canaries({ namespace: 'other' })).items).toEqual([]);
  });

  it('a long poll for events returns as soon as the next step happens', async () => {
    const t = client.canaryEvents('default', 'reviews-v2', 1, 20_000);
    await new Promise((r) => setTimeout(r, 100));
    await client.canaryAbort('default', 'reviews-v2');
    const r = await t;
    expect(r).toMatchObject({ phase: 'Aborted', weight: 0, events: [{ seq: 2, reason: 'aborted by the operator; all traffic back to stable' }] });
    // Nothing new, run finished: no wait.
    expect((await client.canaryEvents('default', 'reviews-v2', 2, 20_000)).events).toEqual([]);
  });

  it('answers what is wrong: unknown canary 404, finished 409, wrong method 405, unknown path 404', async () => {
    expect(await refused(client.canary('default', 'nope'))).toEqual({ status: 404, code: 'MESH_NOT_FOUND', message: 'Canary default/nope not found' });
    expect(await refused(client.canaryPromote('default', 'reviews-v2'))).toEqual({ status: 409, code: 'MESH_CANARY_FINISHED', message: 'canary default/reviews-v2 already finished (Aborted); nothing to promote' });
    const h = { authorization: `Bearer ${plane.adminToken}` };
    const base = `http://127.0.0.1:${plane.adminPort}/v1/canaries/default/reviews-v2`;
    const del = await fetch(`${base}/promote`, { method: 'DELETE', headers: h });
    expect([del.status, await del.json()]).toEqual([405, { error: { code: 'MESH_METHOD_NOT_ALLOWED', message: 'DELETE is not allowed on /v1/canaries/default/reviews-v2/promote' } }]);
    const odd = await fetch(`${base}/rewind`, { method: 'POST', headers: h });
    expect([odd.status, await odd.json()]).toEqual([404, { error: { code: 'MESH_NOT_FOUND', message: 'no such endpoint: POST /v1/canaries/default/reviews-v2/rewind' } }]);
    expect((await fetch(base)).status).toBe(401);
  });

  it('start runs a finished canary again; a second start reports the running one', async () => {
    const a = await client.canaryStart('default', 'reviews-v2');
    expect(a).toMatchObject({ started: true, run: { phase: 'Progressing', weight: 20 } });
    const b = await client.canaryStart('default', 'reviews-v2');
    expect(b).toMatchObject({ started: false, run: { phase: 'Progressing', weight: 20 } });
    expect((await client.canary('default', 'reviews-v2')).events!.map((e) => e.seq)).toEqual([1]);
  });

  it('deleting the Canary stops its run; it is gone from the API', async () => {
    await client.delete({ kind: 'Canary', namespace: 'default', name: 'reviews-v2' });
    await expect.poll(async () => (await client.canaries()).items).toEqual([]);
    expect(await refused(client.canaryEvents('default', 'reviews-v2'))).toEqual({ status: 404, code: 'MESH_NOT_FOUND', message: 'Canary default/reviews-v2 not found' });
    expect(plane.canaries.controller.list()).toEqual([]);
  });

  it('(last: unregisters v2) knows each connected sidecar\'s admin address from its node metadata, and forgets it on disconnect', () => {
    expect(plane.canaries.sidecars.urls()).toEqual(['http://127.0.0.1:15000', 'http://127.0.0.1:15001']);
    plane.onDisconnect('reviews-v2-1');
    expect(plane.canaries.sidecars.urls()).toEqual(['http://127.0.0.1:15000']);
  });
});
