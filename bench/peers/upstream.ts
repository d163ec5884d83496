// The upstream every path ends at: returns a fixed 1 KiB body. nginx serving a
// `return 200` from memory is used when installed: it costs ~15–25 µs of CPU
// per request, several times less than a Node http server, so the upstream is
// never what limits a path (it also runs on the client core, away from the
// proxies). Without nginx, a Node http server stands in, and the run says so.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, waitForPort } from '../lib/ports.js';
import { startProcess, stopProcess } from '../lib/processes.js';
import { RESPONSE_BODY, type BenchEnv } from './types.js';

export interface Upstream {
  kind: 'nginx' | 'node';
  port: number;
  h2Port?: number;
  pids: number[];
  stop(): Promise<void>;
}

export function nginxCommonHttp(dir: string): string {
  return `access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy_temp;
  fastcgi_temp_path ${dir}/fastcgi_temp;
  uwsgi_temp_path ${dir}/uwsgi_temp;
  scgi_temp_path ${dir}/scgi_temp;
  keepalive_requests 1000000;
  keepalive_timeout 300s;`;
}

export function nginxMain(dir: string, name: string, http: string): string {
  return `worker_processes 1;
daemon off;
master_process on;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}.error.log warn;
events { worker_connections 4096; }
http {
  ${nginxCommonHttp(dir)}
${http}
}
`;
}

export async function startUpstream(env: Pick<BenchEnv, 'dir' | 'tools' | 'clientCore'>): Promise<Upstream> {
  const port = await freePort();
  if (!env.tools.nginx) return startNodeUpstream(port);
  const h2Port = await freePort();
  const name = 'upstream';
  const conf = nginxMain(
    env.dir,
    name,
    `  server {
    listen 127.0.0.1:${port} backlog=4096;
    listen 127.0.0.1:${h2Port} http2;
    location / { default_type text/plain; return 200 '${RESPONSE_BODY}'; }
  }`,
  );
  const file = path.join(env.dir, `${name}.conf`);
  fs.writeFileSync(file, conf);
  const p = startProcess([env.tools.nginx, '-c', file, '-p', env.dir], env.clientCore);
  try {
    await waitForPort(port);
  } catch (e) {
    throw new Error(`upstream nginx did not start: ${p.stderr()}`, { cause: e });
  }
  return { kind: 'nginx', port, h2Port, pids: [p.pid], stop: () => stopProcess(p.child) };
}

async function startNodeUpstream(port: number): Promise<Upstream> {
  const body = Buffer.from(RESPONSE_BODY);
  const server = http.createServer({ keepAliveTimeout: 300_000 }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    kind: 'node',
    port,
    pids: [process.pid],
    stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
