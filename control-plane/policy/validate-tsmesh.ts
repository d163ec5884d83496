// tsmesh's own resources (tsmesh.io/v1alpha1): DestinationPolicy,
// AuthorizationPolicy and MeshConfig.

import type { Reader } from '../../common/reader.js';
import { readName, readObjectRef, readStringList, readStringMap } from './common-fields.js';
import { HOSTNAME_PRECISE as TLS_HOST, ISTIO_GROUP } from './validate-route.js';
import { logFormatProblem } from '../../proxy/telemetry/log-format.js';
import {
  DEFAULT_MESH_CONFIG,
  type AuthorizationCondition,
  type AuthorizationOperation,
  type AuthorizationPolicySpec,
  type AuthorizationRule,
  type AuthorizationSource,
  type DestinationPolicySpec,
  type H2UpgradePolicy,
  type LoadBalancerKind,
  type MeshConfigSpec,
  type MtlsMode,
  type PeerAuthenticationSpec,
} from './types.js';

const LB: readonly LoadBalancerKind[] = ['PEAK_EWMA', 'ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH'];
const H2_UPGRADE: readonly H2UpgradePolicy[] = ['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'];
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];

function positiveInt(r: Reader, max = 1_000_000_000): number | undefined {
  return r.number({ integer: true, min: 1, max });
}

