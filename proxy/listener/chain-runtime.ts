// One filter chain at runtime: its HTTP connection manager or TCP proxy and
// the server objects that speak the protocols (built once per chain and
// reused across config swaps). Sockets arrive from the listener after
// protocol detection and are handed over with emit('connection').

import http, { type IncomingMessage } from 'node:http';
import type * as http2 from 'node:http2';
import type * as tls from 'node:tls';
import { http2 as loadHttp2, tls as loadTls } from '../lazy-builtins.js';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FilterChain, HttpConnectionManager, HttpLimits } from '../config/resources.js';
import { HttpChain, type HttpChainDeps } from '../http/http-chain.js';
import { handleUpgrade } from '../http/upgrade.js';
import { TcpChain, type TcpChainDeps } from '../tcp/tcp-proxy.js';
import type { TlsStore } from '../tls/tls-store.js';
import type { Detected } from './detect.js';
import { setPeerPrincipal } from './peer-principal.js';
import { copyOriginalDst } from './original-dst.js';
import { createInboundTerminator } from '../identity/tls-contexts.js';
import { PeerIdentityVerifier } from '../identity/peer-identity.js';
import { H1ServerConnection, type H1Handler, type H1Request, type H1Response } from '../h1/h1-server.js';
import { closeGracefully, manageSession, sessionSocket } from './h2-sessions.js';
import { serveStream, type H2Handle } from './h2-server.js';

export interface ChainDeps extends HttpChainDeps, TcpChainDeps {
  tls: TlsStore;
}

type AnyServer = http.Server | http2.Http2Server | http2.Http2SecureServer | tls.Server;

export class ChainRuntime {
  readonly http: HttpChain | undefined;
  readonly tcp: TcpChain | undefined;
  private h2c: http2.Http2Server | undefined;
  private secure: http2.Http2SecureServer | tls.Server | undefined;
  private tlsKey: string | undefined;
  /** `secure` is the HTTP/2 TLS server that also serves HTTP/1.1 itself (allowHTTP1). */
  private secureH1 = false;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** The verified peer ID of the mTLS connection being handed to the HTTP/2 server right now. */
  private sessionPrincipal: string | undefined = undefined;
  /** The socket being handed to the HTTP/2 server right now (its session's requests report it). */
  private sessionSock: Socket | undefined = undefined;
  /** HTTP/1.1 connections served by the llhttp engine (proxy/h1). */
  private readonly h1conns = new Set<H1ServerConnection>();
  private h1handler: H1Handler | undefined;

  constructor(
    public fc: FilterChain,
    private deps: ChainDeps,
  ) {
    const isTls = fc.transportSocket !== undefined;
    if (fc.filter.kind === 'http') {
      this.http = new HttpChain(fc.filter, deps, isTls);
      this.http.mtls = fc.transportSocket?.requireClientCertificate === true;
    }
    else this.tcp = new TcpChain(fc.filter, deps, isTls);
  }

  /** Same chain, new config: keep servers (and their open connections), swap settings. */
  update(fc: FilterChain, deps: ChainDeps): void {
    this.fc = fc;
    this.deps = deps;
    if (this.http && fc.filter.kind === 'http') {
      this.http.hcm = fc.filter;
      this.http.deps = deps;
      this.http.mtls = fc.transportSocket?.requireClientCertificate === true;
      if (this.secureH1) applyH1Limits(this.secure as unknown as http.Server, fc.filter.limits);
    }
    if (this.tcp && fc.filter.kind === 'tcp') {
      this.tcp.config = fc.filter;
      this.tcp.deps = deps;
    }
    this.refreshTls();
  }

  /** True when a chain with this config can keep this runtime (same filter kind and TLS-ness). */
  compatible(fc: FilterChain): boolean {
    return fc.filter.kind === this.fc.filter.kind && !!fc.transportSocket === !!this.fc.transportSocket;
  }

  /** Re-reads TLS material; swaps the context in place when it changed. */
  refreshTls(): void {
    const t = this.fc.transportSocket;
    if (!t || !this.secure) return;
    const d = this.deps.tls.downstream(t);
    if (!d || d.key === this.tlsKey) return;
    this.tlsKey = d.key;
    if (t.requireClientCertificate) {
      const { requestCert: _r, rejectUnauthorized: _u, ...options } = d.options;
      this.secure.setSecureContext({ ...options, requestCert: true, rejectUnauthorized: false } as tls.SecureContextOptions);
    } else this.secure.setSecureContext(d.options);
  }

