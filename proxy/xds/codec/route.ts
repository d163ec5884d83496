// RouteConfiguration (RDS): virtual hosts, routes and their matches (actions in route-action.ts).
// Per-route fault injection and local rate limits travel as Envoy's
// typed_per_filter_config (HTTPFault / LocalRateLimit).

import type { Reader } from '../../../common/reader.js';
import type { Route, RouteConfiguration, RouteMatch, VirtualHost } from '../../config/resources.js';
import { decodeFault, decodeRateLimit, encodeFault, encodeRateLimit } from './http-filters.js';
import { decodeAction, decodeRedirect, decodeRetryPolicy, encodeAction, encodeRedirect, encodeRetryPolicy } from './route-action.js';
import {
  NAMES,
  T,
  anyType,
  headerMatcher,
  headerMutations,
  readBoolValue,
  readHeaderMatcher,
  readHeaderMutations,
  readRegex,
  readStringMatcher,
  stringMatcher,
  type PObj,
} from './wire.js';

const LIMIT = { vhosts: 10_000, routes: 10_000 };

// ------------------------------------------------------------- match

function encodeMatch(m: RouteMatch): PObj {
  const o: PObj = {};
  if (m.prefix !== undefined) o.prefix = m.prefix;
  else if (m.path !== undefined) o.path = m.path;
  else if (m.safeRegex !== undefined) o.safe_regex = { regex: m.safeRegex };
  else if (m.pathSeparatedPrefix !== undefined) o.path_separated_prefix = m.pathSeparatedPrefix;
  if (!m.caseSensitive) o.case_sensitive = { value: false };
  if (m.headers.length) o.headers = m.headers.map(headerMatcher);
  if (m.queryParameters.length) {
    o.query_parameters = m.queryParameters.map((q) => {
      const qo: PObj = { name: q.name };
      if (q.stringMatch) qo.string_match = stringMatcher(q.stringMatch);
      else qo.present_match = q.presentMatch ?? true;
      return qo;
    });
  }
  if (m.grpc) o.grpc = {};
  return o;
}

function decodeMatch(r: Reader): RouteMatch {
  const m: RouteMatch = { caseSensitive: readBoolValue(r.field('case_sensitive')) ?? true, headers: [], queryParameters: [] };
  const kinds = ['prefix', 'path', 'safe_regex', 'path_separated_prefix'].filter((k) => r.field(k).present);
  if (kinds.length !== 1) r.fail('exactly one of prefix, path, safe_regex, path_separated_prefix is required');
  if (r.field('prefix').present) m.prefix = r.field('prefix').string({ maxLength: 1024 });
  else if (r.field('path').present) m.path = r.field('path').string({ maxLength: 1024 });
  else if (r.field('safe_regex').present) m.safeRegex = readRegex(r.field('safe_regex'));
  else if (r.field('path_separated_prefix').present) m.pathSeparatedPrefix = r.field('path_separated_prefix').string({ maxLength: 1024 });
  if (r.field('runtime_fraction').present) r.field('runtime_fraction').fail('runtime_fraction is not supported; use weighted clusters');
  for (const h of r.field('headers').array()) {
    const hm = readHeaderMatcher(h);
    if (hm) m.headers.push(hm);
  }
  for (const q of r.field('query_parameters').array()) {
    const name = q.field('name').string({ required: true, maxLength: 256 });
    if (name === undefined) continue;
    if (q.field('string_match').present) {
      const sm = readStringMatcher(q.field('string_match'));
      if (sm) m.queryParameters.push({ name, stringMatch: sm });
    } else m.queryParameters.push({ name, presentMatch: q.field('present_match').boolean() ?? true });
  }
  if (r.field('grpc').present) m.grpc = true;
  return m;
}

// ------------------------------------------------------------- route, vhost, config

