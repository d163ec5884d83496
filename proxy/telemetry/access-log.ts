// JSON-lines access log with Envoy's field names. Lines collect in memory and
// are written in batches (on a short timer or when the batch grows), never one
// synchronous write per request. When the destination cannot keep up, lines
// beyond a bound are dropped and counted instead of growing memory.

import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { MeshError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { HttpRequestRecord, SpanHandle, TcpConnectionRecord } from './types.js';
import { responseFlagsText } from './response-flags.js';

export interface AccessLogOptions {
  /** A file path (appended to), 'stdout' or 'stderr'. */
  path: string | 'stdout' | 'stderr';
  format?: 'json';
  /** Batch flush interval (ms); default 250. */
  flushIntervalMs?: number;
  /** Bytes held while the destination is slow before lines are dropped; default 8 MiB. */
  maxBufferedBytes?: number;
}

const FLUSH_AT_BYTES = 64 * 1024;

export class AccessLog {
  private readonly out: Writable;
  private readonly ownsStream: boolean;
  private batch: string[] = [];
  private batchBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private blocked = false;
  private closed = false;
  dropped = 0;
  private readonly maxBuffered: number;
  private readonly interval: number;

  constructor(opts: AccessLogOptions, private readonly logger?: Logger) {
    if (opts.format !== undefined && opts.format !== 'json') {
      throw new MeshError('MESH_INVALID_CONFIG', `accessLog.format must be json, got ${String(opts.format)}`);
    }
    if (!opts.path) throw new MeshError('MESH_INVALID_CONFIG', 'accessLog.path must be a file path or "stdout"');
    this.maxBuffered = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.interval = opts.flushIntervalMs ?? 250;
    if (opts.path === 'stdout' || opts.path === 'stderr') {
      this.out = opts.path === 'stdout' ? process.stdout : process.stderr;
      this.ownsStream = false;
    } else {
      this.out = createWriteStream(opts.path, { flags: 'a' });
      this.ownsStream = true;
      this.out.on('error', (err) => {
        this.logger?.error('access log write failed; access logging stopped', { path: opts.path, err });
        this.closed = true;
      });
    }
    this.out.on('drain', () => {
      this.blocked = false;
    });
  }

  log(r: HttpRequestRecord, span: SpanHandle | undefined): void {
    if (this.closed) return;
    const line = JSON.stringify({
      start_time: new Date(r.startTime).toISOString(),
      method: r.method,
      path: r.path,
      protocol: r.httpVersion,
      response_code: r.responseCode,
      response_flags: responseFlagsText(r.responseFlags),
      bytes_received: r.requestBytes,
      bytes_sent: r.responseBytes,
      duration: Math.round(r.durationMs),
      upstream_host: r.upstreamHost ?? null,
      upstream_cluster: r.clusterName ?? null,
      route_name: r.routeName ?? null,
      x_forwarded_for: r.downstreamRemoteAddress || null,
      user_agent: r.userAgent ?? null,
      request_id: r.requestId ?? null,
      authority: r.authority,
      trace_id: span?.traceId ?? r.traceId ?? null,
      attempts: r.attempts,
      downstream_peer_principal: (r.direction === 'inbound' ? r.source : r.destination).principal ?? null,
      grpc_status: r.grpcStatus ?? null,
      direction: r.direction,
    });
    this.push(line);
  }

  /** One line per closed TCP connection (Envoy logs L4 connections with the same field names). */
  logTcp(r: TcpConnectionRecord): void {
    if (this.closed) return;
    this.push(
      JSON.stringify({
        start_time: new Date(r.startTime).toISOString(),
        protocol: 'TCP',
        response_flags: responseFlagsText(r.responseFlags),
        bytes_received: r.bytesReceived,
        bytes_sent: r.bytesSent,
        duration: Math.round(r.durationMs),
        upstream_host: r.upstreamHost ?? null,
        upstream_cluster: r.clusterName ?? null,
        downstream_remote_address: r.downstreamRemoteAddress || null,
        downstream_peer_principal: (r.direction === 'inbound' ? r.source : r.destination).principal ?? null,
        direction: r.direction,
      }),
    );
  }

  private push(line: string): void {
    if (this.blocked && this.out.writableLength + this.batchBytes > this.maxBuffered) {
      this.dropped++;
      return;
    }
    this.batch.push(line);
    this.batchBytes += line.length + 1;
    if (this.batchBytes >= FLUSH_AT_BYTES) this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.interval);
      this.timer.unref();
    }
  }

  /** Hands the batch to the stream (asynchronous write). */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.batch.length === 0 || this.closed) return;
    const chunk = this.batch.join('\n') + '\n';
    this.batch = [];
    this.batchBytes = 0;
    if (!this.out.write(chunk)) this.blocked = true;
  }

  /** Flushes and, for a file, closes it once everything is written. */
  async close(): Promise<void> {
    this.flush();
    this.closed = true;
    if (!this.ownsStream) return;
    await new Promise<void>((resolve) => this.out.end(resolve));
  }
}
