// An immutable, pre-compiled route table built from one RouteConfiguration.
// Per request: one or two Map lookups for the virtual host, then a scan of
// pre-compiled matchers. A new configuration builds a new table; the holder
// swaps one reference, so a request always sees one consistent table.

import type { RedirectCode, RetryPolicy, Route, RouteConfiguration, VirtualHost } from '../config/resources.js';
import { compileHeaderOps, type HeaderOps } from './header-mutation.js';
import { compilePathRewrite, rewritePathOnly, type CompiledPathRewrite } from './path-rewrite.js';
import { compileHeaderMatcher, compileStringMatcher, type HeaderGetter, type HeaderPredicate, type StringPredicate } from './string-matcher.js';

/** Where a request goes: a cluster plus the header ops for that choice. Built once per config. */
export interface ClusterChoice {
  readonly cluster: string;
  readonly requestOps: HeaderOps;
  readonly responseOps: HeaderOps;
}

const enum PathKind { Prefix, Exact, Regex, Separated }

export interface CompiledRoute {
  readonly name: string;
  readonly source: Route;
  readonly virtualHost: string;
  readonly pathKind: PathKind;
  readonly pathValue: string;
  readonly pathRegex: RegExp | undefined;
  readonly caseSensitive: boolean;
  readonly headers: readonly HeaderPredicate[];
  readonly query: readonly { name: string; test: StringPredicate | undefined; present: boolean }[];
  readonly grpcOnly: boolean;
  /** One entry per cluster; a single-cluster route has exactly one with weight 1. */
  readonly choices: readonly ClusterChoice[];
  readonly cumulativeWeights: readonly number[];
  readonly totalWeight: number;
  readonly timeout: number;
  readonly retryPolicy: RetryPolicy | undefined;
  readonly mirrors: readonly { cluster: string; percent: number }[];
  /** The forwarded path's rewrite, when the action sets one. */
  readonly pathRewrite: CompiledPathRewrite | undefined;
  readonly hostRewrite: string | undefined;
  readonly redirect: CompiledRedirect | undefined;
  readonly directResponse: { status: number; body?: string } | undefined;
  /** Response header ops for direct responses and redirects (route → vhost → config). */
  readonly responseOps: HeaderOps;
}

export interface CompiledRedirect {
  readonly scheme: string | undefined;
  readonly host: string | undefined;
  readonly port: number | undefined;
  /** The whole new path (with its own query when it has a '?'). */
  readonly path: string | undefined;
  readonly pathRewrite: CompiledPathRewrite | undefined;
  readonly status: RedirectCode;
  readonly stripQuery: boolean;
}

interface CompiledVirtualHost {
  readonly name: string;
  readonly routes: readonly CompiledRoute[];
}

export interface RequestFacts extends HeaderGetter {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Query string without '?', or '' */
  query: string;
  isGrpc: boolean;
}

export class RouteTable {
  readonly name: string;
  private readonly exact = new Map<string, CompiledVirtualHost>();
  /** `*.example.com` → suffix `.example.com`, longest first (Envoy: longest wildcard wins). */
  private readonly suffixes: { suffix: string; vh: CompiledVirtualHost }[] = [];
  /** `example.*` → prefix `example.`, longest first. */
  private readonly prefixes: { prefix: string; vh: CompiledVirtualHost }[] = [];
  private any: CompiledVirtualHost | undefined;

