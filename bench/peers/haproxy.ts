// HAProxy as the peer sidecar: one thread, connection reuse to the next hop
// (`http-reuse always`), maxconn 4000 (higher needs a raised fd limit). Two
// hops are two HAProxy processes, the second optionally terminating mTLS.
import fs from 'node:fs';
import path from 'node:path';
import { waitForPort } from '../lib/ports.js';
import { startProcess, stopProcess, type Started } from '../lib/processes.js';
import type { BenchEnv, RunningTarget } from './types.js';
import { startHopChain, type Hop } from './hop-chain.js';


function hopConfig(env: BenchEnv, hop: Hop): string {
  const c = env.certs;
  // gRPC: HTTP/2 end to end (h2c, or ALPN h2 on the mTLS hop).
  const h2Bind = hop.grpc ? (hop.listenTls ? ' alpn h2' : ' proto h2') : '';
  const h2Server = hop.grpc ? (hop.nextTls ? ' alpn h2' : ' proto h2') : '';
  const bindTls = (hop.listenTls && c ? ` ssl crt ${c.serverPem} ca-file ${c.ca} verify required` : '') + h2Bind;
  const serverTls =
    (hop.nextTls && c ? ` ssl crt ${c.clientPem} ca-file ${c.ca} verify required verifyhost ${c.serverName} sni str(${c.serverName})` : '') + h2Server;
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

export function startHaproxy(env: BenchEnv, hops: 1 | 2, mtls: boolean, id: string, grpc = false): Promise<RunningTarget> {
  return startHopChain(env, startHop, hops, mtls, id, grpc);
}
