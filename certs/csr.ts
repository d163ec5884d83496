// Certificate signing requests: the workload makes one for its SPIFFE ID with
// a key generated in memory; the CA reads one back and checks it strictly.
import { type KeyObject, createPublicKey, verify } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ECParameters, id_ecPublicKey, id_secp256r1, id_secp384r1 } from '@peculiar/asn1-ecc';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { AlgorithmIdentifier, type Extension, Extensions, SubjectAlternativeName, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { EC_SIGN_ALG, generateKeyPair, privateKeyToPem, x509 } from './crypto.js';
import { CsrRejectedError } from './errors.js';
import { parseWorkloadId } from './spiffe.js';

export const MAX_CSR_PEM_BYTES = 16 * 1024;

export interface WorkloadCsr {
  csrPem: string;
  /** PKCS#8 PEM; stays in this process (handed to Node's TLS only). */
  privateKeyPem: string;
}

/** A fresh P-256 key and a CSR carrying exactly one URI SAN, `spiffeId`. */
export async function createWorkloadCsr(spiffeId: string): Promise<WorkloadCsr> {
  parseWorkloadId(spiffeId);
  const keys = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: keys as never,
    signingAlgorithm: EC_SIGN_ALG,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }], true)],
  });
  return { csrPem: csr.toString('pem'), privateKeyPem: privateKeyToPem(keys.privateKey) };
}

export interface CheckedCsr {
  /** The CSR's public key, DER SubjectPublicKeyInfo (checked: type, curve, proof of possession). */
  spkiDer: Buffer;
  spiffeId: string;
}

const EC_PUBLIC_KEY_OID = id_ecPublicKey;

interface Curve {
  jwkName: string;
  /** DER of the namedCurve OID, as it appears in the SPKI's algorithm parameters. */
  oidDer: Buffer;
  /** Uncompressed point length (0x04 ‖ X ‖ Y). */
  pointLength: number;
  /** SubjectPublicKeyInfo DER up to the point, encoded once by asn1-schema: SPKI = prefix ‖ point. */
  spkiPrefix: Buffer;
}

function curve(jwkName: string, oid: string, pointLength: number): Curve {
  const oidDer = Buffer.from(AsnConvert.serialize(new ECParameters({ namedCurve: oid })));
  const spki = AsnConvert.serialize(
    new SubjectPublicKeyInfo({ algorithm: new AlgorithmIdentifier({ algorithm: EC_PUBLIC_KEY_OID, parameters: AsnConvert.serialize(new ECParameters({ namedCurve: oid })) }), subjectPublicKey: new ArrayBuffer(pointLength) }),
  );
  return { jwkName, oidDer, pointLength, spkiPrefix: Buffer.from(spki, 0, spki.byteLength - pointLength) };
}

/** Key types a workload may use (P-256 is what tsmesh makes; P-384 as Istio accepts). */
const CURVES = [curve('P-256', id_secp256r1, 65), curve('P-384', id_secp384r1, 97)];

/**
 * The CSR's EC public key as a KeyObject (imported as JWK coordinates: half the cost of
 * OpenSSL's generic SPKI decoder, and OpenSSL still checks the point is on the curve)
 * and its canonical SPKI DER for the certificate.
 */
function importEcKey(spki: SubjectPublicKeyInfo): { key: KeyObject; spkiDer: Buffer } {
  const params = spki.algorithm.parameters ? Buffer.from(spki.algorithm.parameters) : undefined;
  const c = spki.algorithm.algorithm === EC_PUBLIC_KEY_OID && params ? CURVES.find((k) => k.oidDer.equals(params)) : undefined;
  if (!c) {
    const what = spki.algorithm.algorithm === EC_PUBLIC_KEY_OID ? `EC curve ${params?.toString('hex') ?? '(none)'}` : `key algorithm ${spki.algorithm.algorithm}`;
    throw new CsrRejectedError('MESH_CSR_INVALID', `CSR key must be ECDSA P-256 or P-384, got ${what}`);
  }
  const point = Buffer.from(spki.subjectPublicKey);
  if (point.length !== c.pointLength || point[0] !== 0x04) {
    throw new CsrRejectedError('MESH_CSR_INVALID', `CSR ${c.jwkName} key must be an uncompressed point of ${c.pointLength} bytes`);
  }
  const half = (c.pointLength - 1) / 2;
  let key: KeyObject;
  try {
    key = createPublicKey({
      key: { kty: 'EC', crv: c.jwkName, x: point.toString('base64url', 1, 1 + half), y: point.toString('base64url', 1 + half) },
      format: 'jwk',
    });
  } catch (err) {
    throw new CsrRejectedError('MESH_CSR_INVALID', `CSR public key is not a valid ${c.jwkName} point: ${(err as Error).message}`, { cause: err });
  }
  return { key, spkiDer: Buffer.concat([c.spkiPrefix, point]) };
}
/** ECDSA signature algorithms a CSR may be signed with → node:crypto digest. */
const ECDSA_DIGESTS: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};
const EXTENSION_REQUEST_OID = '1.2.840.113549.1.9.14';
const SAN_OID = '2.5.29.17';

