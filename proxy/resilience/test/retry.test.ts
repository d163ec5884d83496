import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { ValidationError } from '../../../common/errors.js';
import type { RetryPolicy } from '../../config/resources.js';
import { host } from '../../lb/test/helpers.js';
import { CircuitBreaker } from '../circuit-breaker.js';
import { compileRetryPolicy, parseRetryOn, RETRY_ON, validateRetryPolicy } from '../retry-policy.js';
import { grpcStatusOf, RetryState } from '../retry-state.js';

function policy(p: Partial<RetryPolicy> = {}): RetryPolicy {
  return {
    retryOn: ['5xx'],
    numRetries: 2,
    retriableStatusCodes: [],
    retryBackOff: { baseInterval: 25, maxInterval: 250 },
    retryOtherHosts: true,
    hostSelectionRetryMaxAttempts: 1,
    ...p,
  };
}
const state = (p: Partial<RetryPolicy> = {}, breaker?: CircuitBreaker, random = () => 0.5) =>
  new RetryState(compileRetryPolicy(policy(p)), breaker, random);

describe('retry_on parsing', () => {
  it('accepts every Envoy condition, also comma-separated with spaces', () => {
    const { mask, issues } = parseRetryOn(['5xx, gateway-error,reset', 'connect-failure', 'unavailable,cancelled']);
    expect(issues).toEqual([]);
    expect(mask).toBe(
      RETRY_ON['5xx'] | RETRY_ON['gateway-error'] | RETRY_ON.reset | RETRY_ON['connect-failure'] | RETRY_ON.unavailable | RETRY_ON.cancelled,
    );
  });

  it('reports unknown conditions with their field path and the accepted names', () => {
    const { issues } = parseRetryOn(['5xx', '5xx,bogus'], 'routes[0].route.retryPolicy.retryOn');
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('routes[0].route.retryPolicy.retryOn[1]');
    expect(issues[0]!.message).toMatch(/unknown retry condition "bogus".*gateway-error/);
  });

  it('validates the whole policy and rejects it at compile time with every problem', () => {
    const bad = policy({ retryOn: ['nope'], numRetries: -1, retriableStatusCodes: [99], retryBackOff: { baseInterval: 0, maxInterval: -1 } });
    const issues = validateRetryPolicy(bad);
    expect(issues.map((i) => i.path)).toEqual([
      'retryPolicy.retryOn[0]',
      'retryPolicy.numRetries',
      'retryPolicy.retriableStatusCodes[0]',
      'retryPolicy.retryBackOff.baseInterval',
      'retryPolicy.retryBackOff.maxInterval',
    ]);
    expect(() => compileRetryPolicy(bad)).toThrow(ValidationError);
  });

  it('never throws on arbitrary input and only accepts known names (property)', () => {
    const known = Object.keys(RETRY_ON);
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 40 }), { maxLength: 10 }), (entries) => {
        const { mask, issues } = parseRetryOn(entries);
        const allKnown = entries.every((e) => e.split(',').every((x) => known.includes(x.trim())));
        expect(issues.length === 0).toBe(allKnown);
        if (allKnown && entries.length > 0) expect(mask).not.toBe(0);
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...known), { minLength: 1, maxLength: 12 }), (names) => {
        const { mask, issues } = parseRetryOn([names.join(',')]);
        expect(issues).toEqual([]);
        for (const n of names) expect(mask & RETRY_ON[n as keyof typeof RETRY_ON]).not.toBe(0);
      }),
    );
  });
});

describe('RetryState decisions', () => {
  it('retries a 503 twice then stops with "limit"; counts attempts for x-envoy-attempt-count', () => {
    const s = state();
    expect(s.startAttempt()).toBe(1);
    expect(s.onResponse(503)).toBe('retry');
    expect(s.startAttempt()).toBe(2);
    expect(s.onResponse(503)).toBe('retry');
    expect(s.startAttempt()).toBe(3);
    expect(s.onResponse(503)).toBe('limit');
  });

  it('does not retry successes, 4xx, or conditions the policy does not name', () => {
    const s = state({ retryOn: ['gateway-error'] });
    s.startAttempt();
    expect(s.onResponse(200)).toBe('no-retry');
    expect(s.onResponse(404)).toBe('no-retry');
    expect(s.onResponse(500)).toBe('no-retry');
    expect(s.onResponse(502)).toBe('retry');
  });

  it('retriable-4xx retries 409, retriable-status-codes the listed codes', () => {
    const s = state({ retryOn: ['retriable-4xx', 'retriable-status-codes'], retriableStatusCodes: [418], numRetries: 5 });
    s.startAttempt();
    expect(s.onResponse(409)).toBe('retry');
    expect(s.onResponse(418)).toBe('retry');
    expect(s.onResponse(429)).toBe('no-retry');
  });

  it('retries gRPC statuses named in retry_on (from trailers-only headers)', () => {
    const s = state({ retryOn: ['unavailable', 'resource-exhausted'], numRetries: 5 });
    s.startAttempt();
    expect(s.onResponse(200, 14)).toBe('retry');
    expect(s.onResponse(200, 8)).toBe('retry');
    expect(s.onResponse(200, 4)).toBe('no-retry');
    expect(s.onResponse(200, 0)).toBe('no-retry');
  });

  it('classifies failures without a response as Envoy does', () => {
    const on = (retryOn: string[], f: Parameters<RetryState['onFailure']>[0]) => {
      const s = state({ retryOn });
      s.startAttempt();
      return s.onFailure(f);
    };
    expect(on(['connect-failure'], 'connect-failure')).toBe('retry');
    expect(on(['connect-failure'], 'reset')).toBe('no-retry');
    expect(on(['reset'], 'reset')).toBe('retry');
    expect(on(['reset'], 'connect-failure')).toBe('retry');
    expect(on(['refused-stream'], 'refused-stream')).toBe('retry');
    expect(on(['refused-stream'], 'reset')).toBe('no-retry');
    expect(on(['5xx'], 'reset')).toBe('retry');
    expect(on(['gateway-error'], 'per-try-timeout')).toBe('retry');
    expect(on(['retriable-status-codes'], 'per-try-timeout')).toBe('no-retry');
    expect(on(['unavailable'], 'per-try-timeout')).toBe('no-retry');
  });

  it('never retries once the response started, or a body that was not buffered', () => {
    const a = state({ retryOn: ['5xx', 'reset'] });
    a.startAttempt();
    expect(a.onFailure('reset-after-response')).toBe('no-retry');
    a.commit();
    expect(a.onFailure('reset')).toBe('not-replayable');
    const b = state({ retryOn: ['5xx'] });
    b.startAttempt();
    expect(b.addBodyBytes(60 * 1024)).toBe(true);
    expect(b.addBodyBytes(8 * 1024)).toBe(false);
    expect(b.onResponse(503)).toBe('not-replayable');
  });

  it('collects tried hosts so the next pick can exclude them (retryOtherHosts)', () => {
    const s = state();
    const h1 = host(1);
    const h2 = host(2);
    expect(s.exclude).toBeUndefined();
    s.startAttempt(h1);
    expect(s.exclude?.has(h1)).toBe(true);
    s.startAttempt(h2);
    expect([...s.exclude!]).toEqual([h1, h2]);
    expect(state({ retryOtherHosts: false }).exclude).toBeUndefined();
  });
});

