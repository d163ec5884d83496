// Receipt progress counts agree with the receipt's lists through publish,
// ACK, NACK, a re-ACK after a NACK, and an ACK of a newer version that
// supersedes an older pending one.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { ReceiptTracker } from '../receipts.js';

describe('ReceiptTracker.progress', () => {
  it('counts what receipt() lists, at every step', () => {
    const t = new ReceiptTracker(new ManualClock());
    const agree = (v: string) => {
      const r = t.receipt(v)!;
      expect(t.progress(v)).toEqual({ total: r.total, acked: r.acked.length, nacked: r.nacked.length, pending: r.pending.length });
    };
    for (const n of ['a', 'b', 'c']) t.published('v1', n);
    t.published('v1', 'a'); // again: still one node
    expect(t.progress('v1')).toEqual({ total: 3, acked: 0, nacked: 0, pending: 3 });
    t.acked('v1', 'a');
    t.nacked('v1', 'b', 'bad cluster');
    expect(t.progress('v1')).toEqual({ total: 3, acked: 1, nacked: 1, pending: 1 });
    agree('v1');
    t.acked('v1', 'b'); // fixed after the NACK
    agree('v1');
    for (const n of ['a', 'b', 'c']) t.published('v2', n);
    t.acked('v2', 'c'); // c never ACKed v1: reaching v2 counts as reaching v1
    expect(t.progress('v1')).toEqual({ total: 3, acked: 3, nacked: 0, pending: 0 });
    expect(t.progress('v2')).toEqual({ total: 3, acked: 1, nacked: 0, pending: 2 });
    agree('v1');
    agree('v2');
    expect(t.progress('v9')).toBeUndefined();
  });
});
