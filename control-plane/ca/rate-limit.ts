// Per-caller token buckets on the injectable clock, bounded in size.
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';

export interface RateLimitOptions {
  /** Requests a caller may make at once. */
  burst: number;
  /** Tokens added per second. */
  perSecond: number;
  /** Callers tracked at most (oldest forgotten first). */
  maxCallers?: number;
  clock?: Clock;
}

export class PerCallerRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly clock: Clock;
  constructor(private readonly o: RateLimitOptions) {
    this.clock = o.clock ?? systemClock;
  }

  /** Takes one token for `caller`; false when the caller is over its limit. */
  tryTake(caller: string): boolean {
    const now = this.clock.now();
    let b = this.buckets.get(caller);
    if (!b) {
      if (this.buckets.size >= (this.o.maxCallers ?? 100_000)) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.o.burst, at: now };
      this.buckets.set(caller, b);
    } else {
      b.tokens = Math.min(this.o.burst, b.tokens + ((now - b.at) / 1000) * this.o.perSecond);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
