// What access log formats read about an accepted connection: the client's
// port, the address it dialled (its original destination when iptables
// redirected it here) and the SNI it sent. Read only for logged requests
// and connections; the request path never needs them.

import type { Socket } from 'node:net';
import type { ConnectionFacts } from '../telemetry/types.js';
import { originalDstAuthority } from './original-dst.js';

/** `ip:port` (IPv6 in brackets), or undefined for a socket without that address (closed, or a pipe). */
export function socketAddress(address: string | undefined, port: number | undefined): string | undefined {
  if (!address || port === undefined) return undefined;
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The downstream side of `facts`, read from the accepted socket (a TLSSocket, or HTTP/2's socket proxy). */
export function addDownstreamFacts(facts: ConnectionFacts, socket: Socket | null | undefined): void {
  if (!socket) return;
  const port = socket.remotePort;
  if (port !== undefined) facts.downstreamRemotePort = port;
  const local = originalDstAuthority(socket) ?? socketAddress(socket.localAddress, socket.localPort);
  if (local !== undefined) facts.downstreamLocalAddress = local;
  const sni = (socket as { servername?: string | false }).servername;
  if (typeof sni === 'string' && sni) facts.requestedServerName = sni;
}

/** A logged connection's downstream facts and client address, read at once, while the socket has them. */
export function downstreamFacts(socket: Socket): ConnectionFacts & { downstreamRemoteAddress: string } {
  const facts: ConnectionFacts & { downstreamRemoteAddress: string } = { downstreamRemoteAddress: socket.remoteAddress ?? '' };
  addDownstreamFacts(facts, socket);
  return facts;
}

/** This proxy's side of an upstream connection. */
export function upstreamLocalAddress(socket: Socket | undefined): string | undefined {
  return socket ? socketAddress(socket.localAddress, socket.localPort) : undefined;
}
