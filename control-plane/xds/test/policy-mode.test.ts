// The composed control plane in its default mode (policy plane behind the xDS
// server): a sidecar's xDS client connects, registers through its node
// metadata, and receives and applies the translator's config for it.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConfigSnapshot } from '../../../proxy/config/resources.js';
import { XdsClient } from '../../../proxy/xds/client.js';
import { startControlPlane, type RunningControlPlane } from '../../server.js';

const dir = mkdtempSync(join(tmpdir(), 'tsmesh-cp-policy-'));
let cp: RunningControlPlane | undefined;
let client: XdsClient | undefined;
afterAll(async () => {
  client?.stop();
  await cp?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('mesh-control-plane policy mode', () => {
  it('registers a connecting sidecar and delivers a config it applies', async () => {
    cp = await startControlPlane({ listen: '127.0.0.1:0', stateDir: join(dir, 'state'), debounceMs: 1 });
    const applied: ConfigSnapshot[] = [];
    client = new XdsClient({
      server: `127.0.0.1:${cp.port}`,
      node: { id: 'reviews-v1-abc', cluster: 'reviews', namespace: 'default', serviceAccount: 'reviews', workload: 'reviews-v1', version: 'v1', labels: { app: 'reviews', version: 'v1' }, trustDomain: 'cluster.local' },
      nodeExtras: { inboundAddresses: ['127.0.0.1:9080'] },
      apply: (s) => void applied.push(s),
    });
    client.start();
    await expect.poll(() => applied.length, { timeout: 5000 }).toBeGreaterThan(0);
    expect(client.lastRejection).toBeUndefined();
    expect(cp.xds.proxies().map((p) => p.nodeId)).toEqual(['reviews-v1-abc']);
    expect(applied.at(-1)!.resources.listener.size).toBeGreaterThan(0);
  });
});
