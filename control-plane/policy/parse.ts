// Multi-document YAML → validated policies. Every problem in every document
// is collected (file:line and field path) and reported together; a batch with
// any problem is refused whole.

import { Reader } from '../../common/reader.js';
import { ValidationError, type ValidationIssue } from '../../common/errors.js';
import { parseYamlDocuments, type SourceDoc } from '../../common/yaml-source.js';
import { readMetadata } from './common-fields.js';
import { readHttpRouteSpec } from './validate-route.js';
import { readGrpcRouteSpec } from './validate-grpc-route.js';
import { readAuthorizationPolicySpec, readDestinationPolicySpec, readMeshConfigSpec, readPeerAuthenticationSpec } from './validate-tsmesh.js';
import { readFaultPolicySpec, readRateLimitPolicySpec } from './validate-traffic.js';
import { readCanarySpec } from './validate-canary.js';
import { readServiceEntrySpec, SERVICE_ENTRY_VERSIONS } from './validate-service-entry.js';
import { GATEWAY_API_VERSION, ISTIO_NETWORKING_VERSION, POLICY_KINDS, TSMESH_API_VERSION, type Policy, type PolicyKind } from './types.js';

export const MAX_POLICY_BYTES = 4 * 1024 * 1024;
export const MAX_DOCUMENTS = 1000;

const API_VERSION: Record<PolicyKind, string> = {
  HTTPRoute: GATEWAY_API_VERSION,
  GRPCRoute: GATEWAY_API_VERSION,
  DestinationPolicy: TSMESH_API_VERSION,
  AuthorizationPolicy: TSMESH_API_VERSION,
  PeerAuthentication: TSMESH_API_VERSION,
  FaultPolicy: TSMESH_API_VERSION,
  RateLimitPolicy: TSMESH_API_VERSION,
  ServiceEntry: ISTIO_NETWORKING_VERSION,
  MeshConfig: TSMESH_API_VERSION,
  Canary: TSMESH_API_VERSION,
};

const SPEC_READERS: Record<PolicyKind, (r: Reader) => unknown> = {
  HTTPRoute: readHttpRouteSpec,
  GRPCRoute: readGrpcRouteSpec,
  DestinationPolicy: readDestinationPolicySpec,
  AuthorizationPolicy: readAuthorizationPolicySpec,
  PeerAuthentication: readPeerAuthenticationSpec,
  FaultPolicy: readFaultPolicySpec,
  RateLimitPolicy: readRateLimitPolicySpec,
  ServiceEntry: readServiceEntrySpec,
  MeshConfig: readMeshConfigSpec,
  Canary: readCanarySpec,
};

/** A parsed policy plus where it came from, for cross-resource error messages. */
export interface SourcedPolicy {
  policy: Policy;
  source?: SourceDoc;
}

/** Validate one already-parsed document. Issues go to `issues`; returns undefined when the document is unusable. */
export function readPolicyDocument(doc: SourceDoc, issues: ValidationIssue[]): Policy | undefined {
  const r = new Reader(doc.value, [], { issues, source: doc });
  const before = issues.length;
  if (!r.object(true)) return undefined;
  r.onlyKeys(['apiVersion', 'kind', 'metadata', 'spec', 'status']);
  const kind = r.field('kind').string({ required: true });
  if (kind === undefined) return undefined;
  if (!(POLICY_KINDS as readonly string[]).includes(kind)) {
    r.field('kind').fail(`unknown kind "${kind}" (supported: ${POLICY_KINDS.join(', ')})`);
    return undefined;
  }
  const k = kind as PolicyKind;
  const apiVersion = r.field('apiVersion').string({ required: true });
  if (apiVersion !== undefined && apiVersion !== API_VERSION[k]) {
    const alt = (k.endsWith('Route') && apiVersion === 'gateway.networking.k8s.io/v1beta1') || (k === 'ServiceEntry' && SERVICE_ENTRY_VERSIONS.includes(apiVersion));
    if (!alt) r.field('apiVersion').fail(`${k} must have apiVersion ${API_VERSION[k]}; got "${apiVersion}"`);
  }
  const metadata = readMetadata(r.field('metadata'));
  if (!r.field('spec').present && k === 'MeshConfig') {
    // An empty MeshConfig means "all defaults".
    return { apiVersion: API_VERSION[k], kind: k, metadata, spec: readMeshConfigSpec(new Reader({}, ['spec'], r.ctx)) } as Policy;
  }
  const spec = SPEC_READERS[k](r.field('spec'));
  if (issues.length > before) return undefined;
  return { apiVersion: API_VERSION[k], kind: k, metadata, spec } as Policy;
}

/** parseYamlDocuments, but every failure is a ValidationError (the yaml library throws plain errors for an unresolved alias `*x`). */
export function parseYamlSafely(text: string, file?: string): SourceDoc[] {
  try {
    return parseYamlDocuments(text, file);
  } catch (e) {
    if (e instanceof ValidationError) throw e;
    throw new ValidationError([{ file, path: '', message: `YAML error: ${(e as Error).message.split('\n')[0]}` }], file ? `YAML in ${file}` : 'YAML');
  }
}

/** Parse and validate a YAML stream of policies; throws ValidationError listing every problem. */
export function parsePolicies(text: string, file?: string): SourcedPolicy[] {
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES) {
    throw new ValidationError([{ file, path: '', message: `input is larger than ${MAX_POLICY_BYTES} bytes` }], 'policy input');
  }
  const docs = parseYamlSafely(text, file);
  if (docs.length > MAX_DOCUMENTS) {
    throw new ValidationError([{ file, path: '', message: `more than ${MAX_DOCUMENTS} documents` }], 'policy input');
  }
  const issues: ValidationIssue[] = [];
  const out: SourcedPolicy[] = [];
  for (const doc of docs) {
    // An empty document (a trailing or doubled `---`) is skipped, as kubectl skips it.
    if (doc.value === null || doc.value === undefined) continue;
    const p = readPolicyDocument(doc, issues);
    if (p) out.push({ policy: p, source: doc });
  }
  if (issues.length) throw new ValidationError(issues, 'policy');
  return out;
}
