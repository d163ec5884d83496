// The retry decision of one request (Envoy's RetryState). The request path
// creates one per request with a retry policy, reports each attempt's outcome
// and asks whether to retry. A retry needs: a retry_on condition that matches,
// attempts left, a replayable body (buffered under the limit), no response
// bytes sent downstream yet, and a slot in the cluster's retry budget / circuit
// breaker. Backoff is Envoy's fully jittered exponential: a random delay in
// [0, (2^n − 1) × base), capped at maxInterval.

import type { Clock, Timer } from '../../common/clock.js';
import type { HostState } from '../lb/types.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import { GRPC_RETRY_STATUS, RETRY_ON, type CompiledRetryPolicy } from './retry-policy.js';

/** Why an attempt ended without a usable response. */
export type AttemptFailure =
  | 'connect-failure' // TCP/TLS connect failed or timed out
  | 'refused-stream' // HTTP/2 REFUSED_STREAM: the upstream never processed it
  | 'reset' // reset/disconnect before response headers
  | 'per-try-timeout' // the per-try timeout fired before response headers
  | 'reset-after-response' // reset after response headers: never retried
  | 'overflow'; // the cluster's circuit breaker refused a connection or a pending slot: never retried (Envoy)

export type RetryDecision =
  | 'retry' // schedule another attempt after backoffMs()
  | 'no-retry' // the outcome is not retriable: forward it
  | 'limit' // retriable, but numRetries used up (flag URX on failures)
  | 'overflow' // retriable, but the retry budget / max_retries is full (counted in upstream_rq_retry_overflow)
  | 'not-replayable'; // retriable, but the body was not buffered or response bytes were already sent

const GATEWAY = RETRY_ON['5xx'] | RETRY_ON['gateway-error'];

/** grpc-status of a trailers-only response (or trailers), undefined when absent or not a small integer. */
export function grpcStatusOf(headers: Readonly<Record<string, string | string[] | undefined>>): number | undefined {
  const v = headers['grpc-status'];
  const s = typeof v === 'string' ? v : v?.[0];
  if (s === undefined || s.length === 0 || s.length > 2) return undefined;
  const d0 = s.charCodeAt(0) - 48;
  if (d0 < 0 || d0 > 9) return undefined;
  if (s.length === 1) return d0;
  const d1 = s.charCodeAt(1) - 48;
  if (d0 === 0 || d1 < 0 || d1 > 9) return undefined;
  const n = d0 * 10 + d1;
  return n <= 16 ? n : undefined;
}

export class RetryState {
  /** Attempts started so far (the value of x-envoy-attempt-count on the current attempt). */
  attempts = 0;
  private bodyBytes = 0;
  private replayable = true;
  private committed = false;
  private holdsRetry = false;
  private first: HostState | undefined;
  private tried: Set<HostState> | undefined;

  constructor(
    readonly policy: CompiledRetryPolicy,
    private readonly breaker?: CircuitBreaker,
    private readonly random: () => number = Math.random,
  ) {}

  /** Call as an attempt starts; returns the attempt number to send in `x-envoy-attempt-count`. */
  startAttempt(host?: HostState): number {
    this.attempts++;
    if (host !== undefined && this.policy.retryOtherHosts) {
      // The set is only built once a retry needs it: a request answered at once allocates nothing.
      if (this.first === undefined) this.first = host;
      else (this.tried ??= new Set([this.first])).add(host);
    }
    return this.attempts;
  }

  /** Hosts to avoid on the next pick (PickContext.exclude), when retryOtherHosts is on. */
  get exclude(): ReadonlySet<HostState> | undefined {
    if (this.tried === undefined && this.first !== undefined) this.tried = new Set([this.first]);
    return this.tried;
  }

  /** Count request body bytes as they are buffered; past maxBufferBytes the body cannot be replayed. */
  addBodyBytes(n: number): boolean {
    this.bodyBytes += n;
    if (this.bodyBytes > this.policy.maxBufferBytes) this.replayable = false;
    return this.replayable;
  }

