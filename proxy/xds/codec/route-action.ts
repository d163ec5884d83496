// RouteAction (where a matched request goes: cluster or weights, timeouts,
// retries, mirrors, rewrites, hash policies), RedirectAction (a redirect
// answered by the proxy) and RetryPolicy, which virtual hosts share.

import type { Reader } from '../../../common/reader.js';
import { REDIRECT_CODES, type HashPolicy, type RedirectAction, type RedirectCode, type RequestMirrorPolicy, type RetryPolicy, type RouteAction, type WeightedCluster } from '../../config/resources.js';
import { DEFAULT_RETRY_BACKOFF, DEFAULT_ROUTE_TIMEOUT_MS } from '../../config/defaults.js';
import {
  NAMES,
  T,
  duration,
  fractionalPercent,
  headerMutations,
  readFractionalPercent,
  readHeaderMutations,
  readRegex,
  readU32,
  u32,
  type PObj,
} from './wire.js';

// ------------------------------------------------------------- retry

export function encodeRetryPolicy(p: RetryPolicy): PObj {
  const o: PObj = { retry_on: p.retryOn.join(','), num_retries: u32(p.numRetries) };
  if (p.perTryTimeout !== undefined) o.per_try_timeout = duration(p.perTryTimeout);
  if (p.perTryIdleTimeout !== undefined) o.per_try_idle_timeout = duration(p.perTryIdleTimeout);
  if (p.retriableStatusCodes.length) o.retriable_status_codes = [...p.retriableStatusCodes];
  o.retry_back_off = { base_interval: duration(p.retryBackOff.baseInterval), max_interval: duration(p.retryBackOff.maxInterval) };
  if (p.retryOtherHosts) o.retry_host_predicate = [{ name: NAMES.previousHosts, typed_config: { '@type': T.previousHosts } }];
  if (p.hostSelectionRetryMaxAttempts > 1) o.host_selection_retry_max_attempts = p.hostSelectionRetryMaxAttempts;
  return o;
}

