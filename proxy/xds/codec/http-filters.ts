// HTTP filters of the connection manager (router, RBAC, fault, local rate limit)
// and the per-route configs of fault and local rate limit.

import type { Reader } from '../../../common/reader.js';
import type {
  FaultPolicy,
  HttpFilter,
  LocalRateLimitPolicy,
  RbacPermission,
  RbacPolicy,
  RbacPrincipal,
  RbacRules,
} from '../../config/resources.js';
import {
  T,
  anyType,
  duration,
  fractionalPercent,
  headerMatcher,
  readFractionalPercent,
  readHeaderMatcher,
  readStringMatcher,
  readU32,
  stringMatcher,
  type PObj,
} from './wire.js';

const MAX_RBAC_DEPTH = 16;
const MAX_POLICIES = 1000;

// ------------------------------------------------------------- RBAC

function encodePermission(p: RbacPermission): PObj {
  if ('any' in p) return { any: true };
  if ('urlPath' in p) return { url_path: { path: stringMatcher(p.urlPath) } };
  if ('header' in p) return { header: headerMatcher(p.header) };
  if ('andRules' in p) return { and_rules: { rules: p.andRules.map(encodePermission) } };
  if ('orRules' in p) return { or_rules: { rules: p.orRules.map(encodePermission) } };
  return { not_rule: encodePermission(p.notRule) };
}

function encodePrincipal(p: RbacPrincipal): PObj {
  if ('any' in p) return { any: true };
  if ('authenticated' in p) return { authenticated: { principal_name: stringMatcher(p.authenticated) } };
  if ('andIds' in p) return { and_ids: { ids: p.andIds.map(encodePrincipal) } };
  if ('orIds' in p) return { or_ids: { ids: p.orIds.map(encodePrincipal) } };
  return { not_id: encodePrincipal(p.notId) };
}

export function encodeRbacRules(rules: RbacRules): PObj {
  const policies: PObj = {};
  for (const [name, p] of Object.entries(rules.policies)) {
    policies[name] = { permissions: p.permissions.map(encodePermission), principals: p.principals.map(encodePrincipal) };
  }
  return { action: rules.action, policies };
}

function decodePermission(r: Reader, depth: number): RbacPermission | undefined {
  if (depth > MAX_RBAC_DEPTH) return r.fail(`nested deeper than ${MAX_RBAC_DEPTH}`);
  if (!r.object(true)) return undefined;
  const list = (set: Reader) => set.field('rules').array().map((x) => decodePermission(x, depth + 1)).filter((x): x is RbacPermission => !!x);
  if (r.field('any').boolean()) return { any: true };
  if (r.field('url_path').object()) {
    const m = readStringMatcher(r.field('url_path').field('path'));
    return m && { urlPath: m };
  }
  if (r.field('header').object()) {
    const h = readHeaderMatcher(r.field('header'));
    return h && { header: h };
  }
  if (r.field('and_rules').object()) return { andRules: list(r.field('and_rules')) };
  if (r.field('or_rules').object()) return { orRules: list(r.field('or_rules')) };
  if (r.field('not_rule').object()) {
    const n = decodePermission(r.field('not_rule'), depth + 1);
    return n && { notRule: n };
  }
  return r.fail('unsupported permission (any, url_path, header, and_rules, or_rules, not_rule)');
}

function decodePrincipal(r: Reader, depth: number): RbacPrincipal | undefined {
  if (depth > MAX_RBAC_DEPTH) return r.fail(`nested deeper than ${MAX_RBAC_DEPTH}`);
  if (!r.object(true)) return undefined;
  const list = (set: Reader) => set.field('ids').array().map((x) => decodePrincipal(x, depth + 1)).filter((x): x is RbacPrincipal => !!x);
  if (r.field('any').boolean()) return { any: true };
  if (r.field('authenticated').object()) {
    const pn = r.field('authenticated').field('principal_name');
    // Envoy: an absent principal_name matches any authenticated peer.
    return { authenticated: pn.present ? (readStringMatcher(pn) ?? { prefix: '' }) : { prefix: '' } };
  }
  if (r.field('and_ids').object()) return { andIds: list(r.field('and_ids')) };
  if (r.field('or_ids').object()) return { orIds: list(r.field('or_ids')) };
  if (r.field('not_id').object()) {
    const n = decodePrincipal(r.field('not_id'), depth + 1);
    return n && { notId: n };
  }
  return r.fail('unsupported principal (any, authenticated, and_ids, or_ids, not_id)');
}

export function decodeRbacRules(r: Reader): RbacRules | undefined {
  if (!r.object()) return undefined;
  const action = r.field('action').string({ enum: ['ALLOW', 'DENY'] }) ?? 'ALLOW';
  const policies: Record<string, RbacPolicy> = {};
  const entries = r.field('policies').entries();
  if (entries.length > MAX_POLICIES) r.field('policies').fail(`more than ${MAX_POLICIES} policies`);
  for (const [name, p] of entries.slice(0, MAX_POLICIES)) {
    policies[name] = {
      permissions: p.field('permissions').array(true).map((x) => decodePermission(x, 1)).filter((x): x is RbacPermission => !!x),
      principals: p.field('principals').array(true).map((x) => decodePrincipal(x, 1)).filter((x): x is RbacPrincipal => !!x),
    };
  }
  return { action: action as RbacRules['action'], policies };
}

