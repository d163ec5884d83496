// Istio's PassthroughCluster for plain HTTP (outboundTrafficPolicy ALLOW_ANY):
// an outbound request whose Host matches no virtual host is sent to the
// address the app dialled (Envoy's ORIGINAL_DST cluster, one host per
// original destination). Each destination gets an HTTP/1.1 keep-alive pool
// (the proxy's own H1Pool), created on first use; a pool no request used for
// a whole cleanup interval is closed (Envoy's cleanup_interval, 5 s), and at
// most `maxHosts` exist at once. All of them count against one circuit
// breaker named PassthroughCluster. No retries, no route timeout (Istio's
// passthrough route sets timeout 0); the HCM's stream idle timeout applies.

import type { Dispatcher } from 'undici';
import { systemClock, type Clock, type Timer } from '../../common/clock.js';
import type { Cluster, HttpConnectionManager, LbEndpoint, RouteConfiguration } from '../config/resources.js';
import { DEFAULT_CIRCUIT_BREAKERS, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_HEALTHY_PANIC_THRESHOLD } from '../config/defaults.js';
import { H1Pool } from '../h1/h1-pool.js';
import type { Exchange } from '../http/exchange.js';
import type { OriginalDst } from '../listener/original-dst.js';
import { CircuitBreaker } from '../resilience/circuit-breaker.js';
import { ClusterResilience } from '../resilience/cluster-resilience.js';
import { RouteTable, type ClusterChoice, type CompiledRoute } from '../router/route-table.js';
import type { ClusterManager, ClusterRuntime, UpstreamHost } from './cluster-manager.js';
import { CountedEndpoint } from './counted-endpoint.js';
import { socketConnector } from './socket-connector.js';
import { PASSTHROUGH_CLUSTER } from './passthrough.js';
import { takeTimeoutSlot } from './timeout-slots.js';

/** Istio's REGISTRY_ONLY sink (HTTP: 502 from the block_all virtual host). */
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
/** Envoy's ORIGINAL_DST cleanup_interval default. */
export const ORIGINAL_DST_CLEANUP_INTERVAL_MS = 5_000;
/** Destinations with a pool at once; beyond it a new one needs an idle pool to evict (else 503 UO). */
export const DEFAULT_MAX_ORIGINAL_DST_HOSTS = 1024;
/** An idle keep-alive connection to an outside host closes after this long (the cleanup closes unused pools sooner). */
const KEEP_ALIVE_MS = 60_000;

const CLUSTER: Cluster = {
  name: PASSTHROUGH_CLUSTER,
  type: 'STATIC',
  connectTimeout: DEFAULT_CONNECT_TIMEOUT_MS,
  lbPolicy: 'ROUND_ROBIN',
  circuitBreakers: { ...DEFAULT_CIRCUIT_BREAKERS },
  healthyPanicThreshold: DEFAULT_HEALTHY_PANIC_THRESHOLD,
  upstreamProtocol: 'http1',
  idleTimeout: KEEP_ALIVE_MS,
  metadata: { service: PASSTHROUGH_CLUSTER },
};
const DESTINATION = { service: PASSTHROUGH_CLUSTER };

function routeTo(cluster: string): { route: CompiledRoute; choice: ClusterChoice } {
  const none = { requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] };
  const name = cluster === PASSTHROUGH_CLUSTER ? 'allow_any' : 'block_all';
  const rc: RouteConfiguration = {
    name,
    ...none,
    virtualHosts: [
      {
        name,
        domains: ['*'],
        ...none,
        routes: [
          {
            name,
            ...none,
            match: { prefix: '/', caseSensitive: true, headers: [], queryParameters: [] },
            route: { cluster, timeout: 0, requestMirrorPolicies: [], hashPolicy: [] },
          },
        ],
      },
    ],
  };
  const route = new RouteTable(rc).route('x', { method: 'GET', path: '/', query: '', isGrpc: false, header: () => undefined })!;
  return { route, choice: route.choices[0]! };
}

/** Istio's `allow_any` route (timeout 0, no retries) and `block_all`'s cluster choice, compiled once. */
export const ALLOW_ANY = routeTo(PASSTHROUGH_CLUSTER);
export const BLOCK_ALL = routeTo(BLACKHOLE_CLUSTER);


interface Entry {
  readonly runtime: ClusterRuntime;
  readonly pool: CountedEndpoint;
  /** Used since the last cleanup pass. */
  used: boolean;
}

export interface OriginalDstPoolOptions {
  clock?: Clock;
  maxHosts?: number;
  cleanupIntervalMs?: number;
}

export class OriginalDstPools {
  private readonly entries = new Map<string, Entry>();
  readonly breaker = new CircuitBreaker(PASSTHROUGH_CLUSTER, CLUSTER.circuitBreakers);
  private readonly clock: Clock;
  private readonly maxHosts: number;
  private readonly cleanupMs: number;
  private sweep: Timer | undefined;

