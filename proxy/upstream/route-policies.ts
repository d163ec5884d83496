// The resilience policies of one compiled route (retry, fault, local rate
// limit, stream idle timeout), built once per route table and looked up per
// request with one WeakMap read. A route table is rebuilt on every config
// swap, so each route's token bucket starts full again after a change.

import type { Registry } from 'prom-client';
import type { Clock } from '../../common/clock.js';
import type { CompiledRoute } from '../router/route-table.js';
import { FaultInjector } from '../resilience/fault.js';
import { ResilienceMetrics } from '../resilience/metrics.js';
import { TokenBucket } from '../resilience/rate-limit.js';
import { compileRetryPolicy, type CompiledRetryPolicy } from '../resilience/retry-policy.js';

export interface RoutePolicies {
  readonly retry: CompiledRetryPolicy | undefined;
  readonly fault: FaultInjector | undefined;
  readonly bucket: TokenBucket | undefined;
  /** RouteAction.idleTimeout (ms, 0 = none). */
  readonly idleTimeout: number;
  /** True when the request needs a RequestTimeouts (route, idle or per-try timeout set). */
  readonly timed: boolean;
}

const cache = new WeakMap<CompiledRoute, RoutePolicies>();

export function routePolicies(route: CompiledRoute, clock: Clock, registry: Registry | undefined, maxBufferBytes: number | undefined): RoutePolicies {
  let p = cache.get(route);
  if (p === undefined) {
    p = compile(route, clock, registry, maxBufferBytes);
    cache.set(route, p);
  }
  return p;
}

function compile(route: CompiledRoute, clock: Clock, registry: Registry | undefined, maxBufferBytes: number | undefined): RoutePolicies {
  const src = route.source;
  // Config readers validate retry policies (validateRetryPolicy), so compiling cannot fail here.
  const retry = route.retryPolicy ? compileRetryPolicy(route.retryPolicy, maxBufferBytes !== undefined ? { maxBufferBytes } : {}) : undefined;
  const fault = src.fault && (src.fault.delay || src.fault.abort) ? new FaultInjector(src.fault) : undefined;
  let bucket: TokenBucket | undefined;
  if (src.rateLimit) {
    bucket = new TokenBucket(src.rateLimit.tokenBucket, clock);
    if (registry) ResilienceMetrics.for(registry).addRateLimit(src.rateLimit.statPrefix, bucket);
  }
  const idleTimeout = src.route?.idleTimeout ?? 0;
  const timed = route.timeout > 0 || idleTimeout > 0 || (retry !== undefined && (retry.perTryTimeout > 0 || retry.perTryIdleTimeout > 0));
  return { retry, fault, bucket, idleTimeout, timed };
}