export function readDestinationPolicySpec(r: Reader): DestinationPolicySpec {
  r.object(true);
  r.onlyKeys(['targetRef', 'loadBalancer', 'connectionPool', 'outlierDetection', 'retryBudget', 'tls']);
  const spec: DestinationPolicySpec = { targetRef: readObjectRef(r.field('targetRef'), { group: '', kind: 'Service' }, ['Service', 'ServiceEntry']) };
  const toEntry = spec.targetRef.kind === 'ServiceEntry';
  if (toEntry && spec.targetRef.group === '') spec.targetRef.group = ISTIO_GROUP;
  const lb = r.field('loadBalancer');
  if (lb.object()) {
    lb.onlyKeys(['type', 'hashKey', 'choiceCount']);
    const type = (lb.field('type').string({ enum: LB }) ?? 'PEAK_EWMA') as LoadBalancerKind;
    spec.loadBalancer = { type, choiceCount: lb.field('choiceCount').number({ integer: true, min: 2, max: 100 }) };
    const hk = lb.field('hashKey');
    if (hk.object()) {
      hk.onlyKeys(['header', 'cookie', 'queryParam', 'sourceIp']);
      const key = {
        header: hk.field('header').string({ maxLength: 256 })?.toLowerCase(),
        cookie: hk.field('cookie').string({ maxLength: 256 }),
        queryParam: hk.field('queryParam').string({ maxLength: 256 }),
        sourceIp: hk.field('sourceIp').boolean(),
      };
      const set = [key.header, key.cookie, key.queryParam, key.sourceIp || undefined].filter((v) => v !== undefined);
      if (set.length !== 1) hk.fail('set exactly one of header, cookie, queryParam, sourceIp');
      spec.loadBalancer.hashKey = key;
    }
    if (type === 'RING_HASH' && !hk.present) lb.field('hashKey').fail('is required when type is RING_HASH');
    if (type !== 'RING_HASH' && hk.present) hk.fail('only applies to type RING_HASH');
    if (type !== 'LEAST_REQUEST' && lb.field('choiceCount').present) lb.field('choiceCount').fail('only applies to type LEAST_REQUEST');
  }
  const cp = r.field('connectionPool');
  if (cp.object()) {
    cp.onlyKeys(['maxConnections', 'maxPendingRequests', 'maxRequests', 'maxRetries', 'connectTimeout', 'idleTimeout', 'maxRequestsPerConnection', 'h2UpgradePolicy', 'useClientProtocol']);
    spec.connectionPool = {
      maxConnections: positiveInt(cp.field('maxConnections')),
      maxPendingRequests: positiveInt(cp.field('maxPendingRequests')),
      maxRequests: positiveInt(cp.field('maxRequests')),
      maxRetries: cp.field('maxRetries').number({ integer: true, min: 0, max: 1_000_000_000 }),
      connectTimeout: cp.field('connectTimeout').duration({ min: 1, max: 300_000 }),
      idleTimeout: cp.field('idleTimeout').duration({ min: 1 }),
      maxRequestsPerConnection: positiveInt(cp.field('maxRequestsPerConnection')),
      h2UpgradePolicy: cp.field('h2UpgradePolicy').string({ enum: H2_UPGRADE }) as H2UpgradePolicy | undefined,
      useClientProtocol: cp.field('useClientProtocol').boolean(),
    };
  }
  const od = r.field('outlierDetection');
  if (od.object()) {
    od.onlyKeys(['consecutive5xxErrors', 'consecutiveGatewayErrors', 'interval', 'baseEjectionTime', 'maxEjectionTime', 'maxEjectionPercent']);
    spec.outlierDetection = {
      consecutive5xxErrors: od.field('consecutive5xxErrors').number({ integer: true, min: 0, max: 1000 }),
      consecutiveGatewayErrors: od.field('consecutiveGatewayErrors').number({ integer: true, min: 0, max: 1000 }),
      interval: od.field('interval').duration({ min: 1 }),
      baseEjectionTime: od.field('baseEjectionTime').duration({ min: 1 }),
      maxEjectionTime: od.field('maxEjectionTime').duration({ min: 1 }),
      maxEjectionPercent: od.field('maxEjectionPercent').number({ integer: true, min: 0, max: 100 }),
    };
    const { baseEjectionTime: b, maxEjectionTime: m } = spec.outlierDetection;
    if (b !== undefined && m !== undefined && m < b) od.field('maxEjectionTime').fail(`must be ≥ baseEjectionTime (${b}ms)`);
  }
  const rb = r.field('retryBudget');
  if (rb.object()) {
    rb.onlyKeys(['percent', 'interval', 'minRetryRate']);
    spec.retryBudget = {
      percent: rb.field('percent').number({ integer: true, min: 0, max: 100 }) ?? 20,
      interval: rb.field('interval').duration({ min: 1000, max: 3_600_000 }) ?? 10_000,
    };
    const mr = rb.field('minRetryRate');
    if (mr.object()) {
      mr.onlyKeys(['count', 'interval']);
      spec.retryBudget.minRetryRate = {
        count: mr.field('count').number({ required: true, integer: true, min: 0, max: 1_000_000 }) ?? 10,
        interval: mr.field('interval').duration({ required: true, min: 1, max: 3_600_000 }) ?? 1000,
      };
    }
  }
  const tls = r.field('tls');
  if (tls.object()) {
    tls.onlyKeys(['mode', 'sni', 'caCertificates', 'subjectAltNames']);
    const mode = (tls.field('mode').string({ required: true, enum: ['ISTIO_MUTUAL', 'DISABLE', 'SIMPLE'] }) ?? 'ISTIO_MUTUAL') as NonNullable<DestinationPolicySpec['tls']>['mode'];
    spec.tls = { mode };
    if (mode === 'SIMPLE' && !toEntry) tls.field('mode').fail('SIMPLE originates TLS to hosts outside the mesh: target a ServiceEntry (mesh Services use ISTIO_MUTUAL)');
    if (mode === 'ISTIO_MUTUAL' && toEntry) tls.field('mode').fail('hosts outside the mesh run no sidecar to speak mesh mTLS with: use SIMPLE (or DISABLE)');
    for (const key of ['sni', 'caCertificates', 'subjectAltNames'] as const) {
      if (mode !== 'SIMPLE' && tls.field(key).present) tls.field(key).fail('is for mode SIMPLE');
    }
    const sni = tls.field('sni').string({ pattern: TLS_HOST, patternHint: 'a host name', maxLength: 253 });
    if (sni !== undefined) spec.tls.sni = sni;
    // A file on the sidecar (a mounted Secret or ConfigMap), as Istio's caCertificates; read there, never by the control plane.
    const ca = tls.field('caCertificates').string({ pattern: /^\/[^\0\s]*$/, patternHint: 'an absolute path on the sidecar', maxLength: 1024 });
    if (ca !== undefined) spec.tls.caCertificates = ca;
    if (tls.field('subjectAltNames').present) spec.tls.subjectAltNames = readStringList(tls.field('subjectAltNames'), { pattern: TLS_HOST, patternHint: 'a host name (a wildcard certificate still matches it)', max: 16 });
  }
  return spec;
}

