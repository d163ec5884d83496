// cert-facts reads identities from node:crypto's parse; the ASN.1 decoder in
// certs/svid.ts (@peculiar/x509) is the reference it must agree with, on
// real certificates carrying the names a forger would try.
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EC_SIGN_ALG, generateKeyPair, randomSerialHex, x509 } from '../../../certs/crypto.js';
import { inspectCertificate, parseCertificate } from '../../../certs/svid.js';
import { certFacts, parseSubjectAltName } from '../cert-facts.js';

type Name = { type: 'url' | 'dns' | 'ip' | 'email'; value: string };

async function cert(names: Name[] | undefined, isCa = false): Promise<string> {
  const keys = await generateKeyPair();
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(isCa, undefined, true)];
  if (names) extensions.push(new x509.SubjectAlternativeNameExtension(names, true));
  const c = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: 'CN=test, O=a\\,b',
    notBefore: new Date('2026-01-01T00:00:00Z'),
    notAfter: new Date('2027-01-01T00:00:00Z'),
    keys: keys as never,
    signingAlgorithm: EC_SIGN_ALG,
    extensions,
  });
  return c.toString('pem');
}

const cases: [string, Name[] | undefined, boolean][] = [
  ['one SPIFFE ID', [{ type: 'url', value: 'spiffe://cluster.local/ns/a/sa/b' }], false],
  ['two URIs', [{ type: 'url', value: 'spiffe://td/ns/a/sa/b' }, { type: 'url', value: 'spiffe://td/ns/c/sa/d' }], false],
  ['a URI holding ", URI:" (one name, not two)', [{ type: 'url', value: 'spiffe://td/ns/a/sa/b, URI:spiffe://evil/ns/x/sa/y' }], false],
  ['a URI with quotes and a backslash', [{ type: 'url', value: 'spiffe://td/ns/"a\\"/sa/b' }], false],
  ['a DNS name whose text looks like a URI', [{ type: 'dns', value: 'URI:spiffe://td/ns/a/sa/b' }], false],
  ['DNS, IP, email and a URI', [{ type: 'dns', value: 'svc.local' }, { type: 'ip', value: '10.0.0.1' }, { type: 'email', value: 'a@b.c' }, { type: 'url', value: 'spiffe://td/x' }], false],
  ['no SAN extension', undefined, false],
  ['a CA', [{ type: 'url', value: 'spiffe://td' }], true],
];

describe('certFacts (node:crypto) agrees with the ASN.1 decoder', () => {
  for (const [what, names, isCa] of cases) {
    it(what, async () => {
      const pem = await cert(names, isCa);
      const ours = certFacts(new X509Certificate(pem));
      const ref = inspectCertificate(parseCertificate(pem));
      expect(ours).toEqual({ uriSans: ref.uriSans, otherSanCount: ref.otherSanCount, isCa: ref.isCa, notBefore: ref.notBefore, notAfter: ref.notAfter });
      expect(ours.uriSans).toEqual((names ?? []).filter((n) => n.type === 'url').map((n) => n.value));
      expect(ours.isCa).toBe(isCa);
      expect(ours.notAfter).toBe(Date.parse('2027-01-01T00:00:00Z'));
    });
  }
});

describe('parseSubjectAltName', () => {
  it('splits only at commas outside quoted names', () => {
    expect(parseSubjectAltName('URI:spiffe://a/b, DirName:"CN=x,O=y", "URI:spiffe://c/d, URI:e", DNS:h')).toEqual({
      uris: ['spiffe://a/b', 'spiffe://c/d, URI:e'],
      others: 2,
    });
  });
  it('has no names for a certificate without the extension', () => {
    expect(parseSubjectAltName(undefined)).toEqual({ uris: [], others: 0 });
  });
  it('refuses forms Node does not produce', () => {
    expect(() => parseSubjectAltName('URI:a,URI:b')).toThrow(/malformed/);
    expect(() => parseSubjectAltName('"URI:a')).toThrow(/unterminated/);
  });
});
