// Facts about one X.509 certificate read from its DER, never from a
// formatted text form: URI SANs, other SANs, CA flag, validity.
import { x509 } from './crypto.js';

export interface CertFacts {
  /** URI SANs in order. */
  uriSans: string[];
  /** SANs of any other type (DNS, IP, email, otherName, …), or names that could not be decoded. */
  otherSanCount: number;
  isCa: boolean;
  notBefore: number;
  notAfter: number;
  serialNumber: string;
}

const SAN_OID = '2.5.29.17';
const BC_OID = '2.5.29.19';

/** Reads the SANs from a SubjectAlternativeName extension's raw DER. */
export function readSans(rawExtension: ArrayBuffer): { uris: string[]; others: number } {
  const uris: string[] = [];
  let others = 0;
  try {
    const san = new x509.SubjectAlternativeNameExtension(rawExtension);
    for (const n of san.names.items) {
      if (n.type === 'url') uris.push(n.value);
      else others++;
    }
  } catch {
    // A name type the decoder refuses (otherName, X.400, EDI party): count it as "other".
    others++;
  }
  return { uris, others };
}

export function inspectCertificate(cert: x509.X509Certificate): CertFacts {
  let uriSans: string[] = [];
  let otherSanCount = 0;
  const sanExts = cert.extensions.filter((e) => e.type === SAN_OID);
  for (const ext of sanExts) {
    const s = readSans(ext.rawData);
    uriSans = uriSans.concat(s.uris);
    otherSanCount += s.others;
  }
  const bcExt = cert.extensions.find((e) => e.type === BC_OID);
  const isCa = bcExt ? new x509.BasicConstraintsExtension(bcExt.rawData).ca : false;
  return {
    uriSans,
    otherSanCount,
    isCa,
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
    serialNumber: cert.serialNumber,
  };
}

export function parseCertificate(pemOrDer: string | Uint8Array): x509.X509Certificate {
  return new x509.X509Certificate(pemOrDer as string);
}
