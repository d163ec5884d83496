import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { createLoadBalancer } from '../index.js';
import { LeastRequestBalancer } from '../least-request.js';
import { MaglevBalancer } from '../maglev.js';
import { PeakEwmaBalancer } from '../peak-ewma.js';
import { RandomBalancer } from '../random.js';
import { RingHashBalancer } from '../ring-hash.js';
import { RoundRobinBalancer } from '../round-robin.js';
import { countPicks, host, hosts, seeded } from './helpers.js';

describe('createLoadBalancer', () => {
  it('builds the balancer each lbPolicy names, PEAK_EWMA when none is named', () => {
    const hs = hosts(3);
    expect(createLoadBalancer({}, hs)).toBeInstanceOf(PeakEwmaBalancer);
    expect(createLoadBalancer({ lbPolicy: 'PEAK_EWMA' }, hs)).toBeInstanceOf(PeakEwmaBalancer);
    expect(createLoadBalancer({ lbPolicy: 'ROUND_ROBIN' }, hs)).toBeInstanceOf(RoundRobinBalancer);
    expect(createLoadBalancer({ lbPolicy: 'RANDOM' }, hs)).toBeInstanceOf(RandomBalancer);
    expect(createLoadBalancer({ lbPolicy: 'LEAST_REQUEST' }, hs)).toBeInstanceOf(LeastRequestBalancer);
    expect(createLoadBalancer({ lbPolicy: 'RING_HASH' }, hs)).toBeInstanceOf(RingHashBalancer);
    expect(createLoadBalancer({ lbPolicy: 'MAGLEV' }, hs)).toBeInstanceOf(MaglevBalancer);
  });

  it.each(['ROUND_ROBIN', 'RANDOM', 'LEAST_REQUEST', 'RING_HASH', 'MAGLEV', 'PEAK_EWMA'] as const)(
    '%s: never picks an ejected host, avoids excluded hosts, returns undefined for an empty set',
    (lbPolicy) => {
      const hs = hosts(4);
      hs[1]!.ejected = true;
      const lb = createLoadBalancer({ lbPolicy }, hs, { random: seeded(7), clock: new ManualClock() });
      const exclude = new Set([hs[2]!]);
      for (let i = 0; i < 500; i++) {
        const h = lb.pick({ hashKey: `k${i}`, exclude })!;
        expect(h).toBeDefined();
        expect(h.ejected).toBe(false);
        expect(h).not.toBe(hs[2]);
      }
      // Only excluded hosts left healthy: reuse one rather than fail.
      hs[0]!.ejected = true;
      hs[3]!.ejected = true;
      lb.onHealthChanged?.(false);
      expect(lb.pick({ hashKey: 'x', exclude })).toBe(hs[2]);
      expect(createLoadBalancer({ lbPolicy }, []).pick({})).toBeUndefined();
    },
  );

  it.each(['ROUND_ROBIN', 'RANDOM', 'LEAST_REQUEST', 'RING_HASH', 'MAGLEV', 'PEAK_EWMA'] as const)(
    '%s: in panic mode every host is used, ejected or not',
    (lbPolicy) => {
      const hs = hosts(3);
      hs[0]!.ejected = true;
      hs[1]!.ejected = true;
      const lb = createLoadBalancer({ lbPolicy }, hs, { random: seeded(3), clock: new ManualClock() });
      lb.onHealthChanged?.(true);
      const seen = countPicks(() => lb.pick({ hashKey: String(Math.random()) }), 600);
      expect(seen.size).toBe(3);
      lb.onHealthChanged?.(false);
      const after = countPicks(() => lb.pick({ hashKey: String(Math.random()) }), 300);
      expect([...after.keys()]).toEqual([hs[2]!.key]);
    },
  );
});

