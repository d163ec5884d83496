// The sidecar's admin listener (Envoy's admin API, the parts a mesh uses):
// readiness, Prometheus metrics, config dump, cluster state, memory, drain, a
// live request tap and a status page. Loopback by default: it is not meant to be
// reachable from other hosts.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { MeshError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { AdminSource } from './types.js';
import type { HttpRequestRecord } from '../telemetry/types.js';
import { buildConfigDump, isResourceKind, stringifyRedacted } from './config-dump.js';
import { clustersText } from './clusters-view.js';
import { memoryView } from './memory-view.js';
import { TapHub, tapFilterFromQuery } from './tap.js';

export interface AdminTelemetry {
  registry: Registry;
  onRequest?(listener: (r: HttpRequestRecord) => void): () => void;
}

export interface AdminServerOptions {
  /** Default 127.0.0.1:15000 (Envoy's admin port in Istio). */
  address?: { address?: string; port?: number };
  source: AdminSource;
  telemetry?: AdminTelemetry;
  logger?: Logger;
  /** Concurrent /tap streams (default 4). */
  maxTapClients?: number;
  /** Bytes queued for one slow tap client before its records are dropped (default 256 KiB). */
  maxTapQueuedBytes?: number;
}

export interface AdminServer {
  port: number;
  address: string;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 4096;

export const ENDPOINTS: Record<string, string> = {
  'GET /ready': 'LIVE (200) when serving; 503 while starting or draining (also /healthz/ready)',
  'GET /stats/prometheus': 'metrics in the Prometheus text format',
  'GET /config_dump': 'active resources by type with versions (?resource=listener|routeConfiguration|cluster|clusterLoadAssignment|secret)',
  'GET /clusters': 'clusters and endpoint state as JSON (?format=text for Envoy-style lines)',
  'GET /tap': 'live NDJSON stream of requests (?service= &method= &path_prefix= &direction= &limit=)',
  'GET /status': 'node identity and component status',
  'GET /memory': 'process memory as JSON: heap allocated and reserved, RSS and its peak, V8 heap spaces',
  'POST /drain_listeners': 'start a graceful drain',
  'POST /quitquitquit': 'drain, then exit',
};

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const { source } = opts;
  const logger = opts.logger ?? silentLogger;
  const tap = new TapHub(opts.telemetry?.onRequest?.bind(opts.telemetry) ?? source.tap?.bind(source), opts.maxTapClients ?? 4, opts.maxTapQueuedBytes);
  const startedAt = Date.now();
  let draining: Promise<void> | undefined;

  const startDrain = (quit: boolean): void => {
    if (draining) return;
    logger.info(quit ? 'admin: quitquitquit, draining then exiting' : 'admin: drain requested');
    draining = (quit && source.quit ? source.quit() : source.drain()).catch((err: unknown) =>
      logger.error('drain failed', { err }),
    );
  };

