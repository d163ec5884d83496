// Header handling on the request path: hop-by-hop stripping (RFC 9110 §7.6.1)
// and the copy of raw header lists in one pass, lower-casing names.

/**
 * Connection-specific headers never forwarded (plus anything named in `connection`):
 * connection, keep-alive, proxy-connection, proxy-authenticate, proxy-authorization,
 * transfer-encoding, te, trailer, upgrade, http2-settings, host, expect. Checked by
 * length first: every header of every request and response passes here, and a Set
 * lookup would hash each freshly decoded name; most names fail on their length.
 */
export function isHopByHop(lowerName: string): boolean {
  switch (lowerName.length) {
    case 2:
      return lowerName === 'te';
    case 4:
      return lowerName === 'host';
    case 6:
      return lowerName === 'expect';
    case 7:
      return lowerName === 'trailer' || lowerName === 'upgrade';
    case 10:
      return lowerName === 'connection' || lowerName === 'keep-alive';
    case 14:
      return lowerName === 'http2-settings';
    case 16:
      return lowerName === 'proxy-connection';
    case 17:
      return lowerName === 'transfer-encoding';
    case 18:
      return lowerName === 'proxy-authenticate';
    case 19:
      return lowerName === 'proxy-authorization';
    default:
      return false;
  }
}

/**
 * Headers the proxy sets itself on the way upstream; downstream copies are replaced.
 * x-forwarded-client-cert: SANITIZE_SET, never forwarded from the client; the inbound mTLS chain sets its own.
 */
export function isProxySet(lowerName: string): boolean {
  const n = lowerName.length;
  return (n === 21 && lowerName === 'x-envoy-attempt-count') || (n === 23 && lowerName === 'x-forwarded-client-cert');
}

/** Extra hop-by-hop names listed in a `connection` header, or undefined when it only says keep-alive/close/upgrade. */
export function connectionTokens(value: string | undefined): Set<string> | undefined {
  if (!value) return undefined;
  // Fast path: almost every HTTP/1.1 request says just keep-alive or close.
  if (value.length <= 10) {
    const v = value.toLowerCase();
    if (v === 'keep-alive' || v === 'close') return undefined;
  }
  let out: Set<string> | undefined;
  for (const t of value.split(',')) {
    const n = t.trim().toLowerCase();
    if (n === '' || n === 'keep-alive' || n === 'close' || n === 'upgrade') continue;
    (out ??= new Set()).add(n);
  }
  return out;
}

/**
 * Response headers from undici's raw list (Buffers or strings, name/value
 * pairs) to a flat lower-case list for writeHead, minus hop-by-hop headers.
 */
export function responseHeaders(raw: readonly (Buffer | string)[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase();
    if (isHopByHop(name) || name.charCodeAt(0) === 58 /* ':' */) continue;
    out.push(name, raw[i + 1]!.toString('latin1'));
  }
  return out;
}

/** Trailers from undici's raw list into an object for addTrailers. */
export function trailersObject(raw: unknown): Record<string, string> | undefined {
  if (!raw) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  if (Array.isArray(raw)) {
    // HTTP/1.1 upstream: raw [name, value, …] Buffers.
    for (let i = 0; i < raw.length; i += 2, n++) out[String(raw[i]).toLowerCase()] = String(raw[i + 1]);
  } else {
    // HTTP/2 upstream: node's trailers object.
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
      if (k.charCodeAt(0) === 58) continue;
      out[k] = Array.isArray(v) ? v.join(', ') : String(v);
      n++;
    }
  }
  return n ? out : undefined;
}