describe('RANDOM', () => {
  it('spreads picks in proportion to weight', () => {
    const hs = [host(1, 1), host(2, 3)];
    const lb = new RandomBalancer(hs, seeded(5));
    const m = countPicks(() => lb.pick({}), 20_000);
    const share = m.get(hs[1]!.key)! / 20_000;
    expect(share).toBeGreaterThan(0.72);
    expect(share).toBeLessThan(0.78);
  });
});

describe('LEAST_REQUEST', () => {
  it('with equal weights prefers the host with fewer active requests (power of two choices)', () => {
    const hs = hosts(2);
    hs[0]!.activeRequests = 10;
    const lb = new LeastRequestBalancer(hs, 2, seeded(1));
    const m = countPicks(() => lb.pick({}), 1000);
    expect(m.get(hs[1]!.key)).toBe(1000);
  });

  it('a higher choiceCount finds the least loaded host more often', () => {
    const hs = hosts(5);
    hs.forEach((h, i) => (h.activeRequests = 10 - i));
    const share = (choices: number) => {
      const lb = new LeastRequestBalancer(hs, choices, seeded(2));
      return countPicks(() => lb.pick({}), 3000).get(hs[4]!.key)! / 3000;
    };
    expect(share(2)).toBeLessThan(0.5);
    expect(share(5)).toBeGreaterThan(share(2) + 0.25);
  });

  it('at equal load sends traffic in proportion to weight', () => {
    const hs = [host(1, 1), host(2, 4)];
    const lb = new LeastRequestBalancer(hs, 2, seeded(9));
    const m = countPicks(() => lb.pick({}), 10_000);
    expect(m.get(hs[1]!.key)! / 10_000).toBeGreaterThan(0.75);
  });
});

describe('PEAK_EWMA', () => {
  it('sends most traffic to the fast host once latencies are measured', () => {
    const clock = new ManualClock();
    const hs = hosts(2);
    const lb = new PeakEwmaBalancer(hs, { clock, random: seeded(4) });
    const latency = (h: (typeof hs)[number]) => (h === hs[0] ? 5 : 200);
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const h = lb.pick({})!;
      counts.set(h.key, (counts.get(h.key) ?? 0) + 1);
      clock.advance(1);
      lb.onResult(h, latency(h), false);
    }
    expect(counts.get(hs[0]!.key)! / 2000).toBeGreaterThan(0.95);
    expect(lb.latencyEstimate(hs[1]!)).toBeGreaterThan(lb.latencyEstimate(hs[0]!)!);
  });

  it('takes a latency peak at once and lets it decay over about τ', () => {
    const clock = new ManualClock();
    const [a] = hosts(1);
    const lb = new PeakEwmaBalancer([a!], { clock, decayMs: 10_000 });
    expect(lb.latencyEstimate(a!)).toBe(30); // unmeasured default
    lb.onResult(a!, 500, false);
    expect(lb.latencyEstimate(a!)).toBe(500);
    clock.advance(10_000);
    expect(lb.latencyEstimate(a!)).toBeCloseTo(500 / Math.E, 5);
  });

  it('counts a fast failure as the failure penalty, so a failing host stops attracting traffic', () => {
    const clock = new ManualClock();
    const hs = hosts(3);
    const lb = new PeakEwmaBalancer(hs, { clock, random: seeded(11) });
    const counts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const h = lb.pick({})!;
      counts.set(h.key, (counts.get(h.key) ?? 0) + 1);
      clock.advance(1);
      // host 0 refuses connections in 1 ms; the others answer in 20 ms
      lb.onResult(h, h === hs[0] ? 1 : 20, h === hs[0]);
    }
    expect((counts.get(hs[0]!.key) ?? 0) / 3000).toBeLessThan(0.02);
  });

  it('weighs in-flight requests: a host with a queue loses to an idle one of equal latency', () => {
    const clock = new ManualClock();
    const hs = hosts(2);
    const lb = new PeakEwmaBalancer(hs, { clock, random: seeded(2) });
    hs[0]!.activeRequests = 5;
    const m = countPicks(() => lb.pick({}), 200);
    expect(m.get(hs[1]!.key)).toBe(200);
  });

  it('probes an unmeasured new host (default RTT below a slow host)', () => {
    const clock = new ManualClock();
    const hs = hosts(2);
    const lb = new PeakEwmaBalancer(hs, { clock, random: seeded(6) });
    lb.onResult(hs[0]!, 300, false);
    const m = countPicks(() => lb.pick({}), 100);
    expect(m.get(hs[1]!.key)).toBe(100);
  });
});

