// The narrow interface between whoever computes config (the translator, a
// static file) and the xDS server, in the style of go-control-plane: the cache
// owns snapshots and their versions; the server owns streams and nonces.

import { ValidationError } from '../../common/errors.js';
import type { ResourceKind, ResourceMaps } from '../../proxy/config/resources.js';
import { buildSnapshot, type Snapshot } from './snapshot.js';

export type SnapshotListener = (snapshot: Snapshot) => void;

/** Called when a proxy subscribes to names its snapshot lacks, so a scoped config can grow. */
export type OnDemandHook = (nodeId: string, kind: ResourceKind, names: string[]) => void;

/**
 * Contracts:
 * - setSnapshot validates consistency and either publishes the whole snapshot or
 *   throws ValidationError and leaves the previous one in place.
 * - Snapshots are immutable once published; getSnapshot returns the latest.
 * - watch(nodeId, fn) calls fn synchronously on every later publish for that node,
 *   never for earlier ones; the returned cancel is idempotent.
 * - Single-threaded (Node): no locking; listeners must not throw.
 */
export interface SnapshotCache {
  setSnapshot(nodeId: string, version: string, resources: ResourceMaps): Snapshot;
  getSnapshot(nodeId: string): Snapshot | undefined;
  clearSnapshot(nodeId: string): void;
  watch(nodeId: string, fn: SnapshotListener): () => void;
  nodeIds(): string[];
  /** Calls fn(nodeId, snapshot) on every publish for any node (receipts use it); cancel is idempotent. */
  watchAll(fn: (nodeId: string, snapshot: Snapshot) => void): () => void;
  /** Optional growth hook used by the server for on-demand subscriptions. */
  onDemand?: OnDemandHook;
}

export class MemorySnapshotCache implements SnapshotCache {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly watchers = new Map<string, Set<SnapshotListener>>();
  private readonly global = new Set<(nodeId: string, snapshot: Snapshot) => void>();
  onDemand?: OnDemandHook;

  constructor(opts: { onDemand?: OnDemandHook } = {}) {
    if (opts.onDemand) this.onDemand = opts.onDemand;
  }

  setSnapshot(nodeId: string, version: string, resources: ResourceMaps): Snapshot {
    if (!nodeId) throw new ValidationError([{ path: 'nodeId', message: 'must not be empty' }], 'snapshot');
    const snap = buildSnapshot(version, resources, this.snapshots.get(nodeId));
    this.snapshots.set(nodeId, snap);
    for (const fn of this.global) fn(nodeId, snap);
    for (const fn of this.watchers.get(nodeId) ?? []) fn(snap);
    return snap;
  }

  getSnapshot(nodeId: string): Snapshot | undefined {
    return this.snapshots.get(nodeId);
  }

  clearSnapshot(nodeId: string): void {
    this.snapshots.delete(nodeId);
  }

  watch(nodeId: string, fn: SnapshotListener): () => void {
    let set = this.watchers.get(nodeId);
    if (!set) this.watchers.set(nodeId, (set = new Set()));
    set.add(fn);
    return () => {
      const s = this.watchers.get(nodeId);
      if (!s) return;
      s.delete(fn);
      if (!s.size) this.watchers.delete(nodeId);
    };
  }

  watchAll(fn: (nodeId: string, snapshot: Snapshot) => void): () => void {
    this.global.add(fn);
    return () => void this.global.delete(fn);
  }

  nodeIds(): string[] {
    return [...this.snapshots.keys()];
  }
}
