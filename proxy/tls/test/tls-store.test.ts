// The contexts TlsStore builds for a listener and a cluster, in a real mTLS
// handshake on loopback: Envoy's cipher preference (AES-128-GCM first) is
// what the mesh negotiates, and the store's upstream verifier still decides
// the peer's identity.
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DownstreamTlsContext, Secret, UpstreamTlsContext } from '../../config/resources.js';
import { makeCa, workload } from '../../identity/test/helpers.js';
import type { TlsMaterial } from '../../identity/tls-contexts.js';
import { TlsStore } from '../tls-store.js';

const TD = 'cluster.local';
const SERVER_ID = `spiffe://${TD}/ns/default/sa/reviews`;
const CLIENT_ID = `spiffe://${TD}/ns/default/sa/productpage`;

let serverMat: TlsMaterial;
let clientMat: TlsMaterial;
const closers: (() => void)[] = [];
afterEach(() => {
  while (closers.length) closers.pop()!();
});

beforeAll(async () => {
  const ca = await makeCa(TD, { intermediate: true });
  serverMat = await workload(ca, SERVER_ID);
  clientMat = await workload(ca, CLIENT_ID);
});

function store(mat: TlsMaterial): TlsStore {
  const s = new TlsStore();
  const secrets = new Map<string, Secret>([
    ['default', { name: 'default', tlsCertificate: { certificateChain: mat.certChainPem, privateKey: mat.privateKeyPem } }],
    ['ROOTCA', { name: 'ROOTCA', validationContext: { trustedCa: mat.trustBundlePem } }],
  ]);
  s.setConfigSecrets(secrets);
  return s;
}

const downstream = (minVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.2'): DownstreamTlsContext => ({
  certificateSecret: 'default',
  validationSecret: 'ROOTCA',
  requireClientCertificate: true,
  matchSubjectAltNames: [],
  alpnProtocols: ['http/1.1'],
  params: { minVersion },
});
const upstream: UpstreamTlsContext = {
  certificateSecret: 'default',
  validationSecret: 'ROOTCA',
  matchSubjectAltNames: [{ exact: SERVER_ID }],
  alpnProtocols: ['http/1.1'],
  params: { minVersion: 'TLSv1.2' },
};

/** A listener terminating mTLS with the store's downstream options; answers with the cipher it negotiated. */
async function listener(options: tls.TlsOptions): Promise<number> {
  const server = tls.createServer(options, (s) => s.end(`${s.getCipher().name} ${s.authorized}`));
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

function call(port: number, opts: tls.ConnectionOptions): Promise<{ body: string; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, checkServerIdentity: () => undefined, ...opts });
    let body = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (body += d));
    socket.on('end', () => resolve({ body, socket }));
    socket.on('error', reject);
  });
}

describe('TlsStore contexts', () => {
  it('mesh mTLS between two sidecars negotiates TLS 1.3 with AES-128-GCM, and the cluster verifier accepts the server', async () => {
    const port = await listener(store(serverMat).downstream(downstream())!.options);
    const up = store(clientMat).upstream(upstream)!;
    const { body, socket } = await call(port, { secureContext: up.secureContext, ALPNProtocols: up.alpn });
    expect(body).toBe('TLS_AES_128_GCM_SHA256 true');
    expect(socket.getProtocol()).toBe('TLSv1.3');
    expect(up.verifier!.verify(socket)).toEqual({ ok: true, spiffeId: SERVER_ID });
  });

  it('a TLS 1.2 peer gets an ECDHE-ECDSA AES-128-GCM suite from a TLSv1.2 listener', async () => {
    const port = await listener(store(serverMat).downstream(downstream())!.options);
    const { body } = await call(port, { cert: clientMat.certChainPem, key: clientMat.privateKeyPem, ca: clientMat.trustBundlePem, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
    expect(body).toBe('ECDHE-ECDSA-AES128-GCM-SHA256 true');
  });

  it('no CBC suite is offered: a TLS 1.2 client asking only for ECDHE-ECDSA-AES128-SHA is refused', async () => {
    const port = await listener(store(serverMat).downstream(downstream())!.options);
    await expect(
      call(port, { cert: clientMat.certChainPem, key: clientMat.privateKeyPem, ca: clientMat.trustBundlePem, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA' }),
    ).rejects.toThrow();
  });

  it('minVersion TLSv1.3 still refuses a TLS 1.2 client', async () => {
    const port = await listener(store(serverMat).downstream(downstream('TLSv1.3'))!.options);
    await expect(call(port, { cert: clientMat.certChainPem, key: clientMat.privateKeyPem, ca: clientMat.trustBundlePem, maxVersion: 'TLSv1.2' })).rejects.toThrow();
  });
});
