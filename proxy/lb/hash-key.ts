// Consistent-hash key for a request from the route's hashPolicy list (Envoy
// semantics): policies are evaluated in order, each contributes its value when
// present, and a `terminal` policy that produced a value stops the list. The
// result is PickContext.hashKey (undefined = no key, the balancer picks at
// random). Pure and allocation-light: called once per request.

import type { HashPolicy } from '../config/resources.js';

/** Longest value taken from a header, cookie or query parameter (bounds untrusted input). */
export const MAX_HASH_INPUT = 4096;

export interface HashKeySource {
  /** Request headers with lower-case names, as Node gives them. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Request target: path with an optional query string. */
  path: string;
  /** Downstream peer address. */
  sourceIp?: string;
}

export function computeHashKey(policies: readonly HashPolicy[], req: HashKeySource): string | undefined {
  let key: string | undefined;
  for (let i = 0; i < policies.length; i++) {
    const p = policies[i]!;
    let v: string | undefined;
    if ('header' in p) v = headerValue(req.headers[p.header.headerName]);
    else if ('cookie' in p) v = cookieValue(headerValue(req.headers.cookie), p.cookie.name);
    else if ('queryParameter' in p) v = queryValue(req.path, p.queryParameter.name);
    else if ('connectionProperties' in p) v = req.sourceIp;
    if (v === undefined) continue;
    if (v.length > MAX_HASH_INPUT) v = v.slice(0, MAX_HASH_INPUT);
    key = key === undefined ? v : `${key}\u0000${v}`;
    if (p.terminal) break;
  }
  return key;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  return v.length ? v.join(',') : undefined;
}

/** Value of cookie `name` in a Cookie header (RFC 6265 `a=b; c=d`), quotes stripped; undefined if absent. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined || name.length === 0) return undefined;
  const n = header.length;
  let i = 0;
  while (i < n) {
    while (i < n && (header.charCodeAt(i) === 0x20 || header.charCodeAt(i) === 0x3b)) i++; // ' ' ';'
    let end = header.indexOf(';', i);
    if (end < 0) end = n;
    const eq = header.indexOf('=', i);
    if (eq > i && eq < end && eq - i === name.length && header.startsWith(name, i)) {
      let v = header.slice(eq + 1, end).trimEnd();
      if (v.length >= 2 && v.charCodeAt(0) === 0x22 && v.charCodeAt(v.length - 1) === 0x22) v = v.slice(1, -1);
      return v;
    }
    i = end + 1;
  }
  return undefined;
}

/** Raw (not percent-decoded, as Envoy) value of the first query parameter `name`; '' when present without a value. */
export function queryValue(path: string, name: string): string | undefined {
  const q = path.indexOf('?');
  if (q < 0 || name.length === 0) return undefined;
  let i = q + 1;
  const n = path.length;
  while (i <= n) {
    let end = path.indexOf('&', i);
    if (end < 0) end = n;
    const eq = path.indexOf('=', i);
    const nameEnd = eq >= 0 && eq < end ? eq : end;
    if (nameEnd - i === name.length && path.startsWith(name, i)) {
      return nameEnd === end ? '' : path.slice(nameEnd + 1, end);
    }
    i = end + 1;
  }
  return undefined;
}

/**
 * Envoy generates the affinity cookie when a cookie policy has a ttl and the
 * request has none: the value (here derived from the key the request did hash
 * on, or random) is set on the response so the client sticks from then on.
 * Returns the Set-Cookie header value, or undefined when nothing is to be set.
 */
export function affinityCookie(policies: readonly HashPolicy[], req: HashKeySource, value: string): string | undefined {
  for (const p of policies) {
    if (!('cookie' in p) || p.cookie.ttl === undefined) continue;
    if (cookieValue(headerValue(req.headers.cookie), p.cookie.name) !== undefined) return undefined;
    const maxAge = Math.floor(p.cookie.ttl / 1000);
    return `${p.cookie.name}="${value}"; Max-Age=${maxAge}${p.cookie.path ? `; Path=${p.cookie.path}` : ''}; HttpOnly`;
  }
  return undefined;
}
