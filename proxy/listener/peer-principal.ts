// The verified SPIFFE ID of each mTLS connection, recorded by the inbound
// terminator and read by the request path (RBAC, telemetry).

import type { Socket } from 'node:net';

const principals = new WeakMap<object, string>();

export function setPeerPrincipal(socket: Socket, spiffeId: string): void {
  principals.set(socket, spiffeId);
}

/** The peer identity of a request's connection (HTTP/1.1 socket or HTTP/2 session socket). */
export function peerPrincipal(req: { socket?: unknown; stream?: { session?: { socket?: unknown } } }): string | undefined {
  const s = (req.stream?.session?.socket ?? req.socket) as object | undefined;
  return s ? principals.get(s) : undefined;
}
