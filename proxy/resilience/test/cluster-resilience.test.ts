import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import type { Cluster } from '../../config/resources.js';
import { hosts, seeded } from '../../lb/test/helpers.js';
import { CIRCUIT_BREAKER_DEFAULTS } from '../circuit-breaker.js';
import { ClusterResilience } from '../cluster-resilience.js';
import { OUTLIER_DEFAULTS } from '../outlier-detector.js';

const cluster = (c: Partial<Cluster> = {}): Cluster => ({
  name: 'reviews',
  type: 'STATIC',
  connectTimeout: 5_000,
  lbPolicy: 'PEAK_EWMA',
  circuitBreakers: CIRCUIT_BREAKER_DEFAULTS,
  outlierDetection: { ...OUTLIER_DEFAULTS, consecutive5xx: 2, maxEjectionPercent: 100, interval: 1_000, baseEjectionTime: 3_000 },
  healthyPanicThreshold: 50,
  upstreamProtocol: 'http1',
  idleTimeout: 3_600_000,
  metadata: {},
  ...c,
});

describe('ClusterResilience', () => {
  it('an endpoint that keeps failing is ejected, traffic moves away, and it comes back after the ejection time', async () => {
    const clock = new ManualClock();
    const registry = new Registry();
    const hs = hosts(3);
    const cr = new ClusterResilience(cluster(), hs, { clock, registry, random: seeded(3) });
    const bad = hs[0]!;
    cr.endAttempt(bad, 2, 0, 'connect-failure');
    cr.endAttempt(bad, 2, 0, 'connect-failure');
    cr.endAttempt(bad, 2, 0, 'connect-failure');
    cr.endAttempt(bad, 2, 0, 'connect-failure');
    cr.endAttempt(bad, 2, 500);
    cr.endAttempt(bad, 2, 500);
    expect(bad.ejected).toBe(true);
    for (let i = 0; i < 300; i++) expect(cr.lb.pick({})).not.toBe(bad);
    expect(await registry.metrics()).toMatch(/envoy_cluster_outlier_detection_ejections_active\{cluster_name="reviews"\} 1/);
    expect(cr.hostStats(bad)).toMatchObject({ timesEjected: 1 });
    expect(cr.hostStats(bad).ewmaLatencyMs).toBeGreaterThan(500);
    const st = cr.status();
    expect(st.endpoints[0]).toMatchObject({ address: bad.key, ejected: true, stats: { timesEjected: 1 } });
    expect(st.circuitBreakers).toMatchObject({ maxRequests: 1024, rqOpen: 0 });
    clock.advance(3_000);
    expect(bad.ejected).toBe(false);
    cr.close();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('when too many endpoints are ejected, panic mode spreads load over all of them', () => {
    const clock = new ManualClock();
    const hs = hosts(2);
    const cr = new ClusterResilience(cluster({ lbPolicy: 'ROUND_ROBIN' }), hs, { clock });
    for (let i = 0; i < 2; i++) cr.endAttempt(hs[0]!, 1, 503);
    expect(new Set(Array.from({ length: 10 }, () => cr.lb.pick({})))).toEqual(new Set([hs[1]]));
    for (let i = 0; i < 2; i++) cr.endAttempt(hs[1]!, 1, 503);
    expect(new Set(Array.from({ length: 10 }, () => cr.lb.pick({})))).toEqual(new Set(hs));
    cr.close();
  });

  it('a config swap with fresh HostState objects keeps ejections, latency estimates and in-flight counts', () => {
    const clock = new ManualClock();
    const registry = new Registry();
    const first = new ClusterResilience(cluster(), hosts(3), { clock, registry, random: seeded(1) });
    first.breaker.tryAcquireRequest();
    for (let i = 0; i < 2; i++) first.endAttempt(first.hosts[0]!, 800, 500);
    expect(first.hosts[0]!.ejected).toBe(true);
    const next = new ClusterResilience(
      cluster({ circuitBreakers: { ...CIRCUIT_BREAKER_DEFAULTS, maxRequests: 1 } }),
      hosts(3), // rebuilt HostStates, as the cluster manager does on a swap
      { clock, registry, previous: first, random: seeded(2) },
    );
    expect(next.hosts[0]!.ejected).toBe(true);
    expect(next.outlier!.ejected).toBe(1);
    expect(next.hostStats(next.hosts[0]!).ewmaLatencyMs).toBeGreaterThan(500);
    expect(next.breaker.tryAcquireRequest()).toBe(false); // the in-flight request still counts against the new limit
    expect(clock.pendingTimers()).toBe(1); // the old detector's interval timer was stopped
    clock.advance(3_000);
    expect(next.hosts[0]!.ejected).toBe(false);
    next.close();
  });

  it('counts gRPC UNAVAILABLE answers (HTTP 200 + grpc-status 14) as 503 for outlier detection', () => {
    const clock = new ManualClock();
    const hs = hosts(3);
    const cr = new ClusterResilience(cluster({ outlierDetection: { ...OUTLIER_DEFAULTS, consecutive5xx: 2, consecutiveGatewayFailure: 2, enforcingConsecutiveGatewayFailure: 100, maxEjectionPercent: 100 } }), hs, { clock });
    cr.endAttempt(hs[0]!, 1, 200, undefined, 0);
    cr.endAttempt(hs[0]!, 1, 200, undefined, 14);
    expect(hs[0]!.ejected).toBe(false);
    cr.endAttempt(hs[0]!, 1, 200, undefined, 14);
    expect(hs[0]!.ejected).toBe(true);
    expect(cr.outlier!.ejectionsEnforced.consecutiveGatewayFailure).toBe(1);
    cr.close();
  });

  it('an outlier interval of 0 from a bad config does not spin', () => {
    const clock = new ManualClock();
    const cr = new ClusterResilience(cluster({ outlierDetection: { ...OUTLIER_DEFAULTS, interval: 0 } }), hosts(2), { clock });
    clock.advance(1_000); // would never return with a 0 ms self-rescheduling timer
    expect(clock.pendingTimers()).toBe(1);
    cr.close();
  });
});
