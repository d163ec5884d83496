// Certificate signing requests: the workload makes one for its SPIFFE ID with
// a key generated in memory; the CA reads one back and checks it strictly.
import { EC_SIGN_ALG, generateKeyPair, privateKeyToPem, x509 } from './crypto.js';
import { CsrRejectedError } from './errors.js';
import { readSans } from './svid.js';
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
  csr: x509.Pkcs10CertificateRequest;
  spiffeId: string;
}

const ALLOWED_CURVES = new Set(['P-256', 'P-384']);

/**
 * Parses and checks a CSR against the identity the caller proved: size,
 * key type, self-signature, and exactly one URI SAN equal to `expectedId`.
 */
export async function checkCsr(csrPem: string, expectedId: string): Promise<CheckedCsr> {
  try {
    return await checkCsrUnsafe(csrPem, expectedId);
  } catch (err) {
    if (err instanceof CsrRejectedError) throw err;
    // The ASN.1 decoder parses some fields lazily (key parameters, extensions) and throws there.
    throw new CsrRejectedError('MESH_CSR_INVALID', `malformed CSR: ${(err as Error).message}`, { cause: err });
  }
}

async function checkCsrUnsafe(csrPem: string, expectedId: string): Promise<CheckedCsr> {
  if (typeof csrPem !== 'string' || csrPem.length === 0) throw new CsrRejectedError('MESH_CSR_INVALID', 'CSR is empty');
  if (csrPem.length > MAX_CSR_PEM_BYTES) {
    throw new CsrRejectedError('MESH_CSR_INVALID', `CSR is ${csrPem.length} bytes (limit ${MAX_CSR_PEM_BYTES})`);
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new CsrRejectedError('MESH_CSR_INVALID', `CSR is not a PEM PKCS#10 request: ${(err as Error).message}`, { cause: err });
  }
  const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (alg.name !== 'ECDSA' || !ALLOWED_CURVES.has(alg.namedCurve ?? '')) {
    throw new CsrRejectedError('MESH_CSR_INVALID', `CSR key must be ECDSA P-256 or P-384, got ${alg.name ?? '?'} ${alg.namedCurve ?? ''}`.trim());
  }
  let ok = false;
  try {
    ok = await csr.verify();
  } catch (err) {
    throw new CsrRejectedError('MESH_CSR_BAD_SIGNATURE', `CSR signature cannot be verified: ${(err as Error).message}`, { cause: err });
  }
  if (!ok) throw new CsrRejectedError('MESH_CSR_BAD_SIGNATURE', 'CSR signature does not verify against its public key');

  const sanExts = csr.extensions.filter((e) => e.type === '2.5.29.17');
  if (sanExts.length !== 1) {
    throw new CsrRejectedError('MESH_CSR_INVALID', `CSR must carry one subjectAltName extension, found ${sanExts.length}`);
  }
  const { uris, others } = readSans(sanExts[0]!.rawData);
  if (others > 0) throw new CsrRejectedError('MESH_CSR_INVALID', `CSR has ${others} non-URI SAN(s); only the SPIFFE ID is allowed`);
  if (uris.length !== 1) throw new CsrRejectedError('MESH_CSR_INVALID', `CSR must have exactly one URI SAN, found ${uris.length}`);
  if (uris[0] !== expectedId) {
    throw new CsrRejectedError(
      'MESH_CSR_IDENTITY_MISMATCH',
      `CSR asks for ${JSON.stringify(uris[0])} but the caller is ${JSON.stringify(expectedId)}`,
    );
  }
  return { csr, spiffeId: expectedId };
}
