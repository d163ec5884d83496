// nginx as the peer sidecar: one worker, a keep-alive upstream pool, HTTP/1.1
// to the next hop. Two hops are two nginx instances (client side → server
// side), the second optionally terminating mTLS the way a mesh hop does.
import fs from 'node:fs';
import path from 'node:path';
import { waitForPort } from '../lib/ports.js';
import { startProcess, stopProcess, type Started } from '../lib/processes.js';
import { nginxMain } from './upstream.js';
import type { BenchEnv, RunningTarget } from './types.js';
import { startHopChain, type Hop } from './hop-chain.js';

/** A hop's mTLS listener: its certificate, client certificates required (the rest of the listen line comes before). */
function serverTls(c: NonNullable<BenchEnv['certs']>): string {
  return `
    ssl_certificate ${c.serverCert};
    ssl_certificate_key ${c.serverKey};
    ssl_client_certificate ${c.ca};
    ssl_verify_client on;
    ssl_session_cache shared:SSL:1m`;
}

/** mTLS to the next hop, for the proxy_ (HTTP) or grpc_ module. */
function upstreamTls(c: NonNullable<BenchEnv['certs']>, module: 'proxy' | 'grpc'): string {
  return `
      ${module}_ssl_certificate ${c.clientCert};
      ${module}_ssl_certificate_key ${c.clientKey};
      ${module}_ssl_trusted_certificate ${c.ca};
      ${module}_ssl_verify on;
      ${module}_ssl_name ${c.serverName};
      ${module}_ssl_server_name on;
      ${module}_ssl_session_reuse on;`;
}

/** gRPC hop: h2c listener (h2 over mTLS), `grpc_pass` over a keep-alive pool (grpcs with the same client certificate checks). */
function grpcHopConfig(env: BenchEnv, hop: Hop): string {
  const c = env.certs;
  const tlsListen = hop.listenTls && c ? ` ssl http2;${serverTls(c)}` : ' http2';
  const tlsUp = hop.nextTls && c ? upstreamTls(c, 'grpc') : '';
  return `  upstream next { server 127.0.0.1:${hop.nextPort}; keepalive 64; keepalive_requests 1000000; keepalive_timeout 300s; }
  server {
    listen 127.0.0.1:${hop.listenPort} backlog=4096${tlsListen};
    http2_max_concurrent_streams 1000;
    location / {
      grpc_pass ${hop.nextTls ? 'grpcs' : 'grpc'}://next;${tlsUp}
    }
  }`;
}

function hopConfig(env: BenchEnv, hop: Hop): string {
  if (hop.grpc) return grpcHopConfig(env, hop);
  const c = env.certs;
  const tlsListen = hop.listenTls && c ? ` ssl;${serverTls(c)}` : '';
  const tlsUp = hop.nextTls && c ? upstreamTls(c, 'proxy') : '';
  const h2 = hop.h2Port ? `\n    listen 127.0.0.1:${hop.h2Port} http2;` : '';
  return `  upstream next { server 127.0.0.1:${hop.nextPort}; keepalive 64; keepalive_requests 1000000; keepalive_timeout 300s; }
  server {
    listen 127.0.0.1:${hop.listenPort} backlog=4096${tlsListen};${h2}
    location / {
      proxy_pass ${hop.nextTls ? 'https' : 'http'}://next;
      proxy_http_version 1.1;
      proxy_set_header Connection "";${tlsUp}
    }
  }`;
}

async function startHop(env: BenchEnv, hop: Hop): Promise<Started> {
  const file = path.join(env.dir, `${hop.name}.conf`);
  fs.writeFileSync(file, nginxMain(env.dir, hop.name, hopConfig(env, hop)));
  const p = startProcess([env.tools.nginx!, '-c', file, '-p', env.dir], env.proxyCore);
  try {
    await waitForPort(hop.listenPort);
  } catch (e) {
    await stopProcess(p.child);
    throw new Error(`nginx ${hop.name} did not start: ${p.stderr()}`, { cause: e });
  }
  return p;
}

export function startNginx(env: BenchEnv, hops: 1 | 2, mtls: boolean, id: string, grpc = false): Promise<RunningTarget> {
  return startHopChain(env, startHop, hops, mtls, id, grpc);
}
