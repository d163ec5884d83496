// Protocol detection on the first bytes of a connection (Envoy's
// tls_inspector + http_inspector): TLS ClientHello, the HTTP/2 preface, an
// HTTP/1 request line, or — on anything else, or silence until the
// detection timeout — opaque TCP.

import { MAX_HELLO_BYTES, parseClientHello } from './client-hello.js';

export interface Detected {
  transportProtocol: 'tls' | 'raw_buffer';
  /** 'h2c' | 'http/1.1' for plaintext; ALPN values for TLS; [] for opaque TCP. */
  applicationProtocols: string[];
  serverName?: string;
  /** HTTP to handle with an HTTP server (plaintext), as opposed to opaque bytes. */
  http: 'h1' | 'h2c' | undefined;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'].map((m) => Buffer.from(m + ' ', 'latin1'));
const MAX_METHOD = 8;

export const TCP: Detected = { transportProtocol: 'raw_buffer', applicationProtocols: [], http: undefined };
const H1: Detected = { transportProtocol: 'raw_buffer', applicationProtocols: ['http/1.1'], http: 'h1' };
const H2C: Detected = { transportProtocol: 'raw_buffer', applicationProtocols: ['h2c'], http: 'h2c' };

/** Classifies the bytes seen so far; undefined means "need more bytes". */
export function detect(buf: Buffer): Detected | undefined {
  if (buf.length === 0) return undefined;
  if (buf[0] === 0x16) {
    const hello = parseClientHello(buf);
    if (hello.kind === 'incomplete') return buf.length >= MAX_HELLO_BYTES ? TCP : undefined;
    if (hello.kind === 'invalid') return TCP;
    return { transportProtocol: 'tls', applicationProtocols: hello.alpn, ...(hello.serverName ? { serverName: hello.serverName } : {}), http: undefined };
  }
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, n, 0, n) === 0) return n === H2_PREFACE.length ? H2C : undefined;
  let partial = false;
  for (const m of METHODS) {
    const k = Math.min(buf.length, m.length);
    if (buf.compare(m, 0, k, 0, k) !== 0) continue;
    if (k === m.length) return H1;
    partial = true;
  }
  if (partial && buf.length < MAX_METHOD + 1) return undefined;
  return TCP;
}
