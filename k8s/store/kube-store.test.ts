import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StoreEvent } from '../../control-plane/store/types.js';
import { FakeApiServer } from '../test/fake-apiserver.js';
import { KubernetesPolicyStore } from './kube-store.js';

// Objects as the API server returns them: server-set metadata, Gateway API defaults filled in.
const meta = (name: string, rv: string, extra: object = {}) => ({
  name,
  namespace: 'bookinfo',
  uid: `uid-${name}`,
  resourceVersion: rv,
  generation: 1,
  creationTimestamp: '2026-11-23T08:00:00Z',
  managedFields: [{ manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'tsmesh.io/v1alpha1', fieldsType: 'FieldsV1', fieldsV1: {} }],
  annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
  ...extra,
});
const dp = (rv: string, maxConnections: unknown) => ({
  apiVersion: 'tsmesh.io/v1alpha1',
  kind: 'DestinationPolicy',
  metadata: meta('reviews', rv),
  spec: { targetRef: { group: '', kind: 'Service', name: 'reviews' }, connectionPool: { maxConnections, connectTimeout: '1s' }, outlierDetection: { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s' } },
});
const route = (rv: string, v2Weight: number) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: meta('reviews-canary', rv, { generation: 2 }),
  spec: {
    parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }],
    rules: [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/' } }],
        backendRefs: [
          { group: '', kind: 'Service', name: 'reviews-v1', port: 9080, weight: 100 - v2Weight },
          { group: '', kind: 'Service', name: 'reviews-v2', port: 9080, weight: v2Weight },
        ],
      },
    ],
  },
  status: { parents: [] },
});
const badAuthz = { apiVersion: 'tsmesh.io/v1alpha1', kind: 'AuthorizationPolicy', metadata: meta('broken', '1105'), spec: { action: 'MAYBE', rules: [] } };

const P = {
  dp: '/apis/tsmesh.io/v1alpha1/destinationpolicies',
  ap: '/apis/tsmesh.io/v1alpha1/authorizationpolicies',
  mc: '/apis/tsmesh.io/v1alpha1/meshconfigs',
  can: '/apis/tsmesh.io/v1alpha1/canaries',
  fp: '/apis/tsmesh.io/v1alpha1/faultpolicies',
  rlp: '/apis/tsmesh.io/v1alpha1/ratelimitpolicies',
  pa: '/apis/tsmesh.io/v1alpha1/peerauthentications',
  http: '/apis/gateway.networking.k8s.io/v1/httproutes',
  grpc: '/apis/gateway.networking.k8s.io/v1/grpcroutes',
};

let api: FakeApiServer;
let store: KubernetesPolicyStore;
let events: StoreEvent[];
let wake: (() => void)[] = [];
const until = async (pred: () => boolean) => {
  while (!pred()) await new Promise<void>((r) => wake.push(r));
};

beforeEach(async () => {
  api = new FakeApiServer();
  await api.start();
  api.setList(P.dp, 'DestinationPolicyList', '1200', [dp('1101', 256)]);
  api.setList(P.ap, 'AuthorizationPolicyList', '1200', [badAuthz]);
  api.setList(P.mc, 'MeshConfigList', '1200', []);
  api.setList(P.can, 'CanaryList', '1200', []);
  api.setList(P.fp, 'FaultPolicyList', '1200', []);
  api.setList(P.rlp, 'RateLimitPolicyList', '1200', []);
  api.setList(P.pa, 'PeerAuthenticationList', '1200', []);
  api.setList(P.http, 'HTTPRouteList', '1200', [route('1102', 10)]);
  api.setList(P.grpc, 'GRPCRouteList', '1200', []);
  store = new KubernetesPolicyStore(api.kubeConfig());
  events = [];
  store.onChange((ev) => {
    events.push(ev);
    const w = wake;
    wake = [];
    w.forEach((f) => f());
  });
  await store.start();
  await api.until(() => Object.values(P).every((p) => api.openWatch(p)));
});
afterEach(async () => {
  store.close();
  await api.close();
});

