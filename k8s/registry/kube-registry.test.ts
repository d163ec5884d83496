import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RegistryEvent } from '../../control-plane/registry/types.js';
import { FakeApiServer } from '../test/fake-apiserver.js';
import { KubernetesRegistry } from './kube-registry.js';

const fx = (n: string) => JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', `${n}.json`), 'utf8'));
const SVC = '/api/v1/services';
const EPS = '/apis/discovery.k8s.io/v1/endpointslices';
const PODS = '/api/v1/pods';

let api: FakeApiServer;
let registry: KubernetesRegistry;
let events: RegistryEvent[];
let wake: (() => void)[] = [];

async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise<void>((r) => wake.push(r));
}

function load(suffix = '') {
  api.setList(SVC, 'ServiceList', fx(`services${suffix}`).metadata.resourceVersion, fx(`services${suffix}`).items);
  api.setList(EPS, 'EndpointSliceList', fx(`endpointslices${suffix}`).metadata.resourceVersion, fx(`endpointslices${suffix}`).items);
  api.setList(PODS, 'PodList', fx(`pods${suffix}`).metadata.resourceVersion, fx(`pods${suffix}`).items);
}

beforeEach(async () => {
  api = new FakeApiServer();
  await api.start();
  load();
  registry = new KubernetesRegistry(api.kubeConfig(), { trustDomain: 'cluster.local', pageSize: 2 });
  events = [];
  registry.onChange((ev) => {
    events.push(ev);
    const w = wake;
    wake = [];
    w.forEach((f) => f());
  });
  await registry.start();
  await api.until(() => [SVC, EPS, PODS].every((p) => api.openWatch(p)));
});

afterEach(async () => {
  registry.close();
  await api.close();
});

const addrs = (ns: string, name: string) => registry.endpoints(ns, name).map((e) => `${e.address}:${e.inboundPort} ${e.version} ${e.identity}`);

describe('KubernetesRegistry against recorded API-server responses', () => {
  it('builds the view from the (paginated) lists: services, ports, endpoints with identity and version', () => {
    expect(registry.services().map((s) => `${s.namespace}/${s.name}`).sort()).toEqual(['bookinfo/grpc-echo', 'bookinfo/ratings', 'bookinfo/reviews', 'default/kubernetes']);
    expect(registry.service('bookinfo', 'reviews')).toMatchObject({ hostname: 'reviews.bookinfo.svc.cluster.local', ports: [{ name: 'http', port: 9080, protocol: 'http' }] });
    // h2c appProtocol → http2; UDP ports are not meshed
    expect(registry.service('bookinfo', 'grpc-echo')!.ports).toEqual([{ name: 'api', port: 7070, protocol: 'http2' }]);
    expect(addrs('bookinfo', 'reviews')).toEqual([
      '10.244.1.11:9080 v1 spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews',
      '10.244.2.12:9080 v2 spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews',
    ]);
    expect(registry.endpoints('bookinfo', 'reviews')[0]).toMatchObject({ id: 'p1', serviceAccount: 'bookinfo-reviews', healthy: true, labels: { app: 'reviews', version: 'v1' } });
    // lists were paginated (pageSize 2) and every watch starts at the list's resourceVersion with bookmarks
    expect(api.requests.filter((r) => r.startsWith(`GET ${SVC}?`) && r.includes('continue=')).length).toBeGreaterThan(0);
    for (const p of [SVC, EPS, PODS]) expect(api.openWatch(p)).toMatchObject({ resourceVersion: '1200', allowWatchBookmarks: true });
    expect(events).toEqual([]);
    expect(api.problems).toEqual([]);
  });

  it('applies ADDED/MODIFIED/DELETED events, one change event per affected service', async () => {
    const ev = fx('watch-events');
    // the slice names a pod the registry has not seen yet: endpoint first, identity once the pod arrives
    api.send(EPS, 'MODIFIED', ev.sliceModifiedV3);
    await until(() => events.length >= 1);
    expect(addrs('bookinfo', 'reviews')).toContain('10.244.2.13:9080 undefined spiffe://cluster.local/ns/bookinfo/sa/default');
    api.send(PODS, 'ADDED', ev.podAddedV3);
    await until(() => events.length >= 2);
    expect(events).toEqual([
      { type: 'endpoints', namespace: 'bookinfo', name: 'reviews' },
      { type: 'endpoints', namespace: 'bookinfo', name: 'reviews' },
    ]);
    expect(addrs('bookinfo', 'reviews')).toContain('10.244.2.13:9080 v3 spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews');

    api.send(SVC, 'DELETED', ev.serviceDeletedRatings);
    await until(() => events.length >= 4);
    expect(events.slice(2)).toEqual([
      { type: 'service', namespace: 'bookinfo', name: 'ratings' },
      { type: 'endpoints', namespace: 'bookinfo', name: 'ratings' },
    ]);
    expect(registry.service('bookinfo', 'ratings')).toBeUndefined();
    expect(registry.endpoints('bookinfo', 'ratings')).toEqual([]);
  });

  it('a pod relabel changes its endpoints (version subset moves)', async () => {
    const pod = structuredClone(fx('pods').items[1]);
    pod.metadata.labels.version = 'v2-canary';
    pod.metadata.resourceVersion = '1310';
    api.send(PODS, 'MODIFIED', pod);
    await until(() => events.length >= 1);
    expect(events).toEqual([{ type: 'endpoints', namespace: 'bookinfo', name: 'reviews' }]);
    expect(registry.endpoints('bookinfo', 'reviews')[1]!.version).toBe('v2-canary');
  });

  it('resumes a dropped watch from the last bookmark without relisting', async () => {
    const ev = fx('watch-events');
    api.send(EPS, 'BOOKMARK', ev.bookmarkSlices);
    const first = api.openWatch(EPS)!;
    // the bookmark is only visible once the client reconnects: drop the connection
    await new Promise((r) => setImmediate(r));
    api.drop(EPS);
    await api.until(() => api.openWatch(EPS) !== undefined && api.openWatch(EPS) !== first);
    expect(api.openWatch(EPS)!.resourceVersion).toBe('1350');
    expect(registry.listCounts()).toEqual([1, 1, 1]);
    expect(events).toEqual([]);
  });

  it('410 Gone forces a relist; each relist yields exactly one coalesced change', async () => {
    load('-relist');
    for (const [path, index] of [[SVC, 0], [EPS, 1], [PODS, 2]] as const) {
      const before = events.length;
      const watchBefore = api.openWatch(path);
      api.expire(path);
      await api.until(() => registry.listCounts()[index] === 2 && api.openWatch(path) !== undefined && api.openWatch(path) !== watchBefore);
      await until(() => events.length > before);
      expect(events.slice(before)).toEqual([{ type: 'resync' }]);
      // the new watch starts at the relist's resourceVersion
      expect(api.openWatch(path)!.resourceVersion).toBe('1500');
    }
    expect(registry.service('bookinfo', 'details')).toBeDefined();
    expect(addrs('bookinfo', 'details')).toEqual(['10.244.1.31:9080 v1 spiffe://cluster.local/ns/bookinfo/sa/bookinfo-details']);
    expect(addrs('bookinfo', 'reviews')).toHaveLength(3);

    // a relist that changes nothing is silent
    const count = events.length;
    const w = api.openWatch(SVC);
    api.expire(SVC);
    await api.until(() => registry.listCounts()[0] === 3 && api.openWatch(SVC) !== undefined && api.openWatch(SVC) !== w);
    expect(events.length).toBe(count);
    expect(api.problems).toEqual([]);
  });
});
