// The clusters of the active configuration, each with its hosts (live
// HostState shared with load balancing and outlier detection), its balancer
// and one dispatcher per host. Rebuilt on every config swap; HostState and
// connection pools survive a swap when the endpoint is unchanged, and each
// cluster's ClusterResilience (balancer, circuit breaker, outlier detector)
// hands its state to its successor (breaker counters, ejections, EWMA).

import { isDnsCluster, type Cluster, type ClusterLoadAssignment, type ConfigSnapshot, type LbEndpoint } from '../config/resources.js';
import type { Registry } from 'prom-client';
import { systemClock, type Clock } from '../../common/clock.js';
import type { HostState, LoadBalancer } from '../lb/index.js';
import { ClusterResilience } from '../resilience/cluster-resilience.js';
import { CircuitBreaker } from '../resilience/circuit-breaker.js';
import type { ClusterStatus } from '../admin/types.js';
import { EndpointPools, poolSettings, type PoolSettings } from './endpoint-pools.js';
import type { TlsStore } from '../tls/tls-store.js';
import type { CountedEndpoint } from './counted-endpoint.js';

/** A host plus the dispatchers that reach it. */
export interface UpstreamHost extends HostState {
  h1: CountedEndpoint | undefined;
  h2: CountedEndpoint | undefined;
  /** destinationOf's last answer for this host; present from creation so hosts keep one shape. */
  principalLabels: PrincipalLabels;
}

export type DestinationLabels = {
  readonly service?: string;
  readonly workload?: string;
  readonly version?: string;
  readonly namespace?: string;
  readonly principal?: string;
  /** A host outside the mesh (ServiceEntry): the namespace of its entry; the service name is then the whole host. */
  readonly serviceNamespace?: string;
};

/** A cached `base + principal` labels object (see withPrincipal). */
export type PrincipalLabels = { base: DestinationLabels; principal: string; labels: DestinationLabels } | undefined;

/**
 * `base` with a peer's verified SPIFFE ID added (Istio's client side fills destination_principal
 * from the upstream's certificate): the same object for as long as neither changes, kept in
 * `holder`, because the metrics index compares peer objects by identity first.
 */
export function withPrincipal(holder: { principalLabels: PrincipalLabels }, base: DestinationLabels, principal: string | undefined): DestinationLabels {
  if (principal === undefined) return base;
  const seen = holder.principalLabels;
  if (seen !== undefined && seen.base === base && seen.principal === principal) return seen.labels;
  const labels = Object.freeze({ ...base, principal });
  holder.principalLabels = { base, principal, labels };
  return labels;
}

/** Telemetry's destination side of a request sent to `host` of `cluster`: the cluster's labels plus the principal the endpoint's mTLS handshake verified. */
export function destinationOf(cluster: ClusterRuntime | undefined, host: UpstreamHost | undefined): DestinationLabels {
  const base = cluster?.destination ?? NO_LABELS;
  return host === undefined ? base : withPrincipal(host, base, host.h1?.peerPrincipal ?? host.h2?.peerPrincipal);
}

const NO_LABELS: DestinationLabels = Object.freeze({});

export interface ClusterRuntime {
  readonly name: string;
  readonly config: Cluster;
  readonly hosts: readonly UpstreamHost[];
  /** The balancer of `resilience` (PEAK_EWMA unless the cluster names another). */
  readonly lb: LoadBalancer;
  /** Circuit breaker + retry budget (one object per cluster name across swaps, so in-flight
   * requests release where they acquired), outlier detection, panic mode. */
  readonly resilience: ClusterResilience;
  /** The cluster's upstream TLS (mesh mTLS), when it originates TLS: the TCP proxy connects with it too. */
  readonly upstreamTls: PoolSettings['tls'] | undefined;
  /** Labels for telemetry's destination side, from cluster metadata. */
  readonly destination: DestinationLabels;
}

export class ClusterManager {
  private clusters = new Map<string, ClusterRuntime>();
  private hostsByKey = new Map<string, UpstreamHost>();
  readonly pools = new EndpointPools();
  /** Drives timeouts, backoff, ejection and latency estimates (tests may inject a ManualClock). */
  readonly clock: Clock;
  private readonly registry: () => Registry | undefined;
  /** A DNS cluster's hosts as of its latest answers (upstream/dns-clusters.ts). */
  private readonly dnsAssignment: (cluster: string) => ClusterLoadAssignment | undefined;

