// Everything per cluster in one object, built from a Cluster resource and its
// HostStates: the load balancer, the circuit breaker, the outlier detector
// (when configured) with panic-mode wiring, and metrics registration. The
// request path keeps one per cluster and rebuilds it on every config swap,
// passing the old one as `previous` (which hands its state over; do not
// close() it then — close() is for a cluster that is removed).
// endAttempt() is the single report per attempt.

import type { Clock } from '../../common/clock.js';
import type { Registry } from 'prom-client';
import type { ClusterStatus } from '../admin/types.js';
import type { Cluster } from '../config/resources.js';
import { createLoadBalancer, type BalancerOptions } from '../lb/index.js';
import { PeakEwmaBalancer } from '../lb/peak-ewma.js';
import type { HostState, LoadBalancer } from '../lb/types.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { ResilienceMetrics } from './metrics.js';
import { OutlierDetector, type LocalOriginFailure } from './outlier-detector.js';
import { httpStatusForGrpc } from './grpc-status.js';
import { isPanic } from './panic.js';

export interface ClusterResilienceOptions {
  clock: Clock;
  registry?: Registry;
  random?: () => number;
  peakEwma?: BalancerOptions['peakEwma'];
  /**
   * The instance this one replaces on a config change (same cluster name): its circuit breaker
   * is kept (with the new limits; in-flight requests release into it), outlier state and latency
   * estimates carry over by host key, and it is closed.
   */
  previous?: ClusterResilience;
  /** The breaker to use when there is no `previous` (the cluster manager's connection pools count into it). */
  breaker?: CircuitBreaker;
}

export class ClusterResilience {
  readonly lb: LoadBalancer;
  readonly breaker: CircuitBreaker;
  readonly outlier: OutlierDetector | undefined;
  private readonly metrics: ResilienceMetrics | undefined;

  constructor(
    readonly cluster: Cluster,
    readonly hosts: readonly HostState[],
    opts: ClusterResilienceOptions,
  ) {
    const random = opts.random ?? Math.random;
    this.lb = createLoadBalancer(cluster, hosts, { clock: opts.clock, random, peakEwma: opts.peakEwma });
    const prev = opts.previous;
    if (prev !== undefined) {
      this.breaker = prev.breaker;
      this.breaker.setThresholds(cluster.circuitBreakers);
      if (this.lb instanceof PeakEwmaBalancer && prev.lb instanceof PeakEwmaBalancer) this.lb.adopt(prev.lb);
    } else this.breaker = opts.breaker ?? new CircuitBreaker(cluster.name, cluster.circuitBreakers);
    const lb = this.lb;
    this.outlier = cluster.outlierDetection
      ? new OutlierDetector({
          hosts,
          config: cluster.outlierDetection,
          clock: opts.clock,
          healthyPanicThreshold: cluster.healthyPanicThreshold,
          onHealthChanged: (panic) => lb.onHealthChanged?.(panic),
          random,
        })
      : undefined;
    if (prev?.outlier !== undefined && this.outlier !== undefined) this.outlier.adopt(prev.outlier);
    prev?.outlier?.close();
    this.healthChanged();
    if (opts.registry) {
      this.metrics = ResilienceMetrics.for(opts.registry);
      this.metrics.addCircuitBreaker(this.breaker);
      if (this.outlier) this.metrics.addOutlierDetector(cluster.name, this.outlier);
    }
  }

  /** EDS changed host health (HostState.ejected set by the caller): recompute panic mode. */
  healthChanged(): void {
    this.lb.onHealthChanged?.(isPanic(this.hosts, this.cluster.healthyPanicThreshold));
  }

  /**
   * One attempt ended. `status` = response status when headers arrived, else 0 and the local
   * failure. For a gRPC response pass its grpc-status (trailers-only or trailers): as in Envoy's
   * router it is mapped to an HTTP status (UNAVAILABLE → 503, DEADLINE_EXCEEDED → 504, …) for
   * outlier detection. Feeds the balancer's latency estimate and the outlier detector.
   */
  endAttempt(host: HostState, latencyMs: number, status: number, failure?: LocalOriginFailure, grpcStatus?: number): void {
    if (grpcStatus !== undefined && failure === undefined) status = httpStatusForGrpc(grpcStatus);
    const failed = failure !== undefined || status >= 500;
    this.lb.onResult?.(host, latencyMs, failed);
    const od = this.outlier;
    if (od === undefined) return;
    if (failure !== undefined) od.reportLocalFailure(host, failure);
    else {
      od.reportLocalSuccess(host);
      od.reportResponse(host, status);
    }
  }

  /** Per-host stats for admin /clusters (EndpointStatus.stats). */
  hostStats(host: HostState): Record<string, number> {
    const s: Record<string, number> = { ...this.outlier?.hostStats(host) };
    if (this.lb instanceof PeakEwmaBalancer) {
      const e = this.lb.latencyEstimate(host);
      if (e !== undefined) s.ewmaLatencyMs = Math.round(e * 1000) / 1000;
    }
    return s;
  }

  /** This cluster for admin /clusters (replaces ClusterManager.status()'s per-cluster part). */
  status(): ClusterStatus {
    return {
      name: this.cluster.name,
      lbPolicy: this.cluster.lbPolicy,
      endpoints: this.hosts.map((h) => ({
        address: h.key,
        weight: h.endpoint.weight,
        healthStatus: h.endpoint.healthStatus,
        ejected: h.ejected,
        activeRequests: h.activeRequests,
        metadata: h.endpoint.metadata,
        stats: this.hostStats(h),
      })),
      circuitBreakers: this.breaker.statusFields(),
    };
  }

  close(): void {
    this.outlier?.close();
    this.metrics?.removeCluster(this.cluster.name);
  }
}