describe('KubernetesPolicyStore against a fake API server', () => {
  it('reads and validates the CRDs and Gateway API routes; invalid objects are reported, not served', () => {
    expect(store.list().map((p) => `${p.kind}/${p.metadata.namespace}/${p.metadata.name}@${p.resourceVersion}`).sort()).toEqual([
      'DestinationPolicy/bookinfo/reviews@1101',
      'HTTPRoute/bookinfo/reviews-canary@1102',
    ]);
    const d = store.get({ kind: 'DestinationPolicy', namespace: 'bookinfo', name: 'reviews' })!;
    expect(d.kind === 'DestinationPolicy' && d.spec.connectionPool).toMatchObject({ maxConnections: 256, connectTimeout: 1000 });
    expect(store.version()).toBe(1200);
    expect(store.rejected()).toHaveLength(1);
    expect(store.rejected()[0]!.issues.join('\n')).toMatch(/AuthorizationPolicy bookinfo\/broken: spec\.action/);
    expect(events).toEqual([]);
  });

  it('watch events update the store; an invalid update keeps the last good version', async () => {
    api.send(P.http, 'MODIFIED', route('1301', 50));
    await until(() => events.length >= 1);
    expect(events[0]).toEqual({ version: 1301, changes: [{ ref: { kind: 'HTTPRoute', namespace: 'bookinfo', name: 'reviews-canary' }, action: 'configured' }] });
    const r = store.get({ kind: 'HTTPRoute', namespace: 'bookinfo', name: 'reviews-canary' })!;
    expect(r.kind === 'HTTPRoute' && r.spec.rules[0]!.backendRefs.map((b) => b.weight)).toEqual([50, 50]);

    api.send(P.dp, 'MODIFIED', dp('1302', -1));
    api.send(P.dp, 'BOOKMARK', { kind: 'DestinationPolicy', apiVersion: 'tsmesh.io/v1alpha1', metadata: { resourceVersion: '1303' } });
    // a rejection emits no change event: poll for it
    await vi.waitFor(() => expect(store.rejected().map((x) => x.ref.name)).toContain('reviews'));
    const d = store.get({ kind: 'DestinationPolicy', namespace: 'bookinfo', name: 'reviews' })!;
    expect(d.resourceVersion).toBe(1101);
    expect(events).toHaveLength(1);
  });

  it('delete goes to the API server (dry-run first) and the watch removes the policy', async () => {
    const res = await store.delete([{ kind: 'HTTPRoute', namespace: 'bookinfo', name: 'reviews-canary' }]);
    expect(res.changes).toEqual([{ ref: { kind: 'HTTPRoute', namespace: 'bookinfo', name: 'reviews-canary' }, action: 'deleted' }]);
    expect(api.requests.filter((r) => r.startsWith('DELETE')).map((r) => r.includes('dryRun=All'))).toEqual([true, false]);
    await until(() => events.length >= 1);
    expect(store.get({ kind: 'HTTPRoute', namespace: 'bookinfo', name: 'reviews-canary' })).toBeUndefined();
    await expect(store.delete([{ kind: 'Canary', namespace: 'bookinfo', name: 'nope' }])).rejects.toMatchObject({ code: 'MESH_NOT_FOUND' });
  });

  it('apply is refused with a clear pointer to kubectl (policies live in the cluster)', async () => {
    const p = store.list()[0]!;
    await expect(store.apply([p])).rejects.toMatchObject({ code: 'MESH_UNSUPPORTED', message: expect.stringMatching(/kubectl apply -f/) });
  });

  it('410 Gone → relist → one coalesced store event for all changes in the collection', async () => {
    api.setList(P.http, 'HTTPRouteList', '1500', [
      route('1401', 90),
      { ...route('1402', 0), metadata: meta('ratings-route', '1402') },
    ]);
    const w = api.openWatch(P.http);
    api.expire(P.http);
    await until(() => events.length >= 1);
    await api.until(() => api.openWatch(P.http) !== undefined && api.openWatch(P.http) !== w);
    expect(events).toEqual([
      {
        version: 1500,
        changes: [
          { ref: { kind: 'HTTPRoute', namespace: 'bookinfo', name: 'reviews-canary' }, action: 'configured' },
          { ref: { kind: 'HTTPRoute', namespace: 'bookinfo', name: 'ratings-route' }, action: 'created' },
        ],
      },
    ]);
    expect(api.openWatch(P.http)!.resourceVersion).toBe('1500');
  });
});

describe('KubernetesPolicyStore on a cluster missing some CRDs', () => {
  it('starts with what exists, serves a missing kind as empty, and picks the kind up once its CRD appears', async () => {
    const fake = new FakeApiServer();
    await fake.start();
    // No Gateway API CRDs and an older tsmesh install: those collections answer 404.
    for (const [k, p] of Object.entries(P)) if (!['http', 'grpc', 'fp'].includes(k)) fake.setList(p, 'List', '1200', k === 'dp' ? [dp('1101', 256)] : []);
    const s = new KubernetesPolicyStore(fake.kubeConfig(), { backoffMs: { initial: 20, max: 50 } });
    const seen: StoreEvent[] = [];
    s.onChange((ev) => seen.push(ev));
    try {
      await s.start();
      expect(s.list().map((p) => p.kind)).toEqual(['DestinationPolicy']);
      // The CRD is installed and a FaultPolicy applied: the store lists it on its next look.
      fake.setList(P.fp, 'FaultPolicyList', '1300', [
        { apiVersion: 'tsmesh.io/v1alpha1', kind: 'FaultPolicy', metadata: meta('chaos', '1299'), spec: { targetRef: { kind: 'Service', name: 'reviews' }, abort: { httpStatus: 503 } } },
      ]);
      await fake.until(() => fake.openWatch(P.fp) !== undefined);
      expect(s.get({ kind: 'FaultPolicy', namespace: 'bookinfo', name: 'chaos' })).toMatchObject({ spec: { abort: { httpStatus: 503, percentage: 100 } } });
      expect(seen.at(-1)!.changes).toEqual([{ ref: { kind: 'FaultPolicy', namespace: 'bookinfo', name: 'chaos' }, action: 'created' }]);
    } finally {
      s.close();
      await fake.close();
    }
  });
});
