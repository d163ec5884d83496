// What SotW and delta ADS streams share: node identification and
// authorization, the snapshot watch, per-type status for the admin API, and
// propagation receipts.

import { status as GrpcStatus, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import type { ResourceKind } from '../../proxy/config/resources.js';
import { nodeMetadata, type NodeMsg } from '../../proxy/xds/ads-wire.js';
import type { ProxyStatus, ProxyTypeStatus } from '../admin/types.js';
import { adminUrl } from '../canary/sidecar-admins.js';
import type { SnapshotCache } from './cache.js';
import type { Flushable, PushScheduler } from './push-scheduler.js';
import type { ReceiptTracker } from './receipts.js';
import type { Snapshot } from './snapshot.js';

/** Decides whether the peer on `call` may receive the config of `node` (e.g. its SPIFFE ID or token matches). */
export type AuthorizeNode = (
  call: ServerDuplexStream<unknown, unknown>,
  node: NodeMsg,
) => boolean | string | Promise<boolean | string>;

export interface StreamContext {
  cache: SnapshotCache;
  scheduler: PushScheduler;
  receipts: ReceiptTracker;
  clock: Clock;
  log: Logger;
  authorizeNode?: AuthorizeNode;
  /** Waits for an admission slot (connection throttling). */
  admit(): Promise<void>;
  /** Called once a stream is identified and authorized, before its snapshot is read (registration, lazy snapshots). */
  onConnect?: (nodeId: string, node: NodeMsg) => void;
  nonce(): string;
  opened(s: AdsStream): void;
  closed(s: AdsStream): void;
}

export abstract class AdsStream implements Flushable {
  closed = false;
  nodeId = '';
  node: NodeMsg = {};
  snapshot: Snapshot | undefined;
  readonly connectedAt: number;
  readonly status: Partial<Record<ResourceKind, ProxyTypeStatus>> = {};
  private unwatch: (() => void) | undefined;
  private ready: Promise<boolean> | undefined;
  /** On-demand names already asked for, so a missing name is requested once. */
  private readonly asked = new Set<string>();

  constructor(
    protected readonly ctx: StreamContext,
    protected readonly call: ServerDuplexStream<any, any>,
  ) {
    this.connectedAt = ctx.clock.now();
    call.on('end', () => this.close());
    call.on('error', () => this.close());
    call.on('cancelled', () => this.close());
    call.on('close', () => this.close());
  }

  abstract flush(): void;
  /** True when every subscribed type runs exactly what the current snapshot holds. */
  protected abstract inSync(): boolean;

  /** Identified and authorized, and no earlier request still waits on that: requests run synchronously, in order. */
  private settled = false;
  private waiting = 0;

  /** Runs `handle(req)` once the stream is identified (in arrival order), without a promise per request after that. */
  protected receive<T extends { node?: NodeMsg }>(req: T, handle: (req: T) => void): void {
    if (this.settled) {
      if (!this.closed) handle(req);
      return;
    }
    this.waiting++;
    this.identify(req.node).then(
      (ok) => {
        if (--this.waiting === 0 && ok) this.settled = true;
        if (ok && !this.closed) handle(req);
      },
      (err) => this.ctx.log.error('xds request failed', { err }),
    );
  }

  /** Resolves true once the stream is identified and authorized (first request must carry the node). */
  protected identify(node: NodeMsg | undefined): Promise<boolean> {
    this.ready ??= this.authorize(node);
    return this.ready;
  }

  private async authorize(node: NodeMsg | undefined): Promise<boolean> {
    if (!node?.id) {
      this.fail(GrpcStatus.INVALID_ARGUMENT, 'the first request must carry node.id');
      return false;
    }
    this.node = node;
    this.nodeId = node.id;
    await this.ctx.admit();
    if (this.closed) return false;
    if (this.ctx.authorizeNode) {
      let verdict: boolean | string;
      try {
        verdict = await this.ctx.authorizeNode(this.call, node);
      } catch (err) {
        verdict = (err as Error).message;
      }
      if (verdict !== true) {
        const why = typeof verdict === 'string' ? `: ${verdict}` : '';
        this.ctx.log.warn('xds node refused', { node: node.id, peer: this.call.getPeer(), reason: why });
        this.fail(GrpcStatus.PERMISSION_DENIED, `node ${node.id} may not receive this configuration${why}`);
        return false;
      }
    }
    if (this.closed) return false;
    this.ctx.opened(this);
    try {
      this.ctx.onConnect?.(this.nodeId, node);
    } catch (err) {
      this.ctx.log.error('xds onConnect hook failed', { node: this.nodeId, err });
    }
    this.snapshot = this.ctx.cache.getSnapshot(this.nodeId);
    // Snapshots published before this server existed (or before a restart) are tracked too.
    if (this.snapshot) this.ctx.receipts.published(this.snapshot.version, this.nodeId);
    this.unwatch = this.ctx.cache.watch(this.nodeId, (s) => {
      this.snapshot = s;
      this.ctx.scheduler.schedule(this);
    });
    return true;
  }

  protected fail(code: GrpcStatus, details: string): void {
    if (this.closed) return;
    this.call.emit('error', Object.assign(new Error(details), { code, details }));
    this.close();
  }

  protected askOnDemand(kind: ResourceKind, names: Iterable<string>): void {
    const hook = this.ctx.cache.onDemand;
    if (!hook) return;
    const have = this.snapshot?.types[kind].resources;
    // Runs on every request (each ACK): no array unless something is missing.
    let missing: string[] | undefined;
    for (const n of names) if (n !== '*' && !have?.has(n) && !this.asked.has(`${kind}/${n}`)) (missing ??= []).push(n);
    if (!missing) return;
    for (const n of missing) this.asked.add(`${kind}/${n}`);
    hook(this.nodeId, kind, missing);
  }

  protected recordSent(kind: ResourceKind, version: string): void {
    (this.status[kind] ??= {}).sentVersion = version;
  }

  protected recordAck(kind: ResourceKind, version: string): void {
    const st = (this.status[kind] ??= {});
    st.ackedVersion = version;
    st.ackedAt = this.ctx.clock.now();
    delete st.nack;
    this.updateReceipt();
  }

  /** `sentFrom` is the config version of the snapshot the rejected response was built from. */
  protected recordNack(kind: ResourceKind, version: string, error: string, sentFrom: string): void {
    const at = this.ctx.clock.now();
    (this.status[kind] ??= {}).nack = { version, error, at };
    this.ctx.log.warn('xds NACK', { node: this.nodeId, kind, version, error });
    this.ctx.receipts.nacked(sentFrom, this.nodeId, `${kind}: ${error}`);
    // A newer snapshot with the same content for this type is rejected just the same.
    const cur = this.snapshot;
    if (cur && cur.version !== sentFrom && cur.types[kind].version === version) this.ctx.receipts.nacked(cur.version, this.nodeId, `${kind}: ${error}`);
  }

  protected updateReceipt(): void {
    if (this.snapshot && this.inSync()) this.ctx.receipts.acked(this.snapshot.version, this.nodeId);
  }

  proxyStatus(): ProxyStatus {
    const md = nodeMetadata(this.node);
    const s: ProxyStatus = {
      nodeId: this.nodeId,
      service: this.node.cluster || md.SERVICE || md.service || '',
      namespace: md.NAMESPACE || md.namespace || 'default',
      connectedAt: this.connectedAt,
      types: this.status,
    };
    const identity = md.IDENTITY || md.identity;
    if (identity) s.identity = identity;
    const address = md.INSTANCE_IPS || md.address;
    if (address) s.address = address;
    const admin = adminUrl(md.TSMESH_ADMIN, address?.split(',')[0]);
    if (admin) s.admin = admin;
    return s;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unwatch?.();
    this.ctx.scheduler.cancel(this);
    this.ctx.closed(this);
    try {
      this.call.end();
    } catch {
      /* already gone */
    }
  }
}
