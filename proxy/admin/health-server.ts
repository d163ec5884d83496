// The pod-facing readiness port (Istio's :15021): only GET /ready,
// /healthz/ready and the app's rewritten probes (/app-health/<container>/…),
// on all interfaces, so kubelet can probe while the full admin API stays on
// 127.0.0.1.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MeshError } from '../../common/errors.js';
import type { AdminSource } from './types.js';
import { runAppProbe, type AppProber } from './app-probes.js';

/** Probes of the app in flight at once; more are answered 503 (the port is reachable from the network). */
const MAX_APP_PROBES_IN_FLIGHT = 16;

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export function readyText(source: Pick<AdminSource, 'ready' | 'state'>): { status: number; body: string } {
  const ready = source.ready();
  const state = source.state?.() ?? (ready ? 'LIVE' : 'NOT_READY');
  return { status: ready && state === 'LIVE' ? 200 : 503, body: `${state === 'LIVE' && !ready ? 'NOT_READY' : state}\n` };
}

export interface AppProbes {
  probers: ReadonlyMap<string, AppProber>;
  /** Where the app is probed when a probe names no host. */
  defaultHost: string;
}

export function startHealthServer(host: string, port: number, source: Pick<AdminSource, 'ready' | 'state'>, app?: AppProbes): Promise<HealthServer> {
  let inFlight = 0;
  const server = createServer((req, res) => {
    const send = ({ status, body }: { status: number; body: string }) => {
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    const path = (req.url ?? '').split('?')[0]!;
    if (req.method !== 'GET') return send({ status: 404, body: 'not found\n' });
    if (path === '/ready' || path === '/healthz/ready') return send(readyText(source));
    const prober = app?.probers.get(path);
    if (!prober) return send({ status: 404, body: 'not found\n' });
    if (inFlight >= MAX_APP_PROBES_IN_FLIGHT) return send({ status: 503, body: 'too many probes in flight\n' });
    inFlight++;
    void runAppProbe(prober, app!.defaultHost).then((r) => {
      inFlight--;
      send(r);
    });
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
