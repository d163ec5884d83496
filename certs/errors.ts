// Why the CA refused to sign. The CA service maps each code to one gRPC status.
import { MeshError } from '../common/errors.js';

export type CsrRejectCode =
  | 'MESH_CSR_INVALID' // malformed CSR, unsupported key, extra or other SANs
  | 'MESH_CSR_BAD_SIGNATURE' // the CSR's self-signature does not verify
  | 'MESH_CSR_IDENTITY_MISMATCH' // the CSR names an identity other than the caller's
  | 'MESH_CSR_TTL_TOO_LONG'; // requested lifetime above the CA's maximum

export class CsrRejectedError extends MeshError {
  declare readonly code: CsrRejectCode;
  constructor(code: CsrRejectCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The CA's own material is unusable (bad files, unsafe permissions, wrong key type). */
export class CaMaterialError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_CA_MATERIAL', message, options);
  }
}
