import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import type { LbPolicy } from '../../config/resources.js';
import { createLoadBalancer } from '../index.js';
import { host, seeded } from './helpers.js';

const POLICIES: LbPolicy[] = ['ROUND_ROBIN', 'RANDOM', 'LEAST_REQUEST', 'RING_HASH', 'MAGLEV', 'PEAK_EWMA'];

describe('balancer invariants (property)', () => {
  it('a pick is never ejected (outside panic), avoids excluded hosts when another healthy one exists, and is undefined only when no host is healthy', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...POLICIES),
        fc.array(fc.record({ weight: fc.integer({ min: 1, max: 5 }), ejected: fc.boolean(), excluded: fc.boolean(), active: fc.nat(20) }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.option(fc.string({ maxLength: 8 }), { nil: undefined }), { minLength: 1, maxLength: 10 }),
        fc.integer(),
        (lbPolicy, specs, keys, seed) => {
          const hs = specs.map((s, i) => {
            const h = host(i + 1, s.weight);
            h.ejected = s.ejected;
            h.activeRequests = s.active;
            return h;
          });
          const exclude = new Set(hs.filter((_, i) => specs[i]!.excluded));
          const lb = createLoadBalancer({ lbPolicy, ringHash: { minimumRingSize: 64, maximumRingSize: 4096 } }, hs, {
            random: seeded(seed),
            clock: new ManualClock(),
          });
          lb.onHealthChanged?.(false);
          const healthy = hs.filter((h) => !h.ejected);
          const preferred = healthy.filter((h) => !exclude.has(h));
          for (const hashKey of keys) {
            const h = lb.pick({ hashKey, exclude });
            if (healthy.length === 0) {
              expect(h).toBeUndefined();
              continue;
            }
            expect(h).toBeDefined();
            expect(h!.ejected).toBe(false);
            if (preferred.length > 0) expect(exclude.has(h!)).toBe(false);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