  constructor(opts: OriginalDstPoolOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.maxHosts = opts.maxHosts ?? DEFAULT_MAX_ORIGINAL_DST_HOSTS;
    this.cleanupMs = opts.cleanupIntervalMs ?? ORIGINAL_DST_CLEANUP_INTERVAL_MS;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The one-host PassthroughCluster for `authority` (`ip:port` of `dst`), or undefined when every pool is busy and the bound is reached. */
  cluster(authority: string, dst: OriginalDst): ClusterRuntime | undefined {
    let e = this.entries.get(authority);
    if (e === undefined) {
      if (this.entries.size >= this.maxHosts && !this.evictOneIdle()) return undefined;
      e = this.create(authority, dst);
      this.entries.set(authority, e);
      this.sweep ??= this.clock.setTimeout(this.cleanup, this.cleanupMs);
    }
    e.used = true;
    return e.runtime;
  }

  private create(authority: string, dst: OriginalDst): Entry {
    const pool = new CountedEndpoint(this.breaker, false);
    pool.inner = new H1Pool({
      connect: pool.connector(socketConnector(CLUSTER.connectTimeout)),
      hostname: dst.address,
      port: dst.port,
      protocol: 'http:',
      maxConnections: CLUSTER.circuitBreakers.maxConnections,
      keepAliveTimeout: KEEP_ALIVE_MS,
      maxRequestsPerConnection: 0,
    }) as unknown as CountedEndpoint['inner'];
    const endpoint: LbEndpoint = { address: { address: dst.address, port: dst.port }, weight: 1, healthStatus: 'HEALTHY', priority: 0, metadata: {} };
    const host: UpstreamHost = { endpoint, key: authority, activeRequests: 0, ejected: false, h1: pool, h2: undefined, principalLabels: undefined };
    const resilience = new ClusterResilience(CLUSTER, [host], { clock: this.clock, breaker: this.breaker });
    const runtime: ClusterRuntime = { name: PASSTHROUGH_CLUSTER, config: CLUSTER, hosts: [host], lb: resilience.lb, resilience, upstreamTls: undefined, destination: DESTINATION };
    return { runtime, pool, used: false };
  }

  private idle(e: Entry): boolean {
    return e.runtime.hosts[0]!.activeRequests === 0;
  }

  private evictOneIdle(): boolean {
    for (const [k, e] of this.entries) {
      if (!this.idle(e)) continue;
      this.remove(k, e);
      return true;
    }
    return false;
  }

  private remove(key: string, e: Entry): void {
    this.entries.delete(key);
    e.runtime.resilience.close();
    e.pool.close().catch(() => {});
  }

  /** Closes the pools no request used since the previous pass; runs only while pools exist. */
  private readonly cleanup = (): void => {
    this.sweep = undefined;
    for (const [k, e] of this.entries) {
      if (!e.used && this.idle(e)) this.remove(k, e);
      else e.used = false;
    }
    if (this.entries.size > 0) this.sweep = this.clock.setTimeout(this.cleanup, this.cleanupMs);
  };

  /** Graceful: in-flight requests finish, idle connections close. */
  async close(): Promise<void> {
    this.sweep?.cancel();
    this.sweep = undefined;
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => (e.runtime.resilience.close(), e.pool.close().catch(() => {}))));
  }
}

// One set of pools per cluster manager (i.e. per sidecar), so every chain of a sidecar shares them.
const perManager = new WeakMap<ClusterManager, OriginalDstPools>();

export function originalDstPoolsFor(clusters: ClusterManager): OriginalDstPools {
  let p = perManager.get(clusters);
  if (p === undefined) {
    p = new OriginalDstPools({ clock: clusters.clock });
    perManager.set(clusters, p);
  }
  return p;
}

/** Closes the sidecar's passthrough pools (call next to ClusterManager.close; a later request makes new ones). */
export async function closeOriginalDstPools(clusters: ClusterManager): Promise<void> {
  const p = perManager.get(clusters);
  if (p === undefined) return;
  perManager.delete(clusters);
  await p.close();
}

type BuildOptions = (ex: Exchange, http2: boolean) => Dispatcher.DispatchOptions;

/**
 * Sends a request to its connection's original destination over PassthroughCluster: one attempt, no
 * route timeout, the HCM's stream idle timeout. 503 UO when the breaker or the pool bound refuses it.
 */
export function sendToOriginalDst(ex: Exchange, clusters: ClusterManager, authority: string, dst: OriginalDst, buildOptions: BuildOptions): void {
  ex.route = ALLOW_ANY.route;
  ex.choice = ALLOW_ANY.choice;
  const pools = originalDstPoolsFor(clusters);
  const cluster = pools.cluster(authority, dst);
  if (cluster === undefined || !pools.breaker.tryAcquireRequest()) return ex.localReply('OVERFLOW');
  ex.breaker = pools.breaker;
  ex.cluster = cluster;
  ex.clusters = clusters;
  const opts = buildOptions(ex, false) as Dispatcher.DispatchOptions & { headersTimeout?: number };
  const headers = opts.headers as string[];
  let at = headers.lastIndexOf('x-envoy-attempt-count');
  if (at < 0 || (at & 1) !== 0) at = headers.push('x-envoy-attempt-count', '1') - 2;
  ex.attemptHeader = at + 1;
  opts.headersTimeout = 0;
  ex.opts = opts;
  const idle = (ex.ctx as { hcm?: HttpConnectionManager }).hcm?.limits.streamIdleTimeout ?? 0;
  if (idle > 0) {
    ex.timeouts = takeTimeoutSlot(clusters.clock, ex);
    ex.timeouts.t.start(0, idle);
  }
  ex.startAttempt();
}
