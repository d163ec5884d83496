// The Location of a redirect route (Envoy's RedirectAction): every part the
// route does not replace comes from the request. Pure, so the cases users know
// from Envoy and the Gateway API's RequestRedirect are tested as fixtures.

import type { CompiledRedirect } from './route-table.js';
import { rewritePathOnly } from './path-rewrite.js';

export interface RedirectRequest {
  /** Host header / :authority, with its port when it has one. */
  authority: string;
  /** Path without the query. */
  path: string;
  /** Query without '?', or ''. */
  query: string;
  /** The request's scheme: x-forwarded-proto when valid, else the connection's. */
  scheme: string;
  /** How much of the path the route's prefix matched (for prefixRewrite). */
  matchedLength: number;
}

const DEFAULT_PORT: Readonly<Record<string, string>> = { http: '80', https: '443' };

export function redirectLocation(d: CompiledRedirect, req: RedirectRequest): string {
  const scheme = d.scheme ?? req.scheme;
  let host: string;
  if (d.host !== undefined) host = d.host;
  else {
    const [name, port] = splitAuthority(req.authority);
    // Envoy: the request's port goes when the port is redirected, or when the scheme changes and the port
    // was the old scheme's default (http://a:80 → https://a); otherwise it stays (http://a:8080 → https://a:8080).
    const drop = port === undefined || d.port !== undefined || (scheme !== req.scheme && port === DEFAULT_PORT[req.scheme]);
    host = drop ? name : `${name}:${port}`;
  }
  // A redirected port that is the new scheme's default is left out: https://a, not https://a:443.
  const port = d.port !== undefined && String(d.port) !== DEFAULT_PORT[scheme] ? `:${d.port}` : '';
  let pathAndQuery: string;
  if (d.path !== undefined) {
    pathAndQuery = d.path.includes('?') || d.stripQuery || !req.query ? d.path : `${d.path}?${req.query}`;
  } else {
    const p = d.pathRewrite ? rewritePathOnly(d.pathRewrite, req.path, req.matchedLength) : req.path;
    pathAndQuery = d.stripQuery || !req.query ? p : `${p}?${req.query}`;
  }
  return `${scheme}://${host}${port}${pathAndQuery}`;
}

/** `host:port` → [host, port]; `[::1]:8080` → ['[::1]', '8080']; no port → [authority, undefined]. */
function splitAuthority(authority: string): [string, string | undefined] {
  const colon = authority.lastIndexOf(':');
  if (colon <= 0 || authority.indexOf(']', colon) !== -1 || (authority[0] !== '[' && authority.indexOf(':') !== colon)) return [authority, undefined];
  return [authority.slice(0, colon), authority.slice(colon + 1)];
}
