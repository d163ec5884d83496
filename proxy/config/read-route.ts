// Reads RouteConfiguration resources (virtual hosts, routes, weighted
// clusters, mirrors, retry/timeout, fault, rate limit) from untrusted input.

import type { Reader } from '../../common/reader.js';
import { DEFAULT_RETRY_BACKOFF, DEFAULT_ROUTE_TIMEOUT_MS } from './defaults.js';
import { parseRetryOn } from '../resilience/retry-policy.js';
import { HEADER_MUTATION_KEYS, headerMatcher, headerMutations, queryMatcher, strict, stringList } from './read-common.js';
import type {
  FaultPolicy,
  HashPolicy,
  LocalRateLimitPolicy,
  RedirectAction,
  RedirectCode,
  RequestMirrorPolicy,
  RetryPolicy,
  Route,
  RouteAction,
  RouteConfiguration,
  RouteMatch,
  VirtualHost,
  WeightedCluster,
} from './resources.js';
import { REDIRECT_CODES } from './resources.js';

export function readRouteConfiguration(r: Reader): RouteConfiguration {
  strict(r, ['name', 'virtualHosts', ...HEADER_MUTATION_KEYS], true);
  return {
    name: r.field('name').string({ required: true }) ?? '',
    virtualHosts: r.field('virtualHosts').array(true).map(readVirtualHost),
    ...headerMutations(r),
  };
}

function readVirtualHost(r: Reader): VirtualHost {
  strict(r, ['name', 'domains', 'routes', 'retryPolicy', ...HEADER_MUTATION_KEYS], true);
  const domains = stringList(r.field('domains'));
  if (r.field('domains').present && domains.length === 0) r.field('domains').fail('must list at least one domain');
  if (!r.field('domains').present) r.field('domains').fail('is required');
  const vh: VirtualHost = {
    name: r.field('name').string({ required: true }) ?? '',
    domains: domains.map((d) => d.toLowerCase()),
    routes: r.field('routes').array(true).map(readRoute),
    ...headerMutations(r),
  };
  if (r.field('retryPolicy').present) vh.retryPolicy = readRetryPolicy(r.field('retryPolicy'));
  return vh;
}

function readRoute(r: Reader, i: number): Route {
  strict(r, ['name', 'match', 'route', 'redirect', 'directResponse', 'fault', 'rateLimit', ...HEADER_MUTATION_KEYS], true);
  const route: Route = { name: r.field('name').string() ?? `route-${i}`, match: readMatch(r.field('match')), ...headerMutations(r) };
  if (r.field('route').present) route.route = readRouteAction(r.field('route'));
  if (r.field('redirect').present) route.redirect = readRedirect(r.field('redirect'));
  const dr = r.field('directResponse');
  if (dr.present) {
    strict(dr, ['status', 'body']);
    route.directResponse = { status: dr.field('status').number({ required: true, integer: true, min: 200, max: 599 }) ?? 200 };
    const body = dr.field('body').string({ maxLength: 4096 });
    if (body !== undefined) route.directResponse.body = body;
  }
  if (Number(!!route.route) + Number(!!route.redirect) + Number(!!route.directResponse) !== 1) r.fail('exactly one of route, redirect and directResponse must be set');
  if (r.field('fault').present) route.fault = readFault(r.field('fault'));
  if (r.field('rateLimit').present) route.rateLimit = readRateLimit(r.field('rateLimit'));
  return route;
}

function readMatch(r: Reader): RouteMatch {
  strict(r, ['prefix', 'path', 'safeRegex', 'pathSeparatedPrefix', 'caseSensitive', 'headers', 'queryParameters', 'grpc'], true);
  const m: RouteMatch = {
    caseSensitive: r.field('caseSensitive').boolean() ?? true,
    headers: r.field('headers').array().map(headerMatcher),
    queryParameters: r.field('queryParameters').array().map(queryMatcher),
  };
  let set = 0;
  for (const k of ['prefix', 'path', 'safeRegex', 'pathSeparatedPrefix'] as const) {
    const v = r.field(k).string();
    if (v !== undefined) {
      m[k] = v;
      set++;
    }
  }
  if (set !== 1) r.fail('exactly one of prefix, path, safeRegex, pathSeparatedPrefix must be set');
  const g = r.field('grpc').boolean();
  if (g !== undefined) m.grpc = g;
  return m;
}

function readWeightedCluster(r: Reader): WeightedCluster {
  strict(r, ['name', 'weight', ...HEADER_MUTATION_KEYS], true);
  return {
    name: r.field('name').string({ required: true }) ?? '',
    weight: r.field('weight').number({ required: true, integer: true, min: 0 }) ?? 0,
    ...headerMutations(r),
  };
}

