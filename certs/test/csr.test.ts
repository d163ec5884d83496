import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EC_SIGN_ALG, x509 } from '../crypto.js';
import { checkCsr, createWorkloadCsr } from '../csr.js';
import { CsrRejectedError } from '../errors.js';

const ID = 'spiffe://cluster.local/ns/a/sa/b';

describe('checkCsr', () => {
  it('accepts a workload CSR and refuses wrong key types and SAN shapes', async () => {
    const { csrPem } = await createWorkloadCsr(ID);
    await expect(checkCsr(csrPem, ID)).resolves.toMatchObject({ spiffeId: ID });

    const { webcrypto } = await import('node:crypto');
    const rsa = await webcrypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    );
    const rsaCsr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys: rsa as never,
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: ID }])],
    });
    await expect(checkCsr(rsaCsr.toString('pem'), ID)).rejects.toThrow(/ECDSA P-256 or P-384/);

    const ec = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const mk = (names: { type: 'url' | 'dns'; value: string }[] | null) =>
      x509.Pkcs10CertificateRequestGenerator.create({
        keys: ec as never,
        signingAlgorithm: EC_SIGN_ALG,
        extensions: names ? [new x509.SubjectAlternativeNameExtension(names)] : [],
      });
    await expect(checkCsr((await mk(null)).toString('pem'), ID)).rejects.toThrow(/one subjectAltName extension, found 0/);
    await expect(checkCsr((await mk([{ type: 'url', value: ID }, { type: 'url', value: ID + 'x' }])).toString('pem'), ID)).rejects.toThrow(
      /exactly one URI SAN, found 2/,
    );
    await expect(checkCsr((await mk([{ type: 'dns', value: 'b.a.svc' }])).toString('pem'), ID)).rejects.toThrow(/non-URI SAN/);
  });

  it('fuzz: arbitrary or mutated input is refused with CsrRejectedError, never anything else', async () => {
    const { csrPem } = await createWorkloadCsr(ID);
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const pem = (b: Uint8Array) => `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(b).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 200 }),
          fc.uint8Array({ maxLength: 400 }).map(pem),
          fc.tuple(fc.nat(der.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
            const b = Buffer.from(der);
            b[i]! ^= x;
            return pem(b);
          }),
          fc.nat(der.length - 1).map((n) => pem(der.subarray(0, n))),
        ),
        async (input) => {
          try {
            await checkCsr(input, ID);
          } catch (err) {
            expect(err).toBeInstanceOf(CsrRejectedError);
            return;
          }
          // A mutation that still verifies must still name exactly our ID (e.g. a flipped bit in an unchecked field).
        },
      ),
      { numRuns: 1000 },
    );
  });
});