export function decodeRetryPolicy(r: Reader): RetryPolicy | undefined {
  if (!r.object()) return undefined;
  const retryOn = (r.field('retry_on').string({ maxLength: 1024 }) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const base = r.field('retry_back_off').field('base_interval').duration({ min: 1 }) ?? DEFAULT_RETRY_BACKOFF.baseInterval;
  const max = r.field('retry_back_off').field('max_interval').duration({ min: 1 }) ?? base * 10;
  if (max < base) r.field('retry_back_off').field('max_interval').fail('must not be less than base_interval');
  const p: RetryPolicy = {
    retryOn,
    numRetries: readU32(r.field('num_retries'), { max: 100 }) ?? 1,
    retriableStatusCodes: r.field('retriable_status_codes').array().map((c) => c.number({ integer: true, min: 100, max: 599 }) ?? 0),
    retryBackOff: { baseInterval: base, maxInterval: max },
    retryOtherHosts: false,
    // Envoy: unset means 1 (one host selection per attempt).
    hostSelectionRetryMaxAttempts: r.field('host_selection_retry_max_attempts').number({ integer: true, min: 1, max: 100 }) ?? 1,
  };
  const ptt = r.field('per_try_timeout').duration({ min: 0 });
  if (ptt !== undefined) p.perTryTimeout = ptt;
  const pti = r.field('per_try_idle_timeout').duration({ min: 0 });
  if (pti !== undefined) p.perTryIdleTimeout = pti;
  for (const pred of r.field('retry_host_predicate').array()) {
    if (pred.field('name').value === NAMES.previousHosts || pred.field('typed_config').field('@type').value === T.previousHosts) p.retryOtherHosts = true;
    else pred.fail('unsupported retry host predicate (only previous_hosts)');
  }
  return p;
}

// ------------------------------------------------------------- action

function encodeWeighted(list: readonly WeightedCluster[]): PObj {
  return { clusters: list.map((w) => ({ name: w.name, weight: u32(w.weight), ...headerMutations(w) })) };
}

function decodeWeighted(r: Reader): WeightedCluster[] {
  const out: WeightedCluster[] = [];
  const list = r.field('clusters').array();
  if (!list.length) r.field('clusters').fail('at least one cluster is required');
  for (const c of list) {
    const name = c.field('name').string({ required: true, maxLength: 256 });
    const weight = readU32(c.field('weight')) ?? 0;
    if (name !== undefined) out.push({ name, weight, ...readHeaderMutations(c) });
  }
  if (list.length && out.every((w) => w.weight === 0)) r.field('clusters').fail('the sum of weights must be positive');
  return out;
}

function encodeHashPolicy(h: HashPolicy): PObj {
  const o: PObj = h.terminal ? { terminal: true } : {};
  if ('header' in h) o.header = { header_name: h.header.headerName };
  else if ('cookie' in h) {
    const c: PObj = { name: h.cookie.name };
    if (h.cookie.ttl !== undefined) c.ttl = duration(h.cookie.ttl);
    if (h.cookie.path !== undefined) c.path = h.cookie.path;
    o.cookie = c;
  } else if ('queryParameter' in h) o.query_parameter = { name: h.queryParameter.name };
  else o.connection_properties = { source_ip: true };
  return o;
}

function decodeHashPolicy(r: Reader): HashPolicy | undefined {
  const terminal = r.field('terminal').boolean() ? { terminal: true } : {};
  if (r.field('header').object()) {
    const headerName = r.field('header').field('header_name').string({ required: true, maxLength: 256 });
    return headerName === undefined ? undefined : { header: { headerName: headerName.toLowerCase() }, ...terminal };
  }
  if (r.field('cookie').object()) {
    const c = r.field('cookie');
    const name = c.field('name').string({ required: true, maxLength: 256 });
    const cookie: { name: string; ttl?: number; path?: string } = { name: name ?? '' };
    const ttl = c.field('ttl').duration({ min: 0 });
    if (ttl !== undefined) cookie.ttl = ttl;
    const path = c.field('path').string();
    if (path) cookie.path = path;
    return { cookie, ...terminal };
  }
  if (r.field('query_parameter').object()) {
    const name = r.field('query_parameter').field('name').string({ required: true, maxLength: 256 });
    return { queryParameter: { name: name ?? '' }, ...terminal };
  }
  if (r.field('connection_properties').field('source_ip').boolean()) return { connectionProperties: { sourceIp: true }, ...terminal };
  return r.fail('unsupported hash policy (header, cookie, query_parameter or connection_properties.source_ip)');
}

export function encodeAction(a: RouteAction): PObj {
  const o: PObj = {};
  if (a.cluster !== undefined) o.cluster = a.cluster;
  else if (a.weightedClusters) o.weighted_clusters = encodeWeighted(a.weightedClusters);
  o.timeout = duration(a.timeout);
  if (a.idleTimeout !== undefined) o.idle_timeout = duration(a.idleTimeout);
  if (a.retryPolicy) o.retry_policy = encodeRetryPolicy(a.retryPolicy);
  if (a.requestMirrorPolicies.length) {
    o.request_mirror_policies = a.requestMirrorPolicies.map((m) => ({
      cluster: m.cluster,
      runtime_fraction: { default_value: fractionalPercent(m.percent) },
    }));
  }
  if (a.prefixRewrite !== undefined) o.prefix_rewrite = a.prefixRewrite;
  if (a.regexRewrite) o.regex_rewrite = { pattern: { regex: a.regexRewrite.pattern }, substitution: a.regexRewrite.substitution };
  if (a.hostRewriteLiteral !== undefined) o.host_rewrite_literal = a.hostRewriteLiteral;
  if (a.hashPolicy.length) o.hash_policy = a.hashPolicy.map(encodeHashPolicy);
  return o;
}

export function decodeAction(r: Reader): RouteAction {
  const a: RouteAction = {
    timeout: r.field('timeout').duration({ min: 0 }) ?? DEFAULT_ROUTE_TIMEOUT_MS,
    requestMirrorPolicies: [],
    hashPolicy: [],
  };
  if (r.field('cluster').present) a.cluster = r.field('cluster').string({ required: true, maxLength: 256 });
  else if (r.field('weighted_clusters').object()) a.weightedClusters = decodeWeighted(r.field('weighted_clusters'));
  else r.fail('one of cluster or weighted_clusters is required (cluster_header is not supported)');
  const idle = r.field('idle_timeout').duration({ min: 0 });
  if (idle !== undefined) a.idleTimeout = idle;
  const rp = decodeRetryPolicy(r.field('retry_policy'));
  if (rp) a.retryPolicy = rp;
  for (const m of r.field('request_mirror_policies').array()) {
    const cluster = m.field('cluster').string({ required: true, maxLength: 256 });
    const percent = readFractionalPercent(m.field('runtime_fraction').field('default_value')) ?? 100;
    if (cluster !== undefined) a.requestMirrorPolicies.push({ cluster, percent } satisfies RequestMirrorPolicy);
  }
  const pr = r.field('prefix_rewrite').string({ maxLength: 1024 });
  if (pr !== undefined) a.prefixRewrite = pr;
  if (r.field('regex_rewrite').object()) {
    const pattern = readRegex(r.field('regex_rewrite').field('pattern'));
    const substitution = r.field('regex_rewrite').field('substitution').string() ?? '';
    if (pattern !== undefined) a.regexRewrite = { pattern, substitution };
  }
  const host = r.field('host_rewrite_literal').string({ maxLength: 253 });
  if (host !== undefined) a.hostRewriteLiteral = host;
  for (const h of r.field('hash_policy').array()) {
    const hp = decodeHashPolicy(h);
    if (hp) a.hashPolicy.push(hp);
  }
  return a;
}

// ------------------------------------------------------------- redirect

// RedirectResponseCode, in enum order: MOVED_PERMANENTLY … PERMANENT_REDIRECT.
const REDIRECT_ENUM = ['MOVED_PERMANENTLY', 'FOUND', 'SEE_OTHER', 'TEMPORARY_REDIRECT', 'PERMANENT_REDIRECT'] as const;

export function encodeRedirect(d: RedirectAction): PObj {
  const o: PObj = {};
  if (d.schemeRedirect !== undefined) o.scheme_redirect = d.schemeRedirect;
  if (d.hostRedirect !== undefined) o.host_redirect = d.hostRedirect;
  if (d.portRedirect !== undefined) o.port_redirect = d.portRedirect;
  if (d.pathRedirect !== undefined) o.path_redirect = d.pathRedirect;
  else if (d.prefixRewrite !== undefined) o.prefix_rewrite = d.prefixRewrite;
  else if (d.regexRewrite) o.regex_rewrite = { pattern: { regex: d.regexRewrite.pattern }, substitution: d.regexRewrite.substitution };
  if (d.responseCode !== 301) o.response_code = REDIRECT_ENUM[REDIRECT_CODES.indexOf(d.responseCode)]!;
  if (d.stripQuery) o.strip_query = true;
  return o;
}

export function decodeRedirect(r: Reader): RedirectAction {
  const e = r.field('response_code').value;
  const i = typeof e === 'number' ? e : REDIRECT_ENUM.indexOf((e ?? 'MOVED_PERMANENTLY') as (typeof REDIRECT_ENUM)[number]);
  if (!(i >= 0 && i < REDIRECT_CODES.length)) r.field('response_code').fail(`unsupported response_code ${String(e)}`);
  const d: RedirectAction = { responseCode: (REDIRECT_CODES[i] ?? 301) as RedirectCode, stripQuery: r.field('strip_query').boolean() ?? false };
  const scheme = r.field('scheme_redirect').string({ enum: ['http', 'https'] });
  if (scheme !== undefined) d.schemeRedirect = scheme;
  else if (r.field('https_redirect').boolean()) d.schemeRedirect = 'https';
  const host = r.field('host_redirect').string({ maxLength: 255 });
  if (host) d.hostRedirect = host;
  const port = r.field('port_redirect').number({ integer: true, min: 0, max: 65535 });
  if (port) d.portRedirect = port;
  const path = r.field('path_redirect').string({ maxLength: 1024 });
  const prefix = r.field('prefix_rewrite').string({ maxLength: 1024 });
  if (path) d.pathRedirect = path;
  else if (prefix !== undefined) d.prefixRewrite = prefix;
  else if (r.field('regex_rewrite').object()) {
    const pattern = readRegex(r.field('regex_rewrite').field('pattern'));
    const substitution = r.field('regex_rewrite').field('substitution').string() ?? '';
    if (pattern !== undefined) d.regexRewrite = { pattern, substitution };
  }
  return d;
}