// ------------------------------------------------------------- fault & rate limit (per route)

export function encodeFault(f: FaultPolicy): PObj {
  const o: PObj = { '@type': T.fault };
  if (f.delay) o.delay = { fixed_delay: duration(f.delay.fixedDelay), percentage: fractionalPercent(f.delay.percent) };
  if (f.abort) {
    const a: PObj = { percentage: fractionalPercent(f.abort.percent) };
    if (f.abort.grpcStatus !== undefined) a.grpc_status = f.abort.grpcStatus;
    else a.http_status = f.abort.httpStatus;
    o.abort = a;
  }
  if (f.headers.length) o.headers = f.headers.map(headerMatcher);
  return o;
}

export function decodeFault(r: Reader): FaultPolicy {
  const f: FaultPolicy = { headers: [] };
  const d = r.field('delay');
  if (d.object()) {
    const fixedDelay = d.field('fixed_delay').duration({ required: true, min: 0 });
    // Envoy's FaultDelay/FaultAbort percentage defaults to 100%.
    f.delay = { fixedDelay: fixedDelay ?? 0, percent: readFractionalPercent(d.field('percentage')) ?? 100 };
  }
  const a = r.field('abort');
  if (a.object()) {
    const percent = readFractionalPercent(a.field('percentage')) ?? 100;
    if (a.field('grpc_status').present) f.abort = { grpcStatus: a.field('grpc_status').number({ integer: true, min: 0, max: 16 }), percent };
    else if (a.field('http_status').present) f.abort = { httpStatus: a.field('http_status').number({ integer: true, min: 200, max: 599 }), percent };
    else a.fail('http_status or grpc_status is required (header_abort is not supported)');
  }
  for (const h of r.field('headers').array()) {
    const hm = readHeaderMatcher(h);
    if (hm) f.headers.push(hm);
  }
  return f;
}

const ALWAYS: PObj = { default_value: { numerator: 100, denominator: 'HUNDRED' }, runtime_key: 'local_rate_limit_enabled' };

export function encodeRateLimit(l: LocalRateLimitPolicy): PObj {
  return {
    '@type': T.localRateLimit,
    stat_prefix: l.statPrefix,
    token_bucket: {
      max_tokens: l.tokenBucket.maxTokens,
      tokens_per_fill: { value: l.tokenBucket.tokensPerFill },
      fill_interval: duration(l.tokenBucket.fillInterval),
    },
    filter_enabled: ALWAYS,
    filter_enforced: { ...ALWAYS, runtime_key: 'local_rate_limit_enforced' },
  };
}

export function decodeRateLimit(r: Reader): LocalRateLimitPolicy | undefined {
  const tb = r.field('token_bucket');
  if (!tb.object(true)) return undefined;
  const statPrefix = r.field('stat_prefix').string({ required: true, maxLength: 256 }) ?? '';
  const maxTokens = tb.field('max_tokens').number({ required: true, integer: true, min: 1 }) ?? 1;
  const tokensPerFill = readU32(tb.field('tokens_per_fill'), { min: 1 }) ?? 1;
  const fillInterval = tb.field('fill_interval').duration({ required: true, min: 50 }) ?? 1000;
  return { statPrefix, tokenBucket: { maxTokens, tokensPerFill, fillInterval } };
}

// ------------------------------------------------------------- filter list

export function encodeHttpFilter(f: HttpFilter): PObj {
  switch (f.kind) {
    case 'router':
      return { name: f.name, typed_config: { '@type': T.router } };
    case 'rbac':
      return { name: f.name, typed_config: f.rules ? { '@type': T.rbac, rules: encodeRbacRules(f.rules) } : { '@type': T.rbac } };
    case 'fault':
      return { name: f.name, typed_config: { '@type': T.fault } };
    case 'localRateLimit':
      return { name: f.name, typed_config: { '@type': T.localRateLimit, stat_prefix: f.name } };
  }
}

export function decodeHttpFilters(r: Reader): HttpFilter[] {
  const out: HttpFilter[] = [];
  const list = r.array(true);
  for (const f of list) {
    const name = f.field('name').string({ required: true, maxLength: 256 }) ?? '';
    const t = anyType(f.field('typed_config'));
    if (t === T.router) out.push({ name, kind: 'router' });
    else if (t === T.rbac) {
      const rules = decodeRbacRules(f.field('typed_config').field('rules'));
      out.push(rules ? { name, kind: 'rbac', rules } : { name, kind: 'rbac' });
    } else if (t === T.fault) out.push({ name, kind: 'fault' });
    else if (t === T.localRateLimit) out.push({ name, kind: 'localRateLimit' });
    else if (t && !f.field('is_optional').boolean()) f.field('typed_config').fail(`unsupported HTTP filter ${t}`);
  }
  if (list.length && out.at(-1)?.kind !== 'router') r.fail('the last HTTP filter must be the router');
  return out;
}
