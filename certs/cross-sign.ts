// After a root rotation: the new root cross-signed by the old one (same
// subject, same key, issuer = the old root). The control plane appends it to
// its own serving chain, so a sidecar still holding only the old root for the
// control-plane connection (started before the rotation) reaches a control
// plane that restarted under the new root, while sidecars that trust the new
// root build the short chain. Workload certificates never carry it: for
// workloads the old root is gone.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EC_SIGN_ALG, importSigningKeyPem, randomSerialHex, x509 } from './crypto.js';

export const CROSS_SIGNED_ROOT_FILE = 'cross-signed-root.pem';

/** PEM of `newRootPem`'s subject and key, issued by the old root (valid no longer than either). */
export async function crossSignRoot(o: { newRootPem: string; oldRootPem: string; oldRootKeyPem: string; now: number }): Promise<string> {
  const next = new x509.X509Certificate(o.newRootPem);
  const old = new x509.X509Certificate(o.oldRootPem);
  if (!new X509Certificate(o.oldRootPem).checkPrivateKey(createPrivateKey(o.oldRootKeyPem))) throw new Error('the old root key does not match the old root certificate');
  const keys = await importSigningKeyPem(o.oldRootKeyPem);
  const bc = next.getExtension(x509.BasicConstraintsExtension);
  const ski = next.getExtension(x509.SubjectKeyIdentifierExtension);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: next.subject,
    issuer: old.subject,
    notBefore: new Date(o.now - 60_000),
    notAfter: new Date(Math.min(next.notAfter.getTime(), old.notAfter.getTime())),
    publicKey: next.publicKey,
    signingKey: keys.privateKey as never,
    signingAlgorithm: EC_SIGN_ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, bc?.pathLength, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      ...(ski ? [ski] : []),
      await x509.AuthorityKeyIdentifierExtension.create(old as never, false),
    ],
  });
  return cert.toString('pem') + '\n';
}

/** The cross-signed root in `caDir`, when it is for `rootPem` (same key) and still valid; else undefined. */
export async function readCrossSignedRoot(caDir: string, rootPem: string | undefined, now = Date.now()): Promise<string | undefined> {
  if (!rootPem) return undefined;
  const pem = await readFile(join(caDir, CROSS_SIGNED_ROOT_FILE), 'utf8').catch(() => undefined);
  if (!pem) return undefined;
  try {
    const cross = new X509Certificate(pem);
    const root = new X509Certificate(rootPem);
    const spki = (c: X509Certificate) => c.publicKey.export({ type: 'spki', format: 'der' });
    if (!spki(cross).equals(spki(root)) || Date.parse(cross.validTo) <= now) return undefined;
    return pem.endsWith('\n') ? pem : pem + '\n';
  } catch {
    return undefined;
  }
}
