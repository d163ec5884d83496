// Policy-level chaos simulation on virtual time: the resilience objects wired
// exactly as INTEGRATION.md describes, against simulated upstreams (the other
// side: each host answers after a latency, refuses connections, or hangs).
// Proves the composition — retries on other hosts, per-try timeouts, outlier
// ejection, PEAK_EWMA — keeps a client successful while one endpoint flaps,
// and that PEAK_EWMA sends less traffic to a slow endpoint than round robin.
// The socket-level end-to-end version belongs to the request path's tests.

import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import type { Cluster, LbPolicy } from '../../config/resources.js';
import { hosts, seeded } from '../../lb/test/helpers.js';
import type { HostState } from '../../lb/types.js';
import { CIRCUIT_BREAKER_DEFAULTS } from '../circuit-breaker.js';
import { ClusterResilience } from '../cluster-resilience.js';
import { OUTLIER_DEFAULTS } from '../outlier-detector.js';
import { compileRetryPolicy } from '../retry-policy.js';
import { RetryState } from '../retry-state.js';
import { RequestTimeouts } from '../timeouts.js';

/** What a host does with one attempt at time `now`: answer after ms, refuse, or hang. */
type Behaviour = (now: number, rnd: number) => { kind: 'ok'; ms: number } | { kind: 'refused' } | { kind: 'hang' };

function simulate(lbPolicy: LbPolicy, behaviours: Behaviour[], requests: number, gapMs: number) {
  const clock = new ManualClock(0);
  const random = seeded(42);
  const hs = hosts(behaviours.length);
  const cluster: Cluster = {
    name: 'backend',
    type: 'STATIC',
    connectTimeout: 1000,
    lbPolicy,
    circuitBreakers: { ...CIRCUIT_BREAKER_DEFAULTS, retryBudget: { budgetPercent: 20, minRetryConcurrency: 3 } },
    outlierDetection: { ...OUTLIER_DEFAULTS, consecutive5xx: 3, consecutiveGatewayFailure: 3, enforcingConsecutiveGatewayFailure: 100, interval: 1000, baseEjectionTime: 2000, maxEjectionPercent: 34 },
    healthyPanicThreshold: 50,
    upstreamProtocol: 'http1',
    idleTimeout: 60_000,
    metadata: {},
  };
  const cr = new ClusterResilience(cluster, hs, { clock, random });
  const policy = compileRetryPolicy({
    retryOn: ['5xx', 'connect-failure', 'reset'],
    numRetries: 3,
    perTryTimeout: 150,
    retriableStatusCodes: [],
    retryBackOff: { baseInterval: 25, maxInterval: 250 },
    retryOtherHosts: true,
    hostSelectionRetryMaxAttempts: 1,
  });
  const attemptsPerHost = new Map<HostState, number>();
  let ok = 0;
  let failed = 0;

  const startRequest = () => {
    if (!cr.breaker.tryAcquireRequest()) return void failed++;
    const rs = new RetryState(policy, cr.breaker, random);
    let current: { host: HostState; t0: number; done: boolean } | undefined;
    let finished = false;
    const end = (success: boolean) => {
      if (finished) return;
      finished = true;
      success ? ok++ : failed++;
      cr.breaker.releaseRequest();
      rs.finish();
      timeouts.finish();
    };
    const endAttempt = (status: number, failure?: 'connect-failure' | 'timeout') => {
      const a = current!;
      a.done = true;
      a.host.activeRequests--;
      timeouts.endAttempt();
      cr.endAttempt(a.host, clock.monotonic() - a.t0, status, failure);
    };
    const onFailure = (kind: 'connect-failure' | 'per-try-timeout') => {
      endAttempt(0, kind === 'connect-failure' ? 'connect-failure' : 'timeout');
      if (rs.onFailure(kind) === 'retry') rs.scheduleRetry(clock, attempt);
      else end(false);
    };
    const timeouts = new RequestTimeouts(clock, (kind) => {
      if (kind === 'perTry') onFailure('per-try-timeout');
      else {
        if (current && !current.done) endAttempt(0, 'timeout');
        end(false);
      }
    });
    const attempt = () => {
      if (finished) return;
      const host = cr.lb.pick({ exclude: rs.exclude });
      if (host === undefined) return end(false);
      rs.startAttempt(host);
      host.activeRequests++;
      attemptsPerHost.set(host, (attemptsPerHost.get(host) ?? 0) + 1);
      const a = { host, t0: clock.monotonic(), done: false };
      current = a;
      timeouts.startAttempt(policy.perTryTimeout);
      const b = behaviours[hs.indexOf(host)]!(clock.monotonic(), random());
      if (b.kind === 'refused') clock.setTimeout(() => !a.done && !finished && onFailure('connect-failure'), 1);
      else if (b.kind === 'ok')
        clock.setTimeout(() => {
          if (a.done || finished) return;
          endAttempt(200);
          rs.onResponse(200);
          end(true);
        }, b.ms);
    };
    timeouts.start(2000);
    attempt();
  };

  for (let i = 0; i < requests; i++) clock.setTimeout(startRequest, i * gapMs);
  clock.advance(requests * gapMs + 10_000);
  cr.close();
  const share = (i: number) => (attemptsPerHost.get(hs[i]!) ?? 0) / [...attemptsPerHost.values()].reduce((a, b) => a + b, 0);
  return { ok, failed, share, breaker: cr.breaker };
}

const fast = (base: number): Behaviour => (_now, r) => ({ kind: 'ok', ms: base + Math.floor(r * 10) });
// Alternates every 1.5 s between refusing connections and answering slowly (or hanging).
const flapping: Behaviour = (now, r) => {
  const phase = Math.floor(now / 1500) % 3;
  if (phase === 0) return { kind: 'refused' };
  if (phase === 1) return { kind: 'ok', ms: 400 + Math.floor(r * 100) };
  return { kind: 'hang' };
};

describe('chaos simulation (virtual time)', () => {
  it('default policy: ≥ 99.9 % success over 5,000 requests with one of 3 endpoints flapping', () => {
    const r = simulate('PEAK_EWMA', [fast(5), fast(8), flapping], 5000, 4);
    expect(r.ok + r.failed).toBe(5000);
    expect(r.ok / 5000).toBeGreaterThanOrEqual(0.999);
    expect(r.breaker.activeRequests).toBe(0);
    expect(r.breaker.activeRetries).toBe(0);
    // The same retry policy over round robin keeps sending first attempts to the bad endpoint.
    const rr = simulate('ROUND_ROBIN', [fast(5), fast(8), flapping], 5000, 4);
    expect(rr.failed).toBeGreaterThan(r.failed);
  });

  it('PEAK_EWMA sends measurably less traffic to a slow endpoint than ROUND_ROBIN', () => {
    const slow: Behaviour = (_now, r) => ({ kind: 'ok', ms: 80 + Math.floor(r * 20) });
    const ewma = simulate('PEAK_EWMA', [fast(5), fast(5), slow], 3000, 4);
    const rr = simulate('ROUND_ROBIN', [fast(5), fast(5), slow], 3000, 4);
    expect(ewma.ok).toBe(3000);
    expect(rr.ok).toBe(3000);
    expect(rr.share(2)).toBeGreaterThan(0.3);
    expect(ewma.share(2)).toBeLessThan(rr.share(2) / 3);
  });
});
