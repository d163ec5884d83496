// The CSR reader the CA's fast path uses: the signature is checked over the
// exact certificationRequestInfo bytes, and structure it does not expect is
// refused with the field named.
import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkCsrSync, createWorkloadCsr } from '../csr.js';
import { readCsr, readGeneralNames } from '../csr-der.js';
import { EC_SIGN_ALG, x509 } from '../crypto.js';

const ID = 'spiffe://cluster.local/ns/a/sa/b';
const derOf = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
const pemOf = (der: Uint8Array) => `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;

describe('readCsr', () => {
  it('reads what @peculiar/x509 wrote: the signed bytes, algorithms, key and the SAN', async () => {
    const { csrPem } = await createWorkloadCsr(ID);
    const der = derOf(csrPem);
    const f = readCsr(der);
    const ref = new x509.Pkcs10CertificateRequest(csrPem);
    expect(f.signatureAlgorithm).toBe('1.2.840.10045.4.3.2');
    expect(f.keyAlgorithm).toBe('1.2.840.10045.2.1');
    expect(Buffer.from(f.keyParametersDer!).toString('hex')).toBe('06082a8648ce3d030107'); // prime256v1
    expect(f.publicKey[0]).toBe(0x04);
    expect(Buffer.from(f.signature).equals(Buffer.from(ref.signature))).toBe(true);
    // criDer is the CSR's own bytes: SEQUENCE header + CRI + algorithm + signature make up the whole request.
    expect(der.indexOf(Buffer.from(f.criDer))).toBeGreaterThan(0);
    expect(f.sanValues).toHaveLength(1);
    expect(readGeneralNames(f.sanValues[0]!)).toEqual({ uris: [ID], others: 0 });
  });

  it('a changed byte inside the signed part fails the signature, not the identity check', async () => {
    const { csrPem } = await createWorkloadCsr(ID);
    const der = derOf(csrPem);
    const at = der.indexOf(Buffer.from('/sa/b'));
    const forged = Buffer.from(der);
    forged[at + 4] = 'c'.charCodeAt(0); // ask for sa/c with sa/b's signature
    expect(() => checkCsrSync(pemOf(forged), 'spiffe://cluster.local/ns/a/sa/c')).toThrow(expect.objectContaining({ code: 'MESH_CSR_BAD_SIGNATURE' }));
  });

  it('a public key off the curve is refused as invalid before any signature check', async () => {
    const { csrPem } = await createWorkloadCsr(ID);
    const der = derOf(csrPem);
    const point = Buffer.from(readCsr(der).publicKey);
    const at = der.indexOf(point);
    const off = Buffer.from(der);
    off[at + 64]! ^= 0x01; // last byte of Y
    expect(() => checkCsrSync(pemOf(off), ID)).toThrow(expect.objectContaining({ code: 'MESH_CSR_INVALID', message: expect.stringMatching(/not a valid P-256 point/) }));
  });

  it('refuses trailing bytes, a constructed BIT STRING and a CSR without the extension request', async () => {
    const { csrPem } = await createWorkloadCsr(ID);
    const der = derOf(csrPem);
    expect(() => readCsr(Buffer.concat([der, Buffer.from([0])]))).toThrow(/not one DER value/);
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const bare = await x509.Pkcs10CertificateRequestGenerator.create({ keys: keys as never, signingAlgorithm: EC_SIGN_ALG });
    expect(readCsr(derOf(bare.toString('pem'))).sanValues).toEqual([]);
    expect(() => checkCsrSync(bare.toString('pem'), ID)).toThrow(/one subjectAltName extension, found 0/);
    // The top-level signature BIT STRING made "constructed" (tag 0x23): refused by name.
    const header = der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2;
    const sigTag = header + readCsr(der).criDer.length + 12; // after the 12-byte ecdsa-with-SHA256 AlgorithmIdentifier
    expect(der[sigTag]).toBe(0x03);
    const odd = Buffer.from(der);
    odd[sigTag] = 0x23;
    expect(() => checkCsrSync(pemOf(odd), ID)).toThrow(expect.objectContaining({ code: 'MESH_CSR_INVALID' }));
  });
});