const PRINCIPAL = /^(\*|spiffe:\/\/[^\s]+|[^\s/]+\/ns\/[^\s/]+\/sa\/[^\s/]+\*?|\*[^\s]*|[^\s]*\*)$/;
const PRINCIPAL_HINT = 'a SPIFFE ID or <trust-domain>/ns/<ns>/sa/<sa>, "*" as prefix/suffix wildcard';
/** Istio's path forms: exact, prefix (`/api/*`), suffix (`*.json`), present (`*`). */
const PATH = /^(\/[^\s*]*\*?|\*[^\s*]*)$/;
const PATH_HINT = 'an absolute path; a trailing "*" makes it a prefix, a leading "*" a suffix';
const NAMESPACE = /^(\*|\*?[a-z0-9-]+|[a-z0-9-]+\*)$/;
const NAMESPACE_HINT = 'a namespace name, "*" as prefix/suffix wildcard';
const HOST = /^(\*|\*?[A-Za-z0-9.:[\]-]+|[A-Za-z0-9.:[\]-]+\*)$/;
const HOST_HINT = 'a host name, "*" as prefix/suffix wildcard';
/** The `when` keys tsmesh evaluates (Istio's names); Istio's others need data a sidecar here does not have. */
const CONDITION_KEY = /^(request\.headers\[[A-Za-z0-9!#$%&'*+.^_`|~-]+\]|source\.principal|source\.namespace)$/;

function readMethods(r: Reader): string[] {
  const out = readStringList(r, { max: 16 });
  r.array().forEach((m) => {
    if (typeof m.value === 'string' && !HTTP_METHODS.includes(m.value)) m.fail(`unknown HTTP method "${m.value}"`);
  });
  return out;
}

function readSource(s: Reader): AuthorizationSource {
  const none: AuthorizationSource = { principals: [], notPrincipals: [], namespaces: [], notNamespaces: [] };
  if (!s.object(true)) return none;
  s.onlyKeys(['principals', 'notPrincipals', 'namespaces', 'notNamespaces']);
  const out: AuthorizationSource = {
    principals: readStringList(s.field('principals'), { pattern: PRINCIPAL, patternHint: PRINCIPAL_HINT, max: 64 }),
    notPrincipals: readStringList(s.field('notPrincipals'), { pattern: PRINCIPAL, patternHint: PRINCIPAL_HINT, max: 64 }),
    namespaces: readStringList(s.field('namespaces'), { pattern: NAMESPACE, patternHint: NAMESPACE_HINT, max: 64 }),
    notNamespaces: readStringList(s.field('notNamespaces'), { pattern: NAMESPACE, patternHint: NAMESPACE_HINT, max: 64 }),
  };
  if (Object.keys(out).every((k) => !s.field(k).present)) s.fail('must set principals, notPrincipals, namespaces or notNamespaces');
  return out;
}

function readOperation(o: Reader): AuthorizationOperation {
  const none: AuthorizationOperation = { hosts: [], notHosts: [], methods: [], notMethods: [], paths: [], notPaths: [] };
  if (!o.object(true)) return none;
  o.onlyKeys(['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths']);
  const out: AuthorizationOperation = {
    hosts: readStringList(o.field('hosts'), { pattern: HOST, patternHint: HOST_HINT, max: 64 }),
    notHosts: readStringList(o.field('notHosts'), { pattern: HOST, patternHint: HOST_HINT, max: 64 }),
    methods: readMethods(o.field('methods')),
    notMethods: readMethods(o.field('notMethods')),
    paths: readStringList(o.field('paths'), { pattern: PATH, patternHint: PATH_HINT, max: 64 }),
    notPaths: readStringList(o.field('notPaths'), { pattern: PATH, patternHint: PATH_HINT, max: 64 }),
  };
  if (Object.keys(out).every((k) => !o.field(k).present)) o.fail('must set hosts, methods or paths (or their not* forms)');
  return out;
}

function readCondition(c: Reader): AuthorizationCondition | undefined {
  if (!c.object(true)) return undefined;
  c.onlyKeys(['key', 'values', 'notValues']);
  const key = c.field('key').string({
    required: true,
    pattern: CONDITION_KEY,
    patternHint: 'supported keys: request.headers[<name>], source.principal, source.namespace',
  });
  const out = { key: key ?? '', values: readStringList(c.field('values'), { max: 64 }), notValues: readStringList(c.field('notValues'), { max: 64 }) };
  if (!c.field('values').present && !c.field('notValues').present) c.fail('must set values or notValues');
  const form = key === 'source.principal' ? ([PRINCIPAL, PRINCIPAL_HINT] as const) : key === 'source.namespace' ? ([NAMESPACE, NAMESPACE_HINT] as const) : undefined;
  if (form) {
    [...c.field('values').array(), ...c.field('notValues').array()].forEach((v) => {
      if (typeof v.value === 'string' && !form[0].test(v.value)) v.fail(`"${v.value}" is not valid (${form[1]})`);
    });
  }
  return key === undefined ? undefined : out;
}

function readRule(r: Reader): AuthorizationRule {
  r.object(true);
  r.onlyKeys(['from', 'to', 'when']);
  const from = r.field('from').array().map((f) => {
    f.object(true);
    f.onlyKeys(['source']);
    return { source: readSource(f.field('source')) };
  });
  const to = r.field('to').array().map((t) => {
    t.object(true);
    t.onlyKeys(['operation']);
    return { operation: readOperation(t.field('operation')) };
  });
  const when = r.field('when').array();
  if (when.length > 16) r.field('when').fail('must have at most 16 entries');
  return { from, to, when: when.flatMap((c) => readCondition(c) ?? []) };
}

export function readAuthorizationPolicySpec(r: Reader): AuthorizationPolicySpec {
  r.object(true);
  r.onlyKeys(['selector', 'targetRef', 'action', 'rules']);
  const spec: AuthorizationPolicySpec = {
    action: (r.field('action').string({ enum: ['ALLOW', 'DENY'] }) ?? 'ALLOW') as 'ALLOW',
    rules: r.field('rules').array().map(readRule),
  };
  const sel = r.field('selector');
  if (sel.object()) {
    sel.onlyKeys(['matchLabels']);
    spec.selector = { matchLabels: readStringMap(sel.field('matchLabels')) };
  }
  if (r.field('targetRef').present) {
    const t = readObjectRef(r.field('targetRef'), { group: '', kind: 'Service' }, ['Service']);
    spec.targetRef = { group: t.group, kind: t.kind, name: t.name };
  }
  if (spec.selector && spec.targetRef) r.fail('set only one of selector and targetRef');
  if (spec.rules.length > 64) r.field('rules').fail('must have at most 64 entries');
  return spec;
}

const MTLS_MODES: readonly MtlsMode[] = ['STRICT', 'PERMISSIVE'];

function readMtlsMode(r: Reader): { mode: MtlsMode } | undefined {
  if (!r.object(true)) return undefined;
  r.onlyKeys(['mode']);
  const m = r.field('mode');
  if (m.value === 'DISABLE') {
    m.fail('DISABLE is not supported: callers in the mesh always use mTLS; PERMISSIVE also accepts plaintext');
    return undefined;
  }
  const mode = m.string({ required: true, enum: MTLS_MODES });
  return mode === undefined ? undefined : { mode: mode as MtlsMode };
}

export function readPeerAuthenticationSpec(r: Reader): PeerAuthenticationSpec {
  r.object(true);
  r.onlyKeys(['selector', 'mtls', 'portLevelMtls']);
  const spec: PeerAuthenticationSpec = { portLevelMtls: {} };
  const sel = r.field('selector');
  if (sel.object()) {
    sel.onlyKeys(['matchLabels']);
    spec.selector = { matchLabels: readStringMap(sel.field('matchLabels')) };
  }
  if (r.field('mtls').present) {
    const m = readMtlsMode(r.field('mtls'));
    if (m) spec.mtls = m;
  }
  const pl = r.field('portLevelMtls');
  if (pl.object()) {
    for (const [key, v] of pl.entries()) {
      const port = Number(key);
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        v.fail(`"${key}" is not a port number (1–65535)`);
        continue;
      }
      const m = readMtlsMode(v);
      if (m) spec.portLevelMtls[port] = m;
    }
    // Istio: port-level settings need a selector (which workload's ports they are).
    if (!spec.selector && pl.entries().length) pl.fail('needs a selector: ports are those of the selected workloads');
  }
  if (!r.field('mtls').present && !pl.present) r.fail('must set mtls or portLevelMtls');
  return spec;
}

export function readMeshConfigSpec(r: Reader): MeshConfigSpec {
  r.object(true);
  r.onlyKeys(['trustDomain', 'certificateTtl', 'mtls', 'defaultDeny', 'outboundTrafficPolicy', 'tracing', 'accessLogFile', 'accessLogEncoding', 'accessLogFormat', 'dnsRefreshRate']);
  const dnsRefreshRate = r.field('dnsRefreshRate').duration({ min: 1_000, max: 24 * 3_600_000 });
  // Istio's values; a file path on the workload is refused: the sidecar writes only to its own streams.
  const accessLogFile = r.field('accessLogFile').string({ enum: ['', '/dev/stdout', '/dev/stderr'] });
  const accessLogEncoding = r.field('accessLogEncoding').string({ enum: ['TEXT', 'JSON'] }) as MeshConfigSpec['accessLogEncoding'];
  const accessLogFormat = readAccessLogFormat(r.field('accessLogFormat'), accessLogEncoding ?? 'TEXT');
  const mt = r.field('mtls');
  let mode = DEFAULT_MESH_CONFIG.mtls.mode;
  if (mt.object()) {
    mt.onlyKeys(['mode']);
    mode = (mt.field('mode').string({ enum: ['STRICT', 'PERMISSIVE'] }) ?? mode) as typeof mode;
  }
  const otp = r.field('outboundTrafficPolicy');
  let outbound: MeshConfigSpec['outboundTrafficPolicy'];
  if (otp.object()) {
    otp.onlyKeys(['mode']);
    outbound = { mode: (otp.field('mode').string({ enum: ['ALLOW_ANY', 'REGISTRY_ONLY'] }) ?? 'ALLOW_ANY') as 'ALLOW_ANY' | 'REGISTRY_ONLY' };
  }
  const tr = r.field('tracing');
  let tracing: MeshConfigSpec['tracing'];
  if (tr.object()) {
    tr.onlyKeys(['randomSamplingPercentage']);
    tracing = { randomSamplingPercentage: tr.field('randomSamplingPercentage').number({ min: 0, max: 100, required: true }) ?? 0 };
  }
  return {
    trustDomain:
      r.field('trustDomain').string({ pattern: /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, patternHint: 'a lower-case DNS-like name', maxLength: 255 }) ??
      DEFAULT_MESH_CONFIG.trustDomain,
    certificateTtl: r.field('certificateTtl').duration({ min: 60_000, max: 90 * 24 * 3_600_000 }) ?? DEFAULT_MESH_CONFIG.certificateTtl,
    mtls: { mode },
    defaultDeny: r.field('defaultDeny').boolean() ?? false,
    ...(outbound ? { outboundTrafficPolicy: outbound } : {}),
    ...(tracing ? { tracing } : {}),
    ...(accessLogFile ? { accessLogFile: accessLogFile as NonNullable<MeshConfigSpec['accessLogFile']> } : {}),
    ...(accessLogEncoding ? { accessLogEncoding } : {}),
    ...(accessLogFormat ? { accessLogFormat } : {}),
    ...(dnsRefreshRate !== undefined ? { dnsRefreshRate } : {}),
  };
}

/** Istio's accessLogFormat, checked as the sidecars will compile it: a line for TEXT, a JSON object (as text) for JSON. */
function readAccessLogFormat(f: Reader, encoding: 'TEXT' | 'JSON'): string | undefined {
  const text = f.string({ maxLength: 16 * 1024 });
  if (!text) return undefined;
  if (encoding === 'TEXT') {
    const problem = logFormatProblem({ text });
    return problem ? f.fail(problem.reason) : text;
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    return f.fail(`with accessLogEncoding JSON, must be a JSON object of field names to format strings: ${(err as Error).message}`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return f.fail('with accessLogEncoding JSON, must be a JSON object of field names to format strings');
  const problem = logFormatProblem({ json: obj as Record<string, unknown> });
  if (problem) return f.fail(`${problem.path}: ${problem.reason}`);
  return text;
}

export { readName };
