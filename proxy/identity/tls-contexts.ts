// Node SecureContexts built once per certificate/trust-bundle version and
// swapped atomically: new connections use the new material, open ones keep
// theirs (hot swap without dropping connections).
import type * as tls from 'node:tls';
import { tls as loadTls } from '../lazy-builtins.js';
import { createHash } from 'node:crypto';
import type { TlsParams } from '../config/resources.js';
import type { PeerIdentityVerifier } from './peer-identity.js';
import { MESH_CIPHER_OPTIONS } from '../tls/mesh-defaults.js';

export interface TlsMaterial {
  certChainPem: string;
  privateKeyPem: string;
  trustBundlePem: string;
}

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

const DEFAULT_PARAMS: TlsParams = { minVersion: 'TLSv1.2' };

function build(m: TlsMaterial, params: TlsParams): tls.SecureContext {
  return loadTls().createSecureContext(mtlsContextOptions(m, params));
}

/** SecureContext options for mesh mTLS (either side): TLS ≥ 1.2, the trust bundle, a session id context. */
export function mtlsContextOptions(m: TlsMaterial, params: TlsParams = DEFAULT_PARAMS): tls.SecureContextOptions {
  return {
    cert: m.certChainPem,
    key: m.privateKeyPem,
    ca: m.trustBundlePem,
    minVersion: params.minVersion === 'TLSv1.3' ? 'TLSv1.3' : 'TLSv1.2',
    ...MESH_CIPHER_OPTIONS,
    // Required for session resumption when client certificates are requested.
    sessionIdContext: 'tsmesh',
  };
}

export interface InboundTerminatorOptions {
  /** Context options (mtlsContextOptions); later changes via server.setSecureContext(options). */
  tls: tls.SecureContextOptions;
  verifier: PeerIdentityVerifier;
  onSecure: (socket: tls.TLSSocket, spiffeId: string) => void;
  onRefused?: (reason: string) => void;
  alpnProtocols?: string[];
  handshakeTimeoutMs?: number;
}

/**
 * A tls.Server (never listening itself) that terminates inbound mTLS for a
 * listener: the listener hands it each raw connection it detected as TLS
 * with `server.emit('connection', raw)` (bytes already read may be
 * `unshift`ed back first). A bare `new tls.TLSSocket(raw, {isServer:true})`
 * would NOT do: Node only sets `authorized` for sockets a tls.Server creates.
 * Every handshake is checked by `verifier` (chain verified by Node against
 * the trust bundle, then the SPIFFE identity); only accepted sockets reach
 * `onSecure`, with the peer's ID. Refusals (no certificate, unknown root,
 * expired, wrong identity, handshake failure) reach `onRefused` with the
 * reason and the socket is destroyed.
 */
export function createInboundTerminator(opts: InboundTerminatorOptions): tls.Server {
  const server = loadTls().createServer({
    ...opts.tls,
    requestCert: true,
    // Node would drop unverified clients silently; the verifier refuses them with a reason instead.
    rejectUnauthorized: false,
    handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
    ...(opts.alpnProtocols?.length ? { ALPNProtocols: opts.alpnProtocols } : {}),
  });
  const refused = opts.onRefused ?? (() => {});
  server.on('secureConnection', (s: tls.TLSSocket) => {
    const r = opts.verifier.verify(s);
    if (r.ok) opts.onSecure(s, r.spiffeId);
    else {
      refused(r.reason);
      s.destroy();
    }
  });
  server.on('tlsClientError', (err) => refused(`TLS handshake failed: ${err.message}`));
  return server;
}

/** Holds the workload's current TLS material and its compiled contexts. */
export class TlsContextProvider {
  private ctx: tls.SecureContext | undefined;
  private mat: TlsMaterial | undefined;
  private ver = 0;
  private fp = '';
  private readonly servers = new Set<tls.Server>();

  constructor(private readonly params: TlsParams = DEFAULT_PARAMS) {}

