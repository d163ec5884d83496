// A two-port Service from a recorded Service + EndpointSlices (the EndpointSlice
// controller's split by resolved port set) through the Kubernetes registry,
// the real controller and translator: one cluster per service port whose
// endpoints are dialled on the target port of the same name, a virtual host
// per port, and — for an injected sidecar (INTERCEPTION_MODE=REDIRECT) — the
// outbound listener reading the original destination and passing non-HTTP through.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.js';
import { MeshController } from '../../control-plane/controller.js';
import type { FilterChain, ResourceMaps } from '../../proxy/config/resources.js';
import { RouteTable } from '../../proxy/router/route-table.js';
import { assertValidSnapshot } from '../../proxy/config/check.js';
import { decodeResource, encodeResource } from '../../proxy/xds/codec/index.js';
import { KubernetesRegistry } from '../registry/kube-registry.js';
import { KubernetesPolicyStore } from '../store/kube-store.js';
import { FakeApiServer } from './fake-apiserver.js';
import { TSMESH_PLURALS } from '../store/kinds.js';

const fx = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'multiport.json'), 'utf8'));
const HOST = 'echo.demo.svc.cluster.local';

let api: FakeApiServer;
let registry: KubernetesRegistry;
let store: KubernetesPolicyStore;
let ctl: MeshController;
let published: Map<string, ResourceMaps>;

beforeEach(async () => {
  api = new FakeApiServer();
  await api.start();
  api.setList('/api/v1/services', 'ServiceList', '2200', [fx.service]);
  api.setList('/apis/discovery.k8s.io/v1/endpointslices', 'EndpointSliceList', '2200', fx.endpointSlices);
  api.setList('/api/v1/pods', 'PodList', '2200', fx.pods);
  for (const p of TSMESH_PLURALS) api.setList(`/apis/tsmesh.io/v1alpha1/${p}`, 'List', '2200', []);
  for (const p of ['httproutes', 'grpcroutes']) api.setList(`/apis/gateway.networking.k8s.io/v1/${p}`, 'List', '2200', []);
  registry = new KubernetesRegistry(api.kubeConfig());
  store = new KubernetesPolicyStore(api.kubeConfig());
  await Promise.all([registry.start(), store.start()]);
  published = new Map();
  ctl = new MeshController({ store, registry, clock: new ManualClock(), debounceMs: 50, publish: (nodeId, resources) => published.set(nodeId, resources) });
});
afterEach(async () => {
  ctl.close();
  registry.close();
  store.close();
  await api.close();
});

/** A caller in the demo namespace, as its injected sidecar's bootstrap describes it. */
function connect(id: string, interception?: 'REDIRECT'): ResourceMaps {
  ctl.nodeConnected({
    id,
    metadata: {
      service: 'web', namespace: 'demo', serviceAccount: 'web', inboundAddress: '10.244.1.30', inboundPort: 15006, appPort: 8080,
      ...(interception ? { INTERCEPTION_MODE: interception } : {}),
    },
  });
  expect(ctl.noteDependency(id, `${HOST}:9090`)).toBe(true);
  return published.get(id)!;
}

const endpoints = (r: ResourceMaps, cluster: string) => r.clusterLoadAssignment.get(cluster)?.endpoints.map((e) => `${e.address.address}:${e.address.port} ${e.metadata?.version}`);

