// Certificate signing requests: the workload makes one for its SPIFFE ID with
// a key generated in memory; the CA reads one back and checks it strictly.
import { verify } from 'node:crypto';
import { readCsr, readGeneralNames } from './csr-der.js';
import { importEcKey } from './csr-key.js';
import { CsrRejectedError } from './errors.js';

export const MAX_CSR_PEM_BYTES = 16 * 1024;

// The workload side lives in workload-csr.ts (node:crypto only, so sidecars load no X.509 library).
export { createWorkloadCsr, type WorkloadCsr } from './workload-csr.js';

export interface CheckedCsr {
  /** The CSR's public key, DER SubjectPublicKeyInfo (checked: type, curve, proof of possession). */
  spkiDer: Buffer;
  spiffeId: string;
}

/** ECDSA signature algorithms a CSR may be signed with → node:crypto digest. */
const ECDSA_DIGESTS: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

/**
 * Parses and checks a CSR against the identity the caller proved: size,
 * key type, self-signature, and exactly one URI SAN equal to `expectedId`.
 * Decoding is node-forge's ASN.1 reader (csr-der.ts); the signature check is node:crypto's (synchronous).
 */
export async function checkCsr(csrPem: string, expectedId: string): Promise<CheckedCsr> {
  return checkCsrSync(csrPem, expectedId);
}

export function checkCsrSync(csrPem: string, expectedId: string): CheckedCsr {
  try {
    return checkCsrUnsafe(csrPem, expectedId);
  } catch (err) {
    if (err instanceof CsrRejectedError) throw err;
    // Anything the decoder or OpenSSL throws on hostile input is still a refusal, never a crash.
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
  const csr = readCsr(decodePem(csrPem));
  const { key, spkiDer } = importEcKey(csr.keyAlgorithm, csr.keyParametersDer, csr.publicKey);
  const digest = ECDSA_DIGESTS[csr.signatureAlgorithm];
  if (!digest) {
    throw new CsrRejectedError('MESH_CSR_BAD_SIGNATURE', `CSR signature cannot be verified: algorithm ${csr.signatureAlgorithm} is not ECDSA with SHA-2`);
  }
  let ok = false;
  try {
    ok = verify(digest, csr.criDer, { key, dsaEncoding: 'der' }, csr.signature);
  } catch (err) {
    throw new CsrRejectedError('MESH_CSR_BAD_SIGNATURE', `CSR signature cannot be verified: ${(err as Error).message}`, { cause: err });
  }
  if (!ok) throw new CsrRejectedError('MESH_CSR_BAD_SIGNATURE', 'CSR signature does not verify against its public key');

  if (csr.sanValues.length !== 1) {
    throw new CsrRejectedError('MESH_CSR_INVALID', `CSR must carry one subjectAltName extension, found ${csr.sanValues.length}`);
  }
  const { uris, others } = readGeneralNames(csr.sanValues[0]!);
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
