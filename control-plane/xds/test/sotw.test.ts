import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeResource } from '../../../proxy/xds/codec/index.js';
import * as fx from '../../../proxy/xds/codec/test/fixtures.js';
import { node, RawAdsClient, resources, startServer, url } from './harness.js';

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

async function setup(extra = {}) {
  const s = await startServer(extra);
  cleanup.push(s.close);
  const client = (id = 'sidecar-1', mode: 'sotw' | 'delta' = 'sotw', md?: Record<string, string>) => {
    const c = new RawAdsClient(s.port, mode, md);
    cleanup.unshift(() => c.close());
    return c;
  };
  return { ...s, client };
}

describe('SotW ADS', () => {
  it('serves wildcard LDS/CDS, named EDS/RDS/SDS, and records ACKs in a receipt', async () => {
    const s = await setup();
    s.cache.setSnapshot('sidecar-1', 'v1', resources());
    const c = s.client();
    c.send({ node: node('sidecar-1'), type_url: url('cluster') });
    const cds = await c.next();
    expect(cds.type_url).toBe(url('cluster'));
    expect(cds.resources).toHaveLength(2);
    expect(decodeResource('cluster', cds.resources[0].value)).toEqual(JSON.parse(JSON.stringify(fx.cluster)));
    c.send({ type_url: url('cluster'), version_info: cds.version_info, response_nonce: cds.nonce });
    c.send({ type_url: url('clusterLoadAssignment'), resource_names: [fx.clusterLoadAssignment.clusterName] });
    const eds = await c.next();
    expect(eds.resources).toHaveLength(1);
    c.send({ type_url: url('clusterLoadAssignment'), resource_names: [fx.clusterLoadAssignment.clusterName], version_info: eds.version_info, response_nonce: eds.nonce });
    c.send({ type_url: url('listener') });
    const lds = await c.next();
    c.send({ type_url: url('listener'), version_info: lds.version_info, response_nonce: lds.nonce });
    c.send({ type_url: url('routeConfiguration'), resource_names: ['outbound|80'] });
    const rds = await c.next();
    expect(rds.resources).toHaveLength(1);
    c.send({ type_url: url('routeConfiguration'), resource_names: ['outbound|80'], version_info: rds.version_info, response_nonce: rds.nonce });
    c.send({ type_url: url('secret'), resource_names: ['default', 'ROOTCA'] });
    const sds = await c.next();
    expect(sds.resources).toHaveLength(2);
    c.send({ type_url: url('secret'), resource_names: ['default', 'ROOTCA'], version_info: sds.version_info, response_nonce: sds.nonce });
    await expect.poll(() => s.xds.receipt('v1')?.acked.length).toBe(1);
    const r = s.xds.receipt('v1')!;
    expect(r).toMatchObject({ total: 1, nacked: [], pending: [] });
    expect(s.xds.proxies()[0]).toMatchObject({ nodeId: 'sidecar-1', service: 'reviews', types: { cluster: { ackedVersion: cds.version_info } } });

    // A new config version that changes nothing for this proxy (an apply scoped to other proxies) is
    // not pushed, and the receipt counts the proxy as reached instead of pending forever.
    s.cache.setSnapshot('sidecar-1', 'v2', resources());
    await expect.poll(() => s.xds.receipt('v2')?.acked.length).toBe(1);
    expect(s.xds.receipt('v2')).toMatchObject({ total: 1, nacked: [], pending: [] });
  });

  it('pushes a change in make-before-break order: clusters, endpoints, listeners, routes', async () => {
    const s = await setup();
    s.cache.setSnapshot('n', 'v1', resources());
    const c = s.client('n');
    const subs: [string, string[]][] = [
      [url('listener'), []],
      [url('routeConfiguration'), ['outbound|80']],
      [url('cluster'), []],
      [url('clusterLoadAssignment'), [fx.clusterLoadAssignment.clusterName]],
    ];
    subs.forEach(([t, names], i) => c.send({ ...(i === 0 ? { node: node('n') } : {}), type_url: t, resource_names: names }));
    const first = [await c.next(), await c.next(), await c.next(), await c.next()];
    for (const m of first) c.send({ type_url: m.type_url, resource_names: subs.find(([t]) => t === m.type_url)![1], version_info: m.version_info, response_nonce: m.nonce });
    // Change every type at once.
    const next = resources({ endpoints: 2 });
    const l2 = { ...fx.listener, protocolDetectionTimeout: 200 };
    const rc2 = { ...fx.routeConfiguration, requestHeadersToRemove: ['x-b3'] };
    const c2 = { ...fx.cluster, connectTimeout: 2000 };
    (next.listener as Map<string, unknown>).set(l2.name, l2);
    (next.routeConfiguration as Map<string, unknown>).set(rc2.name, rc2);
    (next.cluster as Map<string, unknown>).set(c2.name, c2);
    await expect.poll(() => s.xds.receipt('v1')?.acked.length).toBe(1);
    s.cache.setSnapshot('n', 'v2', next);
    const order = [(await c.next()).type_url, (await c.next()).type_url, (await c.next()).type_url, (await c.next()).type_url];
    expect(order).toEqual([url('cluster'), url('clusterLoadAssignment'), url('listener'), url('routeConfiguration')]);
  });

  it('records a NACK with its error and does not resend the rejected version; a changed snapshot is pushed again', async () => {
    const s = await setup();
    s.cache.setSnapshot('n', 'v1', resources());
    const c = s.client('n');
    c.send({ node: node('n'), type_url: url('cluster') });
    const cds = await c.next();
    c.send({ type_url: url('cluster'), version_info: '', response_nonce: cds.nonce, error_detail: { code: 3, message: 'cluster outbound|80||ratings: PEAK_EWMA not supported here' } });
    // Same cluster content under a new config version: nothing new to push for CDS.
    s.cache.setSnapshot('n', 'v1b', resources());
    // A round trip on another type proves the server processed everything before it.
    c.send({ type_url: url('clusterLoadAssignment'), resource_names: [fx.clusterLoadAssignment.clusterName] });
    const eds = await c.next();
    expect(eds.type_url).toBe(url('clusterLoadAssignment'));
    expect(c.pending()).toBe(0);
    expect(c.received).toBe(2);
    expect(s.xds.proxies()[0]!.types.cluster!.nack).toMatchObject({ version: cds.version_info, error: expect.stringContaining('PEAK_EWMA') });
    expect(s.xds.receipt('v1')!.nacked).toEqual([expect.objectContaining({ nodeId: 'n', error: expect.stringContaining('PEAK_EWMA') })]);
    // A real change is pushed.
    const fixed = resources();
    (fixed.cluster as Map<string, unknown>).delete(fx.peakEwmaCluster.name);
    s.cache.setSnapshot('n', 'v2', fixed);
    const again = await c.next();
    expect(again.type_url).toBe(url('cluster'));
    expect(again.resources).toHaveLength(1);
    expect(again.version_info).not.toBe(cds.version_info);
  });

  it('keeps at most one un-ACKed push per type; later changes coalesce behind it', async () => {
    const s = await setup();
    s.cache.setSnapshot('n', 'v1', resources({ endpoints: 1 }));
    const c = s.client('n');
    const name = fx.clusterLoadAssignment.clusterName;
    c.send({ node: node('n'), type_url: url('clusterLoadAssignment'), resource_names: [name] });
    const first = await c.next();
    s.cache.setSnapshot('n', 'v2', resources({ endpoints: 2 }));
    s.cache.setSnapshot('n', 'v3', resources({ endpoints: 3 }));
    // Round trip on another type: the EDS changes were seen by the server, yet nothing was sent for EDS.
    c.send({ type_url: url('cluster') });
    expect((await c.next()).type_url).toBe(url('cluster'));
    expect(c.pending()).toBe(0);
    c.send({ type_url: url('clusterLoadAssignment'), resource_names: [name], version_info: first.version_info, response_nonce: first.nonce });
    const latest = await c.next();
    expect(decodeResource('clusterLoadAssignment', latest.resources[0].value).endpoints).toHaveLength(3);
  });

  it('refuses a node that asks for another identity’s config with PERMISSION_DENIED', async () => {
    const s = await setup({
      authorizeNode: (call: { metadata: { get(k: string): unknown[] } }, n: { id?: string }) =>
        call.metadata.get('x-node-token')[0] === `token-for-${n.id}` || 'token does not match node',
    });
    s.cache.setSnapshot('reviews-1', 'v1', resources());
    const bad = s.client('ratings-1', 'sotw', { 'x-node-token': 'token-for-ratings-1' });
    bad.send({ node: node('reviews-1'), type_url: url('cluster') });
    const err = await bad.failure();
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(bad.received).toBe(0);
    const good = s.client('reviews-1', 'sotw', { 'x-node-token': 'token-for-reviews-1' });
    good.send({ node: node('reviews-1'), type_url: url('cluster') });
    expect((await good.next()).resources).toHaveLength(2);
  });
});

