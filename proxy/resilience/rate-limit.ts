// Envoy's local rate limit (per route): a token bucket that starts full with
// maxTokens and gains tokensPerFill every fillInterval, never above maxTokens.
// Refill is computed lazily from the Clock on each request (same result as
// Envoy's fill timer, no timer to run). Over the limit → 429, flag RL, with
// `retry-after` = whole seconds until the next fill (at least 1).

import type { Clock } from '../../common/clock.js';
import type { LocalRateLimitPolicy } from '../config/resources.js';
import { RateLimitedError } from './errors.js';

export class TokenBucket {
  private tokens: number;
  private lastFill: number;
  private readonly max: number;
  private readonly perFill: number;
  private readonly interval: number;
  /** Requests refused so far (envoy_http_local_rate_limit_rate_limited). */
  rateLimited = 0;
  /** Requests allowed so far (…_ok). */
  allowed = 0;

  constructor(
    policy: LocalRateLimitPolicy['tokenBucket'],
    private readonly clock: Clock,
  ) {
    if (!(policy.maxTokens >= 1) || !(policy.tokensPerFill >= 1) || !(policy.fillInterval >= 1))
      throw new RangeError('token bucket: maxTokens, tokensPerFill and fillInterval must be ≥ 1');
    this.max = policy.maxTokens;
    this.perFill = policy.tokensPerFill;
    this.interval = policy.fillInterval;
    this.tokens = this.max;
    this.lastFill = clock.monotonic();
  }

  /** Take one token; false when the bucket is empty. */
  tryConsume(): boolean {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens--;
      this.allowed++;
      return true;
    }
    this.rateLimited++;
    return false;
  }

  get available(): number {
    this.refill();
    return this.tokens;
  }

  /** Whole seconds until the next fill, at least 1 (the retry-after value). */
  retryAfterSeconds(): number {
    const wait = this.lastFill + this.interval - this.clock.monotonic();
    return Math.max(1, Math.ceil(wait / 1000));
  }

  /** The typed 429 for a refused request. */
  rejection(): RateLimitedError {
    return new RateLimitedError(this.retryAfterSeconds());
  }

  private refill(): void {
    const now = this.clock.monotonic();
    const elapsed = now - this.lastFill;
    if (elapsed < this.interval) return;
    const fills = Math.floor(elapsed / this.interval);
    this.lastFill += fills * this.interval;
    const t = this.tokens + fills * this.perFill;
    this.tokens = t > this.max ? this.max : t;
  }
}
