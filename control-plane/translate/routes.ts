// The outbound RouteConfiguration: one virtual host per service port in the
// proxy's scope, matched by Host/:authority (`svc` for the proxy's own
// namespace, `svc.ns`, `svc.ns.svc`, the FQDN, each with and without the
// port), with the HTTPRoute/GRPCRoute rules attached to that Service. A
// service with no routes attached gets one catch-all route to itself; one
// with routes answers 404 for requests no rule matches (Gateway API).

import type {
  FaultPolicy as FaultPolicyRoute,
  HeaderMutations,
  HeaderValueOption,
  RedirectAction,
  RetryPolicy,
  Route,
  RouteAction,
  RouteConfiguration,
  RouteMatch,
  VirtualHost,
  WeightedCluster,
} from '../../proxy/config/resources.js';
import type { BackendRef, FaultPolicy as FaultPolicyResource, GRPCRoute, HTTPRoute, HttpRouteFilter, HttpRouteRule, HeaderModifier, RequestRedirect } from '../policy/types.js';
import type { ServiceInfo, ServicePort } from '../registry/types.js';
import { outboundClusterName, parentNames, resolveBackendRef, type PolicyIndex, type ResolvedBackend, type TranslateInput } from './context.js';
import { comparePrecedence, escapeRe, grpcRouteMatch, httpRouteMatch, precedence } from './route-match.js';
import { hashPolicyFor } from './clusters.js';

export const OUTBOUND_ROUTE_CONFIG = 'outbound';
const DEFAULT_HTTP_TIMEOUT = 15_000; // Envoy's route timeout default

/** Istio's default retry policy: only failures where the request was not processed, plus 503. */
export const DEFAULT_RETRY: RetryPolicy = {
  retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
  numRetries: 2,
  retriableStatusCodes: [503],
  retryBackOff: { baseInterval: 25, maxInterval: 250 },
  retryOtherHosts: true,
  hostSelectionRetryMaxAttempts: 5,
};

const emptyMutations = (): HeaderMutations => ({ requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] });

/**
 * Host names of one service port. The names without a port go to one port
 * only — 80 when the service has it (clients omit the default port), else its
 * first HTTP port — because a route configuration's domains must be unique (Envoy
 * rejects duplicates) and a multi-port service would otherwise repeat them.
 */
export function domainsFor(svc: ServiceInfo, port: number, nodeNamespace: string): string[] {
  // A host outside the mesh has only its own name (no short forms); its addresses are for TCP.
  const names = svc.external ? [svc.hostname] : [`${svc.name}.${svc.namespace}`, `${svc.name}.${svc.namespace}.svc`, svc.hostname];
  if (svc.namespace === nodeNamespace && !svc.external) names.unshift(svc.name);
  const http = svc.ports.filter((p) => p.protocol !== 'tcp');
  const bare = http.length <= 1 || port === (http.some((p) => p.port === 80) ? 80 : http[0]!.port);
  // Virtual IPs: an app that dials the ClusterIP is routed by it (the listener's original destination).
  const ips = svc.external ? [] : (svc.addresses ?? []).map((ip) => (ip.includes(':') ? `[${ip}]` : ip));
  return [...names, ...ips].flatMap((n) => (bare ? [n, `${n}:${port}`] : [`${n}:${port}`]));
}

