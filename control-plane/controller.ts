// Joins the policy store, the service registry and the translator: on any
// change (debounced, so bursts become one round) it computes every connected
// proxy's ResourceMaps and hands the changed ones (or all, after a store
// change, for receipts) to `publish` — the xDS snapshot cache. A proxy that connects, or asks for a host it has no config
// for (on-demand), is computed at once.

import { createHash } from 'node:crypto';
import { systemClock, type Clock, type Timer } from '../common/clock.js';
import { silentLogger, type Logger } from '../common/log.js';
import type { ResourceKind, ResourceMaps } from '../proxy/config/resources.js';
import { DEFAULT_MESH_CONFIG, type MeshConfigSpec, type Policy } from './policy/types.js';
import type { PolicyStore } from './store/types.js';
import type { ServiceRegistry } from './registry/types.js';
import { readNodeRegistration, type NodeLike, type NodeRegistration } from './registry/node-registration.js';
import { hostToServiceKey } from './translate/scope.js';
import { translate, TranslateMemo } from './translate/index.js';
import { contentKey } from './xds/encode-cache.js';

const RESOURCE_KINDS: readonly ResourceKind[] = ['listener', 'routeConfiguration', 'cluster', 'clusterLoadAssignment', 'secret'];

export interface PublishMeta {
  /** Store version this config reflects: a proxy that ACKs it has every apply up to this version. */
  storeVersion: number;
  /** Controller round that produced it (monotonic within one process). */
  generation: number;
  /** Hash of the resources; equal content gives an equal hash, also across restarts. */
  contentHash: string;
}

export type PublishFn = (nodeId: string, resources: ResourceMaps, meta: PublishMeta) => void;

export interface ControllerOptions {
  store: PolicyStore;
  registry: ServiceRegistry;
  publish: PublishFn;
  /** Registries that accept self-registration (the embedded one) get connecting nodes. */
  selfRegistration?: { registerFromNode(node: NodeLike): NodeRegistration; unregister(nodeId: string): void; setTrustDomain?(td: string): void };
  trustBundle?: () => string | undefined;
  clock?: Clock;
  debounceMs?: number;
  log?: Logger;
  /** Bound on on-demand dependencies per proxy. */
  maxDependencies?: number;
  /** Called when registrations or dependencies change (to persist them, see registry/registry-state.ts). */
  onStateChange?: () => void;
}

interface NodeState {
  reg: NodeRegistration;
  deps: Set<string>;
  /** Hosts asked for on demand before any service answered to them (e.g. the callee's sidecar had not
   * registered yet); retried on every registry change, since the proxy's xDS stream asks only once. */
  unresolved?: Set<string>;
  current?: ResourceMaps;
  lastHash?: string;
  lastStoreVersion?: number;
}

const MAX_UNRESOLVED = 64;

export class MeshController {
  private nodes = new Map<string, NodeState>();
  /** Registrations restored from before a restart whose sidecars have not reconnected yet. */
  private restored = new Map<string, { reg: NodeRegistration; deps: Set<string> }>();
  private restoreTimer?: Timer;
  private timer?: Timer;
  private generation = 0;
  private unsubscribe: (() => void)[] = [];

  constructor(private readonly opts: ControllerOptions) {
    // Endpoint identities are derived from the trust domain, which MeshConfig may change.
    opts.selfRegistration?.setTrustDomain?.(this.meshConfig().trustDomain);
    this.unsubscribe.push(
      opts.store.onChange(() => {
        opts.selfRegistration?.setTrustDomain?.(this.meshConfig().trustDomain);
        this.schedule();
      }),
    );
    this.unsubscribe.push(
      opts.registry.onChange(() => {
        this.resolvePendingDependencies();
        this.schedule();
      }),
    );
  }

