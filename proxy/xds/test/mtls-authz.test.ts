// Node authorization over real mTLS: the ADS server compares the SPIFFE ID of
// the verified client certificate with the identity the node claims.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Server, ServerCredentials, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeDevMaterial } from '../../../certs/dev-material.js';
import { spiffeNodeAuthorizer } from '../../../control-plane/xds/authorize.js';
import { MemorySnapshotCache } from '../../../control-plane/xds/cache.js';
import { XdsServer } from '../../../control-plane/xds/xds-server.js';
import { resources } from '../../../control-plane/xds/test/harness.js';
import type { NodeInfo } from '../../config/resources.js';
import { XdsClient } from '../client.js';

let dir = '';
let port = 0;
let xds: XdsServer;
let server: Server;
const clients: XdsClient[] = [];
const pem = (f: string) => readFileSync(join(dir, f));
const reviews: NodeInfo = { id: 'reviews-1', cluster: 'reviews', namespace: 'default', serviceAccount: 'reviews', workload: 'reviews-v1', labels: {}, trustDomain: 'cluster.local' };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsmesh-xds-mtls-'));
  await writeDevMaterial({ dir, trustDomain: 'cluster.local', intermediate: false, ids: ['spiffe://cluster.local/ns/default/sa/reviews', 'spiffe://cluster.local/ns/default/sa/ratings', 'spiffe://cluster.local/ns/mesh-system/sa/control-plane'], ttlHours: 1 });
  const cache = new MemorySnapshotCache();
  cache.setSnapshot('reviews-1', 'v1', resources());
  xds = new XdsServer({ cache, authorizeNode: spiffeNodeAuthorizer(), debounceMs: 0 });
  server = new Server();
  xds.register(server);
  const creds = ServerCredentials.createSsl(pem('root-cert.pem'), [{ cert_chain: pem('mesh-system.control-plane-cert.pem'), private_key: pem('mesh-system.control-plane-key.pem') }], true);
  port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? rej(e) : res(p))));
});

afterAll(() => {
  clients.forEach((c) => c.stop());
  xds.close();
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

function clientAs(sa: string, node: NodeInfo): XdsClient {
  // SPIFFE certificates carry no DNS name; the peer is verified by the trust bundle (and its SPIFFE ID).
  const creds = credentials.createSsl(pem('root-cert.pem'), pem(`default.${sa}-key.pem`), pem(`default.${sa}-cert.pem`), { checkServerIdentity: () => undefined });
  const c = new XdsClient({ server: `127.0.0.1:${port}`, credentials: creds, node, apply: () => {}, backoff: { initialMs: 5000, maxMs: 5000, jitter: 0 } });
  clients.push(c);
  return c;
}

describe('SPIFFE node authorization over mTLS', () => {
  it('serves a node whose certificate carries the identity it claims', async () => {
    clientAs('reviews', reviews).start();
    await expect.poll(() => xds.receipt('v1')?.acked.map((a) => a.nodeId)).toEqual(['reviews-1']);
  });

  it('refuses a workload asking for another identity’s config with PERMISSION_DENIED', async () => {
    const impostor = clientAs('ratings', { ...reviews, id: 'reviews-2' });
    impostor.start();
    await expect.poll(() => impostor.lastStreamError?.code).toBe(status.PERMISSION_DENIED);
    expect(impostor.lastStreamError!.message).toContain('peer is spiffe://cluster.local/ns/default/sa/ratings, node claims spiffe://cluster.local/ns/default/sa/reviews');
    expect(impostor.appliedCount).toBe(0);
    expect(xds.proxies().map((p) => p.nodeId)).not.toContain('reviews-2');
  });
});
