// The one piece of DER the fast signer writes itself: a tag and a definite
// length around parts that are already DER (pre-encoded by @peculiar/asn1-schema
// or sliced from a parsed CSR). Concatenating pre-encoded parts is what makes
// per-certificate work small; asn1-schema cannot splice raw bytes into a structure.

export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  SEQUENCE: 0x30,
  /** [0] EXPLICIT, constructed (TBSCertificate.version). */
  CTX0: 0xa0,
  /** [3] EXPLICIT, constructed (TBSCertificate.extensions). */
  CTX3: 0xa3,
} as const;

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  if (n < 0x10000) return Buffer.from([0x82, n >> 8, n & 0xff]);
  if (n < 0x1000000) return Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  throw new RangeError(`DER value of ${n} bytes is too long for a certificate`);
}

/** tag ‖ length ‖ parts, as one buffer. */
export function tlv(tag: number, parts: readonly Uint8Array[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  return Buffer.concat([Buffer.from([tag]), lengthBytes(len), ...parts]);
}
