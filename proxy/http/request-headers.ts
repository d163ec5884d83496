// The header list sent upstream, built in one pass over the downstream's raw
// headers: hop-by-hop headers dropped, names lower-cased, then the proxy's own
// headers (host/authority, x-forwarded-*, x-request-id, attempt count,
// tracing) and the route's header mutations.

import type { HttpConnectionManager } from '../config/resources.js';
import { applyHeaderOps } from '../router/header-mutation.js';
import { connectionTokens, isHopByHop, isProxySet } from './headers.js';
import type { Exchange } from './exchange.js';
import { newRequestId } from './request-id.js';

export function upstreamHeaders(ex: Exchange, hcm: HttpConnectionManager, tls: boolean): string[] {
  const raw = ex.req.rawHeaders;
  const extra = connectionTokens(ex.req.headers.connection as string | undefined);
  // The trace headers this hop sets (its span's context, or a B3 context passed on) replace the incoming ones:
  // two traceparent headers upstream would read as one invalid value and break the trace there.
  const traced = ex.span?.headers;
  const out: string[] = [];
  let xff: string | undefined;
  let xfp = false;
  let requestId: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name.charCodeAt(0) === 58 /* pseudo-header */ || isHopByHop(name) || isProxySet(name)) continue;
    if (extra?.has(name)) continue;
    if (traced !== undefined && Object.hasOwn(traced, name)) continue;
    const value = raw[i + 1]!;
    if (name === 'te') continue;
    if (name === 'x-forwarded-for') {
      xff = xff === undefined ? value : `${xff}, ${value}`;
      continue;
    }
    if (name === 'x-forwarded-proto') {
      if (hcm.useRemoteAddress) continue; // an edge proxy sets it from its own connection
      xfp = true;
    } else if (name === 'x-request-id') requestId = value;
    out.push(name, value);
  }
  // gRPC needs `te: trailers` end to end (the one TE value allowed in HTTP/2).
  if (ex.isGrpc) out.push('te', 'trailers');
  const route = ex.route!;
  out.push('host', route.hostRewrite ?? ex.authority);
  if (hcm.useRemoteAddress) {
    const remote = ex.req.socket?.remoteAddress ?? '';
    xff = xff === undefined ? remote : `${xff}, ${remote}`;
  }
  if (xff !== undefined) out.push('x-forwarded-for', xff);
  if (!xfp) out.push('x-forwarded-proto', tls ? 'https' : 'http');
  if (requestId === undefined && hcm.generateRequestId) {
    requestId = newRequestId();
    out.push('x-request-id', requestId);
  }
  ex.requestId = requestId;
  out.push('x-envoy-attempt-count', '1');
  if (traced !== undefined) for (const k in traced) out.push(k, traced[k]!);
  const ops = ex.choice!.requestOps;
  return ops.empty ? out : applyHeaderOps(ops, out);
}
