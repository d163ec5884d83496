// Real TLS on loopback with the contexts the sidecar uses.
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { CertificateAuthority } from '../../../certs/ca.js';
import { PeerIdentityVerifier, peerCacheSize } from '../peer-identity.js';
import { TlsContextProvider, TlsSessionCache, type TlsMaterial } from '../tls-contexts.js';
import { admits, detectTransport } from '../permissive.js';
import { forgedLeaf, makeCa, workload, type TestCa } from './helpers.js';

const TD = 'cluster.local';
const SERVER_ID = `spiffe://${TD}/ns/default/sa/reviews`;
const CLIENT_ID = `spiffe://${TD}/ns/default/sa/productpage`;

let ca: TestCa;
let serverMat: TlsMaterial;
let clientMat: TlsMaterial;
const closers: (() => void)[] = [];
afterEach(() => {
  while (closers.length) closers.pop()!();
});

beforeAll(async () => {
  ca = await makeCa(TD, { intermediate: true });
  serverMat = await workload(ca, SERVER_ID);
  clientMat = await workload(ca, CLIENT_ID);
});

interface Seen {
  peer?: string;
  refused?: string;
}

/**
 * An inbound sidecar listener: detects TLS vs plaintext on the first bytes,
 * admits per mode, terminates TLS with the provider's context and checks the
 * client's identity with the verifier.
 */
async function inbound(mode: 'STRICT' | 'PERMISSIVE', mat: TlsMaterial, verifier = new PeerIdentityVerifier({ allowedTrustDomains: [TD], matchSubjectAltNames: [] })) {
  const provider = new TlsContextProvider();
  provider.update(mat);
  const seen: Seen[] = [];
  const terminator = provider.createInboundServer({
    verifier,
    onSecure: (s, id) => {
      seen.push({ peer: id });
      s.end(`tls:${id}`);
    },
    onRefused: (reason) => seen.push({ refused: reason }),
  });
  const server = net.createServer((raw) => {
    raw.once('readable', () => {
      const head = raw.read(raw.readableLength) as Buffer | null;
      if (!head) return raw.destroy();
      raw.unshift(head);
      const transport = detectTransport(head) ?? 'raw_buffer';
      if (!admits(mode, transport)) {
        seen.push({ refused: 'plaintext' });
        return raw.destroy();
      }
      if (transport === 'raw_buffer') {
        raw.end('plain:anonymous');
        return;
      }
      terminator.emit('connection', raw);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => server.close());
  return { port: (server.address() as net.AddressInfo).port, seen, provider };
}

/** An outbound sidecar connection: our cert, the server's identity checked against SAN matchers. */
function outbound(
  port: number,
  mat: TlsMaterial,
  expect: { exact?: string; prefix?: string }[] = [{ exact: SERVER_ID }],
  sessions?: TlsSessionCache,
  provider = new TlsContextProvider(),
): Promise<{ body: string; serverId?: string; reused: boolean }> {
  provider.update(mat);
  const verifier = new PeerIdentityVerifier({ allowedTrustDomains: [TD], matchSubjectAltNames: expect });
  const cache = sessions ?? new TlsSessionCache();
  const key = `127.0.0.1:${port}`;
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...provider.clientConnectOptions({ sessions: cache, key }) });
    cache.track(s, key, provider.version);
    let body = '';
    let serverId: string | undefined;
    s.on('secureConnect', () => {
      const check = verifier.verify(s, cache.identity(key));
      if (!check.ok) {
        s.destroy();
        reject(new Error(check.reason));
        return;
      }
      serverId = check.spiffeId;
      cache.rememberIdentity(key, provider.version, check.spiffeId);
    });
    s.on('data', (d) => (body += d));
    s.on('end', () => resolve({ body, ...(serverId ? { serverId } : {}), reused: s.isSessionReused() }));
    s.on('error', reject);
  });
}

