// One undici dispatcher per (endpoint, protocol, TLS settings), created once
// and reused across configuration swaps while a cluster still uses it.
// HTTP/1.1 endpoints get a keep-alive Pool; HTTP/2 endpoints a single
// multiplexed Client (h2c with prior knowledge, or ALPN h2 over TLS).

import { Client, buildConnector, type Dispatcher } from 'undici';
import { H1Pool } from '../h1/h1-pool.js';
import type { SecureContext, TLSSocket } from 'node:tls';
import type { PeerIdentityVerifier } from '../identity/peer-identity.js';
import type { Cluster, SocketAddress } from '../config/resources.js';

export interface PoolSettings {
  protocol: 'http1' | 'http2';
  connectTimeout: number;
  idleTimeout: number;
  maxConnections: number;
  maxRequestsPerConnection: number | undefined;
  /** Present when the cluster originates TLS. */
  tls?: {
    secureContext: SecureContext;
    servername?: string;
    alpn: string[];
    key: string;
    /** Checks the server's SPIFFE ID after Node verified its chain (UpstreamTlsContext.matchSubjectAltNames). */
    verifier?: PeerIdentityVerifier;
  };
}

export function poolSettings(c: Cluster, breaker: CircuitBreaker, protocol: 'http1' | 'http2', tls?: PoolSettings['tls']): PoolSettings {
  return {
    breaker,
    protocol,
    connectTimeout: c.connectTimeout,
    idleTimeout: c.idleTimeout,
    maxConnections: c.circuitBreakers.maxConnections,
    maxRequestsPerConnection: c.maxRequestsPerConnection,
    ...(tls ? { tls } : {}),
  };
}

function poolKey(addr: SocketAddress, s: PoolSettings): string {
  return `${s.breaker.cluster}|${s.protocol}|${addr.address}:${addr.port}|${s.connectTimeout}|${s.idleTimeout}|${s.maxConnections}|${s.maxRequestsPerConnection ?? ''}|${s.tls?.key ?? ''}`;
}

export class EndpointPools {
  private pools = new Map<string, Dispatcher>();

  /** The dispatcher for an endpoint, created on first use. */
  get(addr: SocketAddress, s: PoolSettings): { key: string; dispatcher: Dispatcher } {
    const key = poolKey(addr, s);
    let d = this.pools.get(key);
    if (!d) {
      d = create(addr, s);
      this.pools.set(key, d);
    }
    return { key, dispatcher: d };
  }

  /** Close dispatchers no longer referenced by the active configuration (in-flight requests finish first). */
  retain(keys: ReadonlySet<string>): void {
    for (const [k, d] of this.pools) {
      if (keys.has(k)) continue;
      this.pools.delete(k);
      d.close().catch(() => {});
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((d) => d.close().catch(() => {})));
  }

  async destroyAll(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((d) => d.destroy().catch(() => {})));
  }
}

/**
 * Mesh TLS to an endpoint: the chain is verified against the trust bundle by
 * Node; the identity is the SPIFFE URI SAN (not a DNS name), checked by the
 * identity module's verifier before the connection is used.
 */
function tlsConnector(timeout: number, t: NonNullable<PoolSettings['tls']>): buildConnector.connector {
  const base = buildConnector({
    timeout,
    secureContext: t.secureContext,
    ALPNProtocols: t.alpn,
    rejectUnauthorized: true,
    checkServerIdentity: () => undefined,
    ...(t.servername ? { servername: t.servername } : {}),
  } as buildConnector.BuildOptions);
  const verifier = t.verifier;
  if (!verifier) return base;
  // Resumed sessions carry no peer certificate in Node. This connector's session cache only holds
  // sessions from its own full handshakes with this endpoint, each verified here: a resumption
  // proves the same server, so it gets the identity that handshake verified.
  let verified: string | undefined;
  return (opts, cb) =>
    base(opts, (err, socket) => {
      if (err || !socket) return cb(err ?? new Error('no socket'), null);
      const r = verifier.verify(socket as TLSSocket, verified);
      if (r.ok) {
        verified = r.spiffeId;
        return cb(null, socket);
      }
      socket.destroy();
      cb(Object.assign(new Error(`upstream identity refused: ${r.reason}`), { code: 'MESH_UPSTREAM_IDENTITY' }), null);
    });
}

function create(addr: SocketAddress, s: PoolSettings): Dispatcher {
  const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  const origin = `${s.tls ? 'https' : 'http'}://${host}:${addr.port}`;
  const connect = s.tls ? tlsConnector(s.connectTimeout, s.tls) : { timeout: s.connectTimeout };
  const common = {
    connect,
    keepAliveTimeout: Math.min(s.idleTimeout || 4_000, 600_000),
    keepAliveMaxTimeout: Math.max(s.idleTimeout, 1_000),
    headersTimeout: 0,
    bodyTimeout: 0,
    ...(s.maxRequestsPerConnection ? { maxRequestsPerClient: s.maxRequestsPerConnection } : {}),
  };
  if (s.protocol === 'http2') {
    // One multiplexed connection; pipelining is the number of concurrent streams undici sends on it.
    // useH2c (undici ≥ 7.9) is missing from undici's type definitions.
    return new Client(origin, { ...common, allowH2: true, useH2c: !s.tls, pipelining: 100 } as Client.Options);
  }
  // HTTP/1.1: the proxy's own keep-alive pool on llhttp (proxy/h1/h1-pool.ts), the hot path's half.
  return new H1Pool({
    connect: typeof connect === 'function' ? connect : buildConnector(connect),
    hostname: addr.address,
    port: addr.port,
    protocol: s.tls ? 'https:' : 'http:',
    ...(s.tls?.servername ? { servername: s.tls.servername } : {}),
    maxConnections: s.maxConnections,
    keepAliveTimeout: common.keepAliveTimeout,
    maxRequestsPerConnection: s.maxRequestsPerConnection ?? 0,
  }) as unknown as Dispatcher;
}