describe('multi-port Service on Kubernetes', () => {
  it('the registry maps each service port to the target port of the same name, per pod', () => {
    const eps = registry.endpoints('demo', 'echo');
    expect(eps.map((e) => [e.address, e.targetPorts])).toEqual([
      ['10.244.1.21', { 80: 8080, 9090: 9090 }],
      ['10.244.2.22', { 80: 8081, 9090: 9090 }],
    ]);
    expect(registry.service('demo', 'echo')!.ports).toEqual([{ name: 'http', port: 80, protocol: 'http' }, { name: 'grpc', port: 9090, protocol: 'grpc' }]);
  });

  it('one cluster and one virtual host per service port, endpoints on their target ports', () => {
    const r = connect('web-1');
    expect(endpoints(r, `outbound|80||${HOST}`)).toEqual(['10.244.1.21:8080 v1', '10.244.2.22:8081 v2']);
    expect(endpoints(r, `outbound|9090||${HOST}`)).toEqual(['10.244.1.21:9090 v1', '10.244.2.22:9090 v2']);
    const vhosts = r.routeConfiguration.get('outbound')!.virtualHosts.filter((v) => v.name.startsWith(HOST));
    expect(vhosts.map((v) => [v.name, v.routes[0]!.route!.cluster])).toEqual([
      [`${HOST}:80`, `outbound|80||${HOST}`],
      [`${HOST}:9090`, `outbound|9090||${HOST}`],
    ]);
    // `echo` without a port is port 80's (clients omit the default port); every domain is unique, as Envoy requires.
    expect(vhosts[0]!.domains).toContain('echo');
    expect(vhosts[1]!.domains).toEqual(['echo:9090', 'echo.demo:9090', 'echo.demo.svc:9090', `${HOST}:9090`, '10.96.40.7:9090']);
    const all = vhosts.flatMap((v) => v.domains);
    expect(new Set(all).size).toBe(all.length);
    // How the proxy routes: by Host, and — for an app that dialled the ClusterIP with some other Host — by
    // the connection's original destination, which now names a virtual host too.
    const table = new RouteTable(r.routeConfiguration.get('outbound')!);
    expect(table.virtualHost('echo')!.name).toBe(`${HOST}:80`);
    expect(table.virtualHost('echo.demo:9090')!.name).toBe(`${HOST}:9090`);
    expect(table.virtualHost('10.96.40.7:9090')!.name).toBe(`${HOST}:9090`);
    expect(table.virtualHost('10.96.40.7:80')!.name).toBe(`${HOST}:80`);
  });

  it('an app that dials the ClusterIP asks for the service on demand by that address', () => {
    ctl.nodeConnected({ id: 'web-4', metadata: { service: 'web', namespace: 'demo', inboundAddress: '10.244.1.31', inboundPort: 15006 } });
    expect(published.get('web-4')?.clusterLoadAssignment.has(`outbound|9090||${HOST}`) ?? false).toBe(false);
    expect(ctl.noteDependency('web-4', '10.96.40.7:9090')).toBe(true);
    expect(endpoints(published.get('web-4')!, `outbound|9090||${HOST}`)).toEqual(['10.244.1.21:9090 v1', '10.244.2.22:9090 v2']);
    expect(ctl.noteDependency('web-4', '10.96.40.99:9090')).toBe(false);
  });

  it('an injected sidecar (INTERCEPTION_MODE=REDIRECT): original destination on both listeners, HTTP-only outbound chain', () => {
    const r = connect('web-2', 'REDIRECT');
    const out = r.listener.get('virtualOutbound')!;
    expect(out.useOriginalDst).toBe(true);
    expect(out.trafficDirection).toBe('OUTBOUND');
    // TLS and opaque TCP match no chain: the proxy passes them to the original destination (PassthroughCluster).
    expect(out.filterChains.map((c) => [c.name, c.filterChainMatch])).toEqual([['outbound-http', { transportProtocol: 'raw_buffer', applicationProtocols: ['http/1.1', 'h2c'] }]]);
    // Plain HTTP to a host outside the registry: Istio's default outboundTrafficPolicy, ALLOW_ANY.
    expect(out.filterChains[0]!.filter.kind === 'http' && out.filterChains[0]!.filter.outboundTrafficPolicy).toBe('ALLOW_ANY');
    expect(r.listener.get('virtualInbound')!.useOriginalDst).toBe(true);
    // What the sidecar receives over xDS decodes to the same listeners, and the whole config passes the proxy's checks.
    for (const name of ['virtualOutbound', 'virtualInbound']) {
      const l = r.listener.get(name)!;
      expect(decodeResource('listener', encodeResource('listener', l))).toEqual(l);
    }
    const versions = { listener: '1', routeConfiguration: '1', cluster: '1', clusterLoadAssignment: '1', secret: '1' };
    expect(() => assertValidSnapshot({ resources: r, versions }, { validateClusters: false })).not.toThrow();
  });

  it("the pod's own sidecar delivers inbound to the Service's target port with that port's protocol", () => {
    // echo-v1's injected sidecar: APP_PORT from its first containerPort (8080, HTTP).
    const reg = (id: string, md: Record<string, unknown>) => {
      ctl.nodeConnected({ id, metadata: { service: 'echo', namespace: 'demo', serviceAccount: 'echo', inboundAddress: '10.244.1.21', inboundPort: 15006, INTERCEPTION_MODE: 'REDIRECT', ...md } });
      return published.get(id)!;
    };
    const target = (c: FilterChain) => (c.filter.kind === 'http' ? c.filter.routeConfig!.virtualHosts[0]!.routes[0]!.route!.cluster! : c.filter.cluster!);
    const inbound = (r: ResourceMaps, port: number) => r.cluster.get(target(r.listener.get('virtualInbound')!.filterChains.find((c) => c.filterChainMatch?.destinationPort === port)!))!;
    const http = reg('echo-v1-a', { appPort: 8080 });
    expect([inbound(http, 8080).name, inbound(http, 8080).upstreamProtocol]).toEqual(['inbound|8080||', 'http1']);
    // A gRPC app port: HTTP/2 to the app, from the Service port's appProtocol (the sidecar reported no protocol).
    const grpc = reg('echo-v1-b', { appPort: 9090 });
    expect([inbound(grpc, 9090).name, inbound(grpc, 9090).upstreamProtocol]).toEqual(['inbound|9090||', 'http2']);
    // Both of the Service's ports get their own cluster and chains, picked by the original destination's port.
    for (const r of [http, grpc]) {
      expect([...r.cluster.values()].filter((c) => c.name.startsWith('inbound|')).map((c) => [c.name, c.upstreamProtocol])).toEqual([
        ['inbound|8080||', 'http1'],
        ['inbound|9090||', 'http2'],
      ]);
      const chains = r.listener.get('virtualInbound')!.filterChains;
      // PERMISSIVE (the mesh default here): an mTLS and a plaintext chain per port; any other redirected
      // port is passed through to itself (Istio's InboundPassthroughCluster), not to an app port.
      expect(chains.map((c) => [c.name, c.filterChainMatch?.destinationPort, target(c)])).toEqual([
        ['inbound-mtls-8080', 8080, 'inbound|8080||'],
        ['inbound-plaintext-8080', 8080, 'inbound|8080||'],
        ['inbound-mtls-9090', 9090, 'inbound|9090||'],
        ['inbound-plaintext-9090', 9090, 'inbound|9090||'],
        ['inbound-mtls-passthrough', undefined, 'InboundPassthroughClusterIpv4'],
        ['inbound-plaintext-passthrough', undefined, 'InboundPassthroughClusterIpv4'],
      ]);
      expect(r.cluster.get('InboundPassthroughClusterIpv4')).toMatchObject({ type: 'ORIGINAL_DST', upstreamBindConfig: { sourceAddress: { address: '127.0.0.6' } } });
    }
    // No containerPorts declared (they are optional): the port the Service's endpoint is dialled on.
    const undeclared = reg('echo-v1-c', {});
    expect(inbound(undeclared, 8080).loadAssignment!.endpoints[0]!.address).toEqual({ address: '127.0.0.1', port: 8080 });
    expect(undeclared.listener.get('virtualInbound')!.filterChains[0]!.filter.kind).toBe('http');
  });

  it('a sidecar without interception keeps explicit listeners (no original destination, one catch-all chain)', () => {
    const r = connect('web-3');
    const out = r.listener.get('virtualOutbound')!;
    expect(out.useOriginalDst).toBeUndefined();
    expect(out.filterChains[0]!.filterChainMatch).toBeUndefined();
    expect(r.listener.get('virtualInbound')!.useOriginalDst).toBeUndefined();
  });
});
