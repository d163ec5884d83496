import { MeshError } from '../../common/errors.js';

/** The caller could not be authenticated (maps to gRPC UNAUTHENTICATED). */
export class CallerAuthError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_CA_UNAUTHENTICATED', message, options);
  }
}

/** Proves who is calling the CA, from the request's `authorization: Bearer` token. Returns the caller's SPIFFE ID. */
export interface CallerAuthenticator {
  authenticate(bearerToken: string): Promise<string>;
}
