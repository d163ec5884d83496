// Debounced pushes and connection admission, driven by a ManualClock over real gRPC streams.

import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { decodeResource } from '../../../proxy/xds/codec/index.js';
import * as fx from '../../../proxy/xds/codec/test/fixtures.js';
import { formatReceipt } from '../receipts.js';
import { node, RawAdsClient, resources, startServer, url } from './harness.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0).reverse()) c();
});

describe('push debouncing and connection admission', () => {
  it('a burst of snapshot changes within the debounce window becomes one push of the latest', async () => {
    const clock = new ManualClock();
    const s = await startServer({ clock, debounceMs: 50 });
    cleanup.push(s.close);
    s.cache.setSnapshot('n', 'v1', resources({ endpoints: 1 }));
    const c = new RawAdsClient(s.port);
    cleanup.push(() => c.close());
    const name = fx.clusterLoadAssignment.clusterName;
    c.send({ node: node('n'), type_url: url('clusterLoadAssignment'), resource_names: [name] });
    const first = await c.next();
    c.send({ type_url: url('clusterLoadAssignment'), resource_names: [name], version_info: first.version_info, response_nonce: first.nonce });
    s.cache.setSnapshot('n', 'v2', resources({ endpoints: 2 }));
    s.cache.setSnapshot('n', 'v3', resources({ endpoints: 3 }));
    s.cache.setSnapshot('n', 'v4', resources({ endpoints: 4 }));
    c.send({ type_url: url('cluster') }); // round trip: the server has seen the changes, and held them
    const cds = await c.next();
    expect(cds.type_url).toBe(url('cluster'));
    expect(c.pending()).toBe(0);
    c.send({ type_url: url('cluster'), version_info: cds.version_info, response_nonce: cds.nonce });
    clock.advance(50);
    const pushed = await c.next();
    expect(pushed.type_url).toBe(url('clusterLoadAssignment'));
    expect(decodeResource('clusterLoadAssignment', pushed.resources[0].value).endpoints).toHaveLength(4);
    c.send({ type_url: url('clusterLoadAssignment'), resource_names: [name], version_info: pushed.version_info, response_nonce: pushed.nonce });
    await expect.poll(() => s.xds.receipt('v4')?.acked.length).toBe(1);
    // v2 and v3 were superseded by v4 and count as reached.
    expect(s.xds.receipt('v2')!.acked.map((a) => a.nodeId)).toEqual(['n']);
    expect(formatReceipt(s.xds.receipt('v4')!)).toBe('config v4: reached 1/1 proxies in 50 ms');
  });

  it('admits new streams at the configured rate; the rest wait instead of starving the server', async () => {
    const clock = new ManualClock();
    const s = await startServer({ clock, connectsPerSecond: 2 });
    cleanup.push(s.close);
    for (let i = 0; i < 5; i++) {
      s.cache.setSnapshot(`n${i}`, 'v1', resources());
      const c = new RawAdsClient(s.port);
      cleanup.push(() => c.close());
      c.send({ node: node(`n${i}`), type_url: url('cluster') });
    }
    await expect.poll(() => [s.xds.connected, s.xds.admissionQueue]).toEqual([2, 3]);
    clock.advance(100);
    await expect.poll(() => [s.xds.connected, s.xds.admissionQueue]).toEqual([3, 2]);
    clock.advance(200);
    await expect.poll(() => [s.xds.connected, s.xds.admissionQueue]).toEqual([5, 0]);
  });
});