  constructor(
    private readonly tls: TlsStore,
    opts: { clock?: Clock; registry?: () => Registry | undefined; dnsAssignment?: (cluster: string) => ClusterLoadAssignment | undefined } = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.registry = opts.registry ?? (() => undefined);
    this.dnsAssignment = opts.dnsAssignment ?? (() => undefined);
  }

  /** The shared metrics registry (resilience series), when the sidecar has one. */
  metricsRegistry(): Registry | undefined {
    return this.registry();
  }

  get(name: string): ClusterRuntime | undefined {
    return this.clusters.get(name);
  }

  /** Builds the runtime clusters of a snapshot and swaps them in at once. */
  apply(snap: ConfigSnapshot): void {
    const next = new Map<string, ClusterRuntime>();
    const usedPools = new Set<string>();
    const nextHosts = new Map<string, UpstreamHost>();
    for (const [name, c] of snap.resources.cluster) {
      const cla =
        c.type === 'EDS'
          ? snap.resources.clusterLoadAssignment.get(c.edsServiceName ?? name)
          : isDnsCluster(c.type)
            ? this.dnsAssignment(name)
            : c.loadAssignment;
      const eps = cla?.endpoints ?? [];
      const tls = c.transportSocket ? this.tls.upstream(c.transportSocket) : undefined;
      const prev = this.clusters.get(name);
      // One breaker per cluster name across swaps: the pools count connections and pending requests in it.
      const breaker = prev?.resilience.breaker ?? new CircuitBreaker(name, c.circuitBreakers);
      // A TLS cluster whose roots (or certificate) are missing gets no hosts (503 UH) rather than plaintext pools.
      const hosts = c.transportSocket && !tls ? [] : eps.map((ep) => this.host(name, c, breaker, ep, tls, usedPools, nextHosts));
      const resilience = new ClusterResilience(c, hosts, { clock: this.clock, registry: this.registry(), previous: prev?.resilience, breaker });
      next.set(name, {
        name,
        config: c,
        hosts,
        lb: resilience.lb,
        resilience,
        upstreamTls: tls,
        destination: {
          service: c.metadata.service ?? name,
          ...(c.metadata.workload ? { workload: c.metadata.workload } : {}),
          ...(c.metadata.version ? { version: c.metadata.version } : {}),
          ...(c.metadata.namespace ? { namespace: c.metadata.namespace } : {}),
          ...(c.metadata.serviceNamespace ? { serviceNamespace: c.metadata.serviceNamespace } : {}),
        },
      });
    }
    for (const [name, old] of this.clusters) if (!next.has(name)) old.resilience.close();
    this.clusters = next;
    this.hostsByKey = nextHosts;
    this.pools.retain(usedPools);
  }

  private host(
    cluster: string,
    c: Cluster,
    breaker: CircuitBreaker,
    ep: LbEndpoint,
    tls: PoolSettings['tls'],
    used: Set<string>,
    nextHosts: Map<string, UpstreamHost>,
  ): UpstreamHost {
    const key = `${ep.address.address}:${ep.address.port}`;
    const wantH1 = c.upstreamProtocol !== 'http2';
    const wantH2 = c.upstreamProtocol !== 'http1';
    const p1 = wantH1 ? this.pools.get(ep.address, poolSettings(c, breaker, 'http1', tls)) : undefined;
    const p2 = wantH2 ? this.pools.get(ep.address, poolSettings(c, breaker, 'http2', tls)) : undefined;
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
      principalLabels: undefined,
    };
    nextHosts.set(`${cluster}|${key}`, h);
    return h;
  }

  status(): ClusterStatus[] {
    return [...this.clusters.values()].map((c) => c.resilience.status());
  }

  async close(graceful: boolean): Promise<void> {
    for (const c of this.clusters.values()) c.resilience.close();
    this.clusters = new Map();
    await (graceful ? this.pools.closeAll() : this.pools.destroyAll());
  }
}

function sameEndpoint(a: LbEndpoint, b: LbEndpoint): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
