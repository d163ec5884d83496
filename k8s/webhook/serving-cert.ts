// The webhook's TLS serving certificate: self-signed, for the Service's DNS
// names. Its PEM doubles as the caBundle of the MutatingWebhookConfiguration
// (the API server trusts exactly this certificate).

import { EC_SIGN_ALG, generateKeyPair, privateKeyToPem, randomSerialHex, x509 } from '../../certs/crypto.js';
import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';

export interface ServingCert {
  certPem: string;
  keyPem: string;
}

/** DNS names the API server uses to reach `<service>.<namespace>.svc`. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`, service];
}

export async function createServingCert(opts: { dnsNames: string[]; ipAddresses?: string[]; ttlDays?: number; clock?: Clock }): Promise<ServingCert> {
  const keys = await generateKeyPair();
  const now = (opts.clock ?? systemClock).now();
  const names = [...opts.dnsNames.map((value) => ({ type: 'dns' as const, value })), ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value }))];
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: `CN=${opts.dnsNames[0] ?? opts.ipAddresses?.[0] ?? 'tsmesh-webhook'}`,
    notBefore: new Date(now - 5 * 60_000),
    notAfter: new Date(now + (opts.ttlDays ?? 365) * 24 * 3600_000),
    keys,
    signingAlgorithm: EC_SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: privateKeyToPem(keys.privateKey) };
}