/**
 * Parses and checks a CSR against the identity the caller proved: size,
 * key type, self-signature, and exactly one URI SAN equal to `expectedId`.
 * Parsing is @peculiar/asn1-csr's; the signature check is node:crypto's (synchronous).
 */
export async function checkCsr(csrPem: string, expectedId: string): Promise<CheckedCsr> {
  return checkCsrSync(csrPem, expectedId);
}

export function checkCsrSync(csrPem: string, expectedId: string): CheckedCsr {
  try {
    return checkCsrUnsafe(csrPem, expectedId);
  } catch (err) {
    if (err instanceof CsrRejectedError) throw err;
    // The ASN.1 decoder parses some fields lazily (key parameters, extensions) and throws there.
    throw new CsrRejectedError('MESH_CSR_INVALID', `malformed CSR: ${(err as Error).message}`, { cause: err });
  }
}

const PEM_CSR = /^\s*-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END (?:NEW )?CERTIFICATE REQUEST-----\s*$/;

function decodePem(csrPem: string): Buffer {
  const m = PEM_CSR.exec(csrPem);
  if (!m) throw new CsrRejectedError('MESH_CSR_INVALID', 'CSR is not a PEM PKCS#10 request (one "CERTIFICATE REQUEST" block)');
  return Buffer.from(m[1]!, 'base64');
}

function checkCsrUnsafe(csrPem: string, expectedId: string): CheckedCsr {
  if (typeof csrPem !== 'string' || csrPem.length === 0) throw new CsrRejectedError('MESH_CSR_INVALID', 'CSR is empty');
  if (csrPem.length > MAX_CSR_PEM_BYTES) {
    throw new CsrRejectedError('MESH_CSR_INVALID', `CSR is ${csrPem.length} bytes (limit ${MAX_CSR_PEM_BYTES})`);
  }
  const der = decodePem(csrPem);
  let req: CertificationRequest;
  try {
    req = AsnConvert.parse(der, CertificationRequest);
  } catch (err) {
    throw new CsrRejectedError('MESH_CSR_INVALID', `CSR is not a PKCS#10 request: ${(err as Error).message}`, { cause: err });
  }
  const info = req.certificationRequestInfo;
  const { key, spkiDer } = importEcKey(info.subjectPKInfo);
  const digest = ECDSA_DIGESTS[req.signatureAlgorithm.algorithm];
  if (!digest || !req.certificationRequestInfoRaw) {
    throw new CsrRejectedError('MESH_CSR_BAD_SIGNATURE', `CSR signature cannot be verified: algorithm ${req.signatureAlgorithm.algorithm} is not ECDSA with SHA-2`);
  }
  let ok = false;
  try {
    ok = verify(digest, Buffer.from(req.certificationRequestInfoRaw), { key, dsaEncoding: 'der' }, Buffer.from(req.signature));
  } catch (err) {
    throw new CsrRejectedError('MESH_CSR_BAD_SIGNATURE', `CSR signature cannot be verified: ${(err as Error).message}`, { cause: err });
  }
  if (!ok) throw new CsrRejectedError('MESH_CSR_BAD_SIGNATURE', 'CSR signature does not verify against its public key');

  const sanExts: Extension[] = [];
  for (const attr of info.attributes) {
    if (attr.type !== EXTENSION_REQUEST_OID) continue;
    for (const v of attr.values) for (const e of AsnConvert.parse(v, Extensions)) if (e.extnID === SAN_OID) sanExts.push(e);
  }
  if (sanExts.length !== 1) {
    throw new CsrRejectedError('MESH_CSR_INVALID', `CSR must carry one subjectAltName extension, found ${sanExts.length}`);
  }
  const { uris, others } = readSanValue(sanExts[0]!.extnValue.buffer);
  if (others > 0) throw new CsrRejectedError('MESH_CSR_INVALID', `CSR has ${others} non-URI SAN(s); only the SPIFFE ID is allowed`);
  if (uris.length !== 1) throw new CsrRejectedError('MESH_CSR_INVALID', `CSR must have exactly one URI SAN, found ${uris.length}`);
  if (uris[0] !== expectedId) {
    throw new CsrRejectedError(
      'MESH_CSR_IDENTITY_MISMATCH',
      `CSR asks for ${JSON.stringify(uris[0])} but the caller is ${JSON.stringify(expectedId)}`,
    );
  }
  return { spkiDer, spiffeId: expectedId };
}

/** URI SANs and the count of any other name type, from a SubjectAltName extension's value (GeneralNames DER). */
function readSanValue(value: ArrayBuffer): { uris: string[]; others: number } {
  const uris: string[] = [];
  let others = 0;
  for (const n of AsnConvert.parse(value, SubjectAlternativeName)) {
    if (n.uniformResourceIdentifier !== undefined) uris.push(n.uniformResourceIdentifier);
    else others++;
  }
  return { uris, others };
}
