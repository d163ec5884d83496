// Back-pressure for pushes: streams that need a push are queued (each at most
// once) and flushed in bounded batches, one batch per event-loop turn, so a
// reconnect storm of thousands of proxies is served in order without starving
// ACK processing or other work. A change for a stream is debounced: bursts of
// snapshot changes within `debounceMs` become one push.

import type { Clock, Timer } from '../../common/clock.js';

export interface Flushable {
  /** Send whatever this stream owes its proxy (respecting one un-ACKed push per type). */
  flush(): void;
  readonly closed: boolean;
}

export class PushScheduler {
  private readonly queue = new Set<Flushable>();
  private readonly debouncing = new Map<Flushable, Timer>();
  private draining = false;

  constructor(
    private readonly clock: Clock,
    private readonly opts: { debounceMs: number; batchSize: number },
  ) {}

  /** Schedule a flush after the debounce window (coalescing repeated calls). */
  schedule(s: Flushable, immediate = false): void {
    if (immediate || this.opts.debounceMs <= 0) return this.enqueue(s);
    if (this.debouncing.has(s)) return;
    this.debouncing.set(
      s,
      this.clock.setTimeout(() => {
        this.debouncing.delete(s);
        this.enqueue(s);
      }, this.opts.debounceMs),
    );
  }

  cancel(s: Flushable): void {
    this.debouncing.get(s)?.cancel();
    this.debouncing.delete(s);
    this.queue.delete(s);
  }

  get queued(): number {
    return this.queue.size;
  }

  private enqueue(s: Flushable): void {
    this.queue.add(s);
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    let n = 0;
    for (const s of this.queue) {
      this.queue.delete(s);
      if (!s.closed) s.flush();
      if (++n >= this.opts.batchSize) break;
    }
    if (this.queue.size) setImmediate(() => this.drain());
    else this.draining = false;
  }
}
