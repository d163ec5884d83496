import { X509Certificate, webcrypto } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../ca.js';
import { generateCa } from '../ca-store.js';
import { checkCsrSync, createWorkloadCsr } from '../csr.js';
import { EC_SIGN_ALG, x509 } from '../crypto.js';
import { LeafSigner } from '../leaf-signer.js';

const ID = 'spiffe://cluster.local/ns/default/sa/web';

describe('LeafSigner (pre-encoded template + node:crypto)', () => {
  it('writes the same TBSCertificate byte for byte as @peculiar/x509 generating the SVID from scratch', async () => {
    const gen = await generateCa({ trustDomain: 'cluster.local', intermediate: true });
    const signer = await LeafSigner.create(gen.material);
    const { csrPem } = await createWorkloadCsr(ID);
    const { spkiDer } = checkCsrSync(csrPem, ID);
    const notBefore = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
    const notAfter = new Date(Date.UTC(2051, 0, 2, 3, 4, 5)); // after 2049: GeneralizedTime
    const leaf = signer.sign({ spkiDer, spiffeId: ID, notBefore, notAfter });

    const reference = await x509.X509CertificateGenerator.create({
      serialNumber: leaf.serialNumber,
      subject: '',
      issuer: gen.material.signingCert.subject,
      notBefore,
      notAfter,
      publicKey: await webcrypto.subtle.importKey('spki', spkiDer, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']),
      signingKey: gen.material.signingKeys.privateKey as never,
      signingAlgorithm: EC_SIGN_ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: ID }], true),
        await x509.AuthorityKeyIdentifierExtension.create(gen.material.signingCert as never, false),
      ],
    });
    const tbs = (der: ArrayBuffer | Uint8Array) => Buffer.from(AsnConvert.serialize(AsnConvert.parse(der, Certificate).tbsCertificate));
    expect(tbs(leaf.der).toString('hex')).toBe(tbs(reference.rawData).toString('hex'));

    // And it is a valid certificate: OpenSSL parses it, it chains to the intermediate, the PEM round-trips.
    const cert = new X509Certificate(leaf.pem);
    const inter = new X509Certificate(gen.files.caCert!);
    expect(cert.checkIssued(inter)).toBe(true);
    expect(cert.verify(inter.publicKey)).toBe(true);
    expect(cert.raw.equals(leaf.der)).toBe(true);
    expect(cert.serialNumber.toLowerCase()).toBe(leaf.serialNumber);
    expect(cert.validTo).toBe('Jan  2 03:04:05 2051 GMT');
    expect(leaf.pem.split('\n').every((l) => l.length <= 64)).toBe(true);
  });

  it('signs a P-384 workload key with the SPKI it was given', async () => {
    const gen = await generateCa({ trustDomain: 'cluster.local' });
    const ca = new CertificateAuthority(gen.material);
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys: keys as never,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-384' },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: ID }], true)],
    });
    const out = await ca.issueWorkloadCertificate(csr.toString('pem'), ID);
    const leaf = new X509Certificate(out.certChainPem);
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp384r1');
    expect(Buffer.from(leaf.publicKey.export({ type: 'spki', format: 'der' })).equals(Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey)))).toBe(true);
    expect(leaf.verify(new X509Certificate(gen.files.rootCert!).publicKey)).toBe(true);
  });

  it('refuses a CSR whose key is on an unsupported curve, naming it', async () => {
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-521' }, true, ['sign', 'verify']);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys: keys as never,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-512' },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: ID }], true)],
    });
    expect(() => checkCsrSync(csr.toString('pem'), ID)).toThrow(/ECDSA P-256 or P-384, got EC curve/);
  });

  it('after replaceMaterial, signs with the new issuer', async () => {
    const a = await generateCa({ trustDomain: 'cluster.local' });
    const b = await generateCa({ trustDomain: 'cluster.local' });
    const ca = new CertificateAuthority(a.material);
    const { csrPem } = await createWorkloadCsr(ID);
    const first = new X509Certificate((await ca.issueWorkloadCertificate(csrPem, ID)).certChainPem);
    ca.replaceMaterial(b.material);
    const second = new X509Certificate((await ca.issueWorkloadCertificate(csrPem, ID)).certChainPem);
    expect(first.verify(new X509Certificate(a.files.rootCert!).publicKey)).toBe(true);
    expect(second.verify(new X509Certificate(b.files.rootCert!).publicKey)).toBe(true);
    expect(second.verify(new X509Certificate(a.files.rootCert!).publicKey)).toBe(false);
  });
});
