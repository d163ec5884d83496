// Reads SNI and ALPN from a TLS ClientHello (RFC 8446 §4.1.2) without
// terminating TLS, so a listener can pick a filter chain first (Envoy's
// tls_inspector). Bounded and defensive: any malformed input gives
// 'invalid', a short one 'incomplete'.

export type HelloResult =
  | { kind: 'hello'; serverName?: string; alpn: string[] }
  | { kind: 'incomplete' }
  | { kind: 'invalid' };

/** Largest ClientHello record we wait for (one TLS record). */
export const MAX_HELLO_BYTES = 5 + 16_384;

export function parseClientHello(buf: Buffer): HelloResult {
  if (buf.length < 5) return { kind: 'incomplete' };
  if (buf[0] !== 0x16 || buf[1] !== 0x03) return { kind: 'invalid' };
  const recLen = buf.readUInt16BE(3);
  if (recLen < 4 || recLen > 16_384) return { kind: 'invalid' };
  if (buf.length < 5 + recLen) return { kind: 'incomplete' };
  const end = 5 + recLen;
  let p = 5;
  if (buf[p] !== 0x01) return { kind: 'invalid' }; // handshake type client_hello
  const hsLen = (buf[p + 1]! << 16) | (buf[p + 2]! << 8) | buf[p + 3]!;
  p += 4;
  // A hello split over several records is legal but rare; we read what the first record holds.
  const hsEnd = Math.min(end, p + hsLen);
  p += 2 + 32; // legacy_version + random
  if (p + 1 > hsEnd) return { kind: 'invalid' };
  p += 1 + buf[p]!; // session id
  if (p + 2 > hsEnd) return { kind: 'invalid' };
  p += 2 + buf.readUInt16BE(p); // cipher suites
  if (p + 1 > hsEnd) return { kind: 'invalid' };
  p += 1 + buf[p]!; // compression methods
  const out: { kind: 'hello'; serverName?: string; alpn: string[] } = { kind: 'hello', alpn: [] };
  if (p + 2 > hsEnd) return p <= hsEnd ? out : { kind: 'invalid' };
  const extEnd = Math.min(hsEnd, p + 2 + buf.readUInt16BE(p));
  p += 2;
  while (p + 4 <= extEnd) {
    const type = buf.readUInt16BE(p);
    const len = buf.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) return { kind: 'invalid' };
    if (type === 0 && len >= 5) {
      // server_name: list length (2), name type (1), name length (2), name
      const nameLen = buf.readUInt16BE(p + 3);
      if (buf[p + 2] === 0 && 5 + nameLen <= len) out.serverName = buf.toString('latin1', p + 5, p + 5 + nameLen).toLowerCase();
    } else if (type === 16 && len >= 2) {
      let q = p + 2;
      const listEnd = Math.min(p + len, p + 2 + buf.readUInt16BE(p));
      while (q < listEnd) {
        const l = buf[q]!;
        if (l === 0 || q + 1 + l > listEnd) break;
        out.alpn.push(buf.toString('latin1', q + 1, q + 1 + l));
        q += 1 + l;
      }
    }
    p += len;
  }
  return out;
}