  /** Registry changed: a host some proxy asked for earlier may exist now. */
  private resolvePendingDependencies(): void {
    for (const [nodeId, st] of this.nodes) {
      if (!st.unresolved) continue;
      for (const host of [...st.unresolved]) {
        if (hostToServiceKey(this.opts.registry, host, st.reg.namespace) === undefined) continue;
        st.unresolved.delete(host);
        this.noteDependency(nodeId, host);
      }
      if (st.unresolved.size === 0) delete st.unresolved;
    }
  }

  meshConfig(): MeshConfigSpec {
    const mc = this.opts.store.list('MeshConfig')[0];
    return mc?.kind === 'MeshConfig' ? mc.spec : DEFAULT_MESH_CONFIG;
  }

  /** A proxy connected: register it (embedded registry) and compute its config now. Throws ValidationError on bad metadata. */
  nodeConnected(node: NodeLike): NodeRegistration {
    const reg = this.opts.selfRegistration ? this.opts.selfRegistration.registerFromNode(node) : readNodeRegistration(node);
    const prev = this.nodes.get(reg.nodeId);
    const restored = this.restored.get(reg.nodeId);
    this.restored.delete(reg.nodeId);
    this.nodes.set(reg.nodeId, { reg, deps: prev?.deps ?? restored?.deps ?? new Set() });
    this.computeNode(reg.nodeId, ++this.generation);
    this.opts.onStateChange?.();
    return reg;
  }

  nodeDisconnected(nodeId: string): void {
    if (!this.nodes.delete(nodeId)) return;
    this.opts.selfRegistration?.unregister(nodeId);
    this.opts.onStateChange?.();
  }

  /**
   * After a restart: put back the sidecars that were registered (so their
   * endpoints keep being served) and the dependencies each had asked for (so
   * a reconnecting proxy gets the same scoped config, not a smaller one).
   * Entries whose sidecar has not reconnected after `graceMs` are dropped.
   */
  restore(state: { nodes: NodeRegistration[]; dependencies: Record<string, string[]> }, graceMs = 120_000): void {
    for (const reg of state.nodes) {
      if (this.nodes.has(reg.nodeId)) continue;
      try {
        this.opts.selfRegistration?.registerFromNode({ id: reg.nodeId, cluster: reg.service, metadata: reg });
      } catch (e) {
        (this.opts.log ?? silentLogger).warn('saved registration refused', { nodeId: reg.nodeId, error: e as Error });
        continue;
      }
      const deps = (state.dependencies[reg.nodeId] ?? []).filter((d) => typeof d === 'string').slice(0, this.opts.maxDependencies ?? 10_000);
      this.restored.set(reg.nodeId, { reg, deps: new Set(deps) });
    }
    this.restoreTimer?.cancel();
    this.restoreTimer = (this.opts.clock ?? systemClock).setTimeout(() => this.expireRestored(), graceMs);
  }

  /** Drop restored registrations whose sidecar never came back. */
  expireRestored(): void {
    for (const id of this.restored.keys()) this.opts.selfRegistration?.unregister(id);
    if (this.restored.size) this.opts.onStateChange?.();
    this.restored.clear();
  }

  /** What to persist: connected and still-restored registrations with their dependencies. */
  state(): { format: 1; nodes: NodeRegistration[]; dependencies: Record<string, string[]> } {
    const all = [...this.nodes.values(), ...this.restored.values()];
    return {
      format: 1,
      nodes: all.map((s) => s.reg),
      dependencies: Object.fromEntries(all.filter((s) => s.deps.size).map((s) => [s.reg.nodeId, [...s.deps].sort()])),
    };
  }

  /**
   * The proxy asked for `host` (on-demand). Returns false when no such service
   * exists; otherwise the proxy's config now includes it (published at once).
   */
  noteDependency(nodeId: string, host: string): boolean {
    const st = this.nodes.get(nodeId);
    if (!st) return false;
    const key = hostToServiceKey(this.opts.registry, host, st.reg.namespace);
    if (!key) {
      // Remember it (bounded) so the service is added when it registers.
      if ((st.unresolved ??= new Set()).size < MAX_UNRESOLVED) st.unresolved.add(host);
      return false;
    }
    if (!st.deps.has(key)) {
      if (st.deps.size >= (this.opts.maxDependencies ?? 10_000)) return false;
      st.deps.add(key);
      this.computeNode(nodeId, ++this.generation);
      this.opts.onStateChange?.();
    }
    return true;
  }

