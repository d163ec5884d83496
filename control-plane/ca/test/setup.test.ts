// setupCa as mesh-control-plane uses it: a shared grpc.Server with the CA's
// TLS credentials and the service plugin; a sidecar client with a token.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { createWorkloadCsr } from '../../../certs/csr.js';
import { CaClient } from '../../../proxy/identity/ca-client.js';
import { mintBootstrapToken } from '../bootstrap-token.js';
import { setupCa } from '../setup.js';

let dir: string;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('setupCa (local mode)', () => {
  it('serves CreateCertificate on a shared TLS gRPC server and keeps its CA across restarts', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsmesh-cp-'));
    const setup = await setupCa({ trustDomain: 'mesh.test', stateDir: dir, intermediate: true, auth: { mode: 'local' } });
    expect((await stat(join(dir, 'ca', 'token-hmac.key'))).mode & 0o777).toBe(0o600);
    const server = new grpc.Server();
    setup.plugin(server);
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', setup.credentials, (e, p) => (e ? rej(e) : res(p))));
    const id = 'spiffe://mesh.test/ns/default/sa/web';
    const client = new CaClient({
      address: `127.0.0.1:${port}`,
      caRootPem: setup.rootPem,
      serverName: 'localhost',
      token: () => mintBootstrapToken({ key: setup.tokenKey!, trustDomain: 'mesh.test', namespace: 'default', serviceAccount: 'web' }),
    });
    try {
      const res = await client.requestCertificate((await createWorkloadCsr(id)).csrPem, 3600_000);
      expect(res.trustBundlePem).toBe(setup.rootPem);
    } finally {
      client.close();
      server.forceShutdown();
    }
    const again = await setupCa({ trustDomain: 'mesh.test', stateDir: dir, intermediate: true, auth: { mode: 'local' } });
    expect(again.rootPem).toBe(setup.rootPem);
    expect(again.tokenKey!.equals(setup.tokenKey!)).toBe(true);
  });
});
