// HTTPRoute (gateway.networking.k8s.io/v1) for mesh traffic (GAMMA): the
// parentRef is a Service. Field names are Gateway API's. The parts GRPCRoute
// shares (parentRefs, backendRefs, filters) are exported for validate-grpc-route.ts.

import type { Reader } from '../../common/reader.js';
import {
  checkRegex,
  readHeaderModifier,
  readName,
  readNameValueMatches,
  readPort,
  readStringList,
} from './common-fields.js';
import type {
  BackendRef,
  HttpRouteFilter,
  HttpRouteMatch,
  HttpRouteRetry,
  HttpRouteRule,
  HttpRouteSpec,
  ParentRef,
  PathModifier,
  RequestMirror,
  RequestRedirect,
  UrlRewrite,
} from './types.js';
import { REDIRECT_STATUS_CODES } from './types.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];
/** Istio's API group, for ServiceEntry parents and Hostname / ServiceEntry backends. */
export const ISTIO_GROUP = 'networking.istio.io';

const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A host name without wildcards (lower-case labels). */
export const HOSTNAME_PRECISE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function readParentRefs(r: Reader): ParentRef[] {
  const items = r.array(true);
  if (r.present && items.length === 0) r.fail('must name at least one Service');
  if (items.length > 32) r.fail('must have at most 32 entries');
  return items.map((it) => {
    it.object(true);
    it.onlyKeys(['group', 'kind', 'name', 'namespace', 'port', 'sectionName']);
    const group = it.field('group').string() ?? '';
    const kind = it.field('kind').string() ?? 'Gateway';
    const service = kind === 'Service' && (group === '' || group === 'core');
    // Istio's extension of GAMMA: a route for hosts outside the mesh attaches to their ServiceEntry.
    const entry = kind === 'ServiceEntry' && group === ISTIO_GROUP;
    if (!service && !entry) {
      it.field('kind').fail(`tsmesh routes attach to a Service (kind: Service, group: "") or a ServiceEntry (group: ${ISTIO_GROUP}); got kind "${kind}"${group ? ` group "${group}"` : ''}`);
    }
    if (it.field('sectionName').present) it.field('sectionName').fail('is not supported for mesh routes; use port');
    return { group, kind, name: readName(it.field('name')), namespace: optName(it.field('namespace')), port: readPort(it.field('port')) };
  });
}

function optName(r: Reader): string | undefined {
  return r.present ? readName(r) : undefined;
}

function readBackendRef(r: Reader, withWeight: boolean, filtersAllowed: readonly string[]): BackendRef {
  r.object(true);
  r.onlyKeys(withWeight ? ['group', 'kind', 'name', 'namespace', 'port', 'weight', 'filters'] : ['group', 'kind', 'name', 'namespace', 'port']);
  const group = r.field('group').string() ?? '';
  const kind = r.field('kind').string() ?? 'Service';
  const service = kind === 'Service' && (group === '' || group === 'core');
  // Istio's backends outside the mesh: a host of a ServiceEntry (Hostname, by name) or the entry itself (its first host).
  const external = (kind === 'Hostname' || kind === 'ServiceEntry') && group === ISTIO_GROUP;
  if (!service && !external) r.field('kind').fail(`backends are Services (group: ""), or Hostname / ServiceEntry (group: ${ISTIO_GROUP}); got kind "${kind}"${group ? ` group "${group}"` : ''}`);
  if (kind === 'Hostname' && !r.field('port').present) r.field('port').fail('is required for a Hostname backend');
  return {
    group,
    kind,
    name: readName(r.field('name')),
    namespace: optName(r.field('namespace')),
    port: readPort(r.field('port')),
    weight: withWeight ? (r.field('weight').number({ integer: true, min: 0, max: 1_000_000 }) ?? 1) : 1,
    filters: withWeight ? readFilters(r.field('filters'), filtersAllowed) : [],
  };
}

function readMirror(r: Reader): RequestMirror {
  r.object(true);
  r.onlyKeys(['backendRef', 'percent', 'fraction']);
  const ref = readBackendRef(r.field('backendRef'), false, []);
  let percent = 100;
  const p = r.field('percent');
  const f = r.field('fraction');
  if (p.present && f.present) r.fail('set only one of percent and fraction');
  if (p.present) percent = p.number({ integer: true, min: 0, max: 100 }) ?? 100;
  if (f.present && f.object(true)) {
    f.onlyKeys(['numerator', 'denominator']);
    const num = f.field('numerator').number({ required: true, integer: true, min: 0 });
    const den = f.field('denominator').number({ integer: true, min: 1 }) ?? 100;
    if (num !== undefined && num > den) f.field('numerator').fail(`must be ≤ denominator (${den})`);
    else if (num !== undefined) percent = (num / den) * 100;
  }
  const { weight: _w, filters: _f, ...backendRef } = ref;
  return { backendRef, percent };
}