function applyModifier(m: HeaderModifier, add: HeaderValueOption[], remove: string[]): void {
  for (const h of m.set) add.push({ header: { key: h.name, value: h.value }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' });
  for (const h of m.add) add.push({ header: { key: h.name, value: h.value }, appendAction: 'APPEND_IF_EXISTS_OR_ADD' });
  remove.push(...m.remove);
}

function mutationsOf(filters: HttpRouteFilter[]): HeaderMutations {
  const out = emptyMutations();
  for (const f of filters) {
    if (f.type === 'RequestHeaderModifier') applyModifier(f.requestHeaderModifier, out.requestHeadersToAdd, out.requestHeadersToRemove);
    if (f.type === 'ResponseHeaderModifier') applyModifier(f.responseHeaderModifier, out.responseHeadersToAdd, out.responseHeadersToRemove);
  }
  return out;
}

function retryPolicy(rule: Pick<HttpRouteRule, 'retry' | 'timeouts'>): RetryPolicy {
  const perTry = rule.timeouts?.backendRequest || undefined;
  if (!rule.retry) return { ...DEFAULT_RETRY, perTryTimeout: perTry };
  const { codes, attempts, backoff } = rule.retry;
  return {
    retryOn: codes.length ? ['connect-failure', 'refused-stream', 'retriable-status-codes'] : ['connect-failure', 'refused-stream'],
    numRetries: attempts ?? DEFAULT_RETRY.numRetries,
    retriableStatusCodes: [...codes],
    retryBackOff: backoff ? { baseInterval: backoff, maxInterval: backoff * 10 } : DEFAULT_RETRY.retryBackOff,
    perTryTimeout: perTry,
    retryOtherHosts: true,
    hostSelectionRetryMaxAttempts: 5,
  };
}

interface Entry {
  name: string;
  match: RouteMatch;
  rank: number[];
  order: string;
  rule: HttpRouteRule;
  route: HTTPRoute | GRPCRoute;
}

function attached(routes: (HTTPRoute | GRPCRoute)[], svc: ServiceInfo, port: number) {
  return routes.filter((r) =>
    r.spec.parentRefs.some((p) => parentNames(r.metadata.namespace, p, svc) && (p.port === undefined || p.port === port)),
  );
}

function entriesFor(routes: (HTTPRoute | GRPCRoute)[]): Entry[] {
  const out: Entry[] = [];
  for (const route of routes) {
    const base = `${route.metadata.namespace}/${route.metadata.name}`;
    route.spec.rules.forEach((rule, ri) => {
      const r = rule as HttpRouteRule; // a GRPCRoute rule is the same minus matches, timeouts and retry
      const matches: RouteMatch[] =
        route.kind === 'HTTPRoute'
          ? (r.matches.length ? r.matches : [undefined]).map(httpRouteMatch)
          : (route.spec.rules[ri]!.matches.length ? route.spec.rules[ri]!.matches : [undefined]).map(grpcRouteMatch);
      matches.forEach((match, mi) => {
        out.push({
          name: `${base}/${rule.name ?? `rule-${ri}`}/match-${mi}`,
          match,
          rank: precedence(match),
          order: `${base}\u0000${String(ri).padStart(4, '0')}${String(mi).padStart(4, '0')}`,
          rule: r,
          route,
        });
      });
    });
  }
  return out.sort((a, b) => comparePrecedence(a.rank, b.rank) || (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
}

/** Resolve a backendRef (port: its own, else the virtual host's, else the service's first) and note its cluster as used. */
function backendTarget(input: TranslateInput, route: HTTPRoute | GRPCRoute, b: Pick<BackendRef, 'kind' | 'name' | 'namespace' | 'port'>, vhostPort: number, used: UsedClusters) {
  const ns = route.metadata.namespace;
  const t =
    b.port !== undefined
      ? resolveBackendRef(input.registry, ns, b, b.port)
      : (resolveBackendRef(input.registry, ns, b, vhostPort) ?? resolveBackendRef(input.registry, ns, b));
  if (t) used.set(outboundClusterName(t), t);
  return t;
}

function buildAction(input: TranslateInput, idx: PolicyIndex, e: Entry, svc: ServiceInfo, port: ServicePort, used: UsedClusters): { action?: RouteAction; mutations: HeaderMutations } {
  const rule = e.rule;
  const mutations = mutationsOf(rule.filters);
  const weighted: WeightedCluster[] = [];
  let firstService: ServiceInfo | undefined;
  for (const b of rule.backendRefs) {
    if (b.weight === 0) continue;
    const t = backendTarget(input, e.route, b, port.port, used);
    if (!t) continue; // vanished backend: its share is dropped (Gateway API would answer 500 for it)
    firstService ??= t.service;
    weighted.push({ name: outboundClusterName(t), weight: b.weight, ...mutationsOf(b.filters) });
  }
  if (!weighted.length) return { mutations };
  const action: RouteAction = {
    timeout: rule.timeouts?.request ?? (e.route.kind === 'GRPCRoute' || port.protocol === 'grpc' ? 0 : DEFAULT_HTTP_TIMEOUT),
    retryPolicy: retryPolicy(rule),
    requestMirrorPolicies: [],
    hashPolicy: hashPolicyFor(idx, firstService ?? svc),
  };
  if (weighted.length === 1) {
    const { name, weight: _w, ...m } = weighted[0]!;
    action.cluster = name;
    mutations.requestHeadersToAdd.push(...m.requestHeadersToAdd);
    mutations.requestHeadersToRemove.push(...m.requestHeadersToRemove);
    mutations.responseHeadersToAdd.push(...m.responseHeadersToAdd);
    mutations.responseHeadersToRemove.push(...m.responseHeadersToRemove);
  } else action.weightedClusters = weighted;
  for (const f of rule.filters) {
    if (f.type === 'RequestMirror') {
      const t = backendTarget(input, e.route, f.requestMirror.backendRef, port.port, used);
      if (t) action.requestMirrorPolicies.push({ cluster: outboundClusterName(t), percent: f.requestMirror.percent });
    } else if (f.type === 'URLRewrite') {
      const u = f.urlRewrite;
      if (u.hostname) action.hostRewriteLiteral = u.hostname;
      if (u.path?.type === 'ReplaceFullPath') action.regexRewrite = { pattern: '^/.*$', substitution: literalSubstitution(u.path.replaceFullPath!) };
      else if (u.path?.type === 'ReplacePrefixMatch') Object.assign(action, replacePrefix(e.match, u.path.replacePrefixMatch!));
    }
  }
  return { action, mutations };
}

/** A literal for an RE2 substitution (where a backslash starts a group reference). */
const literalSubstitution = (s: string) => s.replace(/\\/g, '\\\\');

/**
 * Gateway API's ReplacePrefixMatch: the matched prefix is replaced, with one '/' between the replacement
 * and the rest of the path (prefix /strip-prefix, replacement /: /strip-prefix/three → /three, and
 * /strip-prefix → /). Envoy's prefix_rewrite would leave //three, or glue /xyz to foo under prefix /, so
 * those cases travel as a regex rewrite.
 */
export function replacePrefix(match: RouteMatch, replacement: string): Pick<RouteAction, 'prefixRewrite' | 'regexRewrite'> {
  const prefix = match.pathSeparatedPrefix ?? ''; // a PathPrefix of "/" is Envoy's prefix "/"
  if (prefix !== '' && !replacement.endsWith('/')) return { prefixRewrite: replacement };
  return { regexRewrite: { pattern: `^${escapeRe(prefix)}(/.*)?$`, substitution: `${literalSubstitution(replacement.replace(/\/+$/, ''))}\\1` } };
}

/** Gateway API's RequestRedirect → Envoy's RedirectAction on a route of the service port `port`. */
function redirectAction(rd: RequestRedirect, match: RouteMatch, port: ServicePort): RedirectAction {
  const out: RedirectAction = {
    responseCode: rd.statusCode,
    stripQuery: false,
    // Gateway API: no port given means the scheme's well-known port when the scheme changes, else the
    // listener's — in the mesh, the service port the request was sent to.
    portRedirect: rd.port ?? (rd.scheme ? WELL_KNOWN_PORT[rd.scheme] : port.port),
  };
  if (rd.scheme) out.schemeRedirect = rd.scheme;
  if (rd.hostname) out.hostRedirect = rd.hostname;
  if (rd.path?.type === 'ReplaceFullPath') out.pathRedirect = rd.path.replaceFullPath!;
  else if (rd.path?.type === 'ReplacePrefixMatch') Object.assign(out, replacePrefix(match, rd.path.replacePrefixMatch!));
  return out;
}

const WELL_KNOWN_PORT = { http: 80, https: 443 } as const;

/**
 * The FaultPolicy for one route of `svc`: one naming its rule (sectionName) wins over one naming its
 * HTTPRoute/GRPCRoute, which wins over one naming the Service; between equals, the first by name.
 */
function faultFor(idx: PolicyIndex, svc: ServiceInfo, route: HTTPRoute | GRPCRoute | undefined, ruleName: string | undefined): FaultPolicyRoute | undefined {
  let best: { rank: number; p: FaultPolicyResource } | undefined;
  for (const p of idx.faultPolicies) {
    const t = p.spec.targetRef;
    let rank = 0;
    if (t.kind === 'Service') rank = p.metadata.namespace === svc.namespace && t.name === svc.name ? 1 : 0;
    else if (route && t.kind === route.kind && t.name === route.metadata.name && p.metadata.namespace === route.metadata.namespace) {
      rank = t.sectionName === undefined ? 2 : t.sectionName === ruleName ? 3 : 0;
    }
    if (rank > 0 && (!best || rank > best.rank || (rank === best.rank && p.metadata.name < best.p.metadata.name))) best = { rank, p };
  }
  if (!best) return undefined;
  const f = best.p.spec;
  return {
    ...(f.delay ? { delay: { fixedDelay: f.delay.fixedDelay, percent: f.delay.percentage } } : {}),
    ...(f.abort ? { abort: { percent: f.abort.percentage, ...(f.abort.httpStatus !== undefined ? { httpStatus: f.abort.httpStatus } : {}), ...(f.abort.grpcStatus !== undefined ? { grpcStatus: f.abort.grpcStatus } : {}) } } : {}),
    headers: f.headers.map((h) => ({ name: h.name, stringMatch: h.type === 'Exact' ? { exact: h.value } : { safeRegex: h.value } })),
  };
}

function virtualHost(input: TranslateInput, idx: PolicyIndex, svc: ServiceInfo, port: ServicePort, used: UsedClusters): VirtualHost {
  used.set(outboundClusterName({ service: svc, port }), { service: svc, port });
  const routes = attached([...idx.httpRoutes, ...idx.grpcRoutes], svc, port.port);
  const out: Route[] = [];
  for (const e of entriesFor(routes)) {
    const redirect = e.rule.filters.find((f) => f.type === 'RequestRedirect');
    if (redirect) {
      // The mesh answers; the rule's backends are not called (nor faulted: faults act on the upstream call).
      out.push({ name: e.name, match: e.match, redirect: redirectAction(redirect.requestRedirect, e.match, port), ...mutationsOf(e.rule.filters) });
      continue;
    }
    const fault = faultFor(idx, svc, e.route, e.rule.name);
    const { action, mutations } = buildAction(input, idx, e, svc, port, used);
    const base = { name: e.name, match: e.match, ...mutations, ...(fault ? { fault } : {}) };
    out.push(action ? { ...base, route: action } : { ...base, directResponse: { status: 500 } });
  }
  if (!routes.length) {
    const fault = faultFor(idx, svc, undefined, undefined);
    out.push({
      ...(fault ? { fault } : {}),
      name: 'default',
      match: { prefix: '/', caseSensitive: true, headers: [], queryParameters: [] },
      route: {
        cluster: outboundClusterName({ service: svc, port }),
        timeout: port.protocol === 'grpc' ? 0 : DEFAULT_HTTP_TIMEOUT,
        retryPolicy: DEFAULT_RETRY,
        requestMirrorPolicies: [],
        hashPolicy: hashPolicyFor(idx, svc),
      },
      ...emptyMutations(),
    });
  }
  return { name: `${svc.hostname}:${port.port}`, domains: domainsFor(svc, port.port, input.node.namespace), routes: out, ...emptyMutations() };
}

/** Every cluster a route references (or a service port's own cluster), by cluster name. */
export type UsedClusters = Map<string, ResolvedBackend>;

/** Build the outbound route table; fills `used` with every cluster it references. */
export function outboundRouteConfiguration(input: TranslateInput, idx: PolicyIndex, services: readonly ServiceInfo[], used: UsedClusters): RouteConfiguration {
  const virtualHosts = services.flatMap((svc) => svc.ports.filter((p) => p.protocol !== 'tcp').map((p) => virtualHost(input, idx, svc, p, used)));
  return { name: OUTBOUND_ROUTE_CONFIG, virtualHosts, ...emptyMutations() };
}
