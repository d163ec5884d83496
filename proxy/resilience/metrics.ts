// Resilience stats in a prom-client Registry under Envoy's names (as Istio's
// sidecars expose them, so existing dashboards work): circuit-breaker
// overflows and open gauges, outlier ejections, local rate limit decisions.
// Values are read from the live objects at scrape time (collect), so the hot
// path only bumps plain number fields. One instance per registry; components
// rebuilt on a config change register again and replace their old entry.

import { Counter, Gauge, type Registry } from '../telemetry/prom.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import type { OutlierDetector } from './outlier-detector.js';
import type { TokenBucket } from './rate-limit.js';

type Sources = {
  breakers: Map<string, CircuitBreaker>;
  detectors: Map<string, OutlierDetector>;
  buckets: Map<string, TokenBucket>;
};

const byRegistry = new WeakMap<Registry, ResilienceMetrics>();

export class ResilienceMetrics {
  private readonly s: Sources = { breakers: new Map(), detectors: new Map(), buckets: new Map() };

  /** The instance for `registry`, creating and registering the metrics on first use. */
  static for(registry: Registry): ResilienceMetrics {
    let m = byRegistry.get(registry);
    if (m === undefined) {
      m = new ResilienceMetrics(registry);
      byRegistry.set(registry, m);
    }
    return m;
  }

