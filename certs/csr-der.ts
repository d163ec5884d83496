// Reads the fields the CA checks from a PKCS#10 CSR (RFC 2986), decoded by
// node-forge's ASN.1 reader (bit strings left as bytes). asn1js builds a
// class instance, views and hex helpers per element — ~45-65 µs for a 260-byte
// request, the largest JS cost of signing one; forge's reader takes ~7 µs.
// The signed bytes (certificationRequestInfo) are sliced from the input, never
// re-encoded. Every structural surprise is a CsrRejectedError naming the field.
import forge from 'node-forge';
import { CsrRejectedError } from './errors.js';

const { asn1 } = forge;
type Node = forge.asn1.Asn1;

const EXTENSION_REQUEST_OID = '1.2.840.113549.1.9.14';
const SAN_OID = '2.5.29.17';
const URI_TAG = 6; // GeneralName uniformResourceIdentifier [6] IA5String
const T = asn1.Type;

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

/** One whole DER value (no trailing bytes); strict lengths; BIT STRINGs are not parsed as nested DER. */
function decode(der: Uint8Array, what: string): Node {
  const bytes = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('latin1');
  try {
    return (asn1.fromDer as unknown as (b: string, o: object) => Node)(bytes, { strict: true, parseAllBytes: true, decodeBitStrings: false });
  } catch (err) {
    bad(`${what} is not one DER value (${(err as Error).message})`);
  }
}

const universal = (b: Node | undefined, type: number): boolean => b !== undefined && b.tagClass === asn1.Class.UNIVERSAL && b.type === type;

function seq(b: Node | undefined, what: string, min: number): Node[] {
  if (!universal(b, T.SEQUENCE) || !b!.constructed || !Array.isArray(b!.value)) bad(`${what} is not a SEQUENCE`);
  const v = b!.value as Node[];
  if (v.length < min) bad(`${what} has ${v.length} elements, expected at least ${min}`);
  return v;
}

function primitive(b: Node | undefined, type: number, what: string, name: string): string {
  if (!universal(b, type) || b!.constructed || typeof b!.value !== 'string') bad(`${what} is not ${name}`);
  return b!.value as string;
}

function oid(b: Node | undefined, what: string): string {
  return asn1.derToOid(primitive(b, T.OID, what, 'an OBJECT IDENTIFIER'));
}

function bits(b: Node | undefined, what: string): Buffer {
  const v = primitive(b, T.BITSTRING, what, 'a whole-byte BIT STRING');
  if (v.length < 1 || v.charCodeAt(0) !== 0) bad(`${what} is not a whole-byte BIT STRING`);
  return Buffer.from(v.slice(1), 'latin1');
}

/** Offset and total length of the TLV at `at` (definite lengths only: DER). */
function tlvAt(der: Uint8Array, at: number, what: string): { start: number; end: number } {
  const first = der[at + 1];
  if (first === undefined) bad(`${what} is truncated`);
  let len = first;
  let header = 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 3) bad(`${what} does not have a DER length`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[at + 2 + i] ?? 0);
    header += n;
  }
  if (at + header + len > der.byteLength) bad(`${what} is truncated`);
  return { start: at, end: at + header + len };
}

export function readCsr(der: Uint8Array): CsrFields {
  const [cri, sigAlg, sig] = seq(decode(der, 'the request'), 'CertificationRequest', 3);
  const [version, subject, spki, attrs] = seq(cri, 'certificationRequestInfo', 3);
  const v = primitive(version, T.INTEGER, 'version', 'an INTEGER');
  if (v !== '\x00') bad('version is not 0 (v1)');
  seq(subject, 'subject (a Name)', 0);
  const [keyAlg, publicKey] = seq(spki, 'subjectPKInfo', 2);
  const [keyAlgOid, keyParams] = seq(keyAlg, 'subjectPKInfo.algorithm', 1);
  if (attrs && (attrs.tagClass !== asn1.Class.CONTEXT_SPECIFIC || attrs.type !== 0 || !attrs.constructed || !Array.isArray(attrs.value))) {
    bad('attributes are not [0] IMPLICIT SET OF Attribute');
  }
  const sanValues: Uint8Array[] = [];
  for (const [i, attr] of ((attrs?.value as Node[] | undefined) ?? []).entries()) {
    const [type, values] = seq(attr, `attributes[${i}]`, 2);
    if (oid(type, `attributes[${i}].type`) !== EXTENSION_REQUEST_OID) continue;
    if (!universal(values, T.SET) || !Array.isArray(values!.value)) bad(`attributes[${i}].values is not a SET`);
    for (const [j, exts] of (values!.value as Node[]).entries()) {
      for (const [k, ext] of seq(exts, `attributes[${i}].values[${j}]`, 0).entries()) {
        const at = `extensionRequest extension[${k}]`;
        const parts = seq(ext, at, 2);
        if (parts.length > 3 || (parts.length === 3 && !universal(parts[1], T.BOOLEAN))) bad(`${at} is not (extnID, critical, extnValue)`);
        const value = primitive(parts[parts.length - 1], T.OCTETSTRING, `${at}.extnValue`, 'an OCTET STRING');
        if (oid(parts[0], `${at}.extnID`) === SAN_OID) sanValues.push(Buffer.from(value, 'latin1'));
      }
    }
  }
  // The signed bytes exactly as sent: the CRI is the first element inside the outer SEQUENCE.
  const outer = tlvAt(der, 0, 'the request');
  const criAt = outer.start + (der[1]! & 0x80 ? 2 + (der[1]! & 0x7f) : 2);
  const criRange = tlvAt(der, criAt, 'certificationRequestInfo');
  return {
    criDer: der.subarray(criRange.start, criRange.end),
    signatureAlgorithm: oid(seq(sigAlg, 'signatureAlgorithm', 1)[0], 'signatureAlgorithm.algorithm'),
    signature: bits(sig, 'signature'),
    keyAlgorithm: oid(keyAlgOid, 'subjectPKInfo.algorithm.algorithm'),
    // Re-encoded (an OID is one primitive TLV: its DER is canonical), compared against the known curves.
    keyParametersDer: keyParams ? Buffer.from(asn1.toDer(keyParams).getBytes(), 'latin1') : undefined,
    publicKey: bits(publicKey, 'subjectPKInfo.subjectPublicKey'),
    sanValues,
  };
}

/** URI names and the count of every other name in a GeneralNames (a SAN extension's value). */
export function readGeneralNames(der: Uint8Array): { uris: string[]; others: number } {
  const uris: string[] = [];
  let others = 0;
  for (const name of seq(decode(der, 'subjectAltName'), 'subjectAltName', 0)) {
    if (name.tagClass === asn1.Class.CONTEXT_SPECIFIC && name.type === URI_TAG && !name.constructed && typeof name.value === 'string') uris.push(name.value);
    else others++;
  }
  return { uris, others };
}