  constructor(readonly config: RouteConfiguration) {
    this.name = config.name;
    for (const vh of config.virtualHosts) {
      const cvh: CompiledVirtualHost = { name: vh.name, routes: vh.routes.map((r) => compileRoute(r, vh, config)) };
      for (const d of vh.domains) {
        if (d === '*') this.any ??= cvh;
        else if (d.startsWith('*')) this.suffixes.push({ suffix: d.slice(1), vh: cvh });
        else if (d.endsWith('*')) this.prefixes.push({ prefix: d.slice(0, -1), vh: cvh });
        else if (!this.exact.has(d)) this.exact.set(d, cvh);
      }
    }
    this.suffixes.sort((a, b) => b.suffix.length - a.suffix.length);
    this.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The virtual host for an authority (`host` or `host:port`), or undefined. */
  virtualHost(authority: string): CompiledVirtualHost | undefined {
    const a = authority.toLowerCase();
    const hit = this.exact.get(a);
    if (hit) return hit;
    const colon = a.lastIndexOf(':');
    const host = colon > 0 && a.indexOf(']') < colon ? a.slice(0, colon) : a;
    if (host !== a) {
      const h = this.exact.get(host);
      if (h) return h;
    }
    for (const s of this.suffixes) if (a.endsWith(s.suffix) || host.endsWith(s.suffix)) return s.vh;
    for (const p of this.prefixes) if (host.startsWith(p.prefix)) return p.vh;
    return this.any;
  }

  /** First route of the matching virtual host that fits the request, or undefined (404 NR). */
  route(authority: string, req: RequestFacts): CompiledRoute | undefined {
    const vh = this.virtualHost(authority);
    if (!vh) return undefined;
    const routes = vh.routes;
    for (let i = 0; i < routes.length; i++) if (routeMatches(routes[i]!, req)) return routes[i];
    return undefined;
  }
}

/** Per-request random choice among a route's clusters by weight. */
export function pickCluster(r: CompiledRoute): ClusterChoice {
  if (r.choices.length === 1) return r.choices[0]!;
  const x = Math.random() * r.totalWeight;
  const cw = r.cumulativeWeights;
  for (let i = 0; i < cw.length; i++) if (x < cw[i]!) return r.choices[i]!;
  return r.choices[r.choices.length - 1]!;
}

function routeMatches(r: CompiledRoute, req: RequestFacts): boolean {
  const path = r.caseSensitive ? req.path : req.path.toLowerCase();
  switch (r.pathKind) {
    case PathKind.Prefix:
      if (!path.startsWith(r.pathValue)) return false;
      break;
    case PathKind.Exact:
      if (path !== r.pathValue) return false;
      break;
    case PathKind.Separated:
      if (!(path === r.pathValue || (path.startsWith(r.pathValue) && path.charCodeAt(r.pathValue.length) === 47))) return false;
      break;
    case PathKind.Regex:
      if (!r.pathRegex!.test(req.path)) return false;
      break;
  }
  if (r.grpcOnly && !req.isGrpc) return false;
  for (let i = 0; i < r.headers.length; i++) if (!r.headers[i]!(req)) return false;
  if (r.query.length) {
    const q = new URLSearchParams(req.query);
    for (const m of r.query) {
      const v = q.get(m.name);
      if (v === null) return false;
      if (m.test && !m.test(v)) return false;
    }
  }
  return true;
}

function compileRoute(r: Route, vh: VirtualHost, rc: RouteConfiguration): CompiledRoute {
  const m = r.match;
  const cs = m.caseSensitive;
  let pathKind = PathKind.Prefix;
  let pathValue = m.prefix ?? '';
  let pathRegex: RegExp | undefined;
  if (m.path !== undefined) [pathKind, pathValue] = [PathKind.Exact, m.path];
  else if (m.pathSeparatedPrefix !== undefined) [pathKind, pathValue] = [PathKind.Separated, m.pathSeparatedPrefix];
  else if (m.safeRegex !== undefined) [pathKind, pathRegex] = [PathKind.Regex, new RegExp(`^(?:${m.safeRegex})$`, cs ? 'u' : 'iu')];
  if (!cs) pathValue = pathValue.toLowerCase();
  const a = r.route;
  const weighted = a?.weightedClusters ?? (a?.cluster !== undefined ? [{ name: a.cluster, weight: 1 }] : []);
  const choices: ClusterChoice[] = [];
  const cumulativeWeights: number[] = [];
  let total = 0;
  for (const w of weighted) {
    if (w.weight <= 0) continue;
    total += w.weight;
    const levels = 'requestHeadersToAdd' in w ? [w, r, vh, rc] : [r, vh, rc];
    choices.push({ cluster: w.name, requestOps: compileHeaderOps(levels, 'request'), responseOps: compileHeaderOps(levels, 'response') });
    cumulativeWeights.push(total);
  }
  return {
    name: r.name,
    source: r,
    virtualHost: vh.name,
    pathKind,
    pathValue,
    pathRegex,
    caseSensitive: cs,
    headers: m.headers.map(compileHeaderMatcher),
    query: m.queryParameters.map((q) => ({
      name: q.name,
      test: q.stringMatch ? compileStringMatcher(q.stringMatch) : undefined,
      present: q.presentMatch !== false,
    })),
    grpcOnly: m.grpc === true,
    choices,
    cumulativeWeights,
    totalWeight: total,
    timeout: a?.timeout ?? 0,
    retryPolicy: a?.retryPolicy ?? vh.retryPolicy,
    mirrors: a?.requestMirrorPolicies.filter((x) => x.percent > 0) ?? [],
    pathRewrite: a && (a.prefixRewrite !== undefined || a.regexRewrite) ? compilePathRewrite(a.prefixRewrite, a.regexRewrite) : undefined,
    hostRewrite: a?.hostRewriteLiteral,
    redirect: r.redirect && {
      scheme: r.redirect.schemeRedirect,
      host: r.redirect.hostRedirect,
      port: r.redirect.portRedirect,
      path: r.redirect.pathRedirect,
      pathRewrite: r.redirect.prefixRewrite !== undefined || r.redirect.regexRewrite ? compilePathRewrite(r.redirect.prefixRewrite, r.redirect.regexRewrite) : undefined,
      status: r.redirect.responseCode,
      stripQuery: r.redirect.stripQuery,
    },
    directResponse: r.directResponse,
    responseOps: compileHeaderOps([r, vh, rc], 'response'),
  };
}

/** The path sent upstream after the route's prefix/regex rewrite (query string kept). */
export function rewritePath(r: CompiledRoute, path: string, query: string): string {
  const p = r.pathRewrite ? rewritePathOnly(r.pathRewrite, path, r.pathValue.length) : path;
  return query ? `${p}?${query}` : p;
}
