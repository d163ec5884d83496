// Opens upstream connections for the endpoint pools (H1Pool, H2Client):
// TCP, or TLS with the cluster's secure context, its ALPN list and a session
// ticket kept per endpoint for resumption. The same contract and defaults as
// undici's buildConnector (no Nagle, TCP keep-alive after 60 s, a connect
// timeout reported as UND_ERR_CONNECT_TIMEOUT; the read buffer sizes it picks,
// which @types/node does not declare), without loading undici's ~110 modules
// into every sidecar for one function.

import { connect as netConnect, isIP, type NetConnectOpts, type Socket } from 'node:net';
import type { ConnectionOptions, SecureContext, TLSSocket } from 'node:tls';
import { tls as loadTls } from '../lazy-builtins.js';
import type { buildConnector } from 'undici';

export interface ConnectorTls {
  secureContext: SecureContext;
  /** ALPN protocols offered, in preference order. */
  alpn: string[];
  /** SNI; else the host name (none for an IP address). */
  servername?: string;
  /**
   * Checks an established connection before it is handed over (the peer's
   * SPIFFE identity): a reason string refuses it. Only tickets from accepted
   * connections are kept for resumption.
   */
  verify?: (socket: TLSSocket) => string | undefined;
}

const KEEPALIVE_INITIAL_DELAY_MS = 60_000;

/**
 * Stands in for TLSSocket#getPeerCertificate during a client handshake. After a full handshake
 * Node calls `getPeerCertificate(true)` and hands the result to `checkServerIdentity`: the whole
 * peer chain as JS objects (subjects, SHA-1/256/512 fingerprints, public keys re-encoded through
 * OpenSSL 3.0's slow key codecs), ~30 % of the CPU of a full handshake for both ends together
 * (proxy/tls/PERFORMANCE.md, session 11). Our checkServerIdentity ignores it: the chain is
 * OpenSSL's to verify (`rejectUnauthorized`) and the identity is checked on the leaf from
 * getPeerX509Certificate. The socket gets the real method back once connected.
 */
function noPeerChain(): object {
  return {};
}

class ConnectTimeoutError extends Error {
  readonly code = 'UND_ERR_CONNECT_TIMEOUT';
  override readonly name = 'ConnectTimeoutError';
}

/**
 * A connector for one endpoint. With `tls`, the chain is verified by Node
 * against the secure context's CAs; the identity (SPIFFE URI SAN, not a host
 * name) is the caller's to check, so no host name check happens here.
 */
export function socketConnector(timeoutMs: number, tls?: ConnectorTls): buildConnector.connector {
  // The newest ticket from this endpoint: the next connection resumes with it.
  let session: Buffer | undefined;
  return (o, callback) => {
    const host = o.hostname[0] === '[' ? o.hostname.slice(1, o.hostname.indexOf(']')) : o.hostname;
    const port = Number(o.port) || (tls ? 443 : 80);
    let socket: Socket;
    // A ticket is kept once its connection was accepted (TLS 1.2 may deliver it before the handshake completes).
    let accepted = tls?.verify === undefined;
    let ticket: Buffer | undefined;
    if (tls) {
      const servername = tls.servername || o.servername || (isIP(host) ? undefined : host);
      socket = loadTls().connect({
        host,
        port,
        highWaterMark: 16384,
        secureContext: tls.secureContext,
        ALPNProtocols: tls.alpn,
        rejectUnauthorized: true,
        checkServerIdentity: () => undefined,
        ...(servername ? { servername } : {}),
        ...(session ? { session } : {}),
      } as ConnectionOptions);
      (socket as unknown as { getPeerCertificate: unknown }).getPeerCertificate = noPeerChain;
      socket.on('session', (t: Buffer) => {
        if (accepted) session = t;
        else ticket = t;
      });
    } else {
      socket = netConnect({ host, port, highWaterMark: 64 * 1024 } as NetConnectOpts);
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_INITIAL_DELAY_MS);
    let cb: buildConnector.Callback | undefined = callback;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            socket.destroy(new ConnectTimeoutError(`Connect Timeout Error (attempted address: ${host}:${port}, timeout: ${timeoutMs}ms)`));
          }, timeoutMs)
        : undefined;
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      if (tls) delete (socket as unknown as { getPeerCertificate?: unknown }).getPeerCertificate;
      const done = cb;
      cb = undefined;
      const refused = tls?.verify?.(socket as TLSSocket);
      if (refused !== undefined) {
        socket.destroy();
        done?.(Object.assign(new Error(`upstream identity refused: ${refused}`), { code: 'MESH_UPSTREAM_IDENTITY' }), null);
        return;
      }
      accepted = true;
      if (ticket !== undefined) session = ticket;
      done?.(null, socket as Socket & TLSSocket);
    });
    // Stays attached, as undici's: an error after the handover is the pool's, and must not go unhandled.
    socket.on('error', (err) => {
      clearTimeout(timer);
      // A failed handshake may be the stale ticket's fault: the next attempt starts a full handshake.
      if (tls && cb) session = undefined;
      const done = cb;
      cb = undefined;
      done?.(err, null);
    });
  };
}
