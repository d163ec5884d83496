// Pooled RequestTimeouts: a RequestTimeouts binds its timer callbacks once,
// so requests borrow one (with its owner pointer) instead of building four
// closures per request. Only requests with a timeout configured take one.

import type { Clock } from '../../common/clock.js';
import { RequestTimeouts } from '../resilience/timeouts.js';
import type { TimeoutKind } from '../resilience/errors.js';

export interface TimeoutOwner {
  onTimeout(kind: TimeoutKind): void;
}

/** Slots kept for reuse per clock; beyond this, released slots are dropped for the GC. */
const MAX_POOLED = 4096;

export class TimeoutSlot {
  owner: TimeoutOwner | undefined = undefined;
  readonly t: RequestTimeouts;

  constructor(private readonly pool: TimeoutSlot[], clock: Clock) {
    this.t = new RequestTimeouts(clock, (kind) => this.owner?.onTimeout(kind));
  }

  /** Ends its request's timeouts and returns the slot to its pool (its route / idle timers stay armed for the next request; see timeouts.ts). */
  release(): void {
    this.owner = undefined;
    if (this.pool.length < MAX_POOLED) {
      this.t.finish();
      this.pool.push(this);
    } else this.t.dispose(); // dropped: nothing may keep it alive
  }
}

const pools = new WeakMap<Clock, TimeoutSlot[]>();

export function takeTimeoutSlot(clock: Clock, owner: TimeoutOwner): TimeoutSlot {
  let pool = pools.get(clock);
  if (pool === undefined) {
    pool = [];
    pools.set(clock, pool);
  }
  const slot = pool.pop() ?? new TimeoutSlot(pool, clock);
  slot.owner = owner;
  return slot;
}
