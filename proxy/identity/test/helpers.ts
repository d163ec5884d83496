// Test material: real CAs and real certificates, plus hand-built bad ones
// (two URI SANs, a leaf marked CA) the CA itself would never issue.
import { ManualClock } from '../../../common/clock.js';
import { CertificateAuthority } from '../../../certs/ca.js';
import { generateCa, type GeneratedCa } from '../../../certs/ca-store.js';
import { EC_SIGN_ALG, generateKeyPair, privateKeyToPem, randomSerialHex, x509 } from '../../../certs/crypto.js';
import { createWorkloadCsr } from '../../../certs/csr.js';
import type { TlsMaterial } from '../tls-contexts.js';

export interface TestCa {
  gen: GeneratedCa;
  ca: CertificateAuthority;
  rootPem: string;
}

export async function makeCa(trustDomain = 'cluster.local', opts: { intermediate?: boolean; clock?: ManualClock; maxTtlMs?: number } = {}): Promise<TestCa> {
  const gen = await generateCa({ trustDomain, intermediate: opts.intermediate ?? false });
  const ca = new CertificateAuthority(gen.material, { ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.maxTtlMs ? { maxTtlMs: opts.maxTtlMs } : {}) });
  return { gen, ca, rootPem: gen.files.rootCert! };
}

/** Workload material issued by `t.ca` for `id` (the CA's own CSR checks apply). */
export async function workload(t: TestCa, id: string, ttlMs?: number, trustBundlePem?: string): Promise<TlsMaterial> {
  const { csrPem, privateKeyPem } = await createWorkloadCsr(id);
  const out = await t.ca.issueWorkloadCertificate(csrPem, id, ttlMs);
  return { certChainPem: out.certChainPem, privateKeyPem, trustBundlePem: trustBundlePem ?? out.trustBundlePem };
}

/** A leaf signed directly with the CA key, bypassing the CA's rules. */
export async function forgedLeaf(
  t: TestCa,
  opts: { uris: string[]; isCa?: boolean; notBefore?: Date; notAfter?: Date },
): Promise<TlsMaterial> {
  const keys = await generateKeyPair();
  const m = t.gen.material;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: '',
    issuer: m.signingCert.subject,
    notBefore: opts.notBefore ?? new Date(Date.now() - 60_000),
    notAfter: opts.notAfter ?? new Date(Date.now() + 3600_000),
    publicKey: keys.publicKey as never,
    signingKey: m.signingKeys.privateKey as never,
    signingAlgorithm: EC_SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(opts.isCa === true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | (opts.isCa ? x509.KeyUsageFlags.keyCertSign : 0), true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(opts.uris.map((value) => ({ type: 'url' as const, value })), true),
    ],
  });
  return { certChainPem: cert.toString('pem') + '\n' + m.intermediatesPem.join(''), privateKeyPem: privateKeyToPem(keys.privateKey), trustBundlePem: t.rootPem };
}
