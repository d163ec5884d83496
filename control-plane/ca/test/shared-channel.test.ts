// A sidecar's CA is its xDS server: CreateCertificate rides the ADS channel
// (token from the channel's call credentials) instead of opening a TCP + TLS
// connection of its own. Connections are counted by a TCP relay in front of a
// real CA server.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../../certs/ca.js';
import { generateCa } from '../../../certs/ca-store.js';
import { createWorkloadCsr } from '../../../certs/workload-csr.js';
import { CaCallError, CaClient } from '../../../proxy/identity/ca-client.js';
import { BootstrapTokenAuthenticator, mintBootstrapToken } from '../bootstrap-token.js';
import { startCaServer, type CaServer } from '../service.js';

const TD = 'cluster.local';
const ID = `spiffe://${TD}/ns/shop/sa/cart`;
const key = Buffer.alloc(32, 9);
let server: CaServer;
let relay: net.Server;
let rootPem: string;
let connections = 0;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  const gen = await generateCa({ trustDomain: TD });
  rootPem = gen.files.rootCert!;
  server = await startCaServer({ ca: new CertificateAuthority(gen.material), authenticator: new BootstrapTokenAuthenticator(key, TD) });
  relay = net.createServer((down) => {
    connections++;
    const up = net.connect(server.port, '127.0.0.1');
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    down.pipe(up).pipe(down);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  relay.close();
  await server.close();
});

/** Channel credentials as the sidecar's ADS channel has them: TLS plus the bearer token on every call. */
function adsCredentials(token: string): grpc.ChannelCredentials {
  return grpc.credentials.combineChannelCredentials(
    grpc.credentials.createSsl(Buffer.from(rootPem)),
    grpc.credentials.createFromMetadataGenerator((_p, cb) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${token}`);
      cb(null, md);
    }),
  );
}

describe('CaClient over an existing channel', () => {
  it('sends CreateCertificate on the open connection with the channel’s token, and leaves the channel open on close', async () => {
    const address = `127.0.0.1:${(relay.address() as net.AddressInfo).port}`;
    const token = mintBootstrapToken({ key, trustDomain: TD, namespace: 'shop', serviceAccount: 'cart' });
    const owner = new grpc.Client(address, adsCredentials(token), { 'grpc.ssl_target_name_override': 'localhost' });
    await new Promise<void>((res, rej) => owner.waitForReady(Date.now() + 5000, (e) => (e ? rej(e) : res())));
    const before = connections;
    expect(before).toBe(1);

    const ca = new CaClient({ address, caRootPem: rootPem, channel: owner.getChannel() });
    const { csrPem } = await createWorkloadCsr(ID);
    const out = await ca.requestCertificate(csrPem, 3600_000);
    expect(out.certChainPem).toContain('BEGIN CERTIFICATE');
    const again = await ca.requestCertificate((await createWorkloadCsr(ID)).csrPem, 3600_000);
    expect(again.trustBundlePem).toBe(out.trustBundlePem);
    expect(connections).toBe(before); // no connection of its own

    ca.close();
    expect(owner.getChannel().getConnectivityState(false)).toBe(grpc.connectivityState.READY);
    owner.close();
  });

  it('a channel whose credentials carry another identity gets that identity’s refusal (the token is the channel’s)', async () => {
    const address = `127.0.0.1:${(relay.address() as net.AddressInfo).port}`;
    const other = mintBootstrapToken({ key, trustDomain: TD, namespace: 'shop', serviceAccount: 'payments' });
    const owner = new grpc.Client(address, adsCredentials(other), { 'grpc.ssl_target_name_override': 'localhost' });
    const ca = new CaClient({ address, caRootPem: rootPem, channel: owner.getChannel() });
    const err = await ca.requestCertificate((await createWorkloadCsr(ID)).csrPem, 3600_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CaCallError);
    expect((err as CaCallError).grpcCode).toBe(grpc.status.PERMISSION_DENIED);
    owner.close();
  });
});
