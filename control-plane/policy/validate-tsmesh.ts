// tsmesh's own resources (tsmesh.io/v1alpha1): DestinationPolicy,
// AuthorizationPolicy and MeshConfig.

import type { Reader } from '../../common/reader.js';
import { readName, readObjectRef, readStringList, readStringMap } from './common-fields.js';
import {
  DEFAULT_MESH_CONFIG,
  type AuthorizationPolicySpec,
  type AuthorizationRule,
  type DestinationPolicySpec,
  type H2UpgradePolicy,
  type LoadBalancerKind,
  type MeshConfigSpec,
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
  const spec: DestinationPolicySpec = { targetRef: readObjectRef(r.field('targetRef'), { group: '', kind: 'Service' }, ['Service']) };
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
    tls.onlyKeys(['mode']);
    spec.tls = { mode: (tls.field('mode').string({ required: true, enum: ['ISTIO_MUTUAL', 'DISABLE'] }) ?? 'ISTIO_MUTUAL') as 'ISTIO_MUTUAL' };
  }
  return spec;
}

const PRINCIPAL = /^(\*|spiffe:\/\/[^\s]+|[^\s/]+\/ns\/[^\s/]+\/sa\/[^\s/]+\*?|\*[^\s]*|[^\s]*\*)$/;

function readRule(r: Reader): AuthorizationRule {
  r.object(true);
  r.onlyKeys(['from', 'to']);
  const from = r.field('from').array().map((f) => {
    f.object(true);
    f.onlyKeys(['source']);
    const s = f.field('source');
    if (!s.object(true)) return { source: { principals: [], namespaces: [] } };
    s.onlyKeys(['principals', 'namespaces']);
    const out = {
      principals: readStringList(s.field('principals'), { pattern: PRINCIPAL, patternHint: 'a SPIFFE ID or <trust-domain>/ns/<ns>/sa/<sa>, "*" as prefix/suffix wildcard', max: 64 }),
      namespaces: readStringList(s.field('namespaces'), { max: 64 }),
    };
    if (!out.principals.length && !out.namespaces.length) s.fail('must set principals or namespaces');
    return { source: out };
  });
  const to = r.field('to').array().map((t) => {
    t.object(true);
    t.onlyKeys(['operation']);
    const o = t.field('operation');
    if (!o.object(true)) return { operation: { paths: [], methods: [] } };
    o.onlyKeys(['paths', 'methods']);
    const out = {
      paths: readStringList(o.field('paths'), { pattern: /^(\/[^\s*]*\*?|\*)$/, patternHint: 'an absolute path; a trailing "*" makes it a prefix', max: 64 }),
      methods: readStringList(o.field('methods'), { max: 16 }),
    };
    o.field('methods').array().forEach((m) => {
      if (typeof m.value === 'string' && !HTTP_METHODS.includes(m.value)) m.fail(`unknown HTTP method "${m.value}"`);
    });
    if (!out.paths.length && !out.methods.length) o.fail('must set paths or methods');
    return { operation: out };
  });
  return { from, to };
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

export function readMeshConfigSpec(r: Reader): MeshConfigSpec {
  r.object(true);
  r.onlyKeys(['trustDomain', 'certificateTtl', 'mtls', 'defaultDeny', 'outboundTrafficPolicy', 'tracing']);
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
  };
}

export { readName };
