// Propagation receipts: for every config version, which proxies were given it,
// which ACKed (and when), which NACKed (and why), which are still pending.
// "reached 412/412 proxies in 180 ms".

import type { Clock } from '../../common/clock.js';
import type { PropagationReceipt } from '../admin/types.js';

type NodeState = 'pending' | 'acked' | 'nacked';

interface Entry {
  version: string;
  seq: number;
  appliedAt: number;
  nodes: Map<string, { state: NodeState; at?: number; error?: string }>;
  /** Nodes per state, kept current so progress() is O(1) (polled while a push propagates). */
  counts: Record<NodeState, number>;
}

/** Sets a node's state in `e`, keeping the counts. */
function setState(e: Entry, nodeId: string, next: { state: NodeState; at?: number; error?: string }): void {
  const prev = e.nodes.get(nodeId);
  if (prev) e.counts[prev.state]--;
  e.counts[next.state]++;
  e.nodes.set(nodeId, next);
}

export interface Receipt extends PropagationReceipt {
  /** From the first publish of the version until the last ACK (or until now while any is pending). */
  elapsedMs: number;
}

export class ReceiptTracker {
  private readonly entries = new Map<string, Entry>();
  /** Per node, the retained versions where it is (or was, until looked at) pending. */
  private readonly pendingOf = new Map<string, Entry[]>();
  private seq = 0;

  constructor(
    private readonly clock: Clock,
    private readonly retain = 256,
  ) {}

  /** A snapshot of `version` was published for `nodeId`. */
  published(version: string, nodeId: string): void {
    let e = this.entries.get(version);
    if (!e) {
      e = { version, seq: ++this.seq, appliedAt: this.clock.now(), nodes: new Map(), counts: { pending: 0, acked: 0, nacked: 0 } };
      this.entries.set(version, e);
      if (this.entries.size > this.retain) this.entries.delete(this.entries.keys().next().value!);
    }
    if (e.nodes.has(nodeId)) return;
    setState(e, nodeId, { state: 'pending' });
    let list = this.pendingOf.get(nodeId);
    if (!list) this.pendingOf.set(nodeId, (list = []));
    list.push(e);
    // A proxy that never ACKs (gone) must not keep evicted versions alive.
    if (list.length > this.retain) this.pendingOf.set(nodeId, list.filter((x) => this.entries.get(x.version) === x));
  }

  /**
   * `nodeId` runs `version` in full; earlier versions still pending for it are superseded and count as reached.
   * Walks only this node's pending versions (not every retained version: this runs on every ACK).
   */
  acked(version: string, nodeId: string): void {
    const target = this.entries.get(version);
    if (!target) return;
    const at = this.clock.now();
    const n = target.nodes.get(nodeId);
    if (n && n.state !== 'acked') setState(target, nodeId, { state: 'acked', at });
    const list = this.pendingOf.get(nodeId);
    if (!list) return;
    let keep = 0;
    for (const e of list) {
      if (this.entries.get(e.version) !== e || e.nodes.get(nodeId)?.state !== 'pending') continue; // evicted, or decided
      if (e.seq <= target.seq) setState(e, nodeId, { state: 'acked', at });
      else list[keep++] = e;
    }
    list.length = keep;
    if (!keep) this.pendingOf.delete(nodeId);
  }

  nacked(version: string, nodeId: string, error: string): void {
    const e = this.entries.get(version);
    if (e?.nodes.has(nodeId)) setState(e, nodeId, { state: 'nacked', at: this.clock.now(), error });
  }

  receipt(version: string): Receipt | undefined {
    const e = this.entries.get(version);
    if (!e) return undefined;
    const acked: Receipt['acked'] = [];
    const nacked: Receipt['nacked'] = [];
    const pending: string[] = [];
    let last = e.appliedAt;
    for (const [nodeId, n] of e.nodes) {
      if (n.state === 'acked') acked.push({ nodeId, at: n.at! });
      else if (n.state === 'nacked') nacked.push({ nodeId, error: n.error ?? '', at: n.at! });
      else pending.push(nodeId);
      if (n.at !== undefined && n.at > last) last = n.at;
    }
    const end = pending.length ? this.clock.now() : last;
    return { version, appliedAt: e.appliedAt, total: e.nodes.size, acked, nacked, pending, elapsedMs: Math.max(0, end - e.appliedAt) };
  }

  /** How many proxies were given `version`, and how many ACKed / NACKed it so far (cheap to poll). */
  progress(version: string): { total: number; acked: number; nacked: number; pending: number } | undefined {
    const e = this.entries.get(version);
    return e && { total: e.nodes.size, ...e.counts };
  }

  versions(): string[] {
    return [...this.entries.keys()];
  }
}

/** "reached 412/412 proxies in 180 ms", or who rejected it and why, for meshctl. */
export function formatReceipt(r: Receipt): string {
  const lines = [`config ${r.version}: reached ${r.acked.length}/${r.total} proxies in ${Math.round(r.elapsedMs)} ms`];
  for (const n of r.nacked) lines.push(`  rejected by ${n.nodeId}: ${n.error}`);
  if (r.pending.length) lines.push(`  pending: ${r.pending.slice(0, 20).join(', ')}${r.pending.length > 20 ? `, … (${r.pending.length})` : ''}`);
  return lines.join('\n');
}
