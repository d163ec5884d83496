import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import type { OutlierDetection } from '../../config/resources.js';
import { hosts } from '../../lb/test/helpers.js';
import { OUTLIER_DEFAULTS, OutlierDetector } from '../outlier-detector.js';
import { isPanic } from '../panic.js';

const cfg = (c: Partial<OutlierDetection> = {}): OutlierDetection => ({
  ...OUTLIER_DEFAULTS,
  consecutive5xx: 3,
  consecutiveGatewayFailure: 2,
  consecutiveLocalOriginFailure: 2,
  interval: 1_000,
  baseEjectionTime: 5_000,
  maxEjectionTime: 12_000,
  maxEjectionPercent: 50,
  enforcingConsecutiveGatewayFailure: 100,
  ...c,
});

function setup(c: Partial<OutlierDetection> = {}, n = 4) {
  const clock = new ManualClock();
  const hs = hosts(n);
  const panics: boolean[] = [];
  const od = new OutlierDetector({ hosts: hs, config: cfg(c), clock, healthyPanicThreshold: 50, onHealthChanged: (p) => panics.push(p) });
  return { clock, hs, od, panics };
}

describe('OutlierDetector', () => {
  it('ejects after consecutive 5xx; a success in between resets the count', () => {
    const { hs, od, panics } = setup();
    const h = hs[0]!;
    od.reportResponse(h, 500);
    od.reportResponse(h, 500);
    od.reportResponse(h, 200);
    od.reportResponse(h, 500);
    od.reportResponse(h, 500);
    expect(h.ejected).toBe(false);
    od.reportResponse(h, 500);
    expect(h.ejected).toBe(true);
    expect(od.ejectionsEnforced.consecutive5xx).toBe(1);
    expect(panics).toEqual([false]);
  });

  it('ejects after consecutive gateway failures, counting connect failures and timeouts as 503/504', () => {
    const { hs, od } = setup();
    od.reportLocalFailure(hs[1]!, 'connect-failure');
    od.reportResponse(hs[1]!, 504);
    expect(hs[1]!.ejected).toBe(true);
    expect(od.ejectionsEnforced.consecutiveGatewayFailure).toBe(1);
  });

  it('does not enforce gateway-failure ejection at Envoy’s default enforcing 0%', () => {
    const { hs, od } = setup({ enforcingConsecutiveGatewayFailure: 0, consecutive5xx: 100 });
    for (let i = 0; i < 10; i++) od.reportResponse(hs[0]!, 503);
    expect(hs[0]!.ejected).toBe(false);
  });

  it('with splitExternalLocalOriginErrors counts local failures separately', () => {
    const { hs, od } = setup({ splitExternalLocalOriginErrors: true });
    const h = hs[0]!;
    od.reportLocalFailure(h, 'connect-failure');
    od.reportLocalSuccess(h);
    od.reportLocalFailure(h, 'timeout');
    expect(h.ejected).toBe(false);
    od.reportLocalFailure(h, 'reset');
    expect(h.ejected).toBe(true);
    expect(od.ejectionsEnforced.consecutiveLocalOriginFailure).toBe(1);
    expect(od.hostStats(h)).toMatchObject({ timesEjected: 1 });
  });

  it('returns a host after baseEjectionTime × times ejected (capped at maxEjectionTime), checked every interval', () => {
    const { clock, hs, od } = setup();
    const h = hs[0]!;
    const eject = () => {
      for (let i = 0; i < 3; i++) od.reportResponse(h, 500);
      expect(h.ejected).toBe(true);
    };
    eject();
    clock.advance(4_999);
    expect(h.ejected).toBe(true);
    clock.advance(1_000);
    expect(h.ejected).toBe(false); // 5 s
    // Later ejections start between ticks: the host returns at the first tick after its time.
    eject();
    clock.advance(9_000);
    expect(h.ejected).toBe(true);
    clock.advance(1_001);
    expect(h.ejected).toBe(false); // 2 × 5 s, at the next tick
    eject();
    clock.advance(11_000);
    expect(h.ejected).toBe(true);
    clock.advance(1_000);
    expect(h.ejected).toBe(false); // 3 × 5 s capped at 12 s
    expect(od.ejected).toBe(0);
  });

  it('decays the ejection multiplier for each interval a host stays in', () => {
    const { clock, hs, od } = setup();
    const h = hs[0]!;
    for (let i = 0; i < 3; i++) od.reportResponse(h, 500);
    clock.advance(5_000); // back, multiplier 1
    clock.advance(1_000); // one healthy interval: multiplier 0
    for (let i = 0; i < 3; i++) od.reportResponse(h, 500);
    clock.advance(5_000);
    expect(h.ejected).toBe(false); // base × 1 again, not × 2
  });

  it('respects maxEjectionPercent, but one host may always be ejected when it is above 0', () => {
    const { hs, od } = setup({ maxEjectionPercent: 10 }, 4);
    for (const h of hs) for (let i = 0; i < 3; i++) od.reportResponse(h, 500);
    expect(hs.filter((h) => h.ejected)).toHaveLength(1);
    expect(od.ejectionsOverflow).toBe(3);
    const zero = setup({ maxEjectionPercent: 0 }, 4);
    for (let i = 0; i < 3; i++) zero.od.reportResponse(zero.hs[0]!, 500);
    expect(zero.hs[0]!.ejected).toBe(false);
  });

  it('keeps a host that EDS marks unhealthy out after its ejection ends', () => {
    const clock = new ManualClock();
    const hs = hosts(2);
    const od = new OutlierDetector({ hosts: hs, config: cfg(), clock });
    (hs[0]!.endpoint as { healthStatus: string }).healthStatus = 'UNHEALTHY';
    for (let i = 0; i < 3; i++) od.reportResponse(hs[0]!, 500);
    clock.advance(5_000);
    expect(od.ejected).toBe(0);
    expect(hs[0]!.ejected).toBe(true);
    od.close();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('never ejects more than max(1, maxEjectionPercent) of the hosts (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 100 }),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom(200, 500, 503, 0), fc.integer({ min: 0, max: 3000 })), { maxLength: 200 }),
        (n, pct, events) => {
          const { clock, hs, od } = setup({ maxEjectionPercent: pct }, n);
          for (const [i, status, dt] of events) {
            const h = hs[i % n]!;
            if (status === 0) od.reportLocalFailure(h, 'connect-failure');
            else od.reportResponse(h, status);
            clock.advance(dt);
            const ejected = hs.filter((x) => x.ejected).length;
            expect(ejected).toBe(od.ejected);
            if (pct === 0) expect(ejected).toBe(0);
            else expect(ejected).toBeLessThanOrEqual(Math.max(1, Math.floor((pct * n) / 100)));
          }
          od.close();
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('panic threshold', () => {
  it('is in panic when the healthy share is below the threshold; 0 disables it', () => {
    const hs = hosts(4);
    expect(isPanic(hs, 50)).toBe(false);
    hs[0]!.ejected = hs[1]!.ejected = true;
    expect(isPanic(hs, 50)).toBe(false); // exactly 50 % healthy
    hs[2]!.ejected = true;
    expect(isPanic(hs, 50)).toBe(true);
    expect(isPanic(hs, 0)).toBe(false);
    expect(isPanic([], 50)).toBe(false);
  });

  it('is reported to the balancer when ejections cross it', () => {
    const { hs, od, panics } = setup({ maxEjectionPercent: 100 }, 2);
    for (let i = 0; i < 3; i++) od.reportResponse(hs[0]!, 500);
    for (let i = 0; i < 3; i++) od.reportResponse(hs[1]!, 500);
    expect(panics).toEqual([false, true]);
  });
});