describe('RING_HASH', () => {
  it('maps a key to the same host every time and spreads keys over hosts ∝ weight', () => {
    const hs = [host(1, 1), host(2, 1), host(3, 2)];
    const lb = new RingHashBalancer(hs, { minimumRingSize: 1024 });
    expect(lb.ringSize).toBeGreaterThanOrEqual(1024);
    for (let i = 0; i < 50; i++) expect(lb.pick({ hashKey: `user-${i}` })).toBe(lb.pick({ hashKey: `user-${i}` }));
    const m = countPicks((() => {
      let i = 0;
      return () => lb.pick({ hashKey: `session-${i++}` });
    })(), 20_000);
    expect(m.get(hs[2]!.key)! / 20_000).toBeGreaterThan(0.42);
    expect(m.get(hs[2]!.key)! / 20_000).toBeLessThan(0.58);
  });

  it('respects maximumRingSize', () => {
    const lb = new RingHashBalancer(hosts(3), { minimumRingSize: 100_000, maximumRingSize: 2048 });
    expect(lb.ringSize).toBeLessThanOrEqual(2048);
    expect(lb.ringSize).toBeGreaterThan(1500);
  });

  it('moves only the keys of a host that leaves (ejected or removed)', () => {
    const hs = hosts(5);
    const lb = new RingHashBalancer(hs);
    const keys = Array.from({ length: 2000 }, (_, i) => `k${i}`);
    const before = keys.map((k) => lb.pick({ hashKey: k })!);
    hs[2]!.ejected = true;
    const afterEject = keys.map((k) => lb.pick({ hashKey: k })!);
    const rebuilt = new RingHashBalancer(hs.filter((_, i) => i !== 2));
    const afterRemove = keys.map((k) => rebuilt.pick({ hashKey: k })!);
    keys.forEach((_, i) => {
      if (before[i] !== hs[2]) {
        expect(afterEject[i]).toBe(before[i]);
        expect(afterRemove[i]).toBe(before[i]);
      } else expect(afterEject[i]).not.toBe(hs[2]);
    });
  });
});

describe('MAGLEV', () => {
  it('is stable per key, balanced, and moves few keys when a host leaves', () => {
    const hs = hosts(5);
    const lb = new MaglevBalancer(hs);
    const keys = Array.from({ length: 5000 }, (_, i) => `k${i}`);
    const before = keys.map((k) => lb.pick({ hashKey: k })!);
    const m = new Map<string, number>();
    for (const h of before) m.set(h.key, (m.get(h.key) ?? 0) + 1);
    for (const n of m.values()) expect(n / 5000).toBeGreaterThan(0.15);
    const rebuilt = new MaglevBalancer(hs.slice(0, 4));
    const moved = keys.filter((k, i) => before[i] !== hs[4] && rebuilt.pick({ hashKey: k }) !== before[i]).length;
    expect(moved / 5000).toBeLessThan(0.1);
  });

  it('fills the table in proportion to weights', () => {
    const hs = [host(1, 1), host(2, 3)];
    const lb = new MaglevBalancer(hs, 65_537);
    const m = countPicks((() => {
      let i = 0;
      return () => lb.pick({ hashKey: `x${i++}` });
    })(), 20_000);
    expect(m.get(hs[1]!.key)! / 20_000).toBeGreaterThan(0.7);
    expect(m.get(hs[1]!.key)! / 20_000).toBeLessThan(0.8);
  });
});
