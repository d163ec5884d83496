// The certificate service end to end: real grpc-js client and server over
// TLS, real CA, real CSRs. The Kubernetes API server is faked (the other
// side of TokenReview) and checks the protocol's rules.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { ManualClock } from '../../../common/clock.js';
import { CertificateAuthority } from '../../../certs/ca.js';
import { generateCa } from '../../../certs/ca-store.js';
import { EC_SIGN_ALG, generateKeyPair, x509 } from '../../../certs/crypto.js';
import { createWorkloadCsr } from '../../../certs/csr.js';
import { inspectCertificate, parseCertificate } from '../../../certs/svid.js';
import { CaClient, CaCallError } from '../../../proxy/identity/ca-client.js';
import { verifyChainToBundle } from '../../../proxy/identity/verify-chain.js';
import { BootstrapTokenAuthenticator, mintBootstrapToken } from '../bootstrap-token.js';
import { PerCallerRateLimiter } from '../rate-limit.js';
import { startCaServer, type CaServer } from '../service.js';
import { TokenReviewAuthenticator } from '../token-review.js';

const TD = 'cluster.local';
const ID = `spiffe://${TD}/ns/shop/sa/cart`;
const key = Buffer.alloc(32, 7);
let ca: CertificateAuthority;
let rootPem: string;
let server: CaServer;
const clients: CaClient[] = [];

function client(token: () => string, srv = server): CaClient {
  const c = new CaClient({ address: srv.address, caRootPem: rootPem, token, serverName: 'localhost' });
  clients.push(c);
  return c;
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CaCallError);
    return { code: grpc.status[(err as CaCallError).grpcCode]!, message: (err as Error).message };
  }
  throw new Error('request was not refused');
}

beforeAll(async () => {
  const gen = await generateCa({ trustDomain: TD, intermediate: true });
  rootPem = gen.files.rootCert!;
  ca = new CertificateAuthority(gen.material, { maxTtlMs: 48 * 3600_000 });
  server = await startCaServer({
    ca,
    authenticator: new BootstrapTokenAuthenticator(key, TD),
    rateLimiter: new PerCallerRateLimiter({ burst: 3, perSecond: 0.001 }),
  });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await server.close();
});

const token = (sa = 'cart', o: { ttlMs?: number; clock?: ManualClock; k?: Buffer; td?: string } = {}) =>
  mintBootstrapToken({ key: o.k ?? key, trustDomain: o.td ?? TD, namespace: 'shop', serviceAccount: sa, ...o });

