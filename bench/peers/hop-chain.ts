// The one- and two-hop topologies shared by the nginx and HAProxy peers:
// client → [hop] → upstream, or client → client-hop → (mTLS) → server-hop → upstream.
import { freePort } from '../lib/ports.js';
import { stopProcess, type Started } from '../lib/processes.js';
import type { BenchEnv, RunningTarget } from './types.js';

/** One proxy process of a chain, as each peer's config writer needs it. */
export interface Hop {
  name: string;
  listenPort: number;
  h2Port?: number;
  listenTls?: boolean;
  nextPort: number;
  nextTls?: boolean;
  /** gRPC path: the listener speaks h2c (h2 over the mTLS hop) and the hop proxies HTTP/2 to the next one. */
  grpc?: boolean;
}

export async function startHopChain(
  env: BenchEnv,
  startHop: (env: BenchEnv, hop: Hop) => Promise<Started>,
  hops: 1 | 2,
  mtls: boolean,
  id: string,
  grpc = false,
): Promise<RunningTarget> {
  const entry = await freePort();
  // gRPC chains listen h2c on the entry port itself; HTTP chains add an h2c port beside HTTP/1.1.
  const h2Port = grpc ? undefined : await freePort();
  const upstreamPort = grpc ? env.grpcUpstreamPort : env.upstreamPort;
  if (upstreamPort === undefined) throw new Error('no gRPC upstream running');
  const started: Started[] = [];
  if (hops === 1) {
    started.push(await startHop(env, { name: id, listenPort: entry, ...(h2Port ? { h2Port } : {}), nextPort: upstreamPort, grpc }));
  } else {
    const inner = await freePort();
    started.push(await startHop(env, { name: `${id}-server`, listenPort: inner, listenTls: mtls, nextPort: upstreamPort, grpc }));
    started.push(await startHop(env, { name: `${id}-client`, listenPort: entry, ...(h2Port ? { h2Port } : {}), nextPort: inner, nextTls: mtls, grpc }));
  }
  return {
    port: entry,
    ...(h2Port ? { h2Port } : {}),
    proxyPids: started.map((s) => s.pid),
    stop: async () => {
      await Promise.all(started.map((s) => stopProcess(s.child)));
    },
  };
}
