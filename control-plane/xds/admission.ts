// Connection admission: new streams are let in at a bounded rate (a token
// bucket refilled on the injectable clock), so a reconnect storm of thousands
// of proxies queues up instead of starving the streams already served. Queued
// streams wait; nothing is refused here (maxStreams does that).

import type { Clock, Timer } from '../../common/clock.js';

export class Admission {
  private tokens: number;
  private readonly waiting: (() => void)[] = [];
  private timer: Timer | undefined;

  constructor(
    private readonly clock: Clock,
    /** Streams admitted per second; also the burst size. */
    private readonly perSecond: number,
  ) {
    this.tokens = perSecond;
  }

  /** Resolves when the stream may proceed. */
  admit(): Promise<void> {
    if (this.tokens > 0 && this.waiting.length === 0) {
      this.tokens--;
      this.arm();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.arm();
    });
  }

  get queued(): number {
    return this.waiting.length;
  }

  private arm(): void {
    if (this.timer) return;
    // Refill in tenths of a second so admission is smooth, not once-a-second bursts.
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.tokens = Math.min(this.perSecond, this.tokens + Math.max(1, this.perSecond / 10));
      while (this.tokens >= 1 && this.waiting.length) {
        this.tokens--;
        this.waiting.shift()!();
      }
      if (this.waiting.length || this.tokens < this.perSecond) this.arm();
    }, 100);
  }
}