describe('SotW reconnects', () => {
  it('answers a first request that carries a nonce from an earlier stream', async () => {
    const s = await setup();
    s.cache.setSnapshot('n', 'v1', resources());
    const c = s.client('n');
    c.send({ node: node('n'), type_url: url('cluster'), version_info: 'old', response_nonce: 'nonce-from-previous-server' });
    expect((await c.next()).resources).toHaveLength(2);
  });
});

describe('SotW on-demand', () => {
  it('asks the provider once for a named resource the snapshot lacks and pushes it when published', async () => {
    const asked: string[] = [];
    const s = await setup();
    s.cache.onDemand = (nodeId, kind, names) => {
      asked.push(`${nodeId}/${kind}/${names.join(',')}`);
      const base = resources();
      queueMicrotask(() => s.cache.setSnapshot(nodeId, 'v2', { ...base, routeConfiguration: new Map([...base.routeConfiguration, ['ratings-routes', { ...fx.routeConfiguration, name: 'ratings-routes' }]]) }));
    };
    s.cache.setSnapshot('n', 'v1', resources());
    const c = s.client('n');
    c.send({ node: node('n'), type_url: url('routeConfiguration'), resource_names: ['outbound|80', 'ratings-routes'] });
    const first = await c.next();
    c.send({ type_url: url('routeConfiguration'), resource_names: ['outbound|80', 'ratings-routes'], version_info: first.version_info, response_nonce: first.nonce });
    const all = first.resources.length === 2 ? first : await c.next();
    expect(all.resources.map((r: { value: Uint8Array }) => decodeResource('routeConfiguration', r.value).name).sort()).toEqual(['outbound|80', 'ratings-routes']);
    expect(asked).toEqual(['n/routeConfiguration/ratings-routes']);
  });
});
