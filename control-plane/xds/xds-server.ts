// The ADS server: registers StreamAggregatedResources and DeltaAggregatedResources
// on a grpc-js Server, runs one AdsStream per connection, and reports proxies,
// their ACK/NACK state and propagation receipts (ProxyStatusSource).

import { status as GrpcStatus, type Server, type ServerDuplexStream } from '@grpc/grpc-js';
import { systemClock, type Clock } from '../../common/clock.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { ResourceMaps } from '../../proxy/config/resources.js';
import type { NodeMsg } from '../../proxy/xds/ads-wire.js';
import type { ProxyStatus, ProxyStatusSource } from '../admin/types.js';
import type { SnapshotCache } from './cache.js';
import { Admission } from './admission.js';
import { DeltaStream } from './delta-stream.js';
import { PushScheduler } from './push-scheduler.js';
import { ReceiptTracker, type Receipt } from './receipts.js';
import { SotwStream } from './sotw-stream.js';
import { serverAdsDefinition } from './wire.js';
import type { AdsStream, AuthorizeNode, StreamContext } from './stream.js';

/** Snapshot changes within this window become one push per stream. */
export const DEFAULT_DEBOUNCE_MS = 10;

export interface XdsServerOptions {
  cache: SnapshotCache;
  /** Refuse nodes asking for another identity's config (PERMISSION_DENIED). Default: allow all. */
  authorizeNode?: AuthorizeNode;
  clock?: Clock;
  logger?: Logger;
  /** Called when an authorized node connects (self-registration, lazily computed snapshots). */
  onConnect?: (nodeId: string, node: NodeMsg) => void;
  /** Called when the last stream of a node closes. */
  onDisconnect?: (nodeId: string) => void;
  /** Snapshot changes within this window become one push per stream (default 10 ms). */
  debounceMs?: number;
  /** Streams flushed per event-loop turn (default 64): bounds the work a change or a reconnect storm does at once. */
  pushBatchSize?: number;
  /** New streams admitted per second (token bucket; the rest wait). Default 1000. */
  connectsPerSecond?: number;
  /** Concurrent streams accepted; more are refused with RESOURCE_EXHAUSTED (default 50 000). */
  maxStreams?: number;
}

export class XdsServer implements ProxyStatusSource {
  /** Streams whose node is identified and authorized. */
  private readonly identified = new Set<AdsStream>();
  private readonly byNode = new Map<string, Set<AdsStream>>();
  private readonly ctx: StreamContext;
  private readonly receiptsTracker: ReceiptTracker;
  private readonly unwatchAll: () => void;
  private nonceSeq = 0;
  private readonly admission: Admission;
  /** Every accepted stream, identified or not (maxStreams counts these). */
  private readonly accepted = new Set<AdsStream>();

  constructor(private readonly opts: XdsServerOptions) {
    const clock = opts.clock ?? systemClock;
    this.receiptsTracker = new ReceiptTracker(clock);
    this.unwatchAll = opts.cache.watchAll((nodeId, snap) => this.receiptsTracker.published(snap.version, nodeId));
    const admission = new Admission(clock, opts.connectsPerSecond ?? 1000);
    this.admission = admission;
    this.ctx = {
      admit: () => admission.admit(),
      cache: opts.cache,
      scheduler: new PushScheduler(clock, { debounceMs: opts.debounceMs ?? DEFAULT_DEBOUNCE_MS, batchSize: opts.pushBatchSize ?? 64 }),
      receipts: this.receiptsTracker,
      clock,
      log: opts.logger ?? silentLogger,
      nonce: () => (++this.nonceSeq).toString(36),
      opened: (s) => {
        this.identified.add(s);
        let set = this.byNode.get(s.nodeId);
        if (!set) this.byNode.set(s.nodeId, (set = new Set()));
        set.add(s);
      },
      closed: (s) => {
        this.identified.delete(s);
        this.accepted.delete(s);
        const set = this.byNode.get(s.nodeId);
        if (!set?.delete(s)) return;
        if (!set.size) {
          this.byNode.delete(s.nodeId);
          try {
            opts.onDisconnect?.(s.nodeId);
          } catch (err) {
            this.ctx.log.error('xds onDisconnect hook failed', { node: s.nodeId, err });
          }
        }
      },
    };
    if (opts.authorizeNode) this.ctx.authorizeNode = opts.authorizeNode;
    if (opts.onConnect) this.ctx.onConnect = opts.onConnect;
  }

  /** Adds the AggregatedDiscoveryService to `server`. */
  register(server: Server): void {
    server.addService(serverAdsDefinition(), {
      StreamAggregatedResources: (call: ServerDuplexStream<any, any>) => this.accept(call, new SotwStream(this.ctx, call)),
      DeltaAggregatedResources: (call: ServerDuplexStream<any, any>) => this.accept(call, new DeltaStream(this.ctx, call)),
    });
  }

  private accept(call: ServerDuplexStream<any, any>, s: SotwStream | DeltaStream): void {
    if (this.accepted.size >= (this.opts.maxStreams ?? 50_000)) {
      call.emit('error', Object.assign(new Error('too many xDS streams'), { code: GrpcStatus.RESOURCE_EXHAUSTED }));
      return;
    }
    this.accepted.add(s);
    s.start();
  }

  /** Propagation receipt of one config version: who ACKed, who NACKed and why, who is pending. */
  receipt(version: string): Receipt | undefined {
    return this.receiptsTracker.receipt(version);
  }

  /** Counts only (no per-proxy lists): cheap to poll while a change propagates. */
  receiptProgress(version: string): { total: number; acked: number; nacked: number; pending: number } | undefined {
    return this.receiptsTracker.progress(version);
  }

  receipts(version: string): Receipt | undefined {
    return this.receipt(version);
  }

  proxies(): ProxyStatus[] {
    return [...this.identified].map((s) => s.proxyStatus());
  }

  config(nodeId: string): ResourceMaps | undefined {
    return this.opts.cache.getSnapshot(nodeId)?.resources;
  }

  /** Streams waiting for admission. */
  get admissionQueue(): number {
    return this.admission.queued;
  }

  /** Number of open, identified streams. */
  get connected(): number {
    return this.identified.size;
  }

  /** Ends every stream (the server itself is closed by its owner). */
  close(): void {
    this.unwatchAll();
    for (const s of [...this.accepted]) s.close();
  }
}