  /** The body was streamed without a copy (e.g. too large): no retries. */
  markNotReplayable(): void {
    this.replayable = false;
  }

  /** Response bytes went downstream: from now on nothing is retried. */
  commit(): void {
    this.committed = true;
  }

  /** Response headers arrived: retry on this status (grpcStatus from headers of a trailers-only response)? */
  onResponse(status: number, grpcStatus?: number): RetryDecision {
    return this.decide(this.responseRetriable(status, grpcStatus));
  }

  onFailure(failure: AttemptFailure): RetryDecision {
    if (failure === 'reset-after-response' || failure === 'overflow') return 'no-retry';
    return this.decide(this.failureRetriable(failure));
  }

  /** Delay before the next attempt, in ms (call after a 'retry' decision). */
  backoffMs(): number {
    const n = this.attempts; // retries so far + 1 = the retry about to happen
    const { baseInterval, maxInterval } = this.policy;
    const upper = Math.min((2 ** Math.min(n, 30) - 1) * baseInterval, maxInterval);
    return Math.floor(this.random() * upper);
  }

  /** Run `fn` after the backoff on the clock; the returned timer cancels it (e.g. on downstream reset). */
  scheduleRetry(clock: Clock, fn: () => void): Timer {
    return clock.setTimeout(fn, this.backoffMs());
  }

  /** The request ended (answered or abandoned): give back the retry slot. Idempotent. */
  finish(): void {
    if (this.holdsRetry) {
      this.holdsRetry = false;
      this.breaker?.releaseRetry();
    }
  }

  private responseRetriable(status: number, grpcStatus: number | undefined): boolean {
    const on = this.policy.retryOn;
    if (status >= 500 && on & RETRY_ON['5xx']) return true;
    if ((status === 502 || status === 503 || status === 504) && on & RETRY_ON['gateway-error']) return true;
    if (status === 409 && on & RETRY_ON['retriable-4xx']) return true;
    if (on & RETRY_ON['retriable-status-codes'] && status < 600 && this.policy.retriableStatus[status] === 1) return true;
    if (grpcStatus !== undefined) {
      for (let i = 0; i < GRPC_RETRY_STATUS.length; i++) {
        const e = GRPC_RETRY_STATUS[i]!;
        if (e[0] === grpcStatus && on & e[1]) return true;
      }
    }
    return false;
  }

  private failureRetriable(f: AttemptFailure): boolean {
    const on = this.policy.retryOn;
    // Envoy: 5xx and gateway-error cover every failure without a response.
    if (on & GATEWAY) return true;
    switch (f) {
      case 'connect-failure':
        return (on & (RETRY_ON['connect-failure'] | RETRY_ON.reset)) !== 0;
      case 'refused-stream':
        return (on & (RETRY_ON['refused-stream'] | RETRY_ON.reset)) !== 0;
      case 'reset':
        return (on & RETRY_ON.reset) !== 0;
      case 'per-try-timeout':
        // Envoy treats it as a 504 response.
        return this.responseRetriable(504, undefined) || (on & RETRY_ON.reset) !== 0;
      default:
        return false;
    }
  }

  private decide(retriable: boolean): RetryDecision {
    const b = this.breaker;
    if (this.holdsRetry) {
      // The retry that held the slot has ended.
      this.holdsRetry = false;
      b?.releaseRetry();
    }
    if (!retriable) {
      if (b !== undefined && this.attempts > 1) b.rqRetrySuccess++;
      return 'no-retry';
    }
    if (this.committed || !this.replayable) return 'not-replayable';
    if (this.attempts > this.policy.numRetries) {
      if (b !== undefined) b.rqRetryLimitExceeded++;
      return 'limit';
    }
    if (b !== undefined) {
      if (!b.tryAcquireRetry()) return 'overflow';
      this.holdsRetry = true;
      b.rqRetry++;
    }
    return 'retry';
  }
}