  const routes: Partial<Record<string, (url: URL, res: ServerResponse) => void | Promise<void>>> = {
    'GET /ready': (_u, res) => {
      const ready = source.ready();
      const state = source.state?.() ?? 'LIVE';
      // Envoy's words for the state; a source that says LIVE but is not ready yet is NOT_READY.
      text(res, ready && state === 'LIVE' ? 200 : 503, `${state === 'LIVE' && !ready ? 'NOT_READY' : state}\n`);
    },
    // Istio's readiness path (pilot-agent's :15021/healthz/ready), for probes written for Istio.
    'GET /healthz/ready': (u, res) => routes['GET /ready']!(u, res),
    'GET /stats/prometheus': async (_u, res) => {
      const reg = opts.telemetry?.registry;
      if (!reg) return text(res, 503, 'no metrics registry\n');
      const body = await reg.metrics();
      res.writeHead(200, { 'content-type': reg.contentType }).end(body);
    },
    'GET /config_dump': (u, res) => {
      const only = u.searchParams.get('resource') ?? undefined;
      if (only !== undefined && !isResourceKind(only)) {
        return text(res, 400, `unknown resource type "${only}"; one of listener, routeConfiguration, cluster, clusterLoadAssignment, secret\n`);
      }
      json(res, 200, stringifyRedacted(buildConfigDump(source.node(), source.snapshot(), only)));
    },
    'GET /clusters': (u, res) => {
      const clusters = source.clusters();
      if (u.searchParams.get('format') === 'text') return text(res, 200, clustersText(clusters));
      json(res, 200, stringifyRedacted({ clusters }));
    },
    'GET /tap': (u, res) => tap.serve(res, tapFilterFromQuery(u.searchParams)),
    'GET /status': (_u, res) => {
      json(
        res,
        200,
        stringifyRedacted({
          node: source.node(),
          state: source.state?.() ?? (source.ready() ? 'LIVE' : 'NOT_READY'),
          uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
          versions: source.snapshot().versions,
          tapClients: tap.activeClients,
          ...(source.extraStatus?.() ?? {}),
        }),
      );
    },
    'GET /memory': (_u, res) => json(res, 200, JSON.stringify(memoryView(), null, 2)),
    'POST /drain_listeners': (_u, res) => {
      startDrain(false);
      text(res, 200, 'OK\n');
    },
    'POST /quitquitquit': (_u, res) => {
      startDrain(true);
      text(res, 200, 'OK\n');
    },
  };

  const server = createServer({ maxHeaderSize: 8192, requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error('admin request failed', { path: req.url, err });
      if (!res.headersSent) text(res, 500, `internal error: ${err instanceof Error ? err.message : String(err)}\n`);
      else res.destroy();
    });
  });
  server.maxHeadersCount = 64;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'POST') {
      res.setHeader('allow', 'GET, POST');
      return text(res, 405, `method ${method} not allowed; the admin API takes GET and POST\n`);
    }
    if (!(await readSmallBody(req))) {
      res.setHeader('connection', 'close');
      return text(res, 413, `request body too large (max ${MAX_BODY_BYTES} bytes)\n`);
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin');
    } catch {
      return text(res, 400, 'malformed request target\n');
    }
    const route = routes[`${method} ${url.pathname}`];
    if (route) return route(url, res);
    const other = routes[`${method === 'GET' ? 'POST' : 'GET'} ${url.pathname}`];
    if (other) {
      res.setHeader('allow', method === 'GET' ? 'POST' : 'GET');
      return text(res, 405, `${url.pathname} takes ${method === 'GET' ? 'POST' : 'GET'}\n`);
    }
    const list = Object.entries(ENDPOINTS)
      .map(([k, v]) => `  ${k.padEnd(24)} ${v}`)
      .join('\n');
    text(res, url.pathname === '/' ? 200 : 404, `${url.pathname === '/' ? '' : `no endpoint ${url.pathname}\n`}admin endpoints:\n${list}\n`);
  }

  const host = opts.address?.address ?? '127.0.0.1';
  const port = opts.address?.port ?? 15000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(new MeshError('MESH_ADMIN_BIND', `admin listener cannot bind ${host}:${port}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => logger.error('admin listener error', { err }));
  const addr = server.address() as AddressInfo;
  logger.info('admin listener started', { address: addr.address, port: addr.port });

  return {
    port: addr.port,
    address: addr.address,
    close: () =>
      new Promise<void>((resolve) => {
        tap.closeAll();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Reads (and discards) a body of at most MAX_BODY_BYTES; false when it is larger. */
function readSmallBody(req: IncomingMessage): Promise<boolean> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    return Promise.resolve(false);
  }
  if (req.readableEnded || (declared === 0 && req.headers['transfer-encoding'] === undefined)) {
    req.resume();
    return Promise.resolve(true);
  }
  return new Promise((resolve) => {
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.resume();
        resolve(false);
      }
    });
    req.on('end', () => resolve(n <= MAX_BODY_BYTES));
    req.on('error', () => resolve(false));
  });
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(body);
}

function json(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(body + '\n');
}
