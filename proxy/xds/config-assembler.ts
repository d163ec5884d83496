// The xDS client's state machine, free of gRPC: what is applied (last good),
// what is held (decoded, maybe waiting for referenced resources), versions,
// subscriptions and the names still awaited on the current stream. An update
// either applies as a whole snapshot (checked, then handed to `apply`) or is
// refused with the exact error, leaving the last good config in place.
//
// Warming (Envoy's): a config that references a route, endpoint set or secret
// not received yet is held, not applied, so a route never sends traffic to a
// cluster whose endpoints are still on their way. A name the server does not
// answer within the initial fetch timeout is given up on, and the held config
// applies without it.
//
// Break after make: a cluster the server removes while the routes held still
// send traffic to it stays (with its last endpoints) until the route update
// that stops naming it arrives. The server pushes clusters before routes, so
// a canary rollback would otherwise answer 503 for the moment in between.

import { MeshError, ValidationError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { assertValidSnapshot, RUNTIME_SECRETS } from '../config/check.js';
import { TYPE_URLS, type ConfigSnapshot, type ResourceKind } from '../config/resources.js';
import type { AnyMsg } from './ads-wire.js';
import { decodeResource, resourceName, type DomainOf } from './codec/index.js';
import type { PersistedState } from './persist.js';
import { clustersInUse, copyMaps, emptyMaps, KINDS, referencedNames, sameNames, toSnapshot, WILDCARD, type Maps } from './resource-state.js';

export type NamedKind = 'routeConfiguration' | 'clusterLoadAssignment' | 'secret';
const NAMED: readonly NamedKind[] = ['clusterLoadAssignment', 'routeConfiguration', 'secret'];

export interface AssemblerHooks {
  apply(snapshot: ConfigSnapshot): void;
  /** The held config now references a different set of `kind` names: send the subscription change. */
  resubscribe(kind: NamedKind, names: Set<string>): void;
  persist?(state: PersistedState): void;
  log: Logger;
  /** Milliseconds clock for the awaited names' ages (default Date.now). */
  now?: () => number;
}

const perKind = <T>(make: () => T) => Object.fromEntries(KINDS.map((k) => [k, make()])) as Record<ResourceKind, T>;

export class ConfigAssembler {
  private good: Maps = emptyMaps();
  private held: Maps = emptyMaps();
  versions = perKind(() => '');
  resourceVersions = perKind<Record<string, string>>(() => ({}));
  subscribed = perKind(() => new Set<string>());
  /** Names subscribed to but not yet answered on the current stream ('*' for a wildcard), with when they were asked for. */
  private awaiting = perKind(() => new Map<string, number>());
  private readonly now: () => number;
  appliedCount = 0;
  lastError: string | undefined;

  constructor(
    private readonly hooks: AssemblerHooks,
    private readonly delta: boolean,
  ) {
    this.now = hooks.now ?? Date.now;
  }

  restore(state: PersistedState): void {
    this.good = copyMaps(state.snapshot.resources);
    this.held = copyMaps(state.snapshot.resources);
    this.versions = { ...state.snapshot.versions };
    this.resourceVersions = state.resourceVersions;
  }

  current(): ConfigSnapshot {
    return toSnapshot(this.good, this.versions);
  }

  /** A new stream: nothing has been answered on it yet. */
  newStream(): void {
    for (const k of KINDS) this.awaiting[k] = new Map();
  }

  /** Records a subscription to `names` (empty = wildcard for listeners/clusters); returns what was added and removed. */
  noteSubscription(kind: ResourceKind, names: Set<string>, initial: boolean): { added: string[]; removed: string[] } {
    const prev = this.subscribed[kind];
    this.subscribed[kind] = names;
    const added = [...names].filter((n) => initial || !prev.has(n));
    const removed = [...prev].filter((n) => !names.has(n));
    // A delta server answers only with differences, so on a re-subscribe we wait only for what we do not hold.
    // The workload's own certificate and trust bundle come from its identity manager; the server may never send them.
    const held = this.delta ? this.resourceVersions[kind] : {};
    const now = this.now();
    for (const n of added) if (!(n in held) && !(kind === 'secret' && RUNTIME_SECRETS.has(n))) this.awaiting[kind].set(n, now);
    for (const n of removed) this.awaiting[kind].delete(n);
    if (WILDCARD.has(kind) && initial && Object.keys(held).length === 0) this.awaiting[kind].set('*', now);
    return { added, removed };
  }

  /** Decodes a response's resources; throws ValidationError listing every problem. */
  decode(kind: ResourceKind, items: { any: AnyMsg | undefined; name?: string }[]): Map<string, DomainOf[ResourceKind]> {
    const out = new Map<string, DomainOf[ResourceKind]>();
    const issues: ValidationError['issues'] = [];
    items.forEach((it, i) => {
      const where = `${kind}[${it.name ?? i}]`;
      if (!it.any || it.any.type_url !== TYPE_URLS[kind]) {
        issues.push({ path: where, message: `expected ${TYPE_URLS[kind]}, got ${it.any?.type_url ?? 'nothing'}` });
        return;
      }
      try {
        const v = decodeResource(kind, it.any.value, where);
        out.set(resourceName(kind, v), v);
      } catch (err) {
        if (err instanceof ValidationError) issues.push(...err.issues);
        else throw err;
      }
    });
    if (issues.length) throw new ValidationError(issues, `${kind} update`);
    return out;
  }

  /** State of the world: `decoded` replaces everything of `kind`. Returns the NACK message, or undefined to ACK. */
  sotwUpdate(kind: ResourceKind, decoded: Map<string, DomainOf[ResourceKind]>, version: string): string | undefined {
    const next = copyMaps(this.held);
    const map = next[kind] as Map<string, unknown>;
    map.clear();
    for (const [n, v] of decoded) map.set(n, v);
    // A response answers a wildcard as a whole, but an explicit name only by carrying it: the server may have
    // sent this one for the previous subscription (its ACK is what carries the new names).
    if (WILDCARD.has(kind)) this.awaiting[kind].clear();
    else for (const n of decoded.keys()) this.awaiting[kind].delete(n);
    return this.accept(kind, next, version, () => {});
  }

  /** Incremental: upserts and removals. Returns the NACK message, or undefined to ACK. */
  deltaUpdate(kind: ResourceKind, decoded: Map<string, DomainOf[ResourceKind]>, versions: Record<string, string>, removed: string[], systemVersion: string): string | undefined {
    const next = copyMaps(this.held);
    const map = next[kind] as Map<string, unknown>;
    for (const n of removed) map.delete(n);
    for (const [n, v] of decoded) map.set(n, v);
    for (const n of [...decoded.keys(), ...removed, '*']) this.awaiting[kind].delete(n);
    const rv = { ...this.resourceVersions[kind] };
    for (const n of removed) delete rv[n];
    Object.assign(rv, versions);
    return this.accept(kind, next, systemVersion, () => (this.resourceVersions[kind] = rv));
  }

  /** When the oldest awaited route, endpoint set or secret name times out, or undefined when none is awaited. */
  nextFetchDeadline(timeoutMs: number): number | undefined {
    let first: number | undefined;
    for (const k of NAMED) for (const since of this.awaiting[k].values()) if (first === undefined || since < first) first = since;
    return first === undefined ? undefined : first + timeoutMs;
  }

  /**
   * Stops waiting for names asked for at least `timeoutMs` ago (Envoy's initial_fetch_timeout) and, when
   * nothing else is awaited, applies the held config without them. Returns the names given up on.
   */
  expireAwaited(timeoutMs: number): string[] {
    const cutoff = this.now() - timeoutMs;
    const expired: string[] = [];
    let firstKind: NamedKind | undefined;
    for (const k of NAMED) {
      for (const [n, since] of this.awaiting[k]) {
        if (since > cutoff) continue;
        this.awaiting[k].delete(n);
        expired.push(`${k}/${n}`);
        firstKind ??= k;
      }
    }
    if (!firstKind) return expired;
    this.hooks.log.warn('xds: initial fetch timeout; applying without the resources not received', { names: expired, timeoutMs });
    if (!KINDS.some((k) => this.awaiting[k].size > 0)) {
      try {
        this.applyHeld();
      } catch (err) {
        // Already ACKed: nothing to NACK. The last good config keeps serving; the next update retries.
        if (!(err instanceof ValidationError || err instanceof MeshError)) throw err;
        this.refuse(firstKind, err);
      }
    }
    return expired;
  }

  /** Records a refusal (decode or apply) and returns its message for the NACK. */
  refuse(kind: ResourceKind, err: unknown): string {
    const message = err instanceof Error ? err.message : String(err);
    this.lastError = message;
    this.hooks.log.warn('xds: rejected update', { kind, error: message });
    return message;
  }

  private accept(kind: ResourceKind, next: Maps, version: string, commit: () => void): string | undefined {
    const prevHeld = this.held;
    const prevVersion = this.versions[kind];
    this.held = next;
    this.versions[kind] = version;
    commit();
    if (this.resubscribe()) return undefined; // decoded fine; applied once what it references arrives
    try {
      this.applyHeld();
      return undefined;
    } catch (err) {
      if (!(err instanceof ValidationError || err instanceof MeshError)) throw err;
      this.held = prevHeld;
      this.versions[kind] = prevVersion;
      this.resubscribe();
      return this.refuse(kind, err);
    }
  }

  /** Aligns RDS/EDS/SDS subscriptions with what the held config references; true while anything is awaited. */
  private resubscribe(): boolean {
    const refs = referencedNames(this.held);
    for (const k of NAMED) {
      if (sameNames(refs[k], this.subscribed[k])) continue;
      this.hooks.resubscribe(k, refs[k]);
      for (const n of this.held[k].keys()) if (!refs[k].has(n)) this.held[k].delete(n);
    }
    return KINDS.some((k) => this.awaiting[k].size > 0);
  }

  /** The held config plus the removed clusters (and their endpoints) that its routes still name. */
  private withLingering(): Maps {
    const m = copyMaps(this.held);
    for (const name of clustersInUse(m)) {
      const old = m.cluster.has(name) ? undefined : this.good.cluster.get(name);
      if (!old) continue;
      m.cluster.set(name, old);
      const eds = old.edsServiceName ?? old.name;
      const cla = this.good.clusterLoadAssignment.get(eds);
      if (old.type === 'EDS' && cla && !m.clusterLoadAssignment.has(eds)) m.clusterLoadAssignment.set(eds, cla);
    }
    return m;
  }

  private applyHeld(): void {
    const applied = this.withLingering();
    const snap = toSnapshot(applied, this.versions);
    // The same semantic checks the bootstrap loader runs (cross-references, regexes, weights…).
    assertValidSnapshot(snap, { validateClusters: false });
    this.hooks.apply(snap);
    this.good = applied;
    this.appliedCount++;
    this.lastError = undefined;
    this.hooks.persist?.({ snapshot: snap, resourceVersions: this.resourceVersions });
  }
}