describe('CertificateService over gRPC/TLS', () => {
  it('signs a valid CSR: one URI SAN, not a CA, 24 h default, chains to the bundle', async () => {
    const { csrPem } = await createWorkloadCsr(ID);
    const res = await client(() => token()).requestCertificate(csrPem, 0);
    const leaf = inspectCertificate(parseCertificate(res.certChainPem.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----'));
    expect(leaf.uriSans).toEqual([ID]);
    expect(leaf.otherSanCount).toBe(0);
    expect(leaf.isCa).toBe(false);
    expect(Math.round((leaf.notAfter - Date.now()) / 3600_000)).toBe(24);
    expect(verifyChainToBundle(res.certChainPem, res.trustBundlePem, Date.now(), 0)).toBeUndefined();
    expect(res.trustBundlePem).toBe(rootPem);
  });

  it('refuses a CSR for another identity with PERMISSION_DENIED', async () => {
    const { csrPem } = await createWorkloadCsr(`spiffe://${TD}/ns/shop/sa/payments`);
    const r = await refusal(client(() => token('cart')).requestCertificate(csrPem, 0));
    expect(r.code).toBe('PERMISSION_DENIED');
    expect(r.message).toContain('MESH_CSR_IDENTITY_MISMATCH');
  });

  it('refuses a missing, invalid or expired token with UNAUTHENTICATED', async () => {
    const { csrPem } = await createWorkloadCsr(`spiffe://${TD}/ns/shop/sa/auth`);
    const missing = await refusal(client(() => '').requestCertificate(csrPem, 0));
    expect(missing).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(missing.message).toContain('missing "authorization: Bearer <token>"');
    const forged = await refusal(client(() => token('auth', { k: Buffer.alloc(32, 9) })).requestCertificate(csrPem, 0));
    expect(forged.code).toBe('UNAUTHENTICATED');
    expect(forged.message).toContain('signature is invalid');
    const old = new ManualClock(Date.now() - 48 * 3600_000);
    const expired = await refusal(client(() => token('auth', { clock: old, ttlMs: 3600_000 })).requestCertificate(csrPem, 0));
    expect(expired.code).toBe('UNAUTHENTICATED');
    expect(expired.message).toContain('expired');
    const otherTd = await refusal(client(() => token('auth', { td: 'other.local' })).requestCertificate(csrPem, 0));
    expect(otherTd.code).toBe('UNAUTHENTICATED');
  });

  it('refuses a TTL above the maximum, extra SANs and a bad signature with INVALID_ARGUMENT', async () => {
    const sa = 'checks';
    const id = `spiffe://${TD}/ns/shop/sa/${sa}`;
    const c = client(() => token(sa));
    const { csrPem } = await createWorkloadCsr(id);
    const ttl = await refusal(c.requestCertificate(csrPem, 49 * 3600_000));
    expect(ttl.code).toBe('INVALID_ARGUMENT');
    expect(ttl.message).toContain('MESH_CSR_TTL_TOO_LONG');

    const keys = await generateKeyPair();
    const extra = await x509.Pkcs10CertificateRequestGenerator.create({
      keys: keys as never,
      signingAlgorithm: EC_SIGN_ALG,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id }, { type: 'dns', value: 'cart.shop.svc' }])],
    });
    const sans = await refusal(c.requestCertificate(extra.toString('pem'), 0));
    expect(sans.code).toBe('INVALID_ARGUMENT');
    expect(sans.message).toContain('non-URI SAN');

    // Flip one byte inside the signature.
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 5] ^= 0xff;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    const sig = await refusal(c.requestCertificate(tampered, 0));
    expect(sig.code).toBe('INVALID_ARGUMENT');
    expect(sig.message).toContain('MESH_CSR_BAD_SIGNATURE');
  });

  it('rate-limits issuance per caller with RESOURCE_EXHAUSTED', async () => {
    const sa = 'busy';
    const c = client(() => token(sa));
    const { csrPem } = await createWorkloadCsr(`spiffe://${TD}/ns/shop/sa/${sa}`);
    for (let i = 0; i < 3; i++) await c.requestCertificate(csrPem, 0);
    const r = await refusal(c.requestCertificate(csrPem, 0));
    expect(r.code).toBe('RESOURCE_EXHAUSTED');
    // Another caller is not affected.
    const { csrPem: other } = await createWorkloadCsr(`spiffe://${TD}/ns/shop/sa/quiet`);
    await expect(client(() => token('quiet')).requestCertificate(other, 0)).resolves.toBeDefined();
  });
});

describe('per-address limit before authentication', () => {
  it('refuses a flood of bad tokens from one address with RESOURCE_EXHAUSTED', async () => {
    const limited = await startCaServer({
      ca,
      authenticator: new BootstrapTokenAuthenticator(key, TD),
      peerRateLimiter: new PerCallerRateLimiter({ burst: 2, perSecond: 0.001 }),
    });
    try {
      const { csrPem } = await createWorkloadCsr(ID);
      const c = client(() => 'guess', limited);
      expect((await refusal(c.requestCertificate(csrPem, 0))).code).toBe('UNAUTHENTICATED');
      expect((await refusal(c.requestCertificate(csrPem, 0))).code).toBe('UNAUTHENTICATED');
      const r = await refusal(c.requestCertificate(csrPem, 0));
      expect(r.code).toBe('RESOURCE_EXHAUSTED');
      expect(r.message).toContain('from this address');
    } finally {
      await limited.close();
    }
  });
});

