// Node's TLS, HTTP/2 and HTTPS modules, loaded when a sidecar first needs
// them rather than at import. A plaintext HTTP/1.1 sidecar never touches them,
// and loading them costs ~2.9 MB of RSS (their embedded sources, code cache
// and objects: node:tls ~1.1 MB, node:http2 ~1.8 MB more); an mTLS sidecar
// whose traffic is all HTTP/1.1 still skips node:http2. Builtins load
// synchronously, so a first HTTP/2 connection or TLS context only pays the
// load once, on that call.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

type Http2 = typeof import('node:http2');
type Tls = typeof import('node:tls');
type Https = typeof import('node:https');

let h2: Http2 | undefined;
let tlsModule: Tls | undefined;
let httpsModule: Https | undefined;

export function http2(): Http2 {
  return (h2 ??= require('node:http2') as Http2);
}

export function tls(): Tls {
  return (tlsModule ??= require('node:tls') as Tls);
}

export function https(): Https {
  return (httpsModule ??= require('node:https') as Https);
}

// HTTP/2 protocol constants the hot paths use (RFC 9113 §6.1 frame flag and
// §7 error codes), here so that reading them does not load node:http2.
export const H2_FLAG_END_STREAM = 0x1;
export const H2_NO_ERROR = 0x0;
export const H2_REFUSED_STREAM = 0x7;
export const H2_CANCEL = 0x8;
