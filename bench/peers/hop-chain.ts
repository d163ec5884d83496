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
}

export async function startHopChain(
  env: BenchEnv,
  startHop: (env: BenchEnv, hop: Hop) => Promise<Started>,
  hops: 1 | 2,
  mtls: boolean,
  id: string,
): Promise<RunningTarget> {
  const entry = await freePort();
  const h2Port = await freePort();
  const started: Started[] = [];
  if (hops === 1) {
    started.push(await startHop(env, { name: id, listenPort: entry, h2Port, nextPort: env.upstreamPort }));
  } else {
    const inner = await freePort();
    started.push(await startHop(env, { name: `${id}-server`, listenPort: inner, listenTls: mtls, nextPort: env.upstreamPort }));
    started.push(await startHop(env, { name: `${id}-client`, listenPort: entry, h2Port, nextPort: inner, nextTls: mtls }));
  }
  return {
    port: entry,
    h2Port,
    proxyPids: started.map((s) => s.pid),
    stop: async () => {
      await Promise.all(started.map((s) => stopProcess(s.child)));
    },
  };
}
