// Servers outside the mesh are identified the Web PKI way: by a DNS name in
// their certificate (wildcards honoured, RFC 6125 as node:crypto implements
// it), after Node verified the chain against the cluster's roots. Mesh peers
// are identified by SPIFFE URI instead (peer-identity.ts).
import type { TLSSocket } from 'node:tls';

export type UpstreamCheck = { ok: true; spiffeId?: string } | { ok: false; reason: string };

/** What an upstream TLS pool asks of the server's certificate once the handshake is done. */
export interface UpstreamVerifier {
  verify(socket: TLSSocket, resumedIdentity?: string): UpstreamCheck;
}

export class DnsNameVerifier implements UpstreamVerifier {
  constructor(private readonly names: readonly string[]) {}

  verify(socket: TLSSocket): UpstreamCheck {
    if (!socket.authorized) return { ok: false, reason: `server certificate not trusted: ${String(socket.authorizationError ?? 'unverified')}` };
    const cert = socket.getPeerX509Certificate();
    // A resumed session has no certificate in Node: the connector resumes only from this endpoint's accepted connections.
    if (!cert) return socket.isSessionReused() ? { ok: true } : { ok: false, reason: 'server presented no certificate' };
    if (this.names.some((n) => cert.checkHost(n) !== undefined)) return { ok: true };
    return { ok: false, reason: `server certificate is not valid for ${this.names.join(', ')} (subjectAltName: ${cert.subjectAltName ?? 'none'})` };
  }
}
