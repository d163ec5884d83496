// One undici dispatcher per (endpoint, protocol, TLS settings), created once
// and reused across configuration swaps while a cluster still uses it.
// HTTP/1.1 endpoints get a keep-alive Pool; HTTP/2 endpoints a single
// multiplexed Client (h2c with prior knowledge, or ALPN h2 over TLS).

import { Client, Pool, type Dispatcher } from 'undici';
import type { SecureContext } from 'node:tls';
import type { Cluster, SocketAddress } from '../config/resources.js';

export interface PoolSettings {
  protocol: 'http1' | 'http2';
  connectTimeout: number;
  idleTimeout: number;
  maxConnections: number;
  maxRequestsPerConnection: number | undefined;
  /** Present when the cluster originates TLS. */
  tls?: { secureContext: SecureContext; servername?: string; alpn: string[]; key: string };
}

export function poolSettings(c: Cluster, protocol: 'http1' | 'http2', tls?: PoolSettings['tls']): PoolSettings {
  return {
    protocol,
    connectTimeout: c.connectTimeout,
    idleTimeout: c.idleTimeout,
    maxConnections: c.circuitBreakers.maxConnections,
    maxRequestsPerConnection: c.maxRequestsPerConnection,
    ...(tls ? { tls } : {}),
  };
}

function poolKey(addr: SocketAddress, s: PoolSettings): string {
  return `${s.protocol}|${addr.address}:${addr.port}|${s.connectTimeout}|${s.idleTimeout}|${s.maxConnections}|${s.maxRequestsPerConnection ?? ''}|${s.tls?.key ?? ''}`;
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

function create(addr: SocketAddress, s: PoolSettings): Dispatcher {
  const host = addr.address.includes(':') ? `[${addr.address}]` : addr.address;
  const origin = `${s.tls ? 'https' : 'http'}://${host}:${addr.port}`;
  const connect = {
    timeout: s.connectTimeout,
    ...(s.tls ? { secureContext: s.tls.secureContext, servername: s.tls.servername, ALPNProtocols: s.tls.alpn, rejectUnauthorized: true } : {}),
  };
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
  return new Pool(origin, { ...common, connections: s.maxConnections, pipelining: 1 });
}
