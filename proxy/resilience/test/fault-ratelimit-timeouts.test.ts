import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { seeded } from '../../lb/test/helpers.js';
import type { TimeoutKind } from '../errors.js';
import { FaultInjector, grpcStatusForHttp } from '../fault.js';
import { TokenBucket } from '../rate-limit.js';
import { RequestTimeouts } from '../timeouts.js';

describe('FaultInjector', () => {
  it('delays and aborts at the configured percentages, with flags DI and FI', () => {
    const f = new FaultInjector(
      { delay: { fixedDelay: 200, percent: 50 }, abort: { httpStatus: 503, percent: 10 }, headers: [] },
      seeded(1),
    );
    let delays = 0;
    let aborts = 0;
    for (let i = 0; i < 10_000; i++) {
      const d = f.decide({}, false);
      if (d?.delayMs) {
        delays++;
        expect(d.delayMs).toBe(200);
        expect(d.flags).toContain('DI');
      }
      if (d?.abortStatus) {
        aborts++;
        expect(d.abortStatus).toBe(503);
        expect(d.flags).toContain('FI');
      }
    }
    expect(delays / 10_000).toBeGreaterThan(0.47);
    expect(delays / 10_000).toBeLessThan(0.53);
    expect(aborts / 10_000).toBeGreaterThan(0.08);
    expect(aborts / 10_000).toBeLessThan(0.12);
  });

  it('faults only requests whose headers match', () => {
    const f = new FaultInjector({
      abort: { httpStatus: 418, percent: 100 },
      headers: [{ name: 'x-chaos', stringMatch: { exact: 'on' } }],
    });
    expect(f.decide({}, false)).toBeUndefined();
    expect(f.decide({ 'x-chaos': 'off' }, false)).toBeUndefined();
    expect(f.decide({ 'x-chaos': 'on' }, false)?.abortStatus).toBe(418);
  });

  it('answers gRPC requests with a gRPC status (configured, or mapped from the HTTP status)', () => {
    const g = new FaultInjector({ abort: { grpcStatus: 14, percent: 100 }, headers: [] }).decide({}, true)!;
    expect(g).toMatchObject({ abortStatus: 200, grpcStatus: 14 });
    const h = new FaultInjector({ abort: { httpStatus: 503, percent: 100 }, headers: [] }).decide({}, true)!;
    expect(h).toMatchObject({ abortStatus: 200, grpcStatus: 14 });
    expect(grpcStatusForHttp(404)).toBe(12);
    expect(grpcStatusForHttp(500)).toBe(2);
  });

  it('decides without allocating: the same decision object comes back', () => {
    const f = new FaultInjector({ delay: { fixedDelay: 5, percent: 100 }, headers: [] });
    expect(f.decide({}, false)).toBe(f.decide({}, false));
    expect(Object.isFrozen(f.decide({}, false))).toBe(true);
  });
});

describe('TokenBucket (local rate limit)', () => {
  it('starts full, refuses when empty, refills tokensPerFill per fillInterval up to maxTokens', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ maxTokens: 3, tokensPerFill: 2, fillInterval: 1_000 }, clock);
    expect([b.tryConsume(), b.tryConsume(), b.tryConsume(), b.tryConsume()]).toEqual([true, true, true, false]);
    clock.advance(999);
    expect(b.tryConsume()).toBe(false);
    clock.advance(1);
    expect([b.tryConsume(), b.tryConsume(), b.tryConsume()]).toEqual([true, true, false]);
    clock.advance(10_000);
    expect(b.available).toBe(3);
    expect(b.rateLimited).toBe(3);
    expect(b.allowed).toBe(5);
  });

  it('gives 429 with retry-after = seconds until the next fill and flag RL', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ maxTokens: 1, tokensPerFill: 1, fillInterval: 60_000 }, clock);
    b.tryConsume();
    clock.advance(14_500);
    expect(b.tryConsume()).toBe(false);
    expect(b.rejection()).toMatchObject({ status: 429, flag: 'RL', retryAfterSeconds: 46, code: 'MESH_RATE_LIMITED' });
    clock.advance(45_400);
    expect(b.retryAfterSeconds()).toBe(1);
  });

  it('rejects a bucket that can never hold a token', () => {
    expect(() => new TokenBucket({ maxTokens: 0, tokensPerFill: 1, fillInterval: 1 }, new ManualClock())).toThrow(RangeError);
  });
});

