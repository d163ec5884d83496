// The pod-facing Prometheus port (Istio's :15090, Envoy's prometheus_stats
// listener): only GET /stats/prometheus, on all interfaces, so Prometheus and
// the control plane's canary analysis can scrape a sidecar in another pod
// while the full admin API stays on 127.0.0.1.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { MeshError } from '../../common/errors.js';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

export function startMetricsServer(host: string, port: number, registry: Registry): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/stats/prometheus') {
      res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 10 });
      return void res.end('not found\n');
    }
    registry.metrics().then(
      (body) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      (err: Error) => {
        const msg = `metrics unavailable: ${err.message}\n`;
        res.writeHead(500, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(msg) });
        res.end(msg);
      },
    );
  });
  // Scrapers send one small request; a slow or silent client is cut off.
  server.headersTimeout = 5_000;
  server.requestTimeout = 10_000;
  server.maxHeadersCount = 50;
  return new Promise((resolve, reject) => {
    server.once('error', (err) =>
      reject(new MeshError('MESH_ADMIN_BIND', `metrics listener cannot bind ${host}:${port}: ${err.message}`, { cause: err })),
    );
    server.listen(port, host, () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
      }),
    );
  });
}
