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

  it('an ACK supersedes only older versions the proxy had pending: NACKed ones stay NACKed, newer ones stay pending, evicted ones are gone', () => {
    const t = new ReceiptTracker(new ManualClock(), 4);
    for (const v of ['v1', 'v2', 'v3', 'v4']) t.published(v, 'a');
    t.nacked('v2', 'a', 'bad route');
    t.published('v5', 'a'); // evicts v1
    expect(t.receipt('v1')).toBeUndefined();
    t.acked('v4', 'a');
    expect(t.receipt('v2')!.nacked.map((n) => n.nodeId)).toEqual(['a']);
    expect(t.receipt('v3')!.acked.map((n) => n.nodeId)).toEqual(['a']);
    expect(t.receipt('v4')!.acked.map((n) => n.nodeId)).toEqual(['a']);
    expect(t.receipt('v5')!.pending).toEqual(['a']);
    t.acked('v2', 'a'); // the NACKed version applied after all (e.g. a retry)
    expect(t.receipt('v2')!.acked.map((n) => n.nodeId)).toEqual(['a']);
    t.acked('v5', 'a');
    expect(t.progress('v5')).toEqual({ total: 1, acked: 1, nacked: 0, pending: 0 });
  });
});