  /** Replaces the material; a no-op when it is byte-identical. Throws (keeping the old one) if Node rejects it. */
  update(m: TlsMaterial): boolean {
    const fp = createHash('sha256').update(m.certChainPem).update('\0').update(m.trustBundlePem).update('\0').update(m.privateKeyPem).digest('hex');
    if (fp === this.fp) return false;
    const ctx = build(m, this.params);
    this.ctx = ctx;
    this.mat = m;
    // Existing inbound servers switch for new handshakes; open connections keep theirs.
    for (const srv of this.servers) srv.setSecureContext(this.serverOptions(m));
    this.fp = fp;
    this.ver++;
    return true;
  }

  get ready(): boolean {
    return this.ctx !== undefined;
  }
  /** Bumps on every change; client session caches key on it. */
  get version(): number {
    return this.ver;
  }
  get material(): TlsMaterial | undefined {
    return this.mat;
  }
  get secureContext(): tls.SecureContext {
    if (!this.ctx) throw new Error('no workload certificate yet');
    return this.ctx;
  }

  /**
   * createInboundTerminator with this provider's material; the server
   * follows every update(): new handshakes use the new material, open
   * connections keep theirs.
   */
  createInboundServer(opts: Omit<InboundTerminatorOptions, 'tls'>): tls.Server {
    const m = this.mat;
    if (!m) throw new Error('no workload certificate yet');
    const server = createInboundTerminator({ ...opts, tls: this.serverOptions(m) });
    this.servers.add(server);
    return server;
  }

  /** Stops updating `server` (call when its listener goes away). */
  releaseInboundServer(server: tls.Server): void {
    this.servers.delete(server);
  }

  private serverOptions(m: TlsMaterial): tls.SecureContextOptions {
    return mtlsContextOptions(m, this.params);
  }

  /** Options for `tls.connect` to an upstream sidecar, with session resumption. */
  clientConnectOptions(opts: { sessions: TlsSessionCache; key: string; servername?: string; alpnProtocols?: string[] }): tls.ConnectionOptions {
    const session = opts.sessions.get(opts.key, this.ver);
    return {
      secureContext: this.secureContext,
      rejectUnauthorized: true,
      // Identity is checked against SAN matchers by PeerIdentityVerifier, not by hostname.
      checkServerIdentity: () => undefined,
      ...(opts.servername ? { servername: opts.servername } : {}),
      ...(session ? { session } : {}),
      ...(opts.alpnProtocols?.length ? { ALPNProtocols: opts.alpnProtocols } : {}),
    };
  }
}

/**
 * Client-side TLS sessions per upstream (address + expected identity),
 * bounded. Node gives a resumed client session no peer certificate, so the
 * cache also keeps the identity verified on the full handshake that produced
 * the session; the verifier checks that one on resumption (only the server
 * that holds the ticket key can resume the session).
 */
export class TlsSessionCache {
  private readonly map = new Map<string, { ver: number; session?: Buffer; identity?: string }>();
  constructor(private readonly max = 1024) {}

  /** A session to offer, or undefined (none, or made with older material). */
  get(key: string, ver: number): Buffer | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.ver !== ver) {
      this.map.delete(key);
      return undefined;
    }
    return e.identity ? e.session : undefined;
  }

  private entry(key: string, ver: number): { ver: number; session?: Buffer; identity?: string } {
    let e = this.map.get(key);
    if (!e || e.ver !== ver) {
      if (this.map.size >= this.max && !e) this.map.delete(this.map.keys().next().value!);
      e = { ver };
      this.map.set(key, e);
    }
    return e;
  }

  /** Call on the client TLSSocket right after connect: keeps every session ticket it receives. */
  track(socket: tls.TLSSocket, key: string, ver: number): void {
    socket.on('session', (session: Buffer) => {
      this.entry(key, ver).session = session;
    });
  }

  /** Records the identity verified on a full handshake to `key`. */
  rememberIdentity(key: string, ver: number, spiffeId: string): void {
    this.entry(key, ver).identity = spiffeId;
  }

  identity(key: string): string | undefined {
    return this.map.get(key)?.identity;
  }

  get size(): number {
    return this.map.size;
  }
}

export { build as buildSecureContext };