  /** Bytes read for detection were unshifted back: TLS and HTTP/2 take them from socket.readableLength first. */
  accept(socket: Socket, d: Detected): void {
    // Listener sockets are half-open capable for TCP proxying; HTTP closes on the client's FIN.
    if (!this.tcp) socket.allowHalfOpen = false;
    if (this.fc.transportSocket) {
      const s = this.secureServer();
      if (!s) return void socket.destroy(); // certificate not delivered yet (SDS warming)
      // The raw socket, not a replay Duplex: Node's TLS socket first takes the bytes detection unshifted
      // (socket.readableLength), then reads the native handle — no JS stream under the TLS layer.
      // Not resumed: TLS reads the handle itself.
      s.emit('connection', socket);
      return;
    } else if (this.tcp) {
      // The TCP proxy resumes the socket once its upstream is connected: resuming here would drop the
      // client's first bytes (those unshifted after detection, or any sent meanwhile) before the pipe exists.
      return this.tcp.handle(socket);
    } else if (d.http === 'h2c' || (this.http!.hcm.codecType === 'HTTP2' && d.http !== 'h1')) {
      // The raw socket, not a replay Duplex: Node's HTTP/2 session first takes the bytes detection
      // unshifted (socket.readableLength), then reads the native handle — no JS stream on every read
      // and write. Not resumed: the session consumes the handle itself.
      this.sessionSock = socket;
      this.h2cServer().emit('connection', socket);
      this.sessionSock = undefined;
      return;
    } else {
      this.serveH1(socket);
    }
    socket.resume();
  }

  /** HTTP/1.1 on the proxy's own engine; node:http's server stays for HTTP/1.1 inside the TLS+h2 server. */
  private serveH1(socket: Socket): void {
    const chain = this.http!;
    this.h1handler ??= {
      handle: (req: H1Request, res: H1Response) => chain.handle(req as unknown as IncomingMessage, res as unknown as http.ServerResponse),
      upgrade: (req: H1Request, sock: Socket, head: Buffer) => handleUpgrade(chain, req as unknown as IncomingMessage, sock, head),
    };
    const conns = this.h1conns;
    const c = new H1ServerConnection(socket, this.h1handler, {
      get limits() {
        return chain.hcm.limits;
      },
      onClose: (x) => conns.delete(x),
    });
    conns.add(c);
  }

  private h2cServer(): http2.Http2Server {
    if (this.h2c) return this.h2c;
    // The core API, not the compatibility one (no request listener): streams become light
    // request/response objects (h2-server.ts).
    const s = loadHttp2().createServer(h2Options(this.http!.hcm));
    s.on('stream', this.onStream);
    this.trackSessions(s);
    this.h2c = s;
    return s;
  }

  private secureServer(): http2.Http2SecureServer | tls.Server | undefined {
    if (this.secure) return this.secure;
    const t = this.fc.transportSocket!;
    const d = this.deps.tls.downstream(t);
    if (!d) return undefined;
    this.tlsKey = d.key;
    if (this.tcp && !t.requireClientCertificate) {
      const s = loadTls().createServer({ ...d.options, ALPNProtocols: t.alpnProtocols }, (sock) => this.tcp!.handle(sock));
      s.on('tlsClientError', () => {});
      s.prependListener('secureConnection', adoptOriginalDst);
      this.secure = s;
      return s;
    }
    if (t.requireClientCertificate) {
      // mTLS: the identity module's terminator verifies chain AND SPIFFE identity per handshake;
      // accepted sockets carry the peer's ID to RBAC and telemetry.
      const verifier = new PeerIdentityVerifier({ allowedTrustDomains: [this.deps.node.trustDomain], matchSubjectAltNames: t.matchSubjectAltNames });
      const { requestCert: _r, rejectUnauthorized: _u, ...options } = d.options;
      const term = createInboundTerminator({
        tls: options,
        verifier,
        alpnProtocols: this.tcp ? t.alpnProtocols : t.alpnProtocols.length ? t.alpnProtocols : ['h2', 'http/1.1'],
        onSecure: (sock, id) => {
          setPeerPrincipal(sock, id);
          adoptOriginalDst(sock);
          if (this.tcp) this.tcp.handle(sock);
          else if (sock.alpnProtocol === 'h2') {
            // The session is created (and 'session' emitted) synchronously: it takes the peer's ID.
            this.sessionPrincipal = id;
            this.sessionSock = sock;
            this.h2cServer().emit('connection', sock);
            this.sessionPrincipal = undefined;
            this.sessionSock = undefined;
          }
          else this.serveH1(sock);
        },
      });
      this.secure = term;
      return term;
    }
    const hcm = this.http!.hcm;
    const allowHTTP1 = hcm.codecType !== 'HTTP2';
    const s = loadHttp2().createSecureServer(
      { ...h2Options(hcm), ...d.options, allowHTTP1, ALPNProtocols: t.alpnProtocols, maxHeaderSize: hcm.limits.maxRequestHeadersKb * 1024 } as http2.SecureServerOptions,
      this.http!.handle,
    );
    // The request listener serves HTTP/1.1 (allowHTTP1); HTTP/2 streams take the core API instead of the
    // compatibility layer that listener installed.
    s.removeAllListeners('stream');
    s.on('stream', this.onStream);
    this.trackSessions(s);
    s.on('tlsClientError', () => {});
    s.prependListener('secureConnection', adoptOriginalDst);
    if (allowHTTP1) {
      // HTTP/1.1 over this TLS server gets the same limits as the plaintext one (keep-alive idle
      // timeout, header/request timeouts, header count); Node leaves keepAliveTimeout unset here.
      const h1 = s as unknown as http.Server;
      applyH1Limits(h1, hcm.limits);
      (h1 as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = sweepInterval(hcm.limits);
      h1.on('clientError', onClientError);
      this.secureH1 = true;
      s.emit('listening'); // starts the HTTP/1.1 connection tracking the timeouts rely on (see h1Server)
    }
    this.secure = s;
    return s;
  }

  private trackSessions(s: http2.Http2Server | http2.Http2SecureServer): void {
    s.on('session', (session: http2.ServerHttp2Session) => {
      this.sessions.add(session);
      // Requests read their peer from session.socket, a proxy object Node caches per session (not the
      // TLS socket the terminator recorded): record the ID under that object too.
      if (this.sessionPrincipal !== undefined) setPeerPrincipal(session.socket as Socket, this.sessionPrincipal);
      manageSession(session, this.http?.hcm.limits.idleTimeout ?? 0, this.sessionSock);
      session.on('close', () => this.sessions.delete(session));
      session.on('error', () => {});
    });
  }

  /** An HTTP/2 stream (node:http2 core 'stream' event) into the HTTP chain. */
  private readonly onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, raw: string[]): void => {
    // node:http2 emits 'stream' from process.nextTick: a RST_STREAM read together with the HEADERS
    // (a client cancelling at once), or a protocol error that killed the session, has closed or
    // destroyed the stream, and detached its session, by then. Its 'error' (if it was destroyed with
    // one) is still to be emitted, on a later tick: without a listener it would be uncaught and take
    // the process down.
    const session = stream.session as http2.ServerHttp2Session | undefined;
    if (session === undefined || stream.destroyed || stream.closed) return void stream.on('error', ignoreError);
    serveStream(this.http!.handle as unknown as H2Handle, sessionSocket(session), stream, headers, flags, raw);
  };