describe('backoff', () => {
  it('is fully jittered in [0, (2^n − 1) × base) and capped at maxInterval', () => {
    const max = (n: number) => {
      const s = state({ numRetries: 10 }, undefined, () => 0.999999);
      for (let i = 0; i < n; i++) s.startAttempt();
      return s.backoffMs();
    };
    expect(max(1)).toBe(24);
    expect(max(2)).toBe(74);
    expect(max(3)).toBe(174);
    expect(max(4)).toBe(249); // capped at 250
    const zero = state({}, undefined, () => 0);
    zero.startAttempt();
    expect(zero.backoffMs()).toBe(0);
  });

  it('schedules the retry on the clock', () => {
    const clock = new ManualClock();
    const s = state({}, undefined, () => 0.5);
    s.startAttempt();
    let fired = 0;
    s.scheduleRetry(clock, () => fired++);
    clock.advance(11);
    expect(fired).toBe(0);
    clock.advance(1);
    expect(fired).toBe(1);
  });
});

describe('retries and the circuit breaker', () => {
  it('holds a retry slot until the retried attempt ends; overflow when max_retries is full', () => {
    const cb = new CircuitBreaker('c', { maxConnections: 10, maxPendingRequests: 10, maxRequests: 10, maxRetries: 1 });
    const a = state({}, cb);
    const b = state({}, cb);
    a.startAttempt();
    b.startAttempt();
    expect(a.onResponse(503)).toBe('retry');
    expect(cb.activeRetries).toBe(1);
    expect(b.onResponse(503)).toBe('overflow');
    expect(cb.rqRetryOverflow).toBe(1);
    a.startAttempt();
    expect(a.onResponse(200)).toBe('no-retry');
    expect(cb.activeRetries).toBe(0);
    a.finish();
    expect(cb.activeRetries).toBe(0);
  });

  it('finish() gives the slot back when a request is abandoned during backoff', () => {
    const cb = new CircuitBreaker('c');
    const s = state({}, cb);
    s.startAttempt();
    expect(s.onResponse(503)).toBe('retry');
    expect(cb.activeRetries).toBe(1);
    s.finish();
    s.finish();
    expect(cb.activeRetries).toBe(0);
  });
});

describe('grpcStatusOf', () => {
  it('reads grpc-status from headers of a trailers-only response, refusing junk', () => {
    expect(grpcStatusOf({ 'grpc-status': '14' })).toBe(14);
    expect(grpcStatusOf({ 'grpc-status': '0' })).toBe(0);
    expect(grpcStatusOf({ 'grpc-status': ['4'] })).toBe(4);
    expect(grpcStatusOf({})).toBeUndefined();
    for (const junk of ['', '17', '01', 'x', '-1', '999', ' 4']) expect(grpcStatusOf({ 'grpc-status': junk })).toBeUndefined();
  });

  it('agrees with Number() for every short input (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 3 }), (s) => {
        const want = /^(0|[1-9]\d?)$/.test(s) && Number(s) <= 16 ? Number(s) : undefined;
        expect(grpcStatusOf({ 'grpc-status': s })).toBe(want);
      }),
    );
  });
});

describe('retry stats', () => {
  it('counts retries, success after a retry and retries exhausted on the cluster', () => {
    const cb = new CircuitBreaker('c');
    const ok = state({}, cb);
    ok.startAttempt();
    ok.onResponse(503);
    ok.startAttempt();
    ok.onResponse(200);
    const bad = state({ numRetries: 1 }, cb);
    bad.startAttempt();
    bad.onResponse(503);
    bad.startAttempt();
    bad.onResponse(503);
    expect(cb.stats()).toMatchObject({ rqRetry: 2, rqRetrySuccess: 1, rqRetryLimitExceeded: 1 });
  });
});