function readRouteAction(r: Reader): RouteAction {
  strict(r, [
    'cluster', 'weightedClusters', 'timeout', 'idleTimeout', 'retryPolicy', 'requestMirrorPolicies',
    'prefixRewrite', 'regexRewrite', 'hostRewriteLiteral', 'hashPolicy',
  ], true);
  const a: RouteAction = {
    timeout: r.field('timeout').duration({ min: 0 }) ?? DEFAULT_ROUTE_TIMEOUT_MS,
    requestMirrorPolicies: r.field('requestMirrorPolicies').array().map(readMirror),
    hashPolicy: r.field('hashPolicy').array().map(readHashPolicy),
  };
  const cluster = r.field('cluster').string();
  if (cluster !== undefined) a.cluster = cluster;
  const wc = r.field('weightedClusters');
  if (wc.present) {
    a.weightedClusters = wc.array().map(readWeightedCluster);
    if (a.weightedClusters.length === 0) wc.fail('must list at least one cluster');
  }
  if ((a.cluster === undefined) === (a.weightedClusters === undefined)) r.fail('exactly one of cluster and weightedClusters must be set');
  const idle = r.field('idleTimeout').duration({ min: 0 });
  if (idle !== undefined) a.idleTimeout = idle;
  if (r.field('retryPolicy').present) a.retryPolicy = readRetryPolicy(r.field('retryPolicy'));
  const pr = r.field('prefixRewrite').string();
  if (pr !== undefined) a.prefixRewrite = pr;
  const rr = r.field('regexRewrite');
  if (rr.present) {
    strict(rr, ['pattern', 'substitution']);
    a.regexRewrite = { pattern: rr.field('pattern').string({ required: true }) ?? '', substitution: rr.field('substitution').string({ required: true }) ?? '' };
  }
  const hr = r.field('hostRewriteLiteral').string();
  if (hr !== undefined) a.hostRewriteLiteral = hr;
  return a;
}

function readRedirect(r: Reader): RedirectAction {
  strict(r, ['schemeRedirect', 'httpsRedirect', 'hostRedirect', 'portRedirect', 'pathRedirect', 'prefixRewrite', 'regexRewrite', 'responseCode', 'stripQuery'], true);
  const code = r.field('responseCode').number({ integer: true });
  if (code !== undefined && !REDIRECT_CODES.includes(code as RedirectCode)) r.field('responseCode').fail(`must be one of ${REDIRECT_CODES.join(', ')}; got ${code}`);
  const d: RedirectAction = { responseCode: REDIRECT_CODES.includes(code as RedirectCode) ? (code as RedirectCode) : 301, stripQuery: r.field('stripQuery').boolean() ?? false };
  const scheme = r.field('schemeRedirect').string({ enum: ['http', 'https'] });
  const https = r.field('httpsRedirect').boolean();
  if (scheme !== undefined && https !== undefined) r.fail('at most one of schemeRedirect and httpsRedirect may be set');
  if (scheme !== undefined) d.schemeRedirect = scheme;
  else if (https) d.schemeRedirect = 'https';
  const host = r.field('hostRedirect').string({ maxLength: 255 });
  if (host !== undefined) d.hostRedirect = host;
  const port = r.field('portRedirect').number({ integer: true, min: 1, max: 65535 });
  if (port !== undefined) d.portRedirect = port;
  const path = r.field('pathRedirect').string({ maxLength: 1024 });
  if (path !== undefined) d.pathRedirect = path;
  const pr = r.field('prefixRewrite').string({ maxLength: 1024 });
  if (pr !== undefined) d.prefixRewrite = pr;
  const rr = r.field('regexRewrite');
  if (rr.present) {
    strict(rr, ['pattern', 'substitution']);
    d.regexRewrite = { pattern: rr.field('pattern').string({ required: true }) ?? '', substitution: rr.field('substitution').string({ required: true }) ?? '' };
  }
  if ([path, pr, d.regexRewrite].filter((x) => x !== undefined).length > 1) r.fail('at most one of pathRedirect, prefixRewrite and regexRewrite may be set');
  return d;
}

function readMirror(r: Reader): RequestMirrorPolicy {
  strict(r, ['cluster', 'percent'], true);
  return {
    cluster: r.field('cluster').string({ required: true }) ?? '',
    percent: r.field('percent').number({ min: 0, max: 100 }) ?? 100,
  };
}