describe('RequestTimeouts', () => {
  function setup() {
    const clock = new ManualClock();
    const fired: TimeoutKind[] = [];
    const t = new RequestTimeouts(clock, (k) => fired.push(k));
    return { clock, fired, t };
  }

  it('fires the per-try timeout per attempt and the route timeout once; caps a try by the time left', () => {
    const { clock, fired, t } = setup();
    t.start(1_000);
    expect(t.startAttempt(300)).toBe(300);
    clock.advance(300);
    expect(fired).toEqual(['perTry']);
    clock.advance(500);
    expect(t.startAttempt(300)).toBe(200);
    clock.advance(200);
    // Both fall due together: the route timeout ends the request (and cancels the try timer).
    expect(fired).toEqual(['perTry', 'route']);
    expect(clock.pendingTimers()).toBe(0);
    expect(t.errorFor('route')).toMatchObject({ status: 504, grpcStatus: 4, flag: 'UT', timeoutMs: 1_000 });
  });

  it('reused for the next request: keeps its armed timers and still times out at the new deadline, never earlier', () => {
    const { clock, fired, t } = setup();
    t.start(1_000, 500);
    clock.advance(100);
    t.finish();
    expect(clock.pendingTimers()).toBe(2); // left armed for the next request, not cancelled and re-made
    clock.advance(100);
    t.start(1_000, 500); // deadline at 1200, idle window from 200
    expect(clock.pendingTimers()).toBe(2); // the armed ones fall due earlier: kept, no new timers
    clock.advance(600); // the idle timer set for the first request fires at 500, finds the window not over
    expect(fired).toEqual(['idle']); // 500 ms quiet since 200
    t.finish();
    t.start(1_000); // at 800: route deadline 1800, no idle timeout
    clock.advance(999);
    expect(fired).toEqual(['idle']);
    clock.advance(1);
    expect(fired).toEqual(['idle', 'route']);
    t.start(300); // a shorter route timeout than the armed timer's: re-armed earlier
    clock.advance(300);
    expect(fired).toEqual(['idle', 'route', 'route']);
    t.dispose();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('a per-try timer left armed by an ended attempt times the next attempt out at its own deadline, never earlier', () => {
    const { clock, fired, t } = setup();
    t.start(0);
    t.startAttempt(300); // timer at 300
    clock.advance(100);
    t.endAttempt(); // answered in time: the timer stays armed
    clock.advance(50);
    expect(t.startAttempt(300)).toBe(300); // deadline 450: the armed timer (300) is kept
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(299); // 449
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual(['perTry']);
    t.finish();
    clock.advance(1_000);
    expect(fired).toEqual(['perTry']);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('a finished request times out no more; its timers lapse', () => {
    const { clock, fired, t } = setup();
    t.start(1_000, 500);
    t.startAttempt(300, 100);
    clock.advance(50);
    t.endAttempt();
    t.finish();
    clock.advance(10_000);
    expect(fired).toEqual([]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('idle timeouts fire only after a quiet window; activity pushes them out without new timers per chunk', () => {
    const { clock, fired, t } = setup();
    t.start(0, 1_000);
    t.startAttempt(0, 400);
    for (let i = 0; i < 10; i++) {
      clock.advance(300);
      t.activity();
    }
    expect(fired).toEqual([]);
    expect(clock.pendingTimers()).toBe(2);
    clock.advance(400);
    expect(fired).toEqual(['perTryIdle']);
    clock.advance(600);
    expect(fired).toEqual(['perTryIdle', 'idle']);
    expect(t.remaining()).toBe(Infinity);
  });
});