describe('Kubernetes mode (TokenReview)', () => {
  let api: http.Server;
  let k8sCa: CaServer;
  const reviews: unknown[] = [];

  beforeAll(async () => {
    // A fake API server: speaks TokenReview as kube-apiserver does (201, status.user, status.audiences).
    api = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/apis/authentication.k8s.io/v1/tokenreviews') {
          res.writeHead(404).end();
          return;
        }
        if (req.headers.authorization !== 'Bearer reviewer-token') {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"kind":"Status","code":401}');
          return;
        }
        const tr = JSON.parse(body) as { apiVersion: string; kind: string; spec: { token: string; audiences: string[] } };
        reviews.push(tr);
        const valid = tr.apiVersion === 'authentication.k8s.io/v1' && tr.kind === 'TokenReview';
        // Known tokens: a pod's, one minted for another audience (API server returns no matching audience), a human user's.
        const users: Record<string, { username: string; audiences: string[] }> = {
          'pod-token-cart': { username: 'system:serviceaccount:shop:cart', audiences: tr.spec.audiences },
          'pod-token-other-aud': { username: 'system:serviceaccount:shop:cart', audiences: [] },
          'user-token': { username: 'alice@example.com', audiences: tr.spec.audiences },
        };
        const u = valid ? users[tr.spec.token] : undefined;
        const status = u
          ? { authenticated: true, user: { username: u.username, groups: ['system:authenticated'] }, audiences: u.audiences }
          : { authenticated: false, error: 'invalid bearer token' };
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ ...tr, status }));
      });
    });
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    const port = (api.address() as { port: number }).port;
    k8sCa = await startCaServer({
      ca,
      authenticator: new TokenReviewAuthenticator({
        apiServer: `http://127.0.0.1:${port}`,
        reviewerToken: () => 'reviewer-token',
        audiences: ['tsmesh-ca'],
        trustDomain: TD,
      }),
    });
  });
  afterAll(async () => {
    await k8sCa.close();
    await new Promise((r) => api.close(r));
  });

  it('issues for a pod whose projected token TokenReview accepts, with the audience sent', async () => {
    const { csrPem } = await createWorkloadCsr(ID);
    const res = await client(() => 'pod-token-cart', k8sCa).requestCertificate(csrPem, 0);
    expect(res.certChainPem).toContain('BEGIN CERTIFICATE');
    expect(reviews.at(-1)).toMatchObject({ spec: { token: 'pod-token-cart', audiences: ['tsmesh-ca'] } });
  });

  it('refuses a token TokenReview rejects, and a CSR for another service account', async () => {
    const { csrPem } = await createWorkloadCsr(ID);
    const bad = await refusal(client(() => 'stolen', k8sCa).requestCertificate(csrPem, 0));
    expect(bad.code).toBe('UNAUTHENTICATED');
    expect(bad.message).toContain('invalid bearer token');
    const { csrPem: other } = await createWorkloadCsr(`spiffe://${TD}/ns/shop/sa/admin`);
    const mismatch = await refusal(client(() => 'pod-token-cart', k8sCa).requestCertificate(other, 0));
    expect(mismatch.code).toBe('PERMISSION_DENIED');
    const aud = await refusal(client(() => 'pod-token-other-aud', k8sCa).requestCertificate(csrPem, 0));
    expect(aud.code).toBe('UNAUTHENTICATED');
    expect(aud.message).toContain('not for audience tsmesh-ca');
    const human = await refusal(client(() => 'user-token', k8sCa).requestCertificate(csrPem, 0));
    expect(human.code).toBe('UNAUTHENTICATED');
    expect(human.message).toContain('is not a service account');
  });
});