function encodeRoute(rt: Route): PObj {
  const o: PObj = { name: rt.name, match: encodeMatch(rt.match), ...headerMutations(rt) };
  if (rt.route) o.route = encodeAction(rt.route);
  else if (rt.redirect) o.redirect = encodeRedirect(rt.redirect);
  else if (rt.directResponse) {
    const d: PObj = { status: rt.directResponse.status };
    if (rt.directResponse.body !== undefined) d.body = { inline_string: rt.directResponse.body };
    o.direct_response = d;
  }
  const tpfc: PObj = {};
  if (rt.fault) tpfc[NAMES.fault] = encodeFault(rt.fault);
  if (rt.rateLimit) tpfc[NAMES.localRateLimit] = encodeRateLimit(rt.rateLimit);
  if (Object.keys(tpfc).length) o.typed_per_filter_config = tpfc;
  return o;
}

function decodeRoute(r: Reader): Route | undefined {
  if (!r.object(true)) return undefined;
  const rt: Route = { name: r.field('name').string({ maxLength: 256 }) ?? '', match: decodeMatch(r.field('match')), ...readHeaderMutations(r) };
  if (r.field('route').object()) rt.route = decodeAction(r.field('route'));
  else if (r.field('redirect').object()) rt.redirect = decodeRedirect(r.field('redirect'));
  else if (r.field('direct_response').object()) {
    const d = r.field('direct_response');
    const status = d.field('status').number({ required: true, integer: true, min: 200, max: 599 }) ?? 200;
    const body = d.field('body').field('inline_string').string({ maxLength: 64 * 1024 });
    rt.directResponse = body === undefined ? { status } : { status, body };
  } else r.fail('one of route, redirect or direct_response is required');
  for (const [key, cfg] of r.field('typed_per_filter_config').entries()) {
    const t = anyType(cfg);
    if (t === T.fault) rt.fault = decodeFault(cfg);
    else if (t === T.localRateLimit) rt.rateLimit = decodeRateLimit(cfg);
    else if (t) cfg.fail(`unsupported per-route filter config ${t} (key ${key})`);
  }
  return rt;
}

function encodeVirtualHost(v: VirtualHost): PObj {
  const o: PObj = { name: v.name, domains: [...v.domains], routes: v.routes.map(encodeRoute), ...headerMutations(v) };
  if (v.retryPolicy) o.retry_policy = encodeRetryPolicy(v.retryPolicy);
  return o;
}

function decodeVirtualHost(r: Reader): VirtualHost | undefined {
  if (!r.object(true)) return undefined;
  const name = r.field('name').string({ required: true, maxLength: 256 }) ?? '';
  const domains = r.field('domains').array(true).map((d) => d.string({ required: true, maxLength: 253 }) ?? '');
  const routeReaders = r.field('routes').array();
  if (routeReaders.length > LIMIT.routes) r.field('routes').fail(`more than ${LIMIT.routes} routes`);
  const routes = routeReaders.slice(0, LIMIT.routes).map(decodeRoute).filter((x): x is Route => !!x);
  const v: VirtualHost = { name, domains, routes, ...readHeaderMutations(r) };
  const rp = decodeRetryPolicy(r.field('retry_policy'));
  if (rp) v.retryPolicy = rp;
  return v;
}

export function encodeRouteConfiguration(rc: RouteConfiguration): PObj {
  return { name: rc.name, virtual_hosts: rc.virtualHosts.map(encodeVirtualHost), ...headerMutations(rc) };
}

export function decodeRouteConfiguration(r: Reader): RouteConfiguration | undefined {
  const name = r.field('name').string({ required: true, maxLength: 256 });
  const vhs = r.field('virtual_hosts').array();
  if (vhs.length > LIMIT.vhosts) r.field('virtual_hosts').fail(`more than ${LIMIT.vhosts} virtual hosts`);
  const virtualHosts = vhs.slice(0, LIMIT.vhosts).map(decodeVirtualHost).filter((x): x is VirtualHost => !!x);
  return name === undefined ? undefined : { name, virtualHosts, ...readHeaderMutations(r) };
}
