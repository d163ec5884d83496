// The pod-facing readiness port (Istio's :15021): only GET /ready and
// /healthz/ready, on all interfaces, so kubelet can probe while the full
// admin API stays on 127.0.0.1.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MeshError } from '../../common/errors.js';
import type { AdminSource } from './types.js';

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export function readyText(source: Pick<AdminSource, 'ready' | 'state'>): { status: number; body: string } {
  const ready = source.ready();
  const state = source.state?.() ?? (ready ? 'LIVE' : 'NOT_READY');
  return { status: ready && state === 'LIVE' ? 200 : 503, body: `${state === 'LIVE' && !ready ? 'NOT_READY' : state}\n` };
}

export function startHealthServer(host: string, port: number, source: Pick<AdminSource, 'ready' | 'state'>): Promise<HealthServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const ok = req.method === 'GET' && (path === '/ready' || path === '/healthz/ready');
    const { status, body } = ok ? readyText(source) : { status: 404, body: 'not found\n' };
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.headersTimeout = 5_000;
  server.requestTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once('error', (err) =>
      reject(new MeshError('MESH_ADMIN_BIND', `health listener cannot bind ${host}:${port}: ${err.message}`, { cause: err })),
    );
    server.listen(port, host, () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
      }),
    );
  });
}
