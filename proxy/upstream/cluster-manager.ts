// The clusters of the active configuration, each with its hosts (live
// HostState shared with load balancing and outlier detection), its balancer
// and one dispatcher per host. Rebuilt on every config swap; HostState and
// connection pools survive a swap when the endpoint is unchanged.

import type { Dispatcher } from 'undici';
import type { Cluster, ConfigSnapshot, LbEndpoint } from '../config/resources.js';
import { createLoadBalancer, type HostState, type LoadBalancer } from '../lb/index.js';
import type { ClusterStatus } from '../admin/types.js';
import { EndpointPools, poolSettings, type PoolSettings } from './endpoint-pools.js';
import type { TlsStore } from '../tls/tls-store.js';

/** A host plus the dispatchers that reach it. */
export interface UpstreamHost extends HostState {
  h1: Dispatcher | undefined;
  h2: Dispatcher | undefined;
}

export interface ClusterStats {
  /** Requests in flight on this cluster (circuit-breaker gauge). */
  activeRequests: number;
}

export interface ClusterRuntime {
  readonly name: string;
  readonly config: Cluster;
  readonly hosts: readonly UpstreamHost[];
  readonly lb: LoadBalancer;
  /** Live counters shared by every runtime of this cluster name, so in-flight requests that
   * started before a config swap still count (and uncount) in the same place. */
  readonly stats: ClusterStats;
  /** Labels for telemetry's destination side, from cluster metadata. */
  readonly destination: { service?: string; workload?: string; version?: string; namespace?: string };
}

export class ClusterManager {
  private clusters = new Map<string, ClusterRuntime>();
  private hostsByKey = new Map<string, UpstreamHost>();
  readonly pools = new EndpointPools();

  constructor(private readonly tls: TlsStore) {}

  get(name: string): ClusterRuntime | undefined {
    return this.clusters.get(name);
  }

  /** Builds the runtime clusters of a snapshot and swaps them in at once. */
  apply(snap: ConfigSnapshot): void {
    const next = new Map<string, ClusterRuntime>();
    const usedPools = new Set<string>();
    const nextHosts = new Map<string, UpstreamHost>();
    for (const [name, c] of snap.resources.cluster) {
      const cla = c.type === 'EDS' ? snap.resources.clusterLoadAssignment.get(c.edsServiceName ?? name) : c.loadAssignment;
      const eps = cla?.endpoints ?? [];
      const tls = c.transportSocket ? this.tls.upstream(c.transportSocket) : undefined;
      const hosts = eps.map((ep) => this.host(name, c, ep, tls, usedPools, nextHosts));
      const prev = this.clusters.get(name);
      next.set(name, {
        name,
        config: c,
        hosts,
        lb: createLoadBalancer(c, hosts),
        stats: prev?.stats ?? { activeRequests: 0 },
        destination: {
          service: c.metadata.service ?? name,
          ...(c.metadata.workload ? { workload: c.metadata.workload } : {}),
          ...(c.metadata.version ? { version: c.metadata.version } : {}),
          ...(c.metadata.namespace ? { namespace: c.metadata.namespace } : {}),
        },
      });
    }
    this.clusters = next;
    this.hostsByKey = nextHosts;
    this.pools.retain(usedPools);
  }

  private host(
    cluster: string,
    c: Cluster,
    ep: LbEndpoint,
    tls: PoolSettings['tls'],
    used: Set<string>,
    nextHosts: Map<string, UpstreamHost>,
  ): UpstreamHost {
    const key = `${ep.address.address}:${ep.address.port}`;
    const wantH1 = c.upstreamProtocol !== 'http2';
    const wantH2 = c.upstreamProtocol !== 'http1';
    const p1 = wantH1 ? this.pools.get(ep.address, poolSettings(c, 'http1', tls)) : undefined;
    const p2 = wantH2 ? this.pools.get(ep.address, poolSettings(c, 'http2', tls)) : undefined;
    if (p1) used.add(p1.key);
    if (p2) used.add(p2.key);
    const old = this.hostsByKey.get(`${cluster}|${key}`);
    // Same endpoint, same pools: keep the very object, so in-flight counts and LB/outlier state carry over.
    if (old && old.h1 === p1?.dispatcher && old.h2 === p2?.dispatcher && sameEndpoint(old.endpoint, ep)) {
      nextHosts.set(`${cluster}|${key}`, old);
      return old;
    }
    const h: UpstreamHost = {
      endpoint: ep,
      key,
      activeRequests: old?.activeRequests ?? 0,
      ejected: ep.healthStatus === 'UNHEALTHY' || ep.healthStatus === 'DRAINING' || ep.healthStatus === 'TIMEOUT',
      h1: p1?.dispatcher,
      h2: p2?.dispatcher,
    };
    nextHosts.set(`${cluster}|${key}`, h);
    return h;
  }

  status(): ClusterStatus[] {
    return [...this.clusters.values()].map((c) => ({
      name: c.name,
      lbPolicy: c.config.lbPolicy,
      endpoints: c.hosts.map((h) => ({
        address: h.key,
        weight: h.endpoint.weight,
        healthStatus: h.endpoint.healthStatus,
        ejected: h.ejected,
        activeRequests: h.activeRequests,
        metadata: h.endpoint.metadata,
      })),
      circuitBreakers: { activeRequests: c.stats.activeRequests, maxRequests: c.config.circuitBreakers.maxRequests },
    }));
  }

  async close(graceful: boolean): Promise<void> {
    this.clusters = new Map();
    await (graceful ? this.pools.closeAll() : this.pools.destroyAll());
  }
}

function sameEndpoint(a: LbEndpoint, b: LbEndpoint): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
