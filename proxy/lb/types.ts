// The contract between the request path and load balancing. A cluster owns
// one HostSet (its endpoints with live state) and one LoadBalancer built for
// that set by createLoadBalancer (lb/index.ts). The request path calls
// pick() once per attempt and reports the outcome through HostState, which
// feeds latency-aware balancing, least-request and outlier detection.

import type { LbEndpoint } from '../config/resources.js';

/** Live state of one upstream endpoint, shared by LB, outlier detection and stats. */
export interface HostState {
  readonly endpoint: LbEndpoint;
  /** "ip:port", stable key for maps and logs. */
  readonly key: string;
  /** Requests currently in flight to this host. */
  activeRequests: number;
  /** True while ejected by outlier detection (or marked unhealthy by EDS). */
  ejected: boolean;
}

export interface PickContext {
  /** Consistent-hash key from the route's hash policy (ring hash / maglev). */
  hashKey?: string;
  /** Hosts already tried by earlier attempts of this request (retry on another host). */
  exclude?: ReadonlySet<HostState>;
}

export interface LoadBalancer {
  /** Choose a host, or undefined when the set has none to offer. Must be O(1)/O(log n): it runs per request. */
  pick(ctx: PickContext): HostState | undefined;
  /** Report a finished attempt: latency in ms (monotonic) and whether it failed (used by peak-EWMA). */
  onResult?(host: HostState, latencyMs: number, failed: boolean): void;
  /**
   * Host health changed (an `ejected` flag flipped, EDS health, or the healthy share crossed the
   * panic threshold): rebuild the eligible-host view. `panic` = balance over every host, ejected or
   * not (Envoy's healthy_panic_threshold). Optional; balancers also check `ejected` at pick time.
   */
  onHealthChanged?(panic: boolean): void;
}
