import fc from 'fast-check';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../circuit-breaker.js';
import { CircuitBreakerOverflowError } from '../errors.js';
import { ResilienceMetrics } from '../metrics.js';

const limits = { maxConnections: 2, maxPendingRequests: 1, maxRequests: 3, maxRetries: 1 };

describe('CircuitBreaker', () => {
  it('uses Envoy defaults 1024/1024/1024/3', () => {
    const cb = new CircuitBreaker('c');
    expect(cb.statusFields()).toMatchObject({ maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });
  });

  it('refuses each resource at its limit, counts the overflow, and frees on release', () => {
    const cb = new CircuitBreaker('reviews', limits);
    expect([cb.tryAcquireRequest(), cb.tryAcquireRequest(), cb.tryAcquireRequest(), cb.tryAcquireRequest()]).toEqual([true, true, true, false]);
    expect(cb.rqOverflow).toBe(1);
    cb.releaseRequest();
    expect(cb.tryAcquireRequest()).toBe(true);
    expect([cb.tryAcquirePending(), cb.tryAcquirePending()]).toEqual([true, false]);
    expect([cb.tryAcquireConnection(), cb.tryAcquireConnection(), cb.tryAcquireConnection()]).toEqual([true, true, false]);
    expect(cb.stats()).toMatchObject({ connections: 2, pendingRequests: 1, activeRequests: 3, cxOverflow: 1, rqPendingOverflow: 2 });
    cb.releaseConnection();
    cb.releaseConnection();
    cb.releaseConnection(); // extra release never goes negative
    expect(cb.connections).toBe(0);
  });

  it('maps overflow to a typed 503 with flag UO', () => {
    const e = new CircuitBreaker('reviews', limits).overflowError('pendingRequests');
    expect(e).toBeInstanceOf(CircuitBreakerOverflowError);
    expect(e).toMatchObject({ code: 'MESH_UPSTREAM_OVERFLOW', status: 503, flag: 'UO', resource: 'pendingRequests', limit: 1 });
    expect(e.message).toContain('reviews');
  });

  it('with a retry budget allows budgetPercent of active+pending requests, at least minRetryConcurrency', () => {
    const cb = new CircuitBreaker('c', { ...limits, maxRequests: 1000, maxRetries: 0, retryBudget: { budgetPercent: 20, minRetryConcurrency: 3 } });
    expect(cb.retryLimit()).toBe(3);
    for (let i = 0; i < 100; i++) cb.tryAcquireRequest();
    expect(cb.retryLimit()).toBe(20);
    let granted = 0;
    while (cb.tryAcquireRetry()) granted++;
    expect(granted).toBe(20);
    expect(cb.rqRetryOverflow).toBe(1);
  });

  it('never lets active retries exceed the budget at the moment they are granted (property)', () => {
    type Op = 'req' | 'endReq' | 'retry' | 'endRetry' | 'pend' | 'endPend';
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 10 }),
        fc.array(fc.constantFrom<Op>('req', 'endReq', 'retry', 'endRetry', 'pend', 'endPend'), { maxLength: 300 }),
        (pct, min, ops) => {
          const cb = new CircuitBreaker('c', { maxConnections: 1e6, maxPendingRequests: 50, maxRequests: 100, maxRetries: 0, retryBudget: { budgetPercent: pct, minRetryConcurrency: min } });
          for (const op of ops) {
            if (op === 'req') cb.tryAcquireRequest();
            else if (op === 'endReq') cb.releaseRequest();
            else if (op === 'pend') cb.tryAcquirePending();
            else if (op === 'endPend') cb.releasePending();
            else if (op === 'endRetry') cb.releaseRetry();
            else if (cb.tryAcquireRetry()) {
              const budget = Math.max(min, Math.floor(((cb.activeRequests + cb.pendingRequests) * pct) / 100));
              expect(cb.activeRetries).toBeLessThanOrEqual(budget);
            }
            expect(cb.activeRequests).toBeLessThanOrEqual(100);
            expect(cb.pendingRequests).toBeLessThanOrEqual(50);
            expect(cb.activeRetries).toBeGreaterThanOrEqual(0);
          }
        },
      ),
    );
  });
});

describe('resilience metrics', () => {
  it('exposes overflow counters, breaker-open flags, remaining headroom and active counts under Envoy names', async () => {
    const registry = new Registry();
    const cb = new CircuitBreaker('reviews', limits);
    ResilienceMetrics.for(registry).addCircuitBreaker(cb);
    expect(ResilienceMetrics.for(registry)).toBe(ResilienceMetrics.for(registry));
    cb.tryAcquirePending();
    cb.tryAcquirePending();
    for (let i = 0; i < 4; i++) cb.tryAcquireRequest();
    const text = await registry.metrics();
    expect(text).toContain('envoy_cluster_upstream_rq_pending_overflow{cluster_name="reviews"} 2');
    // Counts under upstream_*_active; *_open is Envoy's flag: 1 while that breaker admits nothing more.
    expect(text).toContain('envoy_cluster_upstream_rq_active{cluster_name="reviews"} 3');
    expect(text).toContain('envoy_cluster_upstream_rq_pending_active{cluster_name="reviews"} 1');
    expect(text).toContain('envoy_cluster_circuit_breakers_default_rq_open{cluster_name="reviews"} 1');
    expect(text).toContain('envoy_cluster_circuit_breakers_default_rq_pending_open{cluster_name="reviews"} 1');
    expect(text).toContain('envoy_cluster_circuit_breakers_default_remaining_rq{cluster_name="reviews"} 0');
    expect(text).toContain('envoy_cluster_circuit_breakers_default_cx_open{cluster_name="reviews"} 0');
    expect(text).toContain('envoy_cluster_circuit_breakers_default_remaining_cx{cluster_name="reviews"} 2');
    cb.releaseRequest();
    const after = await registry.metrics();
    expect(after).toContain('envoy_cluster_circuit_breakers_default_rq_open{cluster_name="reviews"} 0');
    expect(after).toContain('envoy_cluster_circuit_breakers_default_remaining_rq{cluster_name="reviews"} 1');
    ResilienceMetrics.for(registry).removeCluster('reviews');
    expect(await registry.metrics()).not.toContain('cluster_name="reviews"');
  });
});