export function readRetryPolicy(r: Reader): RetryPolicy {
  strict(r, ['retryOn', 'numRetries', 'perTryTimeout', 'perTryIdleTimeout', 'retriableStatusCodes', 'retryBackOff', 'retryOtherHosts', 'hostSelectionRetryMaxAttempts'], true);
  const p: RetryPolicy = {
    retryOn: stringList(r.field('retryOn')),
    numRetries: r.field('numRetries').number({ integer: true, min: 0, max: 100 }) ?? 1,
    retriableStatusCodes: r.field('retriableStatusCodes').array().map((x) => x.number({ required: true, integer: true, min: 100, max: 599 }) ?? 0),
    retryBackOff: { ...DEFAULT_RETRY_BACKOFF },
    retryOtherHosts: r.field('retryOtherHosts').boolean() ?? false,
    hostSelectionRetryMaxAttempts: r.field('hostSelectionRetryMaxAttempts').number({ integer: true, min: 1 }) ?? 1,
  };
  const pt = r.field('perTryTimeout').duration({ min: 0 });
  if (pt !== undefined) p.perTryTimeout = pt;
  const pit = r.field('perTryIdleTimeout').duration({ min: 0 });
  if (pit !== undefined) p.perTryIdleTimeout = pit;
  const bo = r.field('retryBackOff');
  if (strict(bo, ['baseInterval', 'maxInterval'])) {
    const base = bo.field('baseInterval').duration({ required: true, min: 1 }) ?? DEFAULT_RETRY_BACKOFF.baseInterval;
    p.retryBackOff = { baseInterval: base, maxInterval: bo.field('maxInterval').duration({ min: base }) ?? base * 10 };
  }
  // Unknown retry_on conditions are rejected at load time (the same parser the request path compiles with).
  const on = r.field('retryOn');
  for (const issue of parseRetryOn(p.retryOn).issues) {
    const i = /^retryOn\[(\d+)\]$/.exec(issue.path)?.[1];
    (i !== undefined && Array.isArray(on.value) ? (on.array()[Number(i)] ?? on) : on).fail(issue.message);
  }
  return p;
}

function readHashPolicy(r: Reader): HashPolicy {
  strict(r, ['header', 'cookie', 'queryParameter', 'connectionProperties', 'terminal'], true);
  const terminal = r.field('terminal').boolean() ?? false;
  if (r.field('header').present) {
    strict(r.field('header'), ['headerName'], true);
    return { header: { headerName: (r.field('header').field('headerName').string({ required: true }) ?? '').toLowerCase() }, terminal };
  }
  if (r.field('cookie').present) {
    const c = r.field('cookie');
    strict(c, ['name', 'ttl', 'path'], true);
    const cookie: { name: string; ttl?: number; path?: string } = { name: c.field('name').string({ required: true }) ?? '' };
    const ttl = c.field('ttl').duration({ min: 0 });
    if (ttl !== undefined) cookie.ttl = ttl;
    const path = c.field('path').string();
    if (path !== undefined) cookie.path = path;
    return { cookie, terminal };
  }
  if (r.field('queryParameter').present) {
    strict(r.field('queryParameter'), ['name'], true);
    return { queryParameter: { name: r.field('queryParameter').field('name').string({ required: true }) ?? '' }, terminal };
  }
  if (r.field('connectionProperties').present) return { connectionProperties: { sourceIp: true }, terminal };
  r.fail('one of header, cookie, queryParameter, connectionProperties must be set');
  return { connectionProperties: { sourceIp: true }, terminal };
}

function readFault(r: Reader): FaultPolicy {
  strict(r, ['delay', 'abort', 'headers'], true);
  const f: FaultPolicy = { headers: r.field('headers').array().map(headerMatcher) };
  const d = r.field('delay');
  if (strict(d, ['fixedDelay', 'percent'])) {
    f.delay = { fixedDelay: d.field('fixedDelay').duration({ required: true, min: 0 }) ?? 0, percent: d.field('percent').number({ min: 0, max: 100 }) ?? 100 };
  }
  const a = r.field('abort');
  if (strict(a, ['httpStatus', 'grpcStatus', 'percent'])) {
    f.abort = { percent: a.field('percent').number({ min: 0, max: 100 }) ?? 100 };
    const hs = a.field('httpStatus').number({ integer: true, min: 200, max: 599 });
    if (hs !== undefined) f.abort.httpStatus = hs;
    const gs = a.field('grpcStatus').number({ integer: true, min: 0, max: 16 });
    if (gs !== undefined) f.abort.grpcStatus = gs;
    if ((hs === undefined) === (gs === undefined)) a.fail('exactly one of httpStatus and grpcStatus must be set');
  }
  return f;
}

function readRateLimit(r: Reader): LocalRateLimitPolicy {
  strict(r, ['tokenBucket', 'statPrefix'], true);
  const tb = r.field('tokenBucket');
  strict(tb, ['maxTokens', 'tokensPerFill', 'fillInterval'], true);
  return {
    statPrefix: r.field('statPrefix').string() ?? 'local_rate_limit',
    tokenBucket: {
      maxTokens: tb.field('maxTokens').number({ required: true, integer: true, min: 1 }) ?? 1,
      tokensPerFill: tb.field('tokensPerFill').number({ integer: true, min: 1 }) ?? 1,
      fillInterval: tb.field('fillInterval').duration({ required: true, min: 1 }) ?? 1000,
    },
  };
}
