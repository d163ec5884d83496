// Cluster warming over real gRPC streams: a config whose route sends traffic
// to a cluster new to the proxy is applied only once that cluster's endpoints
// have arrived (the route and the endpoints travel as separate responses), and
// a name the server never answers is given up on after the initial fetch
// timeout instead of freezing the proxy's config. The other way round, a
// cluster the server removes stays while the routes held still name it.

import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { encodeOne } from '../../../control-plane/xds/encode-cache.js';
import { resources, startServer } from '../../../control-plane/xds/test/harness.js';
import { TYPE_URLS, type Cluster, type ClusterLoadAssignment, type ConfigSnapshot, type NodeInfo, type ResourceKind, type ResourceMaps, type RouteConfiguration } from '../../config/resources.js';
import { adsServiceDefinition, type DiscoveryRequestMsg } from '../ads-wire.js';
import { XdsClient, type XdsClientOptions } from '../client.js';
import { kindOfTypeUrl, type DomainOf } from '../codec/index.js';
import { clustersInUse, copyMaps } from '../resource-state.js';
import * as fx from '../codec/test/fixtures.js';

const nodeInfo: NodeInfo = { id: 'reviews-v2-1', cluster: 'reviews', namespace: 'default', serviceAccount: 'reviews', workload: 'reviews-v2', version: 'v2', labels: { app: 'reviews' }, trustDomain: 'cluster.local' };
const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0).reverse()) c();
});

/** A client of the server on `port` that records every config it applies. */
function startClient(port: number, extra: Partial<XdsClientOptions> = {}) {
  const applied: ConfigSnapshot[] = [];
  const client = new XdsClient({ server: `127.0.0.1:${port}`, node: nodeInfo, apply: (s) => void applied.push(s), ...extra });
  cleanup.push(() => client.stop());
  client.start();
  return { client, applied };
}

const v3: Cluster = { ...fx.cluster, name: 'outbound|80|v3|reviews', edsServiceName: 'outbound|80|v3|reviews.default', metadata: { service: 'reviews.default', version: 'v3' } };
const v3Endpoints: ClusterLoadAssignment = { ...fx.clusterLoadAssignment, clusterName: 'outbound|80|v3|reviews.default' };

/** The fixtures plus cluster v3 and its endpoints, with the canary route's 10% moved from v2 to v3. */
function withCanaryV3(): ResourceMaps {
  const base = resources();
  const rc = structuredClone(fx.routeConfiguration) as RouteConfiguration;
  rc.virtualHosts[0]!.routes[0]!.route!.weightedClusters![1]!.name = v3.name;
  return {
    ...base,
    routeConfiguration: new Map([[rc.name, rc]]),
    cluster: new Map([...base.cluster, [v3.name, v3]]),
    clusterLoadAssignment: new Map([...base.clusterLoadAssignment, [v3Endpoints.clusterName, v3Endpoints]]),
  };
}

/** EDS clusters a route sends traffic to whose endpoints the snapshot lacks. */
function routedWithoutEndpoints(s: ConfigSnapshot): string[] {
  return [...clustersInUse(copyMaps(s.resources))].filter((n) => {
    const c = s.resources.cluster.get(n);
    return c?.type === 'EDS' && !s.resources.clusterLoadAssignment.has(c.edsServiceName ?? c.name);
  });
}

describe.each(['sotw', 'delta'] as const)('cluster warming (%s)', (protocol) => {
  it('applies a route to a new cluster only together with that cluster’s endpoints', async () => {
    const cp = await startServer();
    cleanup.push(cp.close);
    cp.cache.setSnapshot(nodeInfo.id, 'v1', resources());
    const { client, applied } = startClient(cp.port, { protocol });
    await expect.poll(() => cp.xds.receipt('v1')?.acked.length).toBe(1);
    cp.cache.setSnapshot(nodeInfo.id, 'v2', withCanaryV3());
    await expect.poll(() => client.current().resources.clusterLoadAssignment.has(v3Endpoints.clusterName)).toBe(true);
    await expect.poll(() => cp.xds.receipt('v2')?.acked.length).toBe(1);
    expect(applied.map(routedWithoutEndpoints)).toEqual(applied.map(() => []));
    expect(applied.at(-1)!.resources.routeConfiguration.get(fx.routeConfiguration.name)!.virtualHosts[0]!.routes[0]!.route!.weightedClusters![1]!.name).toBe(v3.name);
  });
});

/**
 * A state-of-the-world ADS server that answers every request for a type with `res`'s resources of that type
 * (wildcard or by name), except the names in `withhold`, which it never sends; `push(kind)` sends `res`'s
 * current resources of `kind` unasked, as a control plane does on a change.
 */
