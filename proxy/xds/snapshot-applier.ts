// Applies the snapshots the xDS client accepted to the sidecar, one at a time
// and in order. The client ACKs once a snapshot validates (a synchronous
// decision); binding its listeners follows. A listener whose port is held by
// another socket (one still closing, or an outgoing connection that was
// given that port) fails the whole apply and nothing changes — and as the
// update was ACKed, no push is coming to try again. So the latest snapshot
// is retried with backoff until it binds or a newer one replaces it, instead
// of leaving the sidecar without that config until the next push.

import type { Logger } from '../../common/log.js';
import { MeshError } from '../../common/errors.js';
import type { ConfigSnapshot } from '../config/resources.js';

export interface SnapshotTarget {
  applySnapshot(snap: ConfigSnapshot): Promise<void>;
}

export interface SnapshotApplierOptions {
  /** First retry after a bind failure; doubles up to maxRetryMs. */
  initialRetryMs?: number;
  maxRetryMs?: number;
  /** After each applied snapshot. */
  onApplied?: (snap: ConfigSnapshot) => void;
}

export class SnapshotApplier {
  private chain: Promise<void> = Promise.resolve();
  private latest: ConfigSnapshot | undefined;
  private retry: NodeJS.Timeout | undefined;
  private bindFailures = 0;
  private stopped = false;

  constructor(
    private readonly target: SnapshotTarget,
    private readonly log: Logger,
    private readonly o: SnapshotApplierOptions = {},
  ) {}

  /** Queues `snap` after whatever is being applied; it supersedes any pending retry. */
  apply(snap: ConfigSnapshot): void {
    this.latest = snap;
    this.bindFailures = 0;
    clearTimeout(this.retry);
    this.enqueue(snap);
  }

  /** Resolves when everything queued so far has been applied or has failed. */
  settled(): Promise<void> {
    return this.chain;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
  }

  private enqueue(snap: ConfigSnapshot): void {
    this.chain = this.chain.then(() => this.run(snap));
  }

  /** Never rejects: every failure is logged (and a bind failure retried) here. */
  private async run(snap: ConfigSnapshot): Promise<void> {
    if (this.stopped || snap !== this.latest) return; // a newer snapshot replaces this one
    try {
      await this.target.applySnapshot(snap);
    } catch (err) {
      if (err instanceof MeshError && err.code === 'MESH_LISTENER_BIND' && !this.stopped) {
        const delay = Math.min(this.o.maxRetryMs ?? 5000, (this.o.initialRetryMs ?? 100) * 2 ** Math.min(16, this.bindFailures++));
        this.log.warn('xds: a listener of the accepted config cannot bind; retrying', { error: err.message, attempt: this.bindFailures, retryInMs: delay });
        this.retry = setTimeout(() => this.enqueue(snap), delay);
        this.retry.unref();
      } else {
        this.log.error('xds: validated config could not be applied', { error: (err as Error).message });
      }
      return;
    }
    if (this.bindFailures > 0) this.log.info('xds: config applied after its listeners could bind', { attempts: this.bindFailures + 1 });
    this.bindFailures = 0;
    this.o.onApplied?.(snap);
  }
}