function readPathModifier(p: Reader): PathModifier | undefined {
  if (!p.object()) return undefined;
  p.onlyKeys(['type', 'replaceFullPath', 'replacePrefixMatch']);
  const type = p.field('type').string({ required: true, enum: ['ReplaceFullPath', 'ReplacePrefixMatch'] }) as PathModifier['type'] | undefined;
  const full = p.field('replaceFullPath').string({ pattern: /^\//, patternHint: 'must start with "/"', maxLength: 1024 });
  const prefix = p.field('replacePrefixMatch').string({ pattern: /^\//, patternHint: 'must start with "/"', maxLength: 1024 });
  if (type === 'ReplaceFullPath' && full === undefined) p.field('replaceFullPath').fail('is required when type is ReplaceFullPath');
  if (type === 'ReplacePrefixMatch' && prefix === undefined) p.field('replacePrefixMatch').fail('is required when type is ReplacePrefixMatch');
  return type ? { type, replaceFullPath: full, replacePrefixMatch: prefix } : undefined;
}

function readRequestRedirect(r: Reader): RequestRedirect {
  r.object(true);
  r.onlyKeys(['scheme', 'hostname', 'path', 'port', 'statusCode']);
  const code = r.field('statusCode').number({ integer: true });
  if (code !== undefined && !(REDIRECT_STATUS_CODES as readonly number[]).includes(code)) r.field('statusCode').fail(`must be one of ${REDIRECT_STATUS_CODES.join(', ')}; got ${code}`);
  const out: RequestRedirect = { statusCode: (REDIRECT_STATUS_CODES as readonly number[]).includes(code ?? 302) ? ((code ?? 302) as RequestRedirect['statusCode']) : 302 };
  const scheme = r.field('scheme').string({ enum: ['http', 'https'] });
  if (scheme) out.scheme = scheme as 'http' | 'https';
  const hostname = r.field('hostname').string({ pattern: HOSTNAME_PRECISE, patternHint: 'a DNS host name without wildcard' });
  if (hostname) out.hostname = hostname;
  const path = readPathModifier(r.field('path'));
  if (path) out.path = path;
  const port = readPort(r.field('port'));
  if (port !== undefined) out.port = port;
  return out;
}

function readUrlRewrite(r: Reader): UrlRewrite {
  r.object(true);
  r.onlyKeys(['hostname', 'path']);
  const out: UrlRewrite = { hostname: r.field('hostname').string({ pattern: HOSTNAME, patternHint: 'a DNS host name' }) };
  const path = readPathModifier(r.field('path'));
  if (path) out.path = path;
  if (!out.hostname && !out.path) r.fail('must set hostname or path');
  return out;
}

export function readFilters(r: Reader, allowed: readonly string[]): HttpRouteFilter[] {
  const out: HttpRouteFilter[] = [];
  const items = r.array();
  if (items.length > 16) r.fail('must have at most 16 entries');
  const seen = new Set<string>();
  for (const it of items) {
    if (!it.object(true)) continue;
    const type = it.field('type').string({ required: true, enum: allowed });
    if (!type) continue;
    const key = type[0]!.toLowerCase() + type.slice(1);
    const field = type === 'URLRewrite' ? 'urlRewrite' : key;
    it.onlyKeys(['type', field]);
    if (type !== 'RequestMirror' && seen.has(type)) it.field('type').fail(`${type} may appear only once per rule`);
    seen.add(type);
    const body = it.field(field);
    if (!body.present) {
      body.fail(`is required when type is ${type}`);
      continue;
    }
    if (type === 'RequestHeaderModifier') out.push({ type, requestHeaderModifier: readHeaderModifier(body) });
    else if (type === 'ResponseHeaderModifier') out.push({ type, responseHeaderModifier: readHeaderModifier(body) });
    else if (type === 'RequestMirror') out.push({ type, requestMirror: readMirror(body) });
    else if (type === 'URLRewrite') out.push({ type, urlRewrite: readUrlRewrite(body) });
    else if (type === 'RequestRedirect') out.push({ type, requestRedirect: readRequestRedirect(body) });
  }
  return out;
}

function readHttpMatch(r: Reader): HttpRouteMatch {
  r.object(true);
  r.onlyKeys(['path', 'headers', 'queryParams', 'method']);
  const m: HttpRouteMatch = {
    headers: readNameValueMatches(r.field('headers'), 'header'),
    queryParams: readNameValueMatches(r.field('queryParams'), 'query'),
    method: r.field('method').string({ enum: METHODS }),
  };
  const p = r.field('path');
  if (p.object()) {
    p.onlyKeys(['type', 'value']);
    const type = (p.field('type').string({ enum: ['Exact', 'PathPrefix', 'RegularExpression'] }) ?? 'PathPrefix') as 'Exact' | 'PathPrefix' | 'RegularExpression';
    const value = p.field('value').string({ maxLength: 1024 }) ?? '/';
    if (type === 'RegularExpression') checkRegex(p.field('value'), value);
    else if (!value.startsWith('/')) p.field('value').fail('must start with "/"');
    m.path = { type, value };
  }
  return m;
}

function readRetry(r: Reader): HttpRouteRetry {
  r.object(true);
  r.onlyKeys(['codes', 'attempts', 'backoff']);
  const codes = r.field('codes').array().flatMap((c) => {
    const n = c.number({ required: true, integer: true, min: 400, max: 599 });
    return n === undefined ? [] : [n];
  });
  return {
    codes,
    attempts: r.field('attempts').number({ integer: true, min: 0, max: 100 }),
    backoff: r.field('backoff').duration({ min: 1, max: 3_600_000 }),
  };
}

export function readRuleName(r: Reader): string | undefined {
  return r.present ? readName(r) : undefined;
}

export function readBackendRefs(r: Reader, filtersAllowed: readonly string[]): BackendRef[] {
  const items = r.array();
  if (items.length > 16) r.fail('must have at most 16 entries');
  const refs = items.map((it) => readBackendRef(it, true, filtersAllowed));
  if (refs.length && refs.every((b) => b.weight === 0)) r.fail('all weights are 0; at least one backend must get traffic');
  return refs;
}

const HTTP_FILTERS = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'URLRewrite', 'RequestRedirect'] as const;
/** A backend's own filters: the header modifiers (what goes to, and comes from, that backend only). */
export const BACKEND_FILTERS = ['RequestHeaderModifier', 'ResponseHeaderModifier'] as const;

export function readHttpRouteSpec(r: Reader): HttpRouteSpec {
  r.object(true);
  r.onlyKeys(['parentRefs', 'hostnames', 'rules']);
  const rules = r.field('rules').array();
  if (rules.length > 16) r.field('rules').fail('must have at most 16 entries (Gateway API limit)');
  return {
    parentRefs: readParentRefs(r.field('parentRefs')),
    hostnames: readStringList(r.field('hostnames'), { pattern: HOSTNAME, patternHint: 'a DNS host name', max: 16 }),
    rules: rules.map((rr): HttpRouteRule => {
      rr.object(true);
      rr.onlyKeys(['name', 'matches', 'filters', 'backendRefs', 'timeouts', 'retry', 'sessionPersistence']);
      if (rr.field('sessionPersistence').present) rr.field('sessionPersistence').fail('is not supported; use DestinationPolicy loadBalancer RING_HASH');
      const matches = rr.field('matches').array();
      if (matches.length > 64) rr.field('matches').fail('must have at most 64 entries');
      const rule: HttpRouteRule = {
        name: readRuleName(rr.field('name')),
        matches: matches.map(readHttpMatch),
        filters: readFilters(rr.field('filters'), HTTP_FILTERS),
        backendRefs: readBackendRefs(rr.field('backendRefs'), BACKEND_FILTERS),
      };
      const t = rr.field('timeouts');
      if (t.object()) {
        t.onlyKeys(['request', 'backendRequest']);
        rule.timeouts = { request: t.field('request').duration({ min: 0 }), backendRequest: t.field('backendRequest').duration({ min: 0 }) };
        const { request, backendRequest } = rule.timeouts;
        if (request && backendRequest && backendRequest > request) t.field('backendRequest').fail(`must not exceed request (${request}ms)`);
      }
      if (rr.field('retry').present) rule.retry = readRetry(rr.field('retry'));
      const filters = rr.field('filters').array();
      rule.filters.forEach((f, i) => {
        const path = f.type === 'URLRewrite' ? f.urlRewrite.path : f.type === 'RequestRedirect' ? f.requestRedirect.path : undefined;
        if (path?.type === 'ReplacePrefixMatch' && rule.matches.some((m) => m.path && m.path.type !== 'PathPrefix')) {
          filters[i]!.field(f.type === 'URLRewrite' ? 'urlRewrite' : 'requestRedirect').field('path').fail('ReplacePrefixMatch needs every match of the rule to be a PathPrefix match');
        }
      });
      const redirect = rule.filters.findIndex((f) => f.type === 'RequestRedirect');
      if (redirect >= 0 && rule.filters.some((f) => f.type === 'URLRewrite')) {
        filters[redirect]!.fail('RequestRedirect and URLRewrite cannot both be set on one rule (Gateway API)');
      }
      return rule;
    }),
  };
}