describe('mTLS between sidecars', () => {
  it('succeeds and each side sees the other SPIFFE ID', async () => {
    const srv = await inbound('STRICT', serverMat);
    const res = await outbound(srv.port, clientMat);
    expect(res.body).toBe(`tls:${CLIENT_ID}`);
    expect(res.serverId).toBe(SERVER_ID);
    expect(srv.seen).toEqual([{ peer: CLIENT_ID }]);
  });

  it('resumes the TLS session on the next connection to the same upstream', async () => {
    const srv = await inbound('STRICT', serverMat);
    const sessions = new TlsSessionCache();
    const provider = new TlsContextProvider();
    const first = await outbound(srv.port, clientMat, undefined, sessions, provider);
    expect(first.reused).toBe(false);
    expect(sessions.size).toBe(1);
    const second = await outbound(srv.port, clientMat, undefined, sessions, provider);
    expect(second.reused).toBe(true);
    // The identity is still known on a resumed session, on both sides.
    expect(second.serverId).toBe(SERVER_ID);
    expect(srv.seen[1]).toEqual({ peer: CLIENT_ID });
  });

  it('outbound refuses a server whose identity does not match the SAN matchers', async () => {
    const srv = await inbound('STRICT', serverMat);
    await expect(outbound(srv.port, clientMat, [{ exact: `spiffe://${TD}/ns/default/sa/ratings` }])).rejects.toThrow(/does not match/);
  });

  it('refuses a peer from another trust domain (chain trusted, domain not allowed)', async () => {
    const srv = await inbound('STRICT', serverMat);
    const foreign = await workload(ca, 'spiffe://evil.example/ns/default/sa/productpage');
    await expect(outbound(srv.port, foreign)).resolves.toMatchObject({ body: '' });
    expect(srv.seen).toEqual([{ refused: 'peer trust domain evil.example is not allowed' }]);
  });

  it('refuses an expired client certificate', async () => {
    const clock = new ManualClock(Date.now() - 3 * 24 * 3600_000);
    // The same CA, three days ago: a 1 h certificate from then is expired now.
    const expired = await workload({ ...ca, ca: new CertificateAuthority(ca.gen.material, { clock }) }, CLIENT_ID, 3600_000);
    const srv = await inbound('STRICT', serverMat);
    await outbound(srv.port, expired).catch(() => undefined);
    expect(srv.seen.length).toBe(1);
    expect(srv.seen[0]!.refused).toBe('peer certificate not trusted: CERT_HAS_EXPIRED');
  });

  it('refuses a certificate with two URI SANs', async () => {
    const two = await forgedLeaf(ca, { uris: [CLIENT_ID, `spiffe://${TD}/ns/default/sa/admin`] });
    const srv = await inbound('STRICT', serverMat);
    await outbound(srv.port, two).catch(() => undefined);
    expect(srv.seen).toEqual([{ refused: 'peer certificate has 2 URI SANs, exactly one is required' }]);
  });

  it('refuses a leaf marked as a CA', async () => {
    const caLeaf = await forgedLeaf(ca, { uris: [CLIENT_ID], isCa: true });
    const srv = await inbound('STRICT', serverMat);
    await outbound(srv.port, caLeaf).catch(() => undefined);
    expect(srv.seen).toEqual([{ refused: 'peer leaf certificate is a CA (basicConstraints cA=true)' }]);
  });

  it('refuses a chain from an unknown root, in both directions', async () => {
    const other = await makeCa(TD);
    const stranger = await workload(other, CLIENT_ID);
    const srv = await inbound('STRICT', serverMat);
    await outbound(srv.port, { ...stranger, trustBundlePem: ca.rootPem }).catch(() => undefined);
    expect(srv.seen.length).toBe(1);
    expect(srv.seen[0]!.refused).toMatch(/not trusted: UNABLE_TO_(GET_ISSUER_CERT|VERIFY_LEAF_SIGNATURE)/);
    // And a client that trusts only the other root refuses our server.
    await expect(outbound(srv.port, stranger)).rejects.toThrow();
  });

  it('refuses a TLS client that presents no certificate', async () => {
    const srv = await inbound('STRICT', serverMat);
    await new Promise<void>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: srv.port, ca: ca.rootPem, checkServerIdentity: () => undefined });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.resume();
    });
    expect(srv.seen).toEqual([{ refused: 'peer presented no certificate' }]);
  });

  it('STRICT refuses plaintext; PERMISSIVE accepts plaintext and mTLS on one port', async () => {
    const plain = (port: number) =>
      new Promise<string>((resolve) => {
        const c = net.connect(port, '127.0.0.1', () => c.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
        let got = '';
        c.on('data', (d) => (got += d));
        c.on('close', () => resolve(got));
        c.on('error', () => resolve(got));
      });
    const strict = await inbound('STRICT', serverMat);
    expect(await plain(strict.port)).toBe('');
    expect(strict.seen).toEqual([{ refused: 'plaintext' }]);

    const permissive = await inbound('PERMISSIVE', serverMat);
    expect(await plain(permissive.port)).toBe('plain:anonymous');
    const res = await outbound(permissive.port, clientMat);
    expect(res.body).toBe(`tls:${CLIENT_ID}`);
  });

  it('hot-swaps the server certificate without dropping an open connection', async () => {
    const srv = await inbound('STRICT', serverMat);
    const provider = new TlsContextProvider();
    provider.update(clientMat);
    const s = tls.connect({ host: '127.0.0.1', port: srv.port, ...provider.clientConnectOptions({ sessions: new TlsSessionCache(), key: 'x' }) });
    await new Promise((r) => s.once('secureConnect', r));
    const fresh = await workload(ca, SERVER_ID);
    expect(srv.provider.update(fresh)).toBe(true);
    expect(srv.provider.update(fresh)).toBe(false); // identical material is a no-op
    let body = '';
    s.on('data', (d) => (body += d));
    await new Promise((r) => s.on('end', r));
    expect(body).toBe(`tls:${CLIENT_ID}`);
    // New connections get the new certificate.
    const next = await outbound(srv.port, clientMat);
    expect(next.serverId).toBe(SERVER_ID);
  });

  it('parses each peer certificate once (cached by fingerprint)', async () => {
    const srv = await inbound('STRICT', serverMat);
    await outbound(srv.port, clientMat);
    const size = peerCacheSize();
    await outbound(srv.port, clientMat);
    await outbound(srv.port, clientMat);
    expect(peerCacheSize()).toBe(size);
  });
});
