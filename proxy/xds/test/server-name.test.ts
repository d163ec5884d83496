// The xDS channel's TLS name: a control plane reached at an IP address is
// verified as (and sent as SNI) `serverName`, as the bootstrap's
// `ads.serverName` documents; without it the IP itself is checked.

import { Server, ServerCredentials, credentials, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySnapshotCache } from '../../../control-plane/xds/cache.js';
import { XdsServer } from '../../../control-plane/xds/xds-server.js';
import { resources } from '../../../control-plane/xds/test/harness.js';
import { makeCa } from '../../identity/test/helpers.js';
import type { NodeInfo } from '../../config/resources.js';
import { XdsClient } from '../client.js';

const node: NodeInfo = { id: 'reviews-1', cluster: 'reviews', namespace: 'default', serviceAccount: 'reviews', workload: 'reviews-v1', labels: {}, trustDomain: 'cluster.local' };
let port = 0;
let rootPem = '';
let xds: XdsServer;
let server: Server;
const clients: XdsClient[] = [];

beforeAll(async () => {
  const ca = await makeCa();
  rootPem = ca.rootPem;
  // A serving certificate with a DNS name only: an IP-addressed client must be told which name to check.
  const serving = await ca.ca.issueServingCertificate({ dnsNames: ['cp.mesh.test'] });
  const cache = new MemorySnapshotCache();
  cache.setSnapshot('reviews-1', 'v1', resources());
  xds = new XdsServer({ cache, debounceMs: 0 });
  server = new Server();
  xds.register(server);
  const creds = ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(serving.certChainPem), private_key: Buffer.from(serving.privateKeyPem) }], false);
  port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? rej(e) : res(p))));
});

afterAll(() => {
  clients.forEach((c) => c.stop());
  xds.close();
  server.forceShutdown();
});

function client(serverName?: string): XdsClient {
  const c = new XdsClient({ server: `127.0.0.1:${port}`, credentials: credentials.createSsl(Buffer.from(rootPem)), ...(serverName ? { serverName } : {}), node, apply: () => {}, backoff: { initialMs: 5000, maxMs: 5000, jitter: 0 } });
  clients.push(c);
  c.start();
  return c;
}

describe('xDS over TLS to a control plane at an IP address', () => {
  it('verifies the control plane as serverName and gets its config', async () => {
    const c = client('cp.mesh.test');
    await expect.poll(() => c.appliedCount).toBe(1);
  });

  it('without serverName the IP is checked, which the certificate does not name: no connection', async () => {
    const c = client();
    await expect.poll(() => c.lastStreamError?.code).toBe(status.UNAVAILABLE);
    expect(c.appliedCount).toBe(0);
  });
});
