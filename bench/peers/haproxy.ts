// HAProxy as the peer sidecar: one thread, connection reuse to the next hop
// (`http-reuse always`), maxconn 4000 (higher needs a raised fd limit). Two
// hops are two HAProxy processes, the second optionally terminating mTLS.
import fs from 'node:fs';
import path from 'node:path';
import { freePort, waitForPort } from '../lib/ports.js';
import { startProcess, stopProcess, type Started } from '../lib/processes.js';
import type { BenchEnv, RunningTarget } from './types.js';

interface Hop {
  name: string;
  listenPort: number;
  h2Port?: number;
  listenTls?: boolean;
  nextPort: number;
  nextTls?: boolean;
}

function hopConfig(env: BenchEnv, hop: Hop): string {
  const c = env.certs;
  const bindTls = hop.listenTls && c ? ` ssl crt ${c.serverPem} ca-file ${c.ca} verify required` : '';
  const serverTls =
    hop.nextTls && c ? ` ssl crt ${c.clientPem} ca-file ${c.ca} verify required verifyhost ${c.serverName} sni str(${c.serverName})` : '';
  const h2 = hop.h2Port ? `\n  bind 127.0.0.1:${hop.h2Port} proto h2` : '';
  return `global
  nbthread 1
  maxconn 4000
  log stderr format raw local0 warning
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
  http-reuse always
frontend fe
  bind 127.0.0.1:${hop.listenPort}${bindTls}${h2}
  default_backend be
backend be
  server next 127.0.0.1:${hop.nextPort}${serverTls}
`;
}

async function startHop(env: BenchEnv, hop: Hop): Promise<Started> {
  const file = path.join(env.dir, `${hop.name}.cfg`);
  fs.writeFileSync(file, hopConfig(env, hop));
  const p = startProcess([env.tools.haproxy!, '-db', '-f', file], env.proxyCore);
  try {
    await waitForPort(hop.listenPort);
  } catch (e) {
    await stopProcess(p.child);
    throw new Error(`haproxy ${hop.name} did not start: ${p.stderr()}`, { cause: e });
  }
  return p;
}

export async function startHaproxy(env: BenchEnv, hops: 1 | 2, mtls: boolean, id: string): Promise<RunningTarget> {
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
