import { afterEach, describe, expect, it } from 'vitest';
import { decodeResource } from '../../../proxy/xds/codec/index.js';
import * as fx from '../../../proxy/xds/codec/test/fixtures.js';
import { MemorySnapshotCache } from '../cache.js';
import { node, RawAdsClient, resources, startServer, url } from './harness.js';

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

describe('Delta ADS', () => {
  it('sends everything on subscribe, then only changed and removed resources', async () => {
    const s = await startServer();
    cleanup.push(s.close);
    s.cache.setSnapshot('n', 'v1', resources());
    const c = new RawAdsClient(s.port, 'delta');
    cleanup.unshift(() => c.close());
    c.send({ node: node('n'), type_url: url('cluster') });
    const first = await c.next();
    expect(first.resources.map((r: { name: string }) => r.name).sort()).toEqual([fx.peakEwmaCluster.name, fx.cluster.name].sort());
    c.send({ type_url: url('cluster'), response_nonce: first.nonce });
    // Change one cluster, remove the other.
    const next = resources();
    const changed = { ...fx.cluster, connectTimeout: 2500 };
    (next.cluster as Map<string, unknown>).set(changed.name, changed);
    (next.cluster as Map<string, unknown>).delete(fx.peakEwmaCluster.name);
    s.cache.setSnapshot('n', 'v2', next);
    const delta = await c.next();
    expect(delta.resources).toHaveLength(1);
    expect(delta.resources[0].name).toBe(fx.cluster.name);
    expect(decodeResource('cluster', delta.resources[0].resource.value).connectTimeout).toBe(2500);
    expect(delta.removed_resources).toEqual([fx.peakEwmaCluster.name]);
    c.send({ type_url: url('cluster'), response_nonce: delta.nonce });
    await expect.poll(() => s.xds.receipt('v2')?.acked.length).toBe(1);
  });

  it('skips resources the client already holds (initial_resource_versions) after a reconnect', async () => {
    const s = await startServer();
    cleanup.push(s.close);
    s.cache.setSnapshot('n', 'v1', resources());
    const c1 = new RawAdsClient(s.port, 'delta');
    c1.send({ node: node('n'), type_url: url('cluster') });
    const first = await c1.next();
    c1.close();
    const held = Object.fromEntries(first.resources.map((r: { name: string; version: string }) => [r.name, r.version]));
    const next = resources();
    (next.cluster as Map<string, unknown>).set(fx.cluster.name, { ...fx.cluster, connectTimeout: 3000 });
    s.cache.setSnapshot('n', 'v2', next);
    const c2 = new RawAdsClient(s.port, 'delta');
    cleanup.unshift(() => c2.close());
    c2.send({ node: node('n'), type_url: url('cluster'), initial_resource_versions: held });
    const resync = await c2.next();
    expect(resync.resources.map((r: { name: string }) => r.name)).toEqual([fx.cluster.name]);
  });

  it('asks the provider for names the snapshot lacks (on-demand) and delivers them once published', async () => {
    const asked: string[] = [];
    const base = resources();
    const cache = new MemorySnapshotCache({
      onDemand: (nodeId, kind, names) => {
        asked.push(`${nodeId}/${kind}/${names.join(',')}`);
        const grown = { ...base, routeConfiguration: new Map([...base.routeConfiguration, ['ratings-routes', { ...fx.routeConfiguration, name: 'ratings-routes' }]]) };
        queueMicrotask(() => cache.setSnapshot(nodeId, 'v2', grown));
      },
    });
    cache.setSnapshot('n', 'v1', base);
    const s = await startServer({ cache });
    cleanup.push(s.close);
    const c = new RawAdsClient(s.port, 'delta');
    cleanup.unshift(() => c.close());
    c.send({ node: node('n'), type_url: url('routeConfiguration'), resource_names_subscribe: ['outbound|80'] });
    const first = await c.next();
    c.send({ type_url: url('routeConfiguration'), response_nonce: first.nonce, resource_names_subscribe: ['ratings-routes'] });
    const grown = await c.next();
    expect(asked).toEqual(['n/routeConfiguration/ratings-routes']);
    expect(grown.resources.map((r: { name: string }) => r.name)).toEqual(['ratings-routes']);
  });
});

describe('Delta ADS: names that do not exist', () => {
  it('reports a subscribed name the snapshot lacks once in removed_resources, then sends it when it appears', async () => {
    const s = await startServer();
    cleanup.push(s.close);
    const base = resources();
    s.cache.setSnapshot('n', 'v1', base);
    const c = new RawAdsClient(s.port, 'delta');
    cleanup.unshift(() => c.close());
    c.send({ node: node('n'), type_url: url('secret'), resource_names_subscribe: ['ROOTCA', 'spiffe-bundle-other'] });
    const first = await c.next();
    expect(first.resources.map((r: { name: string }) => r.name)).toEqual(['ROOTCA']);
    expect(first.removed_resources).toEqual(['spiffe-bundle-other']);
    c.send({ type_url: url('secret'), response_nonce: first.nonce });
    const grown = { ...base, secret: new Map([...base.secret, ['spiffe-bundle-other', { ...fx.rootSecret, name: 'spiffe-bundle-other' }]]) };
    s.cache.setSnapshot('n', 'v2', grown);
    const next = await c.next();
    expect(next.resources.map((r: { name: string }) => r.name)).toEqual(['spiffe-bundle-other']);
    expect(next.removed_resources ?? []).toEqual([]);
  });
});