  private constructor(registry: Registry) {
    const s = this.s;
    const cluster = ['cluster_name'] as const;
    const counter = (name: string, help: string, read: (b: CircuitBreaker) => number) =>
      new Counter({
        name,
        help,
        labelNames: cluster,
        registers: [registry],
        collect() {
          this.reset();
          for (const [c, b] of s.breakers) this.inc({ cluster_name: c }, read(b));
        },
      });
    const gauge = (name: string, help: string, read: (b: CircuitBreaker) => number) =>
      new Gauge({
        name,
        help,
        labelNames: cluster,
        registers: [registry],
        collect() {
          this.reset();
          for (const [c, b] of s.breakers) this.set({ cluster_name: c }, read(b));
        },
      });
    counter('envoy_cluster_upstream_cx_overflow', 'Connections refused by the max_connections circuit breaker', (b) => b.cxOverflow);
    counter(
      'envoy_cluster_upstream_rq_pending_overflow',
      'Requests refused by the max_pending_requests or max_requests circuit breaker',
      (b) => b.rqPendingOverflow + b.rqOverflow,
    );
    counter('envoy_cluster_upstream_rq_retry_overflow', 'Retries not attempted: retry budget or max_retries full', (b) => b.rqRetryOverflow);
    counter('envoy_cluster_upstream_rq_retry', 'Retries started', (b) => b.rqRetry);
    counter('envoy_cluster_upstream_rq_retry_success', 'Requests that succeeded after a retry', (b) => b.rqRetrySuccess);
    counter('envoy_cluster_upstream_rq_retry_limit_exceeded', 'Requests still failing when num_retries was used up', (b) => b.rqRetryLimitExceeded);
    counter(
      'tsmesh_cluster_upstream_rq_unprocessed_retry',
      'Requests sent once more because the upstream never processed them (HTTP/2 REFUSED_STREAM or above a GOAWAY last-stream-id)',
      (b) => b.rqUnprocessedRetry,
    );
    // Envoy's meaning: *_open is 1 while that breaker is at its limit (admitting nothing more), 0 below
    // it; the counts are upstream_*_active, and the headroom remaining_* (Envoy's track_remaining).
    const t = (b: CircuitBreaker) => b.thresholds;
    gauge('envoy_cluster_circuit_breakers_default_cx_open', 'Whether the max_connections breaker is at its limit (1) or not (0)', (b) => +(b.connections >= t(b).maxConnections));
    gauge('envoy_cluster_circuit_breakers_default_rq_pending_open', 'Whether the max_pending_requests breaker is at its limit (1) or not (0)', (b) => +(b.pendingRequests >= t(b).maxPendingRequests));
    gauge('envoy_cluster_circuit_breakers_default_rq_open', 'Whether the max_requests breaker is at its limit (1) or not (0)', (b) => +(b.activeRequests >= t(b).maxRequests));
    gauge('envoy_cluster_circuit_breakers_default_rq_retry_open', 'Whether the retry breaker (max_retries or the retry budget) is at its limit (1) or not (0)', (b) => +(b.activeRetries >= b.retryLimit()));
    gauge('envoy_cluster_circuit_breakers_default_remaining_cx', 'Connections the max_connections breaker still admits', (b) => Math.max(0, t(b).maxConnections - b.connections));
    gauge('envoy_cluster_circuit_breakers_default_remaining_pending', 'Requests the max_pending_requests breaker still admits', (b) => Math.max(0, t(b).maxPendingRequests - b.pendingRequests));
    gauge('envoy_cluster_circuit_breakers_default_remaining_rq', 'Requests the max_requests breaker still admits', (b) => Math.max(0, t(b).maxRequests - b.activeRequests));
    gauge('envoy_cluster_circuit_breakers_default_remaining_retries', 'Retries the retry breaker still admits', (b) => Math.max(0, b.retryLimit() - b.activeRetries));
    gauge('envoy_cluster_upstream_cx_active', 'Upstream connections open (tracked by the circuit breaker)', (b) => b.connections);
    gauge('envoy_cluster_upstream_rq_pending_active', 'Requests waiting for an upstream connection', (b) => b.pendingRequests);
    gauge('envoy_cluster_upstream_rq_active', 'Upstream requests in flight', (b) => b.activeRequests);
    new Counter({
      name: 'envoy_cluster_outlier_detection_ejections_enforced_total',
      help: 'Hosts ejected by outlier detection',
      labelNames: ['cluster_name', 'reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [c, d] of s.detectors)
          for (const [reason, n] of Object.entries(d.ejectionsEnforced)) this.inc({ cluster_name: c, reason }, n);
      },
    });
    new Counter({
      name: 'envoy_cluster_outlier_detection_ejections_overflow',
      help: 'Ejections skipped because max_ejection_percent was reached',
      labelNames: cluster,
      registers: [registry],
      collect() {
        this.reset();
        for (const [c, d] of s.detectors) this.inc({ cluster_name: c }, d.ejectionsOverflow);
      },
    });
    new Gauge({
      name: 'envoy_cluster_outlier_detection_ejections_active',
      help: 'Hosts currently ejected',
      labelNames: cluster,
      registers: [registry],
      collect() {
        this.reset();
        for (const [c, d] of s.detectors) this.set({ cluster_name: c }, d.ejected);
      },
    });
    for (const [suffix, help, read] of [
      ['rate_limited', 'Requests refused by the local rate limit', (t: TokenBucket) => t.rateLimited],
      ['ok', 'Requests allowed by the local rate limit', (t: TokenBucket) => t.allowed],
    ] as const) {
      new Counter({
        name: `envoy_http_local_rate_limit_${suffix}`,
        help,
        labelNames: ['stat_prefix'],
        registers: [registry],
        collect() {
          this.reset();
          for (const [p, t] of s.buckets) this.inc({ stat_prefix: p }, read(t));
        },
      });
    }
  }

  addCircuitBreaker(b: CircuitBreaker): void {
    this.s.breakers.set(b.cluster, b);
  }
  addOutlierDetector(cluster: string, d: OutlierDetector): void {
    this.s.detectors.set(cluster, d);
  }
  addRateLimit(statPrefix: string, t: TokenBucket): void {
    this.s.buckets.set(statPrefix, t);
  }
  /** A cluster was removed: drop its series. */
  removeCluster(cluster: string): void {
    this.s.breakers.delete(cluster);
    this.s.detectors.delete(cluster);
  }
}