  /** Graceful: close idle HTTP/1.1 keep-alives; HTTP/2 sessions get GOAWAY, then close after a grace period. */
  drain(): void {
    for (const c of this.h1conns) c.drain();
    for (const s of this.sessions) closeGracefully(s);
    const secure = this.secure as (http2.Http2SecureServer & { closeIdleConnections?: () => void }) | undefined;
    secure?.closeIdleConnections?.();
  }

  /** Hard stop: everything still open is closed. */
  destroy(): void {
    for (const c of this.h1conns) c.close();
    for (const s of this.sessions) s.destroy();
  }

  servers(): AnyServer[] {
    return [this.h2c, this.secure].filter((x): x is NonNullable<typeof x> => x !== undefined);
  }
}

function ignoreError(): void {}

/** A TLS server's socket wraps the accepted net.Socket (`_parent`): copied before any request is read. */
function adoptOriginalDst(sock: tls.TLSSocket): void {
  copyOriginalDst((sock as unknown as { _parent?: object | null })._parent, sock);
}


/** Node enforces header/request timeouts on a periodic sweep; sweep often enough for the configured limits. */
function sweepInterval(l: HttpLimits): number {
  return Math.max(100, Math.min(30_000, (l.requestHeadersTimeout || l.requestTimeout || 60_000) / 2));
}

function applyH1Limits(s: http.Server, l: HttpLimits): void {
  // Node truncates beyond maxHeadersCount; one extra lets the chain see the overflow and answer 431.
  s.maxHeadersCount = l.maxHeadersCount + 1;
  s.requestTimeout = l.requestTimeout;
  s.headersTimeout = l.requestHeadersTimeout || (l.requestTimeout ? Math.min(60_000, l.requestTimeout) : 60_000);
  s.keepAliveTimeout = l.idleTimeout;
  s.timeout = 0;
}

function h2Options(hcm: HttpConnectionManager): http2.ServerOptions {
  const l = hcm.limits;
  return {
    settings: { maxConcurrentStreams: l.http2MaxConcurrentStreams, maxHeaderListSize: l.maxRequestHeadersKb * 1024 },
    maxHeaderListPairs: l.maxHeadersCount + 8,
    maxSessionMemory: 64,
  };
}

const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-tsmesh-error: MESH_BAD_REQUEST\r\nconnection: close\r\n\r\n';
const TOO_LARGE = 'HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nx-tsmesh-error: MESH_HEADERS_TOO_LARGE\r\nconnection: close\r\n\r\n';

const TIMED_OUT = 'HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nx-tsmesh-error: MESH_REQUEST_HEADERS_TIMEOUT\r\nconnection: close\r\n\r\n';

function onClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable || (socket as Socket).bytesWritten > 0 || err.code === 'ECONNRESET') return void socket.destroy();
  socket.end(err.code === 'HPE_HEADER_OVERFLOW' ? TOO_LARGE : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? TIMED_OUT : BAD_REQUEST);
}
