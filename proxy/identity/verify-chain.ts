// Checks a certificate chain the CA returned before the workload uses it:
// each certificate signed by the next, the last by a root in the bundle,
// all currently valid. Node's TLS does this for peers; this is for our own.
import { X509Certificate } from 'node:crypto';
import { splitPemCerts } from '../../certs/pem.js';

export function verifyChainToBundle(chainPem: string, bundlePem: string, nowMs: number, skewMs: number): string | undefined {
  const chain = splitPemCerts(chainPem, 8).map((p) => new X509Certificate(p));
  const roots = splitPemCerts(bundlePem, 64).map((p) => new X509Certificate(p));
  if (chain.length === 0) return 'certificate chain is empty';
  if (roots.length === 0) return 'trust bundle is empty';
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i]!;
    if (Date.parse(c.validTo) <= nowMs) return `certificate ${i} in the chain expired at ${c.validTo}`;
    if (Date.parse(c.validFrom) > nowMs + skewMs) return `certificate ${i} in the chain is not valid before ${c.validFrom}`;
    const next = chain[i + 1];
    if (next && !(c.checkIssued(next) && c.verify(next.publicKey))) return `certificate ${i} is not signed by certificate ${i + 1}`;
  }
  const top = chain[chain.length - 1]!;
  if (roots.some((r) => r.fingerprint256 === top.fingerprint256)) return undefined;
  if (roots.some((r) => top.checkIssued(r) && top.verify(r.publicKey) && Date.parse(r.validTo) > nowMs)) return undefined;
  return 'certificate chain does not lead to a root in the trust bundle';
}
