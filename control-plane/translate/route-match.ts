// Gateway API matches → Envoy RouteMatch, and the precedence order Gateway
// API prescribes between matches of all routes attached to one Service:
// exact path, then the longest prefix, then method, then the most header
// matches, then the most query matches; ties go to the alphabetically first
// route (namespace/name) and then to rule order.

import type { HeaderMatcher, QueryParameterMatcher, RouteMatch, StringMatcher } from '../../proxy/config/resources.js';
import type { GrpcRouteMatch, HttpRouteMatch, NameValueMatch } from '../policy/types.js';

const valueMatcher = (m: NameValueMatch): StringMatcher => (m.type === 'Exact' ? { exact: m.value } : { safeRegex: m.value });

function headerMatchers(list: NameValueMatch[]): HeaderMatcher[] {
  return list.map((h) => ({ name: h.name, stringMatch: valueMatcher(h) }));
}

export function httpRouteMatch(m: HttpRouteMatch | undefined): RouteMatch {
  const out: RouteMatch = { caseSensitive: true, headers: [], queryParameters: [] };
  const path = m?.path ?? { type: 'PathPrefix', value: '/' };
  if (path.type === 'Exact') out.path = path.value;
  else if (path.type === 'RegularExpression') out.safeRegex = path.value;
  else if (path.value === '/' ) out.prefix = '/';
  else out.pathSeparatedPrefix = path.value.replace(/\/+$/, ''); // Gateway API prefixes match whole path segments
  if (m) {
    out.headers = headerMatchers(m.headers);
    if (m.method) out.headers.push({ name: ':method', stringMatch: { exact: m.method } });
    out.queryParameters = m.queryParams.map((q): QueryParameterMatcher => ({ name: q.name, stringMatch: valueMatcher(q) }));
  }
  return out;
}

/** A literal inside a regular expression (JavaScript and RE2 alike). */
export const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function grpcRouteMatch(m: GrpcRouteMatch | undefined): RouteMatch {
  const out: RouteMatch = { caseSensitive: true, headers: m ? headerMatchers(m.headers) : [], queryParameters: [], grpc: true };
  const mm = m?.method;
  if (!mm) out.prefix = '/';
  else if (mm.type === 'Exact' && mm.service && mm.method) out.path = `/${mm.service}/${mm.method}`;
  else if (mm.type === 'Exact' && mm.service) out.prefix = `/${mm.service}/`;
  else if (mm.type === 'Exact') out.safeRegex = `/[^/]+/${escapeRe(mm.method!)}`;
  else out.safeRegex = `/${mm.service ?? '[^/]+'}/${mm.method ?? '[^/]+'}`;
  return out;
}

/** Sort key: larger sorts first. */
export function precedence(m: RouteMatch): number[] {
  const pathRank = m.path !== undefined ? 4 : m.pathSeparatedPrefix !== undefined ? 3 : m.safeRegex !== undefined ? 2 : m.prefix !== '/' ? 3 : 1;
  const pathLen = (m.path ?? m.pathSeparatedPrefix ?? (m.prefix === '/' ? '' : m.prefix) ?? m.safeRegex ?? '').length;
  const method = m.headers.some((h) => h.name === ':method') ? 1 : 0;
  const headers = m.headers.filter((h) => h.name !== ':method').length;
  return [pathRank, pathLen, method, headers, m.queryParameters.length];
}

export function comparePrecedence(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return b[i]! - a[i]!;
  return 0;
}
