import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import type { ResourceMaps } from '../../proxy/config/resources.js';
import { MeshController, type PublishMeta } from '../controller.js';
import { EmbeddedRegistry } from '../registry/embedded-registry.js';
import { EmbeddedPolicyStore } from '../store/embedded-store.js';
import { applyPolicyText } from '../policy/apply.js';

const md = (service: string, sa: string, address: string, version: string) => ({
  service,
  serviceAccount: sa,
  inboundAddress: address,
  inboundPort: 15006,
  appPort: 9080,
  labels: { version },
});

function setup() {
  const clock = new ManualClock();
  const registry = new EmbeddedRegistry();
  const store = EmbeddedPolicyStore.memory();
  const published: { nodeId: string; resources: ResourceMaps; meta: PublishMeta }[] = [];
  const ctl = new MeshController({
    store,
    registry,
    selfRegistration: registry,
    clock,
    debounceMs: 50,
    publish: (nodeId, resources, meta) => published.push({ nodeId, resources, meta }),
  });
  return { clock, registry, store, published, ctl };
}

const lastFor = (published: { nodeId: string; resources: ResourceMaps; meta: PublishMeta }[], id: string) =>
  published.filter((p) => p.nodeId === id).at(-1)!;

describe('MeshController', () => {
  it('adds a host asked for on demand before its service registered, once that service registers', () => {
    const { clock, published, ctl } = setup();
    ctl.nodeConnected({ id: 'productpage', metadata: md('productpage', 'productpage', '10.0.0.1', 'v1') });
    // The proxy asks for reviews before any reviews sidecar is up: nothing to add yet, and its xDS
    // stream will not ask again, so the controller must remember the host.
    expect(ctl.noteDependency('productpage', 'reviews:9080')).toBe(false);
    expect(ctl.dependencies('productpage')).toEqual([]);
    ctl.nodeConnected({ id: 'reviews-v1', metadata: md('reviews', 'reviews', '10.0.0.2', 'v1') });
    clock.advance(50);
    expect(ctl.dependencies('productpage')).toEqual(['default/reviews']);
    expect([...lastFor(published, 'productpage').resources.cluster.keys()]).toContain('outbound|9080||reviews.default.svc.cluster.local');
  });

  it('publishes on connect, grows a proxy config with on-demand dependencies, and follows applies and endpoints', async () => {
    const { clock, registry, store, published, ctl } = setup();
    ctl.nodeConnected({ id: 'reviews-v1', metadata: md('reviews', 'reviews', '10.0.0.2', 'v1') });
    ctl.nodeConnected({ id: 'reviews-v2', metadata: md('reviews', 'reviews', '10.0.0.3', 'v2') });
    ctl.nodeConnected({ id: 'productpage', metadata: md('productpage', 'productpage', '10.0.0.1', 'v1') });
    clock.advance(50); // the registry changes above coalesce into one round
    let pp = lastFor(published, 'productpage');
    expect([...pp.resources.cluster.keys()]).toEqual(['inbound|9080||']); // nothing asked for yet

    expect(ctl.noteDependency('productpage', 'reviews:9080')).toBe(true);
    expect(ctl.noteDependency('productpage', 'nosuch')).toBe(false);
    pp = lastFor(published, 'productpage');
    expect([...pp.resources.cluster.keys()]).toEqual(['inbound|9080||', 'outbound|9080||reviews.default.svc.cluster.local']);
    expect(pp.resources.clusterLoadAssignment.get('outbound|9080||reviews.default.svc.cluster.local')!.endpoints.map((e) => e.address.address)).toEqual(['10.0.0.2', '10.0.0.3']);

    const out = await applyPolicyText(
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: reviews }
spec:
  parentRefs: [{ kind: Service, name: reviews, port: 9080 }]
  rules:
    - backendRefs: [{ name: reviews-v1, port: 9080, weight: 90 }, { name: reviews-v2, port: 9080, weight: 10 }]
`,
      { store, registry },
    );
    expect(out.version).toBe(1);
    const before = published.length;
    clock.advance(49);
    expect(published.length).toBe(before); // debounced
    clock.advance(1);
    expect(published.length).toBe(before + 3); // one round: every connected proxy once
    pp = lastFor(published, 'productpage');
    expect(pp.meta.storeVersion).toBe(1);
    const route = pp.resources.routeConfiguration.get('outbound')!.virtualHosts[0]!.routes[0]!;
    expect(route.route!.weightedClusters!.map((w) => [w.name, w.weight])).toEqual([
      ['outbound|9080|v1|reviews.default.svc.cluster.local', 90],
      ['outbound|9080|v2|reviews.default.svc.cluster.local', 10],
    ]);

    ctl.nodeDisconnected('reviews-v2');
    clock.advance(50);
    pp = lastFor(published, 'productpage');
    expect(pp.resources.clusterLoadAssignment.get('outbound|9080|v2|reviews.default.svc.cluster.local')!.endpoints).toEqual([]);
    expect(pp.resources.clusterLoadAssignment.get('outbound|9080|v1|reviews.default.svc.cluster.local')!.endpoints.map((e) => e.address.address)).toEqual(['10.0.0.2']);
    expect(ctl.connectedNodes().map((n) => n.nodeId).sort()).toEqual(['productpage', 'reviews-v1']);
    ctl.close();
  });

  it('a rejected apply publishes nothing and leaves the running config untouched', async () => {
    const { clock, registry, store, published, ctl } = setup();
    ctl.nodeConnected({ id: 'productpage', metadata: md('productpage', 'productpage', '10.0.0.1', 'v1') });
    clock.advance(50);
    const count = published.length;
    await expect(
      applyPolicyText(
        `apiVersion: tsmesh.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec: { mtls: { mode: STRICT } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ kind: Service, name: ghost }]
`,
        { store, registry },
        { file: 'bad.yaml' },
      ),
    ).rejects.toThrow('invalid policy (1 problem):\n  bad.yaml:10: spec.parentRefs[0].name: Service "default/ghost" is not in the registry (known: default/productpage)');
    clock.advance(1000);
    expect(published.length).toBe(count);
    expect(store.version()).toBe(0);
    expect(ctl.meshConfig().mtls.mode).toBe('PERMISSIVE');
    ctl.close();
  });

  it('a MeshConfig change re-derives identities and the inbound mTLS mode for every proxy', async () => {
    const { clock, registry, store, published, ctl } = setup();
    ctl.nodeConnected({ id: 'reviews-v1', metadata: md('reviews', 'reviews', '10.0.0.2', 'v1') });
    ctl.nodeConnected({ id: 'productpage', metadata: md('productpage', 'productpage', '10.0.0.1', 'v1') });
    ctl.noteDependency('productpage', 'reviews');
    clock.advance(50);
    const san = () => lastFor(published, 'productpage').resources.cluster.get('outbound|9080||reviews.default.svc.cluster.local')!.transportSocket!.matchSubjectAltNames;
    expect(san()).toEqual([{ exact: 'spiffe://cluster.local/ns/default/sa/reviews' }]);
    await applyPolicyText('apiVersion: tsmesh.io/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec: { trustDomain: corp.example, mtls: { mode: STRICT } }\n', { store, registry });
    clock.advance(50);
    expect(san()).toEqual([{ exact: 'spiffe://corp.example/ns/default/sa/reviews' }]);
    expect(lastFor(published, 'reviews-v1').resources.listener.get('virtualInbound')!.filterChains.map((c) => c.name)).toEqual(['inbound-mtls']);
    ctl.close();
  });
});