async function scriptedServer(res: ResourceMaps, withhold = new Set<string>()) {
  const requests: DiscoveryRequestMsg[] = [];
  const server = new Server();
  let nonce = 0;
  let stream: { call: ServerDuplexStream<DiscoveryRequestMsg, unknown>; names: Map<ResourceKind, string[]> } | undefined;
  const send = (kind: ResourceKind) => {
    const names = stream!.names.get(kind) ?? [];
    const all = res[kind] as ReadonlyMap<string, DomainOf[ResourceKind]>;
    const wildcard = (kind === 'listener' || kind === 'cluster') && names.length === 0;
    const chosen = [...all].filter(([n]) => (wildcard || names.includes(n)) && !withhold.has(n));
    const n = String(++nonce);
    stream!.call.write({ version_info: `v${n}`, type_url: TYPE_URLS[kind], nonce: n, resources: chosen.map(([name, v]) => encodeOne(kind, name, v).any) });
    return n;
  };
  server.addService(adsServiceDefinition(), {
    StreamAggregatedResources: (call: ServerDuplexStream<DiscoveryRequestMsg, unknown>) => {
      stream = { call, names: new Map() };
      call.on('data', (req: DiscoveryRequestMsg) => {
        requests.push(req);
        const kind = kindOfTypeUrl(req.type_url ?? '');
        if (!kind) return;
        const names = req.resource_names ?? [];
        const prev = stream!.names.get(kind);
        if (prev && prev.join(',') === names.join(',')) return; // an ACK of what it already has
        stream!.names.set(kind, names);
        send(kind);
      });
      call.on('end', () => call.end());
    },
    DeltaAggregatedResources: (call: ServerDuplexStream<unknown, unknown>) => call.end(),
  });
  const port = await new Promise<number>((ok, fail) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))));
  cleanup.push(() => server.forceShutdown());
  /** Sends `kind` and resolves once the client has ACKed that response. */
  const push = async (kind: ResourceKind) => {
    const n = send(kind);
    await expect.poll(() => requests.some((r) => r.response_nonce === n && !r.error_detail)).toBe(true);
  };
  return { port, requests, push };
}

/** Clusters routes send traffic to that the snapshot lacks. */
function routedToMissing(s: ConfigSnapshot): string[] {
  return [...clustersInUse(copyMaps(s.resources))].filter((n) => !s.resources.cluster.has(n));
}

describe('removed clusters (break after make)', () => {
  it('keeps a removed cluster, with its endpoints, until the routes stop naming it', async () => {
    const res = resources();
    const srv = await scriptedServer(res);
    const { client, applied } = startClient(srv.port);
    await expect.poll(() => client.current().resources.clusterLoadAssignment.has(fx.clusterLoadAssignment.clusterName)).toBe(true);
    // The rollback, clusters first (as a control plane pushes them): v2's cluster goes, the route still splits to it.
    res.cluster = new Map([[fx.peakEwmaCluster.name, fx.peakEwmaCluster]]);
    await srv.push('cluster');
    expect(client.current().resources.cluster.get(fx.cluster.name)).toEqual(fx.cluster);
    expect(client.current().resources.clusterLoadAssignment.get(fx.clusterLoadAssignment.clusterName)).toEqual(fx.clusterLoadAssignment);
    // Then the listener, whose TCP chain stops splitting to v2: the routes still name it.
    const l = structuredClone(fx.listener);
    l.filterChains[1]!.filter = { kind: 'tcp', statPrefix: 'inbound_tcp', cluster: fx.peakEwmaCluster.name, idleTimeout: 600_000 };
    res.listener = new Map([[l.name, l]]);
    await srv.push('listener');
    expect(client.current().resources.listener.get(l.name)!.filterChains[1]!.filter).toMatchObject({ cluster: fx.peakEwmaCluster.name });
    expect(client.current().resources.cluster.has(fx.cluster.name)).toBe(true);
    // Then the routes that send everything to ratings: now v2's cluster is gone.
    const rc = structuredClone(fx.routeConfiguration) as RouteConfiguration;
    for (const r of rc.virtualHosts[0]!.routes) if (r.route) Object.assign(r.route, { cluster: fx.peakEwmaCluster.name, weightedClusters: undefined });
    res.routeConfiguration = new Map([[rc.name, rc]]);
    await srv.push('routeConfiguration');
    await expect.poll(() => client.current().resources.cluster.has(fx.cluster.name)).toBe(false);
    expect(client.current().resources.clusterLoadAssignment.size).toBe(0);
    expect(applied.map(routedToMissing)).toEqual(applied.map(() => []));
  });
});

describe('initial fetch timeout', () => {
  const withheld = fx.clusterLoadAssignment.clusterName;
  /** A server that never sends the one endpoint set the fixtures' cluster needs. */
  async function withholding(initialFetchTimeoutMs: number) {
    const srv = await scriptedServer(resources(), new Set([withheld]));
    const clock = new ManualClock();
    return { srv, clock, ...startClient(srv.port, { clock, initialFetchTimeoutMs }) };
  }

  it('waits for endpoints the server never sends, then applies without them after the timeout', async () => {
    const { srv, clock, applied } = await withholding(15_000);
    // The proxy has asked for the endpoints and ACKed every response it got (the routes, the secrets).
    await expect.poll(() => srv.requests.some((r) => r.type_url?.endsWith('ClusterLoadAssignment') && r.response_nonce && r.resource_names?.includes(withheld))).toBe(true);
    await expect.poll(() => srv.requests.some((r) => r.type_url?.endsWith('RouteConfiguration') && r.response_nonce)).toBe(true);
    clock.advance(14_999);
    expect(applied).toEqual([]);
    clock.advance(1);
    expect(applied).toHaveLength(1);
    expect([...applied[0]!.resources.cluster.keys()].sort()).toEqual([fx.peakEwmaCluster.name, fx.cluster.name].sort());
    expect(applied[0]!.resources.clusterLoadAssignment.has(withheld)).toBe(false);
  });

  it('0 waits for ever', async () => {
    const { srv, clock, applied } = await withholding(0);
    await expect.poll(() => srv.requests.some((r) => r.type_url?.endsWith('RouteConfiguration') && r.response_nonce)).toBe(true);
    clock.advance(3_600_000);
    expect(applied).toEqual([]);
  });
});
