// The webhook's TLS serving certificate for the Service's DNS names: signed
// by the mesh CA (then every replica's cert is trusted through the CA root as
// the caBundle), or self-signed (then its own PEM is the caBundle).

import { EC_SIGN_ALG, generateKeyPair, privateKeyToPem, randomSerialHex, x509 } from '../../certs/crypto.js';
import type { CaMaterial } from '../../certs/ca.js';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';

export interface ServingCert {
  /** Leaf, then intermediates when CA-signed. */
  certPem: string;
  keyPem: string;
  /** What the API server must trust: the CA root(s), or the self-signed cert. */
  caBundlePem: string;
}

/** DNS names the API server uses to reach `<service>.<namespace>.svc`. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`, service];
}

export async function createServingCert(opts: { dnsNames: string[]; ipAddresses?: string[]; ttlDays?: number; clock?: Clock; issuer?: CaMaterial }): Promise<ServingCert> {
  const keys = await generateKeyPair();
  const now = (opts.clock ?? systemClock).now();
  const names = [...opts.dnsNames.map((value) => ({ type: 'dns' as const, value })), ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value }))];
  const subject = `CN=${opts.dnsNames[0] ?? opts.ipAddresses?.[0] ?? 'tsmesh-webhook'}`;
  const notBefore = new Date(now - 5 * 60_000);
  let notAfter = new Date(now + (opts.ttlDays ?? 365) * 24 * 3600_000);
  const extensions = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension(names),
  ];
  const keyPem = privateKeyToPem(keys.privateKey);
  if (!opts.issuer) {
    const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: randomSerialHex(), name: subject, notBefore, notAfter, keys, signingAlgorithm: EC_SIGN_ALG, extensions });
    const pem = cert.toString('pem') + '\n';
    return { certPem: pem, keyPem, caBundlePem: pem };
  }
  const ca = opts.issuer;
  // Never outlive the signing certificate.
  if (notAfter > ca.signingCert.notAfter) notAfter = ca.signingCert.notAfter;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject,
    issuer: ca.signingCert.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey as never,
    signingKey: ca.signingKeys.privateKey as never,
    signingAlgorithm: EC_SIGN_ALG,
    extensions,
  });
  // intermediatesPem starts with the signing cert itself (empty when the root signs)
  const chain = [cert.toString('pem') + '\n', ...ca.intermediatesPem.map((p) => (p.endsWith('\n') ? p : p + '\n'))];
  return { certPem: chain.join(''), keyPem, caBundlePem: ca.rootsPem.join('') };
}
