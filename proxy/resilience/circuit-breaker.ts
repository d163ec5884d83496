// Per-cluster circuit breaker (Envoy's default-priority thresholds): O(1)
// counters for open connections, pending requests, active requests and active
// retries, each with a limit. A full resource refuses at once (503, flag UO)
// instead of queueing. With a retry budget, active retries are capped at
// budgetPercent of (active + pending) requests but never below
// minRetryConcurrency, and maxRetries is not used (Envoy semantics).

import type { CircuitBreakerThresholds } from '../config/resources.js';
import { CircuitBreakerOverflowError, type OverflowResource } from './errors.js';

export const CIRCUIT_BREAKER_DEFAULTS: CircuitBreakerThresholds = {
  maxConnections: 1024,
  maxPendingRequests: 1024,
  maxRequests: 1024,
  maxRetries: 3,
};
export const RETRY_BUDGET_DEFAULTS = { budgetPercent: 20, minRetryConcurrency: 3 } as const;

/** Live counters and overflow totals, for /clusters and metrics. */
export interface CircuitBreakerStats {
  connections: number;
  pendingRequests: number;
  activeRequests: number;
  activeRetries: number;
  cxOverflow: number;
  rqPendingOverflow: number;
  rqOverflow: number;
  rqRetryOverflow: number;
  rqRetry: number;
  rqRetrySuccess: number;
  rqRetryLimitExceeded: number;
  rqUnprocessedRetry: number;
}

export class CircuitBreaker {
  connections = 0;
  pendingRequests = 0;
  activeRequests = 0;
  activeRetries = 0;
  cxOverflow = 0;
  rqPendingOverflow = 0;
  rqOverflow = 0;
  rqRetryOverflow = 0;
  /** Retry stats kept with the cluster (bumped by RetryState): retries started, requests that
   * succeeded on a retry, requests that still failed when numRetries was used up. */
  rqRetry = 0;
  rqRetrySuccess = 0;
  rqRetryLimitExceeded = 0;
  /** Requests sent once more because the upstream never processed them (HTTP/2 REFUSED_STREAM / GOAWAY). */
  rqUnprocessedRetry = 0;
  private budgetFraction = -1;
  private minRetryConcurrency = 0;

  constructor(
    readonly cluster: string,
    public thresholds: CircuitBreakerThresholds = CIRCUIT_BREAKER_DEFAULTS,
  ) {
    this.setThresholds(thresholds);
  }

  /** New limits from a config change; the live counters stay (in-flight requests release here). */
  setThresholds(t: CircuitBreakerThresholds): void {
    this.thresholds = t;
    const b = t.retryBudget;
    this.budgetFraction = b ? b.budgetPercent / 100 : -1;
    this.minRetryConcurrency = b ? b.minRetryConcurrency : 0;
  }

  tryAcquireConnection(): boolean {
    if (this.connections >= this.thresholds.maxConnections) {
      this.cxOverflow++;
      return false;
    }
    this.connections++;
    return true;
  }
  releaseConnection(): void {
    if (this.connections > 0) this.connections--;
  }

  /** A request waits for a connection (pool queue). */
  tryAcquirePending(): boolean {
    if (this.pendingRequests >= this.thresholds.maxPendingRequests) {
      this.rqPendingOverflow++;
      return false;
    }
    this.pendingRequests++;
    return true;
  }
  releasePending(): void {
    if (this.pendingRequests > 0) this.pendingRequests--;
  }
  /** The connection pools' count of requests waiting for a connection changed by `delta`. */
  adjustPending(delta: number): void {
    this.pendingRequests += delta;
  }

  /** A request (attempt) is in flight upstream. Envoy counts this overflow in upstream_rq_pending_overflow too. */
  tryAcquireRequest(): boolean {
    if (this.activeRequests >= this.thresholds.maxRequests) {
      this.rqOverflow++;
      return false;
    }
    this.activeRequests++;
    return true;
  }
  releaseRequest(): void {
    if (this.activeRequests > 0) this.activeRequests--;
  }

  /** The current cap on concurrent retries: the budget when configured, else maxRetries. */
  retryLimit(): number {
    if (this.budgetFraction < 0) return this.thresholds.maxRetries;
    const budget = Math.floor((this.activeRequests + this.pendingRequests) * this.budgetFraction);
    return budget > this.minRetryConcurrency ? budget : this.minRetryConcurrency;
  }

  tryAcquireRetry(): boolean {
    if (this.activeRetries >= this.retryLimit()) {
      this.rqRetryOverflow++;
      return false;
    }
    this.activeRetries++;
    return true;
  }
  releaseRetry(): void {
    if (this.activeRetries > 0) this.activeRetries--;
  }

  /** The typed error for a refused resource (503, UO); build it only after a try*() returned false. */
  overflowError(resource: OverflowResource): CircuitBreakerOverflowError {
    const t = this.thresholds;
    const limit =
      resource === 'connections'
        ? t.maxConnections
        : resource === 'pendingRequests'
          ? t.maxPendingRequests
          : resource === 'requests'
            ? t.maxRequests
            : this.retryLimit();
    return new CircuitBreakerOverflowError(this.cluster, resource, limit);
  }

  stats(): CircuitBreakerStats {
    return {
      connections: this.connections,
      pendingRequests: this.pendingRequests,
      activeRequests: this.activeRequests,
      activeRetries: this.activeRetries,
      cxOverflow: this.cxOverflow,
      rqPendingOverflow: this.rqPendingOverflow + this.rqOverflow,
      rqOverflow: this.rqOverflow,
      rqRetryOverflow: this.rqRetryOverflow,
      rqRetry: this.rqRetry,
      rqRetrySuccess: this.rqRetrySuccess,
      rqRetryLimitExceeded: this.rqRetryLimitExceeded,
      rqUnprocessedRetry: this.rqUnprocessedRetry,
    };
  }

  /** Limits and gauges in the shape of admin ClusterStatus.circuitBreakers. */
  statusFields(): Record<string, number> {
    const t = this.thresholds;
    return {
      maxConnections: t.maxConnections,
      maxPendingRequests: t.maxPendingRequests,
      maxRequests: t.maxRequests,
      maxRetries: this.retryLimit(),
      cxOpen: this.connections,
      rqPendingOpen: this.pendingRequests,
      rqOpen: this.activeRequests,
      rqRetryOpen: this.activeRetries,
    };
  }
}
