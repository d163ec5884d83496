// Envoy's use_original_dst for a listener that receives iptables-redirected
// connections: the original destination (SO_ORIGINAL_DST, through the native
// addon) is read once per accepted socket and kept on it, so filter-chain
// selection and the passthrough can use it without another syscall.

import type { Socket } from 'node:net';
import { MeshError } from '../../common/errors.js';
import { nativeAddonAvailable, socketOriginalDst, type OriginalDst } from '../../native/index.js';

export type { OriginalDst };

const ORIGINAL_DST = Symbol('tsmesh.originalDst');
const AUTHORITY = Symbol('tsmesh.originalDstAuthority');
type Tagged = Socket & { [ORIGINAL_DST]?: OriginalDst | null; [AUTHORITY]?: string };

/** A useOriginalDst listener cannot work without the addon: refuse to bind it rather than mis-route. */
export function assertOriginalDstSupported(): void {
  if (!nativeAddonAvailable()) {
    throw new MeshError('MESH_NATIVE_UNAVAILABLE', 'useOriginalDst needs the tsmesh native addon (SO_ORIGINAL_DST); build it with `node dist/native/build.js`');
  }
}

/**
 * Reads and remembers the socket's original destination. Undefined when the
 * connection was not redirected (the original destination is this listener
 * itself — passing it through would loop), the kernel has no NAT entry, or
 * the addon is missing (listen() refuses that case up front).
 */
export function recordOriginalDst(socket: Socket): OriginalDst | undefined {
  const s = socket as Tagged;
  let dst: OriginalDst | null = null;
  try {
    const d = socketOriginalDst(socket);
    if (!(d.port === socket.localPort && sameAddress(d.address, socket.localAddress))) dst = d;
  } catch {
    // closed already, or no conntrack entry: not redirected
  }
  s[ORIGINAL_DST] = dst;
  // Built once per connection: HTTP routing falls back to it on every request whose Host matches nothing.
  if (dst) s[AUTHORITY] = dst.family === 'IPv6' ? `[${dst.address}]:${dst.port}` : `${dst.address}:${dst.port}`;
  return dst ?? undefined;
}

/**
 * `ip:port` of the connection's original destination: the authority HTTP routing tries when the Host
 * header matches no virtual host (an app calling a service by IP). Undefined when not redirected.
 */
export function originalDstAuthority(socket: object | null | undefined): string | undefined {
  return socket ? (socket as Tagged)[AUTHORITY] : undefined;
}

/** The original destination recorded for this socket (or the wrapper it was copied to), if it was redirected. */
export function originalDstOf(socket: object | null | undefined): OriginalDst | undefined {
  return socket ? ((socket as Tagged)[ORIGINAL_DST] ?? undefined) : undefined;
}

/**
 * Carries the original destination over to a stream that wraps the accepted socket (the TLSSocket
 * a TLS server makes): TLS requests see the wrapper as their socket, and route by original
 * destination too.
 */
export function copyOriginalDst(from: object | null | undefined, to: object): void {
  if (!from) return;
  const f = from as Tagged;
  const dst = f[ORIGINAL_DST];
  if (dst === undefined) return;
  const t = to as Tagged;
  t[ORIGINAL_DST] = dst;
  if (f[AUTHORITY] !== undefined) t[AUTHORITY] = f[AUTHORITY];
}

function sameAddress(a: string, b: string | undefined): boolean {
  if (b === undefined) return false;
  return a === b || `::ffff:${a}` === b || a === `::ffff:${b}`;
}
