// The sidecar: binds listeners, holds the active ConfigSnapshot and swaps it
// atomically (validated first; a bad one is refused whole and the old one
// keeps serving), hot-swaps TLS material, drains gracefully, and is the
// admin listener's view of the running proxy (AdminSource).

import { MeshError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { parseMeshHost } from '../common/mesh-host.js';
import type { ClusterStatus, AdminSource } from './admin/types.js';
import { assertValidSnapshot, type CheckOptions } from './config/check.js';
import type { ConfigSnapshot, FilterChain, Listener, NodeInfo, Secret } from './config/resources.js';
import { ListenerRuntime } from './listener/listener.js';
import type { ChainDeps } from './listener/chain-runtime.js';
import { RouteTable } from './router/route-table.js';
import type { HttpRequestRecord, Telemetry } from './telemetry/types.js';
import { TlsStore } from './tls/tls-store.js';
import { ClusterManager } from './upstream/cluster-manager.js';
import { DnsClusters } from './upstream/dns-clusters.js';
import { closeOriginalDstPools } from './upstream/original-dst-pools.js';

export interface SidecarOptions {
  node: NodeInfo;
  telemetry?: Telemetry & { onRequest?(l: (r: HttpRequestRecord) => void): () => void };
  logger?: Logger;
  /** Default drain timeout (ms) for drain() without an argument. */
  drainTimeout?: number;
  check?: CheckOptions;
}

export const NOOP_TELEMETRY: Telemetry = {
  startSpan: () => undefined,
  httpRequestDone: () => {},
  tcpConnectionOpened: () => {},
  tcpConnectionClosed: () => {},
};

export class Sidecar implements AdminSource {
  private current: ConfigSnapshot | undefined;
  private readonly tls: TlsStore;
  private readonly dns: DnsClusters;
  private readonly clustersMgr: ClusterManager;
  private routes = new Map<string, RouteTable>();
  private listeners = new Map<string, ListenerRuntime>();
  private draining = false;
  private drainPromise: Promise<void> | undefined;
  private readonly telemetry: NonNullable<SidecarOptions['telemetry']>;
  private readonly logger: Logger;
  /** On-demand xDS: where requests for unknown hosts go, and who waits for the next config. */
  private onDemandRequest: ((names: string[]) => void) | undefined;
  private readonly onDemandAsked = new Map<string, number>();
  private readonly configWaiters = new Set<() => void>();

  constructor(private readonly opts: SidecarOptions) {
    this.telemetry = opts.telemetry ?? NOOP_TELEMETRY;
    this.logger = opts.logger ?? silentLogger;
    this.tls = new TlsStore((msg, fields) => this.logger.warn(msg, fields));
    // A DNS cluster's new answer rebuilds the running clusters (hosts and pools of unchanged endpoints carry over).
    this.dns = new DnsClusters(() => {
      if (this.current) this.clustersMgr.apply(this.current);
    }, this.logger);
    this.clustersMgr = new ClusterManager(this.tls, {
      registry: () => (this.opts.telemetry as { registry?: import('prom-client').Registry } | undefined)?.registry,
      dnsAssignment: (name) => this.dns.assignment(name),
    });
  }

  /** Validates and applies a snapshot. Throws ValidationError (old config kept) when invalid. */
  async applySnapshot(snap: ConfigSnapshot): Promise<void> {
    if (this.draining) throw new MeshError('MESH_DRAINING', 'the sidecar is draining; configuration is frozen');
    assertValidSnapshot(snap, this.opts.check);
    const wanted = [...snap.resources.listener.values()].filter((l) => !l.apiListener);

    // Bind new listeners (and those whose address moved) first: if binding fails, nothing changed.
    const fresh = new Map<string, ListenerRuntime>();
    const deps = (l: Listener) => (fc: FilterChain) => this.chainDepsFor(l, fc);
    try {
      for (const l of wanted) {
        const old = this.listeners.get(l.name);
        if (old && sameAddress(old.config, l)) continue;
        const rt = new ListenerRuntime(l, deps(l), this.opts.drainTimeout);
        await rt.listen();
        fresh.set(l.name, rt);
      }
    } catch (err) {
      for (const rt of fresh.values()) await rt.stopAccepting();
      throw new MeshError('MESH_LISTENER_BIND', `cannot bind listener: ${(err as Error).message}`, { cause: err });
    }

    // New DNS clusters are warmed (first answers in) while the old config keeps serving, as in Envoy.
    await this.dns.warm(snap);
    if (this.draining) {
      for (const rt of fresh.values()) await rt.stopAccepting();
      throw new MeshError('MESH_DRAINING', 'the sidecar is draining; configuration is frozen');
    }

    // Swap: secrets, clusters, route tables, then listener configs.
    this.tls.setConfigSecrets(snap.resources.secret);
    this.dns.commit(snap);
    this.clustersMgr.apply(snap);
    const routes = new Map<string, RouteTable>();
    for (const [name, rc] of snap.resources.routeConfiguration) routes.set(name, new RouteTable(rc));
    this.routes = routes;
    const next = new Map<string, ListenerRuntime>();
    for (const l of wanted) {
      const rt = fresh.get(l.name) ?? this.listeners.get(l.name)!;
      if (!fresh.has(l.name)) rt.update(l, deps(l));
      next.set(l.name, rt);
    }
    const retired = [...this.listeners].filter(([name, rt]) => next.get(name) !== rt).map(([, rt]) => rt);
    this.listeners = next;
    this.current = snap;
    for (const rt of retired) void this.retire(rt);
    for (const wake of this.configWaiters) wake();
    this.logger.info('configuration applied', { listeners: next.size, clusters: snap.resources.cluster.size, versions: snap.versions });
  }

  private chainDepsFor(l: Listener, fc: FilterChain): ChainDeps {
    const direction = l.trafficDirection === 'INBOUND' ? 'inbound' : 'outbound';
    // Each chain reads its route table through one reference, swapped with the config.
    const hcm = fc.filter.kind === 'http' ? fc.filter : undefined;
    let routeTable: () => RouteTable | undefined = () => undefined;
    if (hcm?.routeConfig) {
      const t = new RouteTable(hcm.routeConfig);
      routeTable = () => t;
    } else if (hcm?.rdsRouteConfigName !== undefined) {
      const name = hcm.rdsRouteConfigName;
      routeTable = () => this.routes.get(name);
    }
    return {
      clusters: this.clustersMgr,
      telemetry: this.telemetry,
      node: this.opts.node,
      direction,
      routeTable,
      draining: () => this.draining,
      tls: this.tls,
      ...(direction === 'outbound' && this.onDemandRequest ? { onDemand: this.awaitHost } : {}),
    };
  }

  /** Enables on-demand config: outbound requests for hosts with no virtual host call `request([host])` (the xDS client). */
  setOnDemand(request: (names: string[]) => void): void {
    this.onDemandRequest = request;
  }

  /**
   * Asks for a host's config (once per negative window) and resolves as soon as an applied
   * config routes it (`routed()`), or ON_DEMAND_WAIT_MS after it was first asked for. A host
   * the control plane has nothing for is answered at once until ON_DEMAND_NEGATIVE_MS after
   * that first ask (the control plane remembers it and pushes config if the service appears),
   * and a host no mesh service can have (`api.example.com`) is never waited for.
   */
  private readonly awaitHost = (authority: string, routed: () => boolean): Promise<void> => {
    if (parseMeshHost(authority, this.opts.node.namespace) === undefined) return Promise.resolve();
    const now = performance.now();
    let first = this.onDemandAsked.get(authority);
    if (first === undefined || now - first > ON_DEMAND_NEGATIVE_MS) {
      if (this.onDemandAsked.size >= MAX_ON_DEMAND_HOSTS) this.onDemandAsked.clear();
      first = now;
      this.onDemandAsked.set(authority, now);
      this.onDemandRequest?.([authority]);
    }
    const deadline = first + ON_DEMAND_WAIT_MS;
    if (now >= deadline) return Promise.resolve();
    const waiters = this.configWaiters;
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      const check = () => {
        if (routed()) done();
      };
      const timer = setTimeout(done, deadline - now);
      waiters.add(check);
    });
  };

  private async retire(rt: ListenerRuntime): Promise<void> {
    await rt.stopAccepting();
    rt.drain();
  }

  /** A runtime secret (workload certificate `default`, trust bundle `ROOTCA`): TLS contexts swap in place. */
  updateSecret(secret: Secret): void {
    this.tls.updateSecret(secret);
    for (const l of this.listeners.values()) l.refreshTls();
    if (this.current) this.clustersMgr.apply(this.current);
  }

  /** Port a listener is bound to (useful with port 0). */
  listenerPort(name: string): number | undefined {
    return this.listeners.get(name)?.port;
  }

  // ------------------------------------------------------------ AdminSource

  node(): NodeInfo {
    return this.opts.node;
  }

  snapshot(): ConfigSnapshot {
    if (!this.current) throw new MeshError('MESH_NOT_READY', 'no configuration applied yet');
    return this.current;
  }

  clusters(): ClusterStatus[] {
    return this.clustersMgr.status();
  }

  ready(): boolean {
    return this.current !== undefined && !this.draining;
  }

  state(): 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING' {
    return this.draining ? 'DRAINING' : this.current ? 'LIVE' : 'PRE_INITIALIZING';
  }

  tap(listener: (r: HttpRequestRecord) => void): () => void {
    return this.telemetry.onRequest?.(listener) ?? (() => {});
  }

  /**
   * Graceful drain: stop accepting, let in-flight requests finish, close idle
   * keep-alives (HTTP/1.1 responses carry `connection: close`, HTTP/2 gets
   * GOAWAY), then close what is left after the timeout.
   */
  drain(timeoutMs = this.opts.drainTimeout ?? 5000): Promise<void> {
    this.drainPromise ??= this.doDrain(timeoutMs);
    return this.drainPromise;
  }

  private async doDrain(timeoutMs: number): Promise<void> {
    this.draining = true;
    const all = [...this.listeners.values()];
    await Promise.all(all.map((l) => l.stopAccepting()));
    const deadline = performance.now() + timeoutMs;
    while (all.some((l) => l.openConnections > 0) && performance.now() < deadline) {
      for (const l of all) l.drain();
      await new Promise((r) => setTimeout(r, 25));
    }
    for (const l of all) l.destroy();
    this.dns.close();
    await Promise.all([this.clustersMgr.close(false), closeOriginalDstPools(this.clustersMgr)]);
    this.logger.info('drained');
  }

  /** Immediate stop (tests, fatal errors). */
  async close(): Promise<void> {
    this.draining = true;
    const all = [...this.listeners.values()];
    await Promise.all(all.map((l) => l.stopAccepting()));
    for (const l of all) l.destroy();
    this.dns.close();
    await Promise.all([this.clustersMgr.close(false), closeOriginalDstPools(this.clustersMgr)]);
  }
}

/** How long a request for an unknown host waits for on-demand config (Envoy's on-demand filter waits similarly). */
const ON_DEMAND_WAIT_MS = 1000;
const ON_DEMAND_NEGATIVE_MS = 60_000;
const MAX_ON_DEMAND_HOSTS = 1024;

function sameAddress(a: Listener, b: Listener): boolean {
  return a.address.address === b.address.address && a.address.port === b.address.port;
}
