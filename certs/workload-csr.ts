// The workload's CSR (PKCS#10, RFC 2986), built with node:crypto: a fresh
// P-256 key, an empty subject, one extensionRequest attribute holding a
// critical subjectAltName with exactly one URI (the SPIFFE ID), signed
// ecdsa-with-SHA256. Every sidecar with a CA makes one at start and at each
// rotation; written here from fixed DER parts (der.ts) so the sidecar loads
// neither @peculiar/x509 (its asn1 tree, tsyringe, reflect-metadata: ~210
// modules) nor node-forge. The CA reads it with the same checks as any CSR
// (csr.ts), and a test compares it with @peculiar/x509's parse of it.
import { generateKeyPair as generateKeyPairCb, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { TAG, tlv } from './der.js';
import { parseWorkloadId } from './spiffe.js';

export interface WorkloadCsr {
  csrPem: string;
  /** PKCS#8 PEM; stays in this process (handed to Node's TLS only). */
  privateKeyPem: string;
}

const generateKeyPair = promisify(generateKeyPairCb);

const OID = 0x06;
const SET = 0x31;
const BOOLEAN_TRUE = Buffer.from([0x01, 0x01, 0xff]);
const OCTET_STRING = 0x04;
/** [0] IMPLICIT, constructed: certificationRequestInfo.attributes. */
const CTX0 = 0xa0;
/** [6] IMPLICIT IA5String: GeneralName.uniformResourceIdentifier. */
const URI = 0x86;

const oid = (hex: string): Buffer => tlv(OID, [Buffer.from(hex, 'hex')]);
const VERSION_0 = Buffer.from([TAG.INTEGER, 0x01, 0x00]);
const EMPTY_NAME = Buffer.from([TAG.SEQUENCE, 0x00]);
const EXTENSION_REQUEST = oid('2a864886f70d01090e'); // 1.2.840.113549.1.9.14
const SUBJECT_ALT_NAME = oid('551d11'); // 2.5.29.17
const ECDSA_WITH_SHA256 = tlv(TAG.SEQUENCE, [oid('2a8648ce3d040302')]); // 1.2.840.10045.4.3.2, no parameters

/** The DER CSR for `spiffeId`, signed with `privateKey` (P-256) over its SubjectPublicKeyInfo `spkiDer`. */
export function encodeWorkloadCsr(spiffeId: string, spkiDer: Uint8Array, privateKey: KeyObject): Buffer {
  const san = tlv(TAG.SEQUENCE, [tlv(URI, [Buffer.from(spiffeId, 'ascii')])]);
  const extension = tlv(TAG.SEQUENCE, [SUBJECT_ALT_NAME, BOOLEAN_TRUE, tlv(OCTET_STRING, [san])]);
  const attribute = tlv(TAG.SEQUENCE, [EXTENSION_REQUEST, tlv(SET, [tlv(TAG.SEQUENCE, [extension])])]);
  const info = tlv(TAG.SEQUENCE, [VERSION_0, EMPTY_NAME, spkiDer, tlv(CTX0, [attribute])]);
  const signature = sign('sha256', info, { key: privateKey, dsaEncoding: 'der' });
  return tlv(TAG.SEQUENCE, [info, ECDSA_WITH_SHA256, tlv(TAG.BIT_STRING, [Buffer.from([0]), signature])]);
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g)!;
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** A fresh P-256 key and a CSR carrying exactly one URI SAN, `spiffeId` (critical), and an empty subject. */
export async function createWorkloadCsr(spiffeId: string): Promise<WorkloadCsr> {
  parseWorkloadId(spiffeId);
  if (!/^[\x21-\x7e]+$/.test(spiffeId)) throw new Error(`SPIFFE ID ${JSON.stringify(spiffeId)} is not printable ASCII`);
  const { publicKey, privateKey } = await generateKeyPair('ec', { namedCurve: 'prime256v1' });
  const der = encodeWorkloadCsr(spiffeId, publicKey.export({ type: 'spki', format: 'der' }), privateKey);
  return { csrPem: pem('CERTIFICATE REQUEST', der), privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}