  /**
   * On-demand hook for the xDS server: the proxy subscribed to resource names
   * its snapshot lacks — cluster names (`outbound|9080||reviews.default.svc.cluster.local`),
   * virtual-host names (`reviews.default.svc.cluster.local:9080`) or plain hosts.
   */
  onDemand(nodeId: string, names: readonly string[]): void {
    for (const name of names.slice(0, 64)) {
      const host = name.startsWith('outbound|') ? name.split('|')[3] : name;
      if (host) this.noteDependency(nodeId, host);
    }
  }

  dependencies(nodeId: string): string[] {
    return [...(this.nodes.get(nodeId)?.deps ?? [])].sort();
  }

  /** What was last published for a node. */
  current(nodeId: string): ResourceMaps | undefined {
    return this.nodes.get(nodeId)?.current;
  }

  connectedNodes(): NodeRegistration[] {
    return [...this.nodes.values()].map((s) => s.reg);
  }

  /** Recompute every node now (skips the debounce). */
  flush(): void {
    this.timer?.cancel();
    this.timer = undefined;
    const gen = ++this.generation;
    const policies: readonly Policy[] = this.opts.store.list();
    const mesh = this.meshConfig();
    // One round, one view of policies and registry: what is the same for every proxy is built once.
    const memo = new TranslateMemo();
    for (const id of this.nodes.keys()) this.computeNode(id, gen, policies, mesh, memo);
  }

  close(): void {
    this.timer?.cancel();
    this.restoreTimer?.cancel();
    for (const u of this.unsubscribe) u();
  }

  private schedule(): void {
    if (this.timer) return; // coalesce: one round covers every change until it runs
    this.timer = (this.opts.clock ?? systemClock).setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.opts.debounceMs ?? 100);
  }

  private computeNode(nodeId: string, generation: number, policies: readonly Policy[] = this.opts.store.list(), mesh = this.meshConfig(), memo?: TranslateMemo): void {
    const st = this.nodes.get(nodeId);
    if (!st) return;
    const storeVersion = this.opts.store.version();
    let resources: ResourceMaps;
    try {
      resources = translate({ policies, registry: this.opts.registry, mesh, node: st.reg, dependencies: st.deps, trustBundle: this.opts.trustBundle?.() }, memo, st.current);
    } catch (e) {
      // A translator bug must not take down the control plane; the proxy keeps its last config.
      (this.opts.log ?? silentLogger).error('translation failed; proxy keeps its last config', { nodeId, error: e as Error });
      return;
    }
    const contentHash = resourcesHash(resources);
    if (contentHash === st.lastHash && st.current) {
      // Same content at the same store version: nothing to tell the cache (registry churn that does not
      // concern this proxy). A new store version is always published, so receipts know this proxy's
      // config reflects it — as the objects published before, whose encodings and versions the cache has.
      if (storeVersion === st.lastStoreVersion) return;
      resources = st.current;
    }
    st.lastHash = contentHash;
    st.lastStoreVersion = storeVersion;
    st.current = resources;
    this.opts.publish(nodeId, resources, { storeVersion, generation, contentHash });
  }
}

/**
 * Hash of a whole config from its resources' content keys (each memoized per object by the encode
 * cache, so resources shared by many proxies are serialized once): equal content, equal hash.
 */
function resourcesHash(resources: ResourceMaps): string {
  const h = createHash('sha256');
  for (const kind of RESOURCE_KINDS) {
    for (const [name, value] of resources[kind] as ReadonlyMap<string, object>) h.update(`${kind}\0${name}\0${contentKey(kind, name, value)}\n`);
  }
  return h.digest('hex').slice(0, 16);
}
