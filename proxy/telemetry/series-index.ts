// Finds a request's cached series without building a string per request.
// Peers, clusters and flag sets are interned to small integers once; a
// request's key is then three small numbers looked up in nested Maps (no
// allocation, no hashing of long strings). Anything that does not fit the
// integer ranges returns undefined and the caller takes its slow path.

import type { ResponseFlag, WorkloadLabels } from './types.js';

type Peer = Partial<WorkloadLabels> | undefined;

interface PeerEntry {
  workload: string;
  namespace: string;
  service: string;
  version: string;
  app: string;
  canonicalService: string;
  cluster: string;
  id: number;
}

const MAX_PEERS = 32767; // two peer ids share one small integer
const MAX_FLAG_SETS = 63;
const MAX_CLUSTERS = 1 << 20;

export class SeriesIndex<S> {
  private readonly peers = new Map<string, PeerEntry[]>();
  private peerCount = 0;
  private readonly clusters = new Map<string, number>();
  private readonly flagSets = new Map<string, number>();
  private readonly index = new Map<number, Map<number, Map<number, S>>>();

  // The last key `find` computed, so a miss can be stored without recomputing (and without a per-request object).
  private k1 = 0;
  private k2 = 0;
  private k3 = 0;
  private keyed = false;

  /**
   * The cached series of a request, or undefined (then `remember` stores the one the caller resolved).
   * Key components: peer pair; cluster; code, grpc status, direction, protocol, mtls and flags.
   */
  find(
    source: Peer,
    destination: Peer,
    cluster: string | undefined,
    flags: readonly ResponseFlag[],
    code: number,
    grpc: number | undefined,
    outbound: boolean,
    grpcProtocol: boolean,
    mtls: boolean,
  ): S | undefined {
    const src = this.peerId(source);
    const dst = this.peerId(destination);
    const cl = this.clusterId(cluster);
    const fl = this.flagsId(flags);
    if (
      src < 0 || dst < 0 || cl < 0 || fl < 0 ||
      !(code >= 0 && code <= 999 && (code | 0) === code) ||
      (grpc !== undefined && !(grpc >= 0 && grpc <= 30))
    ) {
      this.keyed = false;
      return undefined;
    }
    this.keyed = true;
    this.k1 = src * 32768 + dst;
    this.k2 = cl;
    this.k3 =
      ((((fl * 2 + (mtls ? 1 : 0)) * 2 + (grpcProtocol ? 1 : 0)) * 2 + (outbound ? 1 : 0)) * 32 +
        (grpc === undefined ? 31 : grpc | 0)) * 1024 + (code | 0);
    return this.index.get(this.k1)?.get(cl)?.get(this.k3);
  }

  /** Stores `s` under the key of the last `find` (no-op when that request did not fit the index). */
  remember(s: S): void {
    if (!this.keyed) return;
    let a = this.index.get(this.k1);
    if (a === undefined) this.index.set(this.k1, (a = new Map()));
    let b = a.get(this.k2);
    if (b === undefined) a.set(this.k2, (b = new Map()));
    b.set(this.k3, s);
  }

  /**
   * The last two peer objects seen and their ids: a request's source and destination are mostly
   * the same objects every time (the node's own labels, the cluster's destination labels), so
   * their seven fields are compared only for a new object. Label objects are never changed after
   * they are recorded (the cluster runtime's are readonly; a changed cluster is a new object).
   */
  private recentA: Peer = undefined;
  private recentAId = 0;
  private recentB: Peer = undefined;
  private recentBId = 0;

  private peerId(p: Peer): number {
    if (p === undefined) return 0;
    if (p === this.recentA) return this.recentAId;
    if (p === this.recentB) return this.recentBId;
    const id = this.internPeer(p);
    if (id > 0) {
      // The older one makes room.
      this.recentB = this.recentA;
      this.recentBId = this.recentAId;
      this.recentA = p;
      this.recentAId = id;
    }
    return id;
  }

  private internPeer(p: NonNullable<Peer>): number {
    const principal = p.principal ?? '';
    let list = this.peers.get(principal);
    if (list !== undefined) {
      for (const e of list) {
        if (
          e.workload === (p.workload ?? '') &&
          e.namespace === (p.namespace ?? '') &&
          e.service === (p.service ?? '') &&
          e.version === (p.version ?? '') &&
          e.app === (p.app ?? '') &&
          e.canonicalService === (p.canonicalService ?? '') &&
          e.cluster === (p.cluster ?? '')
        ) {
          return e.id;
        }
      }
    }
    if (this.peerCount >= MAX_PEERS - 1) return -1;
    const entry: PeerEntry = {
      workload: p.workload ?? '',
      namespace: p.namespace ?? '',
      service: p.service ?? '',
      version: p.version ?? '',
      app: p.app ?? '',
      canonicalService: p.canonicalService ?? '',
      cluster: p.cluster ?? '',
      id: ++this.peerCount,
    };
    if (list === undefined) this.peers.set(principal, (list = []));
    list.push(entry);
    return entry.id;
  }

  private clusterId(name: string | undefined): number {
    if (name === undefined) return 0;
    const id = this.clusters.get(name);
    if (id !== undefined) return id;
    if (this.clusters.size >= MAX_CLUSTERS) return -1;
    this.clusters.set(name, this.clusters.size + 1);
    return this.clusters.size;
  }

  private flagsId(flags: readonly ResponseFlag[]): number {
    if (flags.length === 0) return 0;
    const k = flags.length === 1 ? flags[0]! : flags.join(',');
    const id = this.flagSets.get(k);
    if (id !== undefined) return id;
    if (this.flagSets.size >= MAX_FLAG_SETS) return -1;
    this.flagSets.set(k, this.flagSets.size + 1);
    return this.flagSets.size;
  }
}
