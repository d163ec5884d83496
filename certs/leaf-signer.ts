// Fast X.509-SVID signing: everything that is the same in every workload
// certificate (version, signature algorithm, issuer name, basic constraints,
// key usage, EKU, authority key ID) is DER-encoded once per CA; per CSR only
// the serial, validity, public key and SAN are encoded and spliced in, and
// the TBSCertificate is signed synchronously with node:crypto (OpenSSL), not
// through WebCrypto's promise-per-call path. Profiling put ~85% of the old
// path in asn1js re-encoding the same structures for every certificate.
import { KeyObject, randomFillSync, sign, type webcrypto } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Certificate, Extension, GeneralName, SubjectAlternativeName, Validity } from '@peculiar/asn1-x509';
import { x509 } from './crypto.js';
import { TAG, tlv } from './der.js';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const SAN_OID = '2.5.29.17';
const SAN_CACHE_SIZE = 4096;
const V3 = tlv(TAG.CTX0, [Buffer.from([0x02, 0x01, 0x02])]);

/** What the CA needs to sign: the signing certificate and its private key. */
export interface SignerMaterial {
  signingCert: x509.X509Certificate;
  signingKeys: { privateKey: webcrypto.CryptoKey };
}

export interface LeafRequest {
  /** DER SubjectPublicKeyInfo (already checked: key type, proof of possession). */
  spkiDer: Uint8Array;
  /** The only SAN, a URI (the SPIFFE ID); the subject is empty. */
  spiffeId: string;
  notBefore: Date;
  notAfter: Date;
}

export interface SignedLeaf {
  der: Buffer;
  pem: string;
  /** Lowercase hex, as x509/openssl print it. */
  serialNumber: string;
}

function der(value: object): Buffer {
  return Buffer.from(AsnConvert.serialize(value));
}

/** 16 random bytes, top bit clear (positive INTEGER) and a non-zero first byte (minimal encoding). */
/** Random bytes for serials, drawn 256 serials at a time: one randomFillSync call costs ~7 µs whatever its size. */
const SERIAL_POOL = Buffer.alloc(16 * 256);
let serialOffset = SERIAL_POOL.length;

export function randomSerial(): Buffer {
  if (serialOffset === SERIAL_POOL.length) {
    randomFillSync(SERIAL_POOL);
    serialOffset = 0;
  }
  const b = Buffer.from(SERIAL_POOL.subarray(serialOffset, (serialOffset += 16)));
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b;
}

export function pemCertificate(derBytes: Uint8Array): string {
  const b64 = Buffer.from(derBytes.buffer, derBytes.byteOffset, derBytes.byteLength).toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + '\n';
  return `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----`;
}

export class LeafSigner {
  private readonly key: KeyObject;
  private readonly sigAlg: Buffer;
  private readonly issuer: Buffer;
  /** Extensions before the SAN (BC, KU, EKU) and after it (AKID): the order the WebCrypto path wrote. */
  private readonly extsBefore: Buffer;
  private readonly extsAfter: Buffer;

  private constructor(key: KeyObject, sigAlg: Buffer, issuer: Buffer, extsBefore: Buffer, extsAfter: Buffer) {
    this.key = key;
    this.sigAlg = sigAlg;
    this.issuer = issuer;
    this.extsBefore = extsBefore;
    this.extsAfter = extsAfter;
  }

  static async create(material: SignerMaterial): Promise<LeafSigner> {
    const key = KeyObject.from(material.signingKeys.privateKey);
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error('the CA signing key must be ECDSA P-256');
    }
    const cert = AsnConvert.parse(material.signingCert.rawData, Certificate);
    const akid = await x509.AuthorityKeyIdentifierExtension.create(material.signingCert as never, false);
    const raw = (e: x509.Extension) => Buffer.from(e.rawData);
    return new LeafSigner(
      key,
      der(new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 })),
      der(cert.tbsCertificate.subject),
      Buffer.concat([
        raw(new x509.BasicConstraintsExtension(false, undefined, true)),
        raw(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)),
        raw(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false)),
      ]),
      raw(akid),
    );
  }

  /** Encoded SAN extensions by SPIFFE ID: all replicas of a workload share one identity, so renewals mostly hit. */
  private readonly sans = new Map<string, Buffer>();
  /** The last Validity encoded: requests within the same second share it. */
  private validity: { notBefore: number; notAfter: number; der: Buffer } | undefined;

  private sanExtension(spiffeId: string): Buffer {
    let ext = this.sans.get(spiffeId);
    if (!ext) {
      ext = der(
        new Extension({
          extnID: SAN_OID,
          // Empty subject, so the SAN is critical (RFC 5280 §4.2.1.6), as SPIFFE SVIDs do.
          critical: true,
          extnValue: new OctetString(AsnConvert.serialize(new SubjectAlternativeName([new GeneralName({ uniformResourceIdentifier: spiffeId })]))),
        }),
      );
      if (this.sans.size >= SAN_CACHE_SIZE) this.sans.delete(this.sans.keys().next().value!);
      this.sans.set(spiffeId, ext);
    }
    return ext;
  }

  private validityDer(notBefore: Date, notAfter: Date): Buffer {
    // X.509 times have whole seconds (asn1-x509 drops the milliseconds too).
    const nb = Math.floor(notBefore.getTime() / 1000);
    const na = Math.floor(notAfter.getTime() / 1000);
    const v = this.validity;
    if (v && v.notBefore === nb && v.notAfter === na) return v.der;
    const out = der(new Validity({ notBefore: new Date(nb * 1000), notAfter: new Date(na * 1000) }));
    this.validity = { notBefore: nb, notAfter: na, der: out };
    return out;
  }

  sign(req: LeafRequest): SignedLeaf {
    const serial = randomSerial();
    const san = this.sanExtension(req.spiffeId);
    const tbs = tlv(TAG.SEQUENCE, [
      V3,
      tlv(TAG.INTEGER, [serial]),
      this.sigAlg,
      this.issuer,
      this.validityDer(req.notBefore, req.notAfter),
      EMPTY_NAME,
      req.spkiDer,
      tlv(TAG.CTX3, [tlv(TAG.SEQUENCE, [this.extsBefore, san, this.extsAfter])]),
    ]);
    const signature = sign('sha256', tbs, { key: this.key, dsaEncoding: 'der' });
    const certDer = tlv(TAG.SEQUENCE, [tbs, this.sigAlg, tlv(TAG.BIT_STRING, [ZERO, signature])]);
    return { der: certDer, pem: pemCertificate(certDer), serialNumber: serial.toString('hex') };
  }
}

const EMPTY_NAME = Buffer.from([0x30, 0x00]);
const ZERO = Buffer.from([0x00]);
