// Back-pressure for pushes: streams that need a push are queued (each at most
// once) and flushed in bounded batches, one batch per event-loop turn, so a
// reconnect storm of thousands of proxies is served in order without starving
// ACK processing or other work. A change for a stream is debounced: bursts of
// snapshot changes within `debounceMs` become one push, with one timer for all
// streams (their windows end in the order they began).

import type { Clock, Timer } from '../../common/clock.js';

export interface Flushable {
  /** Send whatever this stream owes its proxy (respecting one un-ACKed push per type). */
  flush(): void;
  readonly closed: boolean;
}

export class PushScheduler {
  private readonly queue = new Set<Flushable>();
  /**
   * Streams in their debounce window → when it ends. One window length for all, so insertion order is
   * deadline order: one timer for the earliest, not one per stream (a change for 1,000 proxies arms 1).
   */
  private readonly debouncing = new Map<Flushable, number>();
  private timer: Timer | undefined;
  private draining = false;

  constructor(
    private readonly clock: Clock,
    private readonly opts: { debounceMs: number; batchSize: number },
  ) {}

  /** Schedule a flush after the debounce window (coalescing repeated calls). */
  schedule(s: Flushable, immediate = false): void {
    if (immediate || this.opts.debounceMs <= 0) return this.enqueue(s);
    if (this.debouncing.has(s)) return;
    const due = this.clock.now() + this.opts.debounceMs;
    this.debouncing.set(s, due);
    if (!this.timer) this.arm(due);
  }

  cancel(s: Flushable): void {
    this.debouncing.delete(s);
    this.queue.delete(s);
  }

  get queued(): number {
    return this.queue.size;
  }

  private arm(due: number): void {
    this.timer = this.clock.setTimeout(() => this.release(), Math.max(0, due - this.clock.now()));
  }

  /** Moves every stream whose window has ended to the flush queue; re-arms for the next one. */
  private release(): void {
    this.timer = undefined;
    const now = this.clock.now();
    for (const [s, due] of this.debouncing) {
      if (due > now) return this.arm(due);
      this.debouncing.delete(s);
      this.enqueue(s);
    }
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
