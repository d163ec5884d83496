import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../ca.js';
import { generateCa } from '../ca-store.js';
import { x509 } from '../crypto.js';
import { checkCsrSync } from '../csr.js';
import { CsrRejectedError } from '../errors.js';
import { createWorkloadCsr } from '../workload-csr.js';

const ID = 'spiffe://cluster.local/ns/shop/sa/payments';

describe('createWorkloadCsr (node:crypto)', () => {
  it('is a PKCS#10 request @peculiar/x509 reads: empty subject, one critical URI SAN, valid self-signature, the returned key', async () => {
    const { csrPem, privateKeyPem } = await createWorkloadCsr(ID);
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    expect(csr.subject).toBe('');
    expect(await csr.verify()).toBe(true);
    expect(csr.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
    expect(csr.extensions).toHaveLength(1);
    const san = new x509.SubjectAlternativeNameExtension(csr.extensions[0]!.rawData);
    expect(san.type).toBe('2.5.29.17');
    expect(san.critical).toBe(true);
    expect(san.names.toJSON()).toEqual([{ type: 'url', value: ID }]);
    const spki = Buffer.from(csr.publicKey.rawData);
    expect(spki.equals(createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'der' }))).toBe(true);
    expect(createPrivateKey(privateKeyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('passes the CA checks for its identity only, and the issued certificate pairs with its key', async () => {
    const { csrPem, privateKeyPem } = await createWorkloadCsr(ID);
    expect(checkCsrSync(csrPem, ID).spiffeId).toBe(ID);
    expect(() => checkCsrSync(csrPem, 'spiffe://cluster.local/ns/shop/sa/other')).toThrow(CsrRejectedError);
    const ca = new CertificateAuthority((await generateCa({ trustDomain: 'cluster.local' })).material);
    const issued = await ca.issueWorkloadCertificate(csrPem, ID);
    const leaf = new X509Certificate(issued.certChainPem);
    expect(leaf.subjectAltName).toBe(`URI:${ID}`);
    expect(leaf.checkPrivateKey(createPrivateKey(privateKeyPem))).toBe(true);
  });

  it('refuses an ID that is not a workload SPIFFE ID, and a fresh key every time', async () => {
    await expect(createWorkloadCsr('https://cluster.local/ns/a/sa/b')).rejects.toThrow();
    const [a, b] = await Promise.all([createWorkloadCsr(ID), createWorkloadCsr(ID)]);
    expect(a.privateKeyPem).not.toBe(b.privateKeyPem);
  });

  // The sidecar's identity code must not pull the X.509 libraries in (they are the CA's): built JS, fresh process.
  const dist = path.resolve(import.meta.dirname, '..', '..', 'dist');
  it.runIf(existsSync(path.join(dist, 'proxy', 'mesh-agent.js')))('an ADS sidecar making its CSR loads neither @peculiar/x509 nor node-forge', () => {
    const script = `
      import { createRequire } from 'node:module';
      await import(${JSON.stringify(path.join(dist, 'proxy', 'mesh-agent.js'))});
      const { createWorkloadCsr } = await import(${JSON.stringify(path.join(dist, 'certs', 'workload-csr.js'))});
      await createWorkloadCsr(${JSON.stringify(ID)});
      const loaded = Object.keys(createRequire(import.meta.url).cache).map((f) => f.split('/node_modules/').pop());
      process.stdout.write(JSON.stringify(loaded));`;
    const loaded = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
    expect(loaded.some((f) => f.startsWith('@grpc/grpc-js/'))).toBe(true); // the check sees CommonJS packages
    expect(loaded.filter((f) => /^(@peculiar|node-forge|reflect-metadata|tsyringe|asn1js)\//.test(f))).toEqual([]);
  });
});
