// The sidecar's xDS client against the real ADS server over gRPC on 127.0.0.1.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../common/errors.js';
import { MemorySnapshotCache } from '../../../control-plane/xds/cache.js';
import { XdsServer } from '../../../control-plane/xds/xds-server.js';
import { resources } from '../../../control-plane/xds/test/harness.js';
import type { ConfigSnapshot, NodeInfo } from '../../config/resources.js';
import * as fx from '../codec/test/fixtures.js';
import { XdsClient } from '../client.js';

const nodeInfo: NodeInfo = { id: 'reviews-v2-1', cluster: 'reviews', namespace: 'default', serviceAccount: 'reviews', workload: 'reviews-v2', version: 'v2', labels: { app: 'reviews' }, trustDomain: 'cluster.local' };
const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function controlPlane(cache: MemorySnapshotCache, port = 0) {
  const xds = new XdsServer({ cache, debounceMs: 0 });
  const server = new Server();
  xds.register(server);
  const bound = await new Promise<number>((res, rej) => server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const stop = () => {
    xds.close();
    server.forceShutdown();
  };
  cleanup.push(stop);
  return { xds, port: bound, stop };
}

/** The sidecar side: a validating apply that refuses MAGLEV clusters (as an example of a proxy-side check). */
function sidecar() {
  const applied: ConfigSnapshot[] = [];
  const apply = (s: ConfigSnapshot) => {
    for (const c of s.resources.cluster.values()) {
      if (c.lbPolicy === 'MAGLEV') throw new ValidationError([{ path: `cluster[${c.name}].lb_policy`, message: 'MAGLEV is not supported by this proxy' }]);
    }
    applied.push(s);
  };
  return { applied, apply };
}

function startClient(port: number, apply: (s: ConfigSnapshot) => void, extra: Partial<ConstructorParameters<typeof XdsClient>[0]> = {}) {
  const c = new XdsClient({ server: `127.0.0.1:${port}`, node: nodeInfo, apply, backoff: { initialMs: 20, maxMs: 200, jitter: 0.5 }, ...extra });
  cleanup.push(() => c.stop());
  return c;
}

describe.each(['sotw', 'delta'] as const)('XdsClient (%s)', (protocol) => {
  it('subscribes, assembles a complete snapshot, applies it and ACKs (receipt reached)', async () => {
    const cache = new MemorySnapshotCache();
    cache.setSnapshot(nodeInfo.id, 'v1', resources());
    const cp = await controlPlane(cache);
    const sc = sidecar();
    const client = startClient(cp.port, sc.apply, { protocol });
    client.start();
    await expect.poll(() => cp.xds.receipt('v1')?.acked.length).toBe(1);
    const last = sc.applied.at(-1)!;
    expect(last.resources.listener.get(fx.listener.name)).toEqual(JSON.parse(JSON.stringify(fx.listener)));
    expect([...last.resources.secret.keys()].sort()).toEqual(['ROOTCA', 'default']);
    expect(last.resources.clusterLoadAssignment.size).toBe(1);
    expect(cp.xds.proxies()[0]).toMatchObject({ nodeId: nodeInfo.id, service: 'reviews', namespace: 'default', identity: 'spiffe://cluster.local/ns/default/sa/reviews' });
  });

  it('NACKs a config the proxy rejects with the precise error and keeps serving the last good one', async () => {
    const cache = new MemorySnapshotCache();
    cache.setSnapshot(nodeInfo.id, 'v1', resources());
    const cp = await controlPlane(cache);
    const sc = sidecar();
    const client = startClient(cp.port, sc.apply, { protocol });
    client.start();
    await expect.poll(() => cp.xds.receipt('v1')?.acked.length).toBe(1);
    const good = client.current();
    const bad = resources();
    (bad.cluster as Map<string, unknown>).set(fx.cluster.name, { ...fx.cluster, lbPolicy: 'MAGLEV' });
    cache.setSnapshot(nodeInfo.id, 'v2', bad);
    await expect.poll(() => cp.xds.receipt('v2')?.nacked.length).toBe(1);
    expect(cp.xds.receipt('v2')!.nacked[0]!.error).toContain(`cluster[${fx.cluster.name}].lb_policy: MAGLEV is not supported by this proxy`);
    expect(client.current().resources.cluster.get(fx.cluster.name)!.lbPolicy).toBe('RING_HASH');
    expect(client.current().versions).toEqual(good.versions);
    // A valid change afterwards applies.
    cache.setSnapshot(nodeInfo.id, 'v3', resources({ endpoints: 2 }));
    await expect.poll(() => cp.xds.receipt('v3')?.acked.length).toBe(1);
    expect(client.current().resources.clusterLoadAssignment.get(fx.clusterLoadAssignment.clusterName)!.endpoints).toHaveLength(2);
  });

  it('keeps serving while the control plane is down and re-syncs after it restarts', async () => {
    const cache = new MemorySnapshotCache();
    cache.setSnapshot(nodeInfo.id, 'v1', resources());
    const cp = await controlPlane(cache);
    const sc = sidecar();
    const client = startClient(cp.port, sc.apply, { protocol });
    client.start();
    await expect.poll(() => cp.xds.receipt('v1')?.acked.length).toBe(1);
    const appliedBefore = sc.applied.length;
    cp.stop();
    await expect.poll(() => client.connected).toBe(false);
    expect(client.current().resources.cluster.size).toBe(2); // still serving
    expect(sc.applied.length).toBe(appliedBefore); // nothing was torn down
    const cache2 = new MemorySnapshotCache();
    cache2.setSnapshot(nodeInfo.id, 'v2', resources({ endpoints: 1 }));
    const cp2 = await controlPlane(cache2, cp.port);
    await expect.poll(() => cp2.xds.receipt('v2')?.acked.length, { timeout: 5000 }).toBe(1);
    // The client ACKs a response once decoded and applies the assembled config right after: poll.
    await expect
      .poll(() => client.current().resources.clusterLoadAssignment.get(fx.clusterLoadAssignment.clusterName)!.endpoints.length)
      .toBe(1);
  });
});

describe.each(['sotw', 'delta'] as const)('XdsClient on-demand (%s)', (protocol) => {
  it('asks for a cluster it has no config for; the provider grows the config and the proxy applies it', async () => {
    const asked: string[] = [];
    const cache = new MemorySnapshotCache();
    const base = resources();
    const extra = { ...fx.peakEwmaCluster, name: 'outbound|80||details.default', loadAssignment: { ...fx.peakEwmaCluster.loadAssignment!, clusterName: 'outbound|80||details.default' } };
    cache.onDemand = (nodeId, kind, names) => {
      asked.push(`${kind}:${names.join(',')}`);
      cache.setSnapshot(nodeId, 'v2', { ...base, cluster: new Map([...base.cluster, [extra.name, extra]]) });
    };
    cache.setSnapshot(nodeInfo.id, 'v1', base);
    const cp = await controlPlane(cache);
    const sc = sidecar();
    const client = startClient(cp.port, sc.apply, { protocol });
    client.start();
    await expect.poll(() => cp.xds.receipt('v1')?.acked.length).toBe(1);
    client.requestOnDemand([extra.name]);
    await expect.poll(() => client.current().resources.cluster.has(extra.name)).toBe(true);
    expect(asked).toEqual([`cluster:${extra.name}`]);
    await expect.poll(() => cp.xds.receipt('v2')?.acked.length).toBe(1);
  });
});

describe('XdsClient fail-static', () => {
  it('persists the last good config and boots from it while the control plane is down', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmesh-xds-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const persistPath = join(dir, 'last-good.json');
    const cache = new MemorySnapshotCache();
    cache.setSnapshot(nodeInfo.id, 'v1', resources());
    const cp = await controlPlane(cache);
    const first = sidecar();
    const c1 = startClient(cp.port, first.apply, { persistPath });
    c1.start();
    await expect.poll(() => cp.xds.receipt('v1')?.acked.length).toBe(1);
    const served = c1.current();
    c1.stop();
    cp.stop();
    // A restarted sidecar, control plane unreachable.
    const second = sidecar();
    const c2 = startClient(cp.port, second.apply, { persistPath });
    const booted = c2.bootFromPersisted();
    c2.start();
    expect(second.applied).toHaveLength(1);
    expect(booted!.versions).toEqual(served.versions);
    expect(JSON.parse(JSON.stringify([...booted!.resources.listener.values()]))).toEqual(JSON.parse(JSON.stringify([...served.resources.listener.values()])));
    expect(c2.current().resources.cluster.get(fx.cluster.name)).toEqual(served.resources.cluster.get(fx.cluster.name));
  });
});
