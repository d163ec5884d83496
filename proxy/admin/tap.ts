// /tap: a live NDJSON stream of finished requests, one JSON object per line,
// until the client disconnects (or `limit` records were sent). Bounded: at most
// `maxClients` streams at once, and a client that reads slower than requests
// arrive loses records (reported in a {"dropped":N} line once it catches up)
// instead of the proxy buffering for it.

import type { ServerResponse } from 'node:http';
import type { HttpRequestRecord } from '../telemetry/types.js';

export type Subscribe = (listener: (r: HttpRequestRecord) => void) => () => void;

export interface TapFilter {
  /** Matches the destination service (FQDN or its short name) or the authority's host. */
  service?: string;
  method?: string;
  pathPrefix?: string;
  direction?: 'inbound' | 'outbound';
  /** Stop after this many records. */
  limit?: number;
}

export function tapFilterFromQuery(q: URLSearchParams): TapFilter {
  const limit = q.get('limit');
  const dir = q.get('direction');
  return {
    ...(q.get('service') ? { service: q.get('service')! } : {}),
    ...(q.get('method') ? { method: q.get('method')!.toUpperCase() } : {}),
    ...(q.get('path_prefix') ? { pathPrefix: q.get('path_prefix')! } : {}),
    ...(dir === 'inbound' || dir === 'outbound' ? { direction: dir } : {}),
    ...(limit && /^\d+$/.test(limit) && Number(limit) > 0 ? { limit: Number(limit) } : {}),
  };
}

export function matches(f: TapFilter, r: HttpRequestRecord): boolean {
  if (f.method !== undefined && r.method !== f.method) return false;
  if (f.direction !== undefined && r.direction !== f.direction) return false;
  if (f.pathPrefix !== undefined && !r.path.startsWith(f.pathPrefix)) return false;
  if (f.service !== undefined) {
    const svc = r.destination.service ?? '';
    const host = r.authority.replace(/:\d+$/, '');
    const s = f.service;
    if (svc !== s && !svc.startsWith(s + '.') && host !== s && !host.startsWith(s + '.')) return false;
  }
  return true;
}

/** The line meshctl tap reads. */
export function tapLine(r: HttpRequestRecord): string {
  return (
    JSON.stringify({
      time: new Date(r.startTime).toISOString(),
      direction: r.direction,
      protocol: r.protocol,
      method: r.method,
      authority: r.authority,
      path: r.path,
      status: r.responseCode,
      grpc_status: r.grpcStatus ?? null,
      latency_ms: Math.round(r.durationMs * 1000) / 1000,
      response_flags: r.responseFlags.length ? r.responseFlags.join(',') : '-',
      bytes_received: r.requestBytes,
      bytes_sent: r.responseBytes,
      cluster: r.clusterName ?? null,
      upstream_host: r.upstreamHost ?? null,
      request_id: r.requestId ?? null,
      trace_id: r.traceId ?? null,
      mtls: r.mtls,
      source: { principal: r.source.principal ?? null, workload: r.source.workload ?? null, namespace: r.source.namespace ?? null },
      destination: {
        principal: r.destination.principal ?? null,
        workload: r.destination.workload ?? null,
        namespace: r.destination.namespace ?? null,
        service: r.destination.service ?? null,
      },
    }) + '\n'
  );
}

export class TapHub {
  private readonly clients = new Set<() => void>();

  constructor(
    private readonly subscribe: Subscribe | undefined,
    readonly maxClients: number,
    /** Bytes queued for one client before its records are dropped. */
    private readonly maxQueuedBytes = 256 * 1024,
  ) {}

  get activeClients(): number {
    return this.clients.size;
  }

  /** Serves one tap request; answers 503/429 itself when it cannot. */
  serve(res: ServerResponse, filter: TapFilter): void {
    if (!this.subscribe) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('tap is not available on this proxy\n');
      return;
    }
    if (this.clients.size >= this.maxClients) {
      res
        .writeHead(429, { 'content-type': 'text/plain', 'retry-after': '5' })
        .end(`too many tap clients (max ${this.maxClients}); try again later\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.flushHeaders();
    let sent = 0;
    let dropped = 0;
    let done = false;
    const stop = (): void => {
      if (done) return;
      done = true;
      unsubscribe();
      this.clients.delete(stop);
      if (!res.writableEnded) res.end();
    };
    const unsubscribe = this.subscribe((r) => {
      if (done || !matches(filter, r)) return;
      if (res.writableLength > this.maxQueuedBytes) {
        dropped++;
        return;
      }
      if (dropped > 0) {
        res.write(`{"dropped":${dropped}}\n`);
        dropped = 0;
      }
      res.write(tapLine(r));
      if (filter.limit !== undefined && ++sent >= filter.limit) stop();
    });
    this.clients.add(stop);
    // Not req's 'close': it fires once the (empty) request body is read, not on disconnect.
    res.on('close', stop);
    res.on('error', stop);
  }

  closeAll(): void {
    for (const stop of [...this.clients]) stop();
  }
}
