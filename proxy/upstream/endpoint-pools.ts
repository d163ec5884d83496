// One dispatcher per (cluster, endpoint, protocol, TLS settings), created
// once and reused across configuration swaps while the cluster still uses
// it. HTTP/1.1 endpoints get a keep-alive pool; HTTP/2 endpoints an H2Client
// (one multiplexed session at a time; h2c with prior knowledge, or ALPN h2
// over TLS). Each sits behind a CountedEndpoint: the cluster's circuit
// breaker counts its connections and the requests waiting for one.

import type { buildConnector } from 'undici';
import { H1Pool } from '../h1/h1-pool.js';
import type { SecureContext, TLSSocket } from 'node:tls';
import type { UpstreamVerifier } from '../identity/dns-name-verifier.js';
import type { Cluster, SocketAddress } from '../config/resources.js';
import type { CircuitBreaker } from '../resilience/circuit-breaker.js';
import { CountedEndpoint } from './counted-endpoint.js';
import { H2Client, h1FallbackClient } from './h2-client.js';
import { socketConnector } from './socket-connector.js';

export interface PoolSettings {
  /** The cluster's breaker (one per cluster name across swaps). */
  breaker: CircuitBreaker;
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
    verifier?: UpstreamVerifier;
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
  private pools = new Map<string, CountedEndpoint>();

  /** The dispatcher for an endpoint, created on first use. */
  get(addr: SocketAddress, s: PoolSettings): { key: string; dispatcher: CountedEndpoint } {
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
 * Mesh TLS to an endpoint (HTTP pools here, the TCP proxy's connections too): the chain is verified against the trust bundle by
 * Node; the identity is the SPIFFE URI SAN (not a DNS name), checked by the
 * identity module's verifier before the connection is used.
 */
export function tlsConnector(
  timeout: number,
  t: NonNullable<PoolSettings['tls']>,
  alpn: string[],
  onVerified?: (spiffeId: string) => void,
): buildConnector.connector {
  const verifier = t.verifier;
  // Resumed sessions carry no peer certificate in Node. The connector resumes only with tickets from
  // this endpoint's accepted connections, each verified here: a resumption proves the same server,
  // so it gets the identity that handshake verified.
  let verified: string | undefined;
  return socketConnector(timeout, {
    secureContext: t.secureContext,
    alpn,
    ...(t.servername ? { servername: t.servername } : {}),
    ...(verifier
      ? {
          verify: (socket: TLSSocket) => {
            const r = verifier.verify(socket, verified);
            if (!r.ok) return r.reason;
            // A server outside the mesh has no SPIFFE ID: no principal for telemetry.
            if (r.spiffeId !== undefined) {
              verified = r.spiffeId;
              onVerified?.(r.spiffeId);
            }
            return undefined;
          },
        }
      : {}),
  });
}

function create(addr: SocketAddress, s: PoolSettings): CountedEndpoint {
  const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  const origin = `${s.tls ? 'https' : 'http'}://${host}:${addr.port}`;
  const endpoint = new CountedEndpoint(s.breaker, s.protocol === 'http2');
  // An HTTP/2 pool asks for h2 when the cluster allows it; an HTTP/1.1 pool offers only http/1.1 (it
  // cannot speak h2 if the server picked it). The order is undici's (allowH2), which this replaced.
  const alpn = s.protocol === 'http2' && s.tls?.alpn.includes('h2') ? ['http/1.1', 'h2'] : ['http/1.1'];
  const connect = endpoint.connector(
    s.tls ? tlsConnector(s.connectTimeout, s.tls, alpn, (id) => (endpoint.peerPrincipal = id)) : socketConnector(s.connectTimeout),
  );
  if (s.protocol === 'http2') {
    endpoint.inner = new H2Client(origin, {
      connect,
      idleTimeout: s.idleTimeout,
      maxRequestsPerConnection: s.maxRequestsPerConnection,
      h1Fallback: h1FallbackClient(origin, connect, s.idleTimeout),
    });
    return endpoint;
  }
  // HTTP/1.1: the proxy's own keep-alive pool on llhttp (proxy/h1/h1-pool.ts), the hot path's half.
  endpoint.inner = new H1Pool({
    connect,
    hostname: addr.address,
    port: addr.port,
    protocol: s.tls ? 'https:' : 'http:',
    ...(s.tls?.servername ? { servername: s.tls.servername } : {}),
    // Per endpoint at most the cluster's limit; the cluster-wide count is the connector's.
    maxConnections: s.maxConnections,
    keepAliveTimeout: Math.min(s.idleTimeout || 4_000, 600_000),
    maxRequestsPerConnection: s.maxRequestsPerConnection ?? 0,
  }) as unknown as CountedEndpoint['inner'];
  return endpoint;
}
