// The workload key in a CSR: an EC key on P-256 or P-384 (by curve OID, as
// DER encoded once by @peculiar/asn1-ecc), an uncompressed point, imported
// into OpenSSL, plus its canonical SubjectPublicKeyInfo for the certificate.
import { type KeyObject, createPublicKey } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ECParameters, id_ecPublicKey, id_secp256r1, id_secp384r1 } from '@peculiar/asn1-ecc';
import { AlgorithmIdentifier, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { CsrRejectedError } from './errors.js';

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
  const params = AsnConvert.serialize(new ECParameters({ namedCurve: oid }));
  const spki = AsnConvert.serialize(
    new SubjectPublicKeyInfo({ algorithm: new AlgorithmIdentifier({ algorithm: EC_PUBLIC_KEY_OID, parameters: params }), subjectPublicKey: new ArrayBuffer(pointLength) }),
  );
  const oidDer = Buffer.from(params);
  return { jwkName, oidDer, pointLength, spkiPrefix: Buffer.from(spki, 0, spki.byteLength - pointLength) };
}

/** Key types a workload may use (P-256 is what tsmesh makes; P-384 as Istio accepts). */
const CURVES = [curve('P-256', id_secp256r1, 65), curve('P-384', id_secp384r1, 97)];

/**
 * The CSR's EC public key as a KeyObject (imported as JWK coordinates: half the cost of
 * OpenSSL's generic SPKI decoder, and OpenSSL still checks the point is on the curve)
 * and its canonical SPKI DER for the certificate.
 */
export function importEcKey(algorithm: string, parametersDer: Uint8Array | undefined, publicKey: Uint8Array): { key: KeyObject; spkiDer: Buffer } {
  const params = parametersDer ? Buffer.from(parametersDer.buffer, parametersDer.byteOffset, parametersDer.byteLength) : undefined;
  const c = algorithm === EC_PUBLIC_KEY_OID && params ? CURVES.find((k) => k.oidDer.equals(params)) : undefined;
  if (!c) {
    const what = algorithm === EC_PUBLIC_KEY_OID ? `EC curve ${params?.toString('hex') ?? '(none)'}` : `key algorithm ${algorithm}`;
    throw new CsrRejectedError('MESH_CSR_INVALID', `CSR key must be ECDSA P-256 or P-384, got ${what}`);
  }
  const point = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength);
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
