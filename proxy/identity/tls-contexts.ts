// Node SecureContexts built once per certificate/trust-bundle version and
// swapped atomically: new connections use the new material, open ones keep
// theirs (hot swap without dropping connections).
import tls from 'node:tls';
import { createHash } from 'node:crypto';
import type { TlsParams } from '../config/resources.js';

export interface TlsMaterial {
  certChainPem: string;
  privateKeyPem: string;
  trustBundlePem: string;
}

export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

const DEFAULT_PARAMS: TlsParams = { minVersion: 'TLSv1.2' };

function build(m: TlsMaterial, params: TlsParams): tls.SecureContext {
  return tls.createSecureContext({
    cert: m.certChainPem,
    key: m.privateKeyPem,
    ca: m.trustBundlePem,
    minVersion: params.minVersion === 'TLSv1.3' ? 'TLSv1.3' : 'TLSv1.2',
    // Required for session resumption when client certificates are requested.
    sessionIdContext: 'tsmesh',
  });
}

/** Holds the workload's current TLS material and its compiled contexts. */
export class TlsContextProvider {
  private ctx: tls.SecureContext | undefined;
  private mat: TlsMaterial | undefined;
  private ver = 0;
  private fp = '';

  constructor(private readonly params: TlsParams = DEFAULT_PARAMS) {}

  /** Replaces the material; a no-op when it is byte-identical. Throws (keeping the old one) if Node rejects it. */
  update(m: TlsMaterial): boolean {
    const fp = createHash('sha256').update(m.certChainPem).update('\0').update(m.trustBundlePem).update('\0').update(m.privateKeyPem).digest('hex');
    if (fp === this.fp) return false;
    const ctx = build(m, this.params);
    this.ctx = ctx;
    this.mat = m;
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
   * Options for `new tls.TLSSocket(raw, opts)` on an inbound connection the
   * listener detected as TLS. STRICT and PERMISSIVE both demand a verified
   * client certificate on the TLS path; PERMISSIVE additionally lets plaintext
   * through on the raw path (see permissive.ts).
   */
  serverSocketOptions(alpnProtocols?: string[]): tls.TLSSocketOptions {
    return {
      isServer: true,
      secureContext: this.secureContext,
      requestCert: true,
      rejectUnauthorized: true,
      ...(alpnProtocols?.length ? { ALPNProtocols: alpnProtocols } : {}),
    };
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

/** Client-side TLS sessions per upstream (address + expected identity), bounded. */
export class TlsSessionCache {
  private readonly map = new Map<string, { ver: number; session: Buffer }>();
  constructor(private readonly max = 1024) {}

  get(key: string, ver: number): Buffer | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.ver !== ver) {
      this.map.delete(key);
      return undefined;
    }
    return e.session;
  }

  /** Call on the client TLSSocket right after connect: remembers every session ticket it receives. */
  track(socket: tls.TLSSocket, key: string, ver: number): void {
    socket.on('session', (session: Buffer) => {
      if (this.map.size >= this.max && !this.map.has(key)) this.map.delete(this.map.keys().next().value!);
      this.map.set(key, { ver, session });
    });
  }

  get size(): number {
    return this.map.size;
  }
}

export { build as buildSecureContext };
