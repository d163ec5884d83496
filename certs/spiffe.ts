// SPIFFE IDs (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md):
// `spiffe://<trust-domain>/<path>`; tsmesh workloads use `/ns/<ns>/sa/<sa>`.
// Parsing is strict and allocation-light: it runs on untrusted certificates.
import { MeshError } from '../common/errors.js';

export const MAX_SPIFFE_ID_LENGTH = 2048;
export const MAX_TRUST_DOMAIN_LENGTH = 255;

export interface SpiffeId {
  /** The whole ID, as it appears in the URI SAN. */
  uri: string;
  trustDomain: string;
  /** Path including the leading slash; '' for a trust-domain ID. */
  path: string;
}

export interface WorkloadId extends SpiffeId {
  namespace: string;
  serviceAccount: string;
}

export class InvalidSpiffeIdError extends MeshError {
  constructor(input: string, why: string) {
    const shown = input.length > 120 ? `${input.slice(0, 120)}…` : input;
    super('MESH_INVALID_SPIFFE_ID', `invalid SPIFFE ID ${JSON.stringify(shown)}: ${why}`);
  }
}

const TD_CHAR = /^[a-z0-9._-]+$/;
const SEG_CHAR = /^[A-Za-z0-9._-]+$/;
const PREFIX = 'spiffe://';

/** Why a trust domain name is invalid, or undefined when it is fine. */
export function trustDomainProblem(td: string): string | undefined {
  if (td.length === 0) return 'trust domain is empty';
  if (td.length > MAX_TRUST_DOMAIN_LENGTH) return `trust domain longer than ${MAX_TRUST_DOMAIN_LENGTH}`;
  if (!TD_CHAR.test(td)) return 'trust domain may contain only lowercase letters, digits, ".", "-" and "_"';
  return undefined;
}

/** Parses any SPIFFE ID; throws InvalidSpiffeIdError with the reason. */
export function parseSpiffeId(input: string): SpiffeId {
  if (typeof input !== 'string') throw new InvalidSpiffeIdError(String(input), 'not a string');
  if (input.length > MAX_SPIFFE_ID_LENGTH) throw new InvalidSpiffeIdError(input, `longer than ${MAX_SPIFFE_ID_LENGTH}`);
  if (!input.startsWith(PREFIX)) throw new InvalidSpiffeIdError(input, 'scheme must be "spiffe://" (lowercase)');
  const rest = input.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const tdProblem = trustDomainProblem(trustDomain);
  if (tdProblem) throw new InvalidSpiffeIdError(input, tdProblem);
  const path = slash < 0 ? '' : rest.slice(slash);
  if (path !== '') {
    const segs = path.slice(1).split('/');
    for (const seg of segs) {
      if (seg === '') throw new InvalidSpiffeIdError(input, 'path has an empty segment or a trailing slash');
      if (seg === '.' || seg === '..') throw new InvalidSpiffeIdError(input, 'path has a "." or ".." segment');
      if (!SEG_CHAR.test(seg)) throw new InvalidSpiffeIdError(input, 'path segments may contain only letters, digits, ".", "-" and "_"');
    }
  }
  return { uri: input, trustDomain, path };
}

/** Parses a tsmesh workload ID `spiffe://<td>/ns/<ns>/sa/<sa>`. */
export function parseWorkloadId(input: string): WorkloadId {
  const id = parseSpiffeId(input);
  const segs = id.path.split('/');
  if (segs.length !== 5 || segs[1] !== 'ns' || segs[3] !== 'sa') {
    throw new InvalidSpiffeIdError(input, 'workload ID path must be /ns/<namespace>/sa/<service-account>');
  }
  return { ...id, namespace: segs[2]!, serviceAccount: segs[4]! };
}

export function formatWorkloadId(trustDomain: string, namespace: string, serviceAccount: string): string {
  const uri = `${PREFIX}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  parseWorkloadId(uri); // validates every part
  return uri;
}

export function isValidSpiffeId(input: string): boolean {
  try {
    parseSpiffeId(input);
    return true;
  } catch {
    return false;
  }
}
