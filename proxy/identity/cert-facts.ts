// The identity facts of a certificate, from node:crypto's X509Certificate
// (OpenSSL's parse, no JavaScript ASN.1 decoder on the connection path): the
// URI SANs, how many SANs of other types, and the basicConstraints CA flag.
//
// `subjectAltName` is OpenSSL's list joined with ", ". Since Node 17.3.1 /
// 16.13.2 (CVE-2021-44532) any name holding a comma, quote, backslash or a
// non-printable byte is written as a JSON string literal (the whole
// `"URI:…"` entry, or the value after `DirName:`), so the list splits without
// ambiguity: a comma outside a literal always separates two names.

import type { X509Certificate } from 'node:crypto';

export interface CertFacts {
  /** URI SANs in order. */
  uriSans: string[];
  /** SANs of any other type (DNS, IP, email, otherName, DirName, …). */
  otherSanCount: number;
  isCa: boolean;
  notBefore: number;
  notAfter: number;
}

/** Bounds the work on an untrusted certificate: real SVIDs carry one or two names. */
const MAX_SAN_LENGTH = 64 * 1024;

export function certFacts(cert: X509Certificate): CertFacts {
  const sans = parseSubjectAltName(cert.subjectAltName);
  return {
    uriSans: sans.uris,
    otherSanCount: sans.others,
    isCa: cert.ca,
    notBefore: Date.parse(cert.validFrom),
    notAfter: Date.parse(cert.validTo),
  };
}

/** Splits Node's subjectAltName string; throws on a form Node does not produce. */
export function parseSubjectAltName(text: string | undefined): { uris: string[]; others: number } {
  const uris: string[] = [];
  let others = 0;
  if (text === undefined || text === '') return { uris, others };
  if (text.length > MAX_SAN_LENGTH) throw new Error(`subjectAltName is longer than ${MAX_SAN_LENGTH} characters`);
  let i = 0;
  while (i <= text.length) {
    let name = '';
    // One name: plain runs and JSON string literals, up to the next top-level ", " (or the end).
    while (i < text.length && text[i] !== ',') {
      if (text[i] === '"') {
        const end = literalEnd(text, i);
        name += JSON.parse(text.slice(i, end + 1)) as string;
        i = end + 1;
      } else {
        const stop = nextSpecial(text, i);
        name += text.slice(i, stop);
        i = stop;
      }
    }
    if (name.startsWith('URI:')) uris.push(name.slice(4));
    else others++;
    if (i >= text.length) break;
    if (text[i + 1] !== ' ') throw new Error(`malformed subjectAltName at offset ${i}`);
    i += 2;
  }
  return { uris, others };
}

function nextSpecial(text: string, from: number): number {
  for (let j = from; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === 0x2c /* , */ || c === 0x22 /* " */) return j;
  }
  return text.length;
}

/** Index of the quote closing the JSON string literal that opens at `start`. */
function literalEnd(text: string, start: number): number {
  for (let j = start + 1; j < text.length; j++) {
    const c = text[j];
    if (c === '\\') j++;
    else if (c === '"') return j;
  }
  throw new Error('unterminated quoted name in subjectAltName');
}
