// The access log writer: one line per request or TCP connection, in the
// sink's format (proxy/telemetry/log-format.ts). Lines collect in memory and
// are written in batches (on a short timer or when the batch grows), never one
// synchronous write per request. When the destination cannot keep up, lines
// beyond a bound are dropped and counted instead of growing memory.

import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { MeshError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { AccessLogFormat } from '../config/resources.js';
import type { HttpRequestRecord, TcpConnectionRecord } from './types.js';
import { DEFAULT_JSON_FORMAT, compileLogFormat, type CompiledLogFormat } from './log-format.js';

export interface AccessLogOptions {
  /** A file path (appended to), 'stdout' or 'stderr'. */
  path: string | 'stdout' | 'stderr';
  /** Envoy's text or JSON format; default: JSON with Istio's fields (DEFAULT_JSON_FORMAT). */
  format?: AccessLogFormat;
  /** Batch flush interval (ms); default 250. */
  flushIntervalMs?: number;
  /** Bytes held while the destination is slow before lines are dropped; default 8 MiB. */
  maxBufferedBytes?: number;
}

const FLUSH_AT_BYTES = 64 * 1024;

export class AccessLog {
  private readonly out: Writable;
  private readonly ownsStream: boolean;
  private readonly format: CompiledLogFormat;
  private batch: string[] = [];
  private batchBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private blocked = false;
  private closed = false;
  dropped = 0;
  private readonly maxBuffered: number;
  private readonly interval: number;

  constructor(opts: AccessLogOptions, private readonly logger?: Logger) {
    if (!opts.path) throw new MeshError('MESH_INVALID_CONFIG', 'accessLog.path must be a file path or "stdout"');
    this.format = compileLogFormat(opts.format ?? { json: DEFAULT_JSON_FORMAT });
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

  /** One line per finished request (HTTP) or closed connection (TCP). */
  log(r: HttpRequestRecord | TcpConnectionRecord): void {
    if (this.closed) return;
    this.push(this.format.render(r));
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
