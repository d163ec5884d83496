// The Kubernetes registry and CRD store, fed by recorded API-server
// responses, driving the real controller and translator: what a sidecar in
// the cluster would be sent.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { MeshController, type PublishMeta } from '../../control-plane/controller.js';
import type { ResourceMaps } from '../../proxy/config/resources.js';
import { KubernetesRegistry } from '../registry/kube-registry.js';
import { KubernetesPolicyStore } from '../store/kube-store.js';
import { FakeApiServer } from './fake-apiserver.js';
import { TSMESH_PLURALS } from '../store/kinds.js';

const fx = (n: string) => JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'fixtures', `${n}.json`), 'utf8'));
const HOST = 'reviews.bookinfo.svc.cluster.local';
const routeObj = (rv: string, v2: number) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: 'reviews', namespace: 'bookinfo', resourceVersion: rv, uid: 'r1', generation: 1 },
  spec: {
    parentRefs: [{ group: '', kind: 'Service', name: 'reviews', port: 9080 }],
    rules: [{ backendRefs: [{ group: '', kind: 'Service', name: 'reviews-v1', port: 9080, weight: 100 - v2 }, { group: '', kind: 'Service', name: 'reviews-v2', port: 9080, weight: v2 }] }],
  },
});
const TSMESH = TSMESH_PLURALS;

let api: FakeApiServer;
let registry: KubernetesRegistry;
let store: KubernetesPolicyStore;
let ctl: MeshController;
let clock: ManualClock;
let published: { nodeId: string; resources: ResourceMaps; meta: PublishMeta }[];

beforeEach(async () => {
  api = new FakeApiServer();
  await api.start();
  for (const [path, kind, f] of [['/api/v1/services', 'ServiceList', 'services'], ['/apis/discovery.k8s.io/v1/endpointslices', 'EndpointSliceList', 'endpointslices'], ['/api/v1/pods', 'PodList', 'pods']] as const) {
    api.setList(path, kind, '1200', fx(f).items);
  }
  for (const plural of TSMESH) api.setList(`/apis/tsmesh.io/v1alpha1/${plural}`, 'List', '1200', []);
  api.setList('/apis/gateway.networking.k8s.io/v1/httproutes', 'HTTPRouteList', '1200', [routeObj('1150', 10)]);
  api.setList('/apis/gateway.networking.k8s.io/v1/grpcroutes', 'GRPCRouteList', '1200', []);
  registry = new KubernetesRegistry(api.kubeConfig());
  store = new KubernetesPolicyStore(api.kubeConfig());
  await Promise.all([registry.start(), store.start()]);
  await api.until(() => ['/api/v1/pods', '/apis/discovery.k8s.io/v1/endpointslices', '/apis/gateway.networking.k8s.io/v1/httproutes'].every((p) => api.openWatch(p)));
  clock = new ManualClock();
  published = [];
  ctl = new MeshController({ store, registry, clock, debounceMs: 50, publish: (nodeId, resources, meta) => published.push({ nodeId, resources, meta }) });
});
afterEach(async () => {
  ctl.close();
  registry.close();
  store.close();
  await api.close();
});

const last = () => published.filter((p) => p.nodeId === 'productpage-1').at(-1)!;
const eps = (cluster: string) => last().resources.clusterLoadAssignment.get(cluster)?.endpoints.map((e) => e.address.address);

describe('Kubernetes registry + CRD store → controller → translator', () => {
  it('a sidecar gets the pods behind reviews, split by version, with the HTTPRoute weights', async () => {
    ctl.nodeConnected({ id: 'productpage-1', metadata: { service: 'productpage', namespace: 'bookinfo', serviceAccount: 'bookinfo-productpage', inboundAddress: '10.244.1.5', inboundPort: 9080, appPort: 9080 } });
    expect(ctl.noteDependency('productpage-1', `${HOST}:9080`)).toBe(true);
    const r = last().resources;
    const route = r.routeConfiguration.get('outbound')!.virtualHosts.find((v) => v.domains.some((d) => d.startsWith(HOST)))!.routes[0]!;
    expect(route.route!.weightedClusters!.map((w) => [w.name, w.weight])).toEqual([
      [`outbound|9080|v1|${HOST}`, 90],
      [`outbound|9080|v2|${HOST}`, 10],
    ]);
    expect(eps(`outbound|9080|v1|${HOST}`)).toEqual(['10.244.1.11']);
    expect(eps(`outbound|9080|v2|${HOST}`)).toEqual(['10.244.2.12']);

    // a recorded watch event: a new v2 pod becomes an endpoint; one debounced push
    const ev = fx('watch-events');
    const slice = structuredClone(ev.sliceModifiedV3);
    slice.endpoints[2].targetRef.name = 'reviews-v2-5b64f47978-zzzzz';
    const pod = structuredClone(ev.podAddedV3);
    pod.metadata.name = 'reviews-v2-5b64f47978-zzzzz';
    pod.metadata.labels.version = 'v2';
    const before = published.length;
    api.send('/api/v1/pods', 'ADDED', pod);
    api.send('/apis/discovery.k8s.io/v1/endpointslices', 'MODIFIED', slice);
    await new Promise<void>((resolve) => {
      const off = registry.onChange(() => {
        if (registry.endpoints('bookinfo', 'reviews').some((e) => e.address === '10.244.2.13' && e.version === 'v2')) off(), resolve();
      });
    });
    clock.advance(50);
    expect(published.length).toBe(before + 1);
    expect(eps(`outbound|9080|v2|${HOST}`)).toEqual(['10.244.2.12', '10.244.2.13']);

    // the route's weights change in the cluster (kubectl apply / a canary step)
    api.send('/apis/gateway.networking.k8s.io/v1/httproutes', 'MODIFIED', routeObj('1400', 50));
    await new Promise<void>((resolve) => {
      const off = store.onChange(() => (off(), resolve()));
    });
    clock.advance(50);
    expect(last().meta.storeVersion).toBe(1400);
    const r2 = last().resources.routeConfiguration.get('outbound')!.virtualHosts.find((v) => v.domains.some((d) => d.startsWith(HOST)))!.routes[0]!;
    expect(r2.route!.weightedClusters!.map((w) => w.weight)).toEqual([50, 50]);
  });
});
