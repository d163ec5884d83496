// Cluster warming over real gRPC streams: a config whose route sends traffic
// to a cluster new to the proxy is applied only once that cluster's endpoints
// have arrived (the route and the endpoints travel as separate responses), and
// a name the server never answers is given up on after the initial fetch
// timeout instead of freezing the proxy's config.

import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { encodeOne } from '../../../control-plane/xds/encode-cache.js';
import { resources, startServer } from '../../../control-plane/xds/test/harness.js';
import type { Cluster, ClusterLoadAssignment, ConfigSnapshot, NodeInfo, ResourceKind, ResourceMaps, RouteConfiguration } from '../../config/resources.js';
import { adsServiceDefinition, type DiscoveryRequestMsg } from '../ads-wire.js';
import { XdsClient } from '../client.js';
import { kindOfTypeUrl, type DomainOf } from '../codec/index.js';
import * as fx from '../codec/test/fixtures.js';

const nodeInfo: NodeInfo = { id: 'reviews-v2-1', cluster: 'reviews', namespace: 'default', serviceAccount: 'reviews', workload: 'reviews-v2', version: 'v2', labels: { app: 'reviews' }, trustDomain: 'cluster.local' };
const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0).reverse()) c();
});

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
  const missing: string[] = [];
  for (const rc of s.resources.routeConfiguration.values()) {
    for (const vh of rc.virtualHosts) {
      for (const r of vh.routes) {
        const names = [r.route?.cluster, ...(r.route?.weightedClusters ?? []).map((w) => w.name)];
        for (const n of names) {
          const c = n ? s.resources.cluster.get(n) : undefined;
          if (c?.type === 'EDS' && !s.resources.clusterLoadAssignment.has(c.edsServiceName ?? c.name)) missing.push(n!);
        }
      }
    }
  }
  return missing;
}

describe.each(['sotw', 'delta'] as const)('cluster warming (%s)', (protocol) => {
  it('applies a route to a new cluster only together with that cluster’s endpoints', async () => {
    const cp = await startServer();
    cleanup.push(cp.close);
    cp.cache.setSnapshot(nodeInfo.id, 'v1', resources());
    const applied: ConfigSnapshot[] = [];
    const client = new XdsClient({ server: `127.0.0.1:${cp.port}`, node: nodeInfo, protocol, apply: (s) => void applied.push(s) });
    cleanup.push(() => client.stop());
    client.start();
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
 * (wildcard or by name), except the names in `withhold`, which it never sends.
 */
async function scriptedServer(res: ResourceMaps, withhold: Set<string>) {
  const requests: DiscoveryRequestMsg[] = [];
  const server = new Server();
  let nonce = 0;
  server.addService(adsServiceDefinition(), {
    StreamAggregatedResources: (call: ServerDuplexStream<DiscoveryRequestMsg, unknown>) => {
      const sent = new Map<ResourceKind, string>();
      call.on('data', (req: DiscoveryRequestMsg) => {
        requests.push(req);
        const kind = kindOfTypeUrl(req.type_url ?? '');
        if (!kind) return;
        const names = req.resource_names ?? [];
        const key = names.join(',');
        if (sent.get(kind) === key) return; // an ACK of what it already has
        sent.set(kind, key);
        const all = res[kind] as ReadonlyMap<string, DomainOf[ResourceKind]>;
        const chosen = [...all].filter(([n]) => (names.length === 0 || names.includes(n)) && !withhold.has(n));
        call.write({ version_info: `v-${key}`, type_url: req.type_url, nonce: String(++nonce), resources: chosen.map(([n, v]) => encodeOne(kind, n, v).any) });
      });
      call.on('end', () => call.end());
    },
    DeltaAggregatedResources: (call: ServerDuplexStream<unknown, unknown>) => call.end(),
  });
  const port = await new Promise<number>((ok, fail) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))));
  cleanup.push(() => server.forceShutdown());
  return { port, requests };
}

describe('initial fetch timeout', () => {
  it('waits for endpoints the server never sends, then applies without them after the timeout', async () => {
    const withheld = fx.clusterLoadAssignment.clusterName;
    const srv = await scriptedServer(resources(), new Set([withheld]));
    const clock = new ManualClock();
    const applied: ConfigSnapshot[] = [];
    const client = new XdsClient({ server: `127.0.0.1:${srv.port}`, node: nodeInfo, clock, initialFetchTimeoutMs: 15_000, apply: (s) => void applied.push(s) });
    cleanup.push(() => client.stop());
    client.start();
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
    const withheld = fx.clusterLoadAssignment.clusterName;
    const srv = await scriptedServer(resources(), new Set([withheld]));
    const clock = new ManualClock();
    const applied: ConfigSnapshot[] = [];
    const client = new XdsClient({ server: `127.0.0.1:${srv.port}`, node: nodeInfo, clock, initialFetchTimeoutMs: 0, apply: (s) => void applied.push(s) });
    cleanup.push(() => client.stop());
    client.start();
    await expect.poll(() => srv.requests.some((r) => r.type_url?.endsWith('RouteConfiguration') && r.response_nonce)).toBe(true);
    clock.advance(3_600_000);
    expect(applied).toEqual([]);
  });
});
