// Reads the fields the CA checks from a PKCS#10 CSR (RFC 2986), decoded by
// asn1js directly with embedded-content parsing off. @peculiar/asn1-schema's
// AsnConvert.parse decodes the same bytes through asn1js with it on (every
// BIT/OCTET STRING is tried as nested DER) and then maps the tree onto
// classes: ~40% of the CA's CPU per certificate. Every structural surprise
// is a CsrRejectedError naming the field.
import * as asn1js from 'asn1js';
import { CsrRejectedError } from './errors.js';

const EXTENSION_REQUEST_OID = '1.2.840.113549.1.9.14';
const SAN_OID = '2.5.29.17';
const CONTEXT = 3; // asn1js tagClass of context-specific tags
const URI_TAG = 6; // GeneralName uniformResourceIdentifier [6] IA5String

export interface CsrFields {
  /** DER of certificationRequestInfo: what the signature covers. */
  criDer: Uint8Array;
  signatureAlgorithm: string;
  /** The signature BIT STRING's bytes (DER ECDSA-Sig-Value for ECDSA). */
  signature: Uint8Array;
  keyAlgorithm: string;
  /** DER of the key algorithm's parameters (the named-curve OID for EC), if any. */
  keyParametersDer: Uint8Array | undefined;
  /** subjectPublicKey bytes (for EC: the point). */
  publicKey: Uint8Array;
  /** extnValue contents of every subjectAltName extension requested. */
  sanValues: Uint8Array[];
}

function bad(what: string): never {
  throw new CsrRejectedError('MESH_CSR_INVALID', `CSR is not a PKCS#10 request: ${what}`);
}

function decode(der: Uint8Array, what: string): asn1js.AsnType {
  const r = asn1js.fromBER(der, { parseEmbedded: false, copyInput: false });
  if (r.offset === -1 || r.offset !== der.byteLength) bad(`${what} is not one DER value${r.result.error ? ` (${r.result.error})` : ''}`);
  return r.result;
}

function seq(b: unknown, what: string, min: number): asn1js.AsnType[] {
  if (!(b instanceof asn1js.Sequence)) bad(`${what} is not a SEQUENCE`);
  const v = b.valueBlock.value;
  if (v.length < min) bad(`${what} has ${v.length} elements, expected at least ${min}`);
  return v;
}

function oid(b: unknown, what: string): string {
  if (!(b instanceof asn1js.ObjectIdentifier)) bad(`${what} is not an OBJECT IDENTIFIER`);
  return b.valueBlock.toString();
}

function bits(b: unknown, what: string): Uint8Array {
  if (!(b instanceof asn1js.BitString) || b.idBlock.isConstructed || b.valueBlock.unusedBits !== 0) bad(`${what} is not a whole-byte BIT STRING`);
  return b.valueBlock.valueHexView;
}

function raw(b: asn1js.AsnType): Uint8Array {
  return (b as asn1js.BaseBlock).valueBeforeDecodeView;
}

export function readCsr(der: Uint8Array): CsrFields {
  const [cri, sigAlg, sig] = seq(decode(der, 'the request'), 'CertificationRequest', 3);
  const [version, subject, spki, attrs] = seq(cri, 'certificationRequestInfo', 3);
  if (!(version instanceof asn1js.Integer) || version.valueBlock.valueDec !== 0) bad('version is not 0 (v1)');
  if (!(subject instanceof asn1js.Sequence)) bad('subject is not a Name');
  const [keyAlg, publicKey] = seq(spki, 'subjectPKInfo', 2);
  const [keyAlgOid, keyParams] = seq(keyAlg, 'subjectPKInfo.algorithm', 1);
  const attributes = attrs as asn1js.Constructed | undefined;
  if (attributes && (attributes.idBlock.tagClass !== CONTEXT || attributes.idBlock.tagNumber !== 0 || !attributes.idBlock.isConstructed)) {
    bad('attributes are not [0] IMPLICIT SET OF Attribute');
  }
  const sanValues: Uint8Array[] = [];
  for (const [i, attr] of (attributes?.valueBlock.value ?? []).entries()) {
    const [type, values] = seq(attr, `attributes[${i}]`, 2);
    if (oid(type, `attributes[${i}].type`) !== EXTENSION_REQUEST_OID) continue;
    if (!(values instanceof asn1js.Set)) bad(`attributes[${i}].values is not a SET`);
    for (const [j, exts] of values.valueBlock.value.entries()) {
      for (const [k, ext] of seq(exts, `attributes[${i}].values[${j}]`, 0).entries()) {
        const at = `extensionRequest extension[${k}]`;
        const parts = seq(ext, at, 2);
        const value = parts[parts.length - 1];
        if (parts.length > 3 || (parts.length === 3 && !(parts[1] instanceof asn1js.Boolean))) bad(`${at} is not (extnID, critical, extnValue)`);
        if (!(value instanceof asn1js.OctetString) || value.idBlock.isConstructed) bad(`${at}.extnValue is not an OCTET STRING`);
        if (oid(parts[0], `${at}.extnID`) === SAN_OID) sanValues.push(value.valueBlock.valueHexView);
      }
    }
  }
  return {
    criDer: raw(cri!),
    signatureAlgorithm: oid(seq(sigAlg, 'signatureAlgorithm', 1)[0], 'signatureAlgorithm.algorithm'),
    signature: bits(sig, 'signature'),
    keyAlgorithm: oid(keyAlgOid, 'subjectPKInfo.algorithm.algorithm'),
    keyParametersDer: keyParams ? raw(keyParams) : undefined,
    publicKey: bits(publicKey, 'subjectPKInfo.subjectPublicKey'),
    sanValues,
  };
}

/** URI names and the count of every other name in a GeneralNames (a SAN extension's value). */
export function readGeneralNames(der: Uint8Array): { uris: string[]; others: number } {
  const uris: string[] = [];
  let others = 0;
  for (const name of seq(decode(der, 'subjectAltName'), 'subjectAltName', 0)) {
    const id = (name as asn1js.BaseBlock).idBlock;
    if (id.tagClass === CONTEXT && id.tagNumber === URI_TAG && !id.isConstructed) {
      uris.push(Buffer.from((name as asn1js.Primitive).valueBlock.valueHexView).toString('latin1'));
    } else others++;
  }
  return { uris, others };
}
