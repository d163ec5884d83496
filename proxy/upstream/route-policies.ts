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
import { compileRetryPolicy, parseRetryOn, type CompiledRetryPolicy } from '../resilience/retry-policy.js';
import type { RetryPolicy } from '../config/resources.js';

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
  const retry = route.retryPolicy ? compileRetry(route.retryPolicy, maxBufferBytes) : undefined;
  const fault = src.fault && (src.fault.delay || src.fault.abort) ? new FaultInjector(src.fault) : undefined;
  let bucket: TokenBucket | undefined;
  if (src.rateLimit) {
    try {
      bucket = new TokenBucket(src.rateLimit.tokenBucket, clock);
      if (registry) ResilienceMetrics.for(registry).addRateLimit(src.rateLimit.statPrefix, bucket);
    } catch {
      bucket = undefined; // an out-of-range bucket never reaches here from the bootstrap reader; never fail a request over it
    }
  }
  const idleTimeout = src.route?.idleTimeout ?? 0;
  const timed = route.timeout > 0 || idleTimeout > 0 || (retry !== undefined && (retry.perTryTimeout > 0 || retry.perTryIdleTimeout > 0));
  return { retry, fault, bucket, idleTimeout, timed };
}

/**
 * The bootstrap reader rejects bad retry policies at load; an xDS push is decoded without that
 * check, so here unknown retry_on names are dropped (Envoy ignores them too) instead of failing
 * requests.
 */
function compileRetry(p: RetryPolicy, maxBufferBytes: number | undefined): CompiledRetryPolicy | undefined {
  const opts = maxBufferBytes !== undefined ? { maxBufferBytes } : {};
  try {
    return compileRetryPolicy(p, opts);
  } catch {
    const known = p.retryOn
      .flatMap((e) => e.split(','))
      .map((n) => n.trim())
      .filter((n) => n.length > 0 && parseRetryOn([n]).issues.length === 0);
    try {
      return compileRetryPolicy({ ...p, retryOn: known }, opts);
    } catch {
      return undefined;
    }
  }
}
