// The push scheduler's debounce on a ManualClock: each stream's window starts
// at its first change and ends debounceMs later, repeated changes coalesce,
// a closed/cancelled stream is not flushed, and a change for many streams
// arms one timer, not one per stream.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { PushScheduler, type Flushable } from '../push-scheduler.js';

class Stream implements Flushable {
  closed = false;
  flushedAt: number[] = [];
  constructor(private readonly clock: ManualClock) {}
  flush(): void {
    this.flushedAt.push(this.clock.now());
  }
}

const turn = () => new Promise<void>((r) => setImmediate(r));

describe('PushScheduler debounce', () => {
  it('flushes each stream once at the end of its own window, with one timer for all of them', async () => {
    const clock = new ManualClock(1000);
    const sched = new PushScheduler(clock, { debounceMs: 10, batchSize: 64 });
    const many = Array.from({ length: 500 }, () => new Stream(clock));
    for (const s of many) sched.schedule(s);
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(4);
    const late = new Stream(clock);
    sched.schedule(late); // window 1004 → 1014
    sched.schedule(many[0]!); // already waiting: coalesced
    clock.advance(5); // t = 1009
    await turn();
    expect(many[0]!.flushedAt).toEqual([]);
    clock.advance(1); // t = 1010: the first 500 are due
    for (let i = 0; i < 8; i++) await turn(); // drained 64 per event-loop turn
    expect(many.every((s) => s.flushedAt.length === 1 && s.flushedAt[0] === 1010)).toBe(true);
    expect(late.flushedAt).toEqual([]);
    clock.advance(4); // t = 1014
    await turn();
    expect(late.flushedAt).toEqual([1014]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('does not flush a cancelled or closed stream, and the next change starts a new window', async () => {
    const clock = new ManualClock(0);
    const sched = new PushScheduler(clock, { debounceMs: 10, batchSize: 64 });
    const a = new Stream(clock);
    const b = new Stream(clock);
    sched.schedule(a);
    sched.schedule(b);
    sched.cancel(a);
    b.closed = true;
    clock.advance(10);
    await turn();
    expect(a.flushedAt).toEqual([]);
    expect(b.flushedAt).toEqual([]);
    sched.schedule(a);
    clock.advance(9);
    await turn();
    expect(a.flushedAt).toEqual([]);
    clock.advance(1);
    await turn();
    expect(a.flushedAt).toEqual([20]);
  });
});
