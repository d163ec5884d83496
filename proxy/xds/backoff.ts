// Exponential backoff with full jitter for reconnects: delay n is uniform in
// [base·2ⁿ·(1−jitter), base·2ⁿ], capped at max.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** 0–1: share of the delay that is randomized. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, jitter: 0.5 };

export class Backoff {
  private attempt = 0;
  constructor(
    private readonly opts: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.opts.maxMs, this.opts.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return ceiling * (1 - this.opts.jitter * this.random());
  }

  reset(): void {
    this.attempt = 0;
  }
}
