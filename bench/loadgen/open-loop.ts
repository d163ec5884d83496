// Fixed-rate, open-loop HTTP/1.1 (and, with `protocol`, HTTP/2 or gRPC: h2-session.ts) load generator (run as its own process, pinned
// to a core away from the proxy). Request i is *intended* at start + i/rate and
// assigned round-robin to a keep-alive connection; when that connection is
// still busy the request waits in its queue. Latency is measured from the
// intended send time, so a stalled server shows up as the latency its users
// would see instead of silently lowering the send rate (coordinated omission).
//
// Protocol with the parent: argv[2] is a JSON LoadgenOptions; stdout carries
// one JSON line per event: measure-start, measure-end, then result.

import net from 'node:net';
import { Worker } from 'node:worker_threads';
import * as hdr from 'hdr-histogram-js';
import { H2Session } from './h2-session.js';
import { ResponseParser } from './response-parser.js';

export interface LoadgenOptions {
  host: string;
  port: number;
  path: string;
  hostHeader: string;
  rate: number; // requests per second, all connections together
  connections: number;
  warmupMs: number;
  durationMs: number;
  /** How long to wait for the last responses before counting them as timeouts. */
  drainMs: number;
  /** Default 'http1' (raw sockets, one request in flight per connection); 'h2'/'grpc': h2c sessions with concurrent streams. */
  protocol?: 'http1' | 'h2' | 'grpc';
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface LoadgenResult {
  event: 'result';
  intendedRate: number;
  achievedRate: number;
  sent: number;
  completed: number;
  non2xx: number;
  /** The non-2xx answers by status; HTTP/2 adds the proxy's x-tsmesh-error, gRPC a 200 without grpc-status 0 as "grpc-status <n|missing>". */
  non2xxStatuses: Record<string, number>;
  socketErrors: number;
  timeouts: number;
  /** µs from intended send time to the end of the response (coordinated-omission corrected). */
  latencyUs: LatencySummary;
  /** µs from the actual write to the end of the response (what a closed-loop tool reports). */
  serviceTimeUs: LatencySummary;
  /** µs the generator itself dispatched late (timer granularity); part of every configuration's latency alike. */
  dispatchLagUs: LatencySummary;
  measuredWindowMs: number;
  /** The generator's own CPU over the window, µs per request: shows it was not the bottleneck. */
  generatorCpuUsPerRequest: number;
  latencyHistogram: string; // HdrHistogram compressed base64, µs
}

const NS_PER_US = 1000n;
const now = (): bigint => process.hrtime.bigint();

function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

function summarize(h: hdr.Histogram): LatencySummary {
  return {
    count: h.totalCount,
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
    mean: Math.round(h.mean),
  };
}

/** One keep-alive connection: a FIFO of intended times, one request in flight at a time. */
class Connection {
  private socket!: net.Socket;
  private parser = new ResponseParser();
  /** Intended times (ns) waiting to be sent; `head` indexes the oldest. */
  private queue: bigint[] = [];
  private head = 0;
  private inFlight: { intended: bigint; written: bigint } | null = null;

  constructor(
    private readonly gen: Generator,
    private readonly opts: LoadgenOptions,
    private readonly request: Buffer,
  ) {
    this.connect();
  }

  private connect(): void {
    this.parser = new ResponseParser();
    this.socket = net.connect({ host: this.opts.host, port: this.opts.port, noDelay: true });
    this.socket.on('connect', () => this.pump());
    this.socket.on('data', (chunk: Buffer) => {
      try {
        this.parser.feed(chunk, (status) => this.onResponse(status));
      } catch {
        this.socket.destroy();
      }
      this.gen.dispatchDue();
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      if (this.inFlight) {
        this.gen.recordSocketError(this.inFlight.intended);
        this.inFlight = null;
      }
      if (!this.gen.stopped) setTimeout(() => this.connect(), 10);
    });
  }

  enqueue(intended: bigint): void {
    this.queue.push(intended);
    this.pump();
  }

  private pump(): void {
    if (this.inFlight || this.head >= this.queue.length || this.socket.connecting || this.socket.destroyed) return;
    const intended = this.queue[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.inFlight = { intended, written: now() };
    this.socket.write(this.request);
  }

  private onResponse(status: number): void {
    const f = this.inFlight;
    this.inFlight = null;
    if (f) this.gen.recordResponse(f.intended, f.written, status);
    this.pump();
  }

  close(): void {
    this.socket.destroy();
  }
}

class Generator {
  stopped = false;
  private readonly conns: { enqueue(intended: bigint): void; close(): void }[] = [];
  private readonly intervalNs: bigint;
  private readonly t0: bigint;
  private readonly measureFrom: bigint;
  private readonly measureUntil: bigint;
  private next = 0;
  private nextAt: bigint;
  private ticker: Worker | null = null;
  private started = false;
  private cpuAtStart: NodeJS.CpuUsage | null = null;
  private windowStart = 0n;
  private lastMeasuredDone = 0n;

  readonly latency = newHistogram();
  readonly service = newHistogram();
  readonly lag = newHistogram();
  sent = 0;
  completed = 0;
  non2xx = 0;
  readonly non2xxStatuses: Record<string, number> = {};
  socketErrors = 0;

  constructor(private readonly opts: LoadgenOptions) {
    const request = Buffer.from(`GET ${opts.path} HTTP/1.1\r\nHost: ${opts.hostHeader}\r\nUser-Agent: tsmesh-bench\r\n\r\n`, 'latin1');
    const proto = opts.protocol ?? 'http1';
    for (let i = 0; i < opts.connections; i++)
      this.conns.push(proto === 'http1' ? new Connection(this, opts, request) : new H2Session(this, { ...opts, mode: proto }));
    this.intervalNs = BigInt(Math.round(1e9 / opts.rate));
    this.t0 = now() + 50_000_000n; // let the connections open first
    this.measureFrom = this.t0 + BigInt(opts.warmupMs) * 1_000_000n;
    this.measureUntil = this.measureFrom + BigInt(opts.durationMs) * 1_000_000n;
    this.nextAt = this.t0;
  }

  start(): void {
    // Ticks at every send time, but at most every 100 µs (batches at higher rates).
    const periodNs = this.intervalNs > 100_000n ? this.intervalNs : 100_000n;
    this.ticker = new Worker(new URL('./ticker.js', import.meta.url), {
      workerData: { t0: this.t0, periodNs, end: this.measureUntil },
    });
    this.ticker.on('message', (last: number) => {
      this.dispatchDue();
      if (last === 1) {
        // the last tick may fire a hair before the last send time
        const rest = (): void => {
          this.dispatchDue();
          if (this.nextAt < this.measureUntil) setTimeout(rest, 1);
          else this.finish();
        };
        rest();
      }
    });
  }

  private inWindow(intended: bigint): boolean {
    return intended >= this.measureFrom && intended < this.measureUntil;
  }

  /** Sends every request whose intended time has come; called from the timer and on every read. */
  dispatchDue(): void {
    if (this.stopped) return;
    const t = now();
    while (this.nextAt <= t && this.nextAt < this.measureUntil) {
      const intended = this.nextAt;
      if (!this.started && intended >= this.measureFrom) {
        this.started = true;
        this.windowStart = t;
        this.cpuAtStart = process.cpuUsage();
        emit({ event: 'measure-start' });
      }
      if (this.inWindow(intended)) {
        this.lag.recordValue(Number((t - intended) / NS_PER_US));
        this.sent++;
      }
      this.conns[this.next % this.conns.length]!.enqueue(intended);
      this.next++;
      this.nextAt = this.t0 + BigInt(this.next) * this.intervalNs;
    }
  }

  recordResponse(intended: bigint, written: bigint, status: number, failure?: string): void {
    if (!this.inWindow(intended)) return;
    const done = now();
    this.completed++;
    if (status < 200 || status > 299) {
      this.non2xx++;
      const k = failure ?? String(status);
      this.non2xxStatuses[k] = (this.non2xxStatuses[k] ?? 0) + 1;
    }
    this.latency.recordValue(Number((done - intended) / NS_PER_US));
    this.service.recordValue(Number((done - written) / NS_PER_US));
    this.lastMeasuredDone = done;
  }

  recordSocketError(intended: bigint): void {
    if (this.inWindow(intended)) this.socketErrors++;
  }

  private outstanding(): number {
    return this.sent - this.completed - this.socketErrors;
  }

  private finish(): void {
    const deadline = now() + BigInt(this.opts.drainMs) * 1_000_000n;
    const check = (): void => {
      if (this.outstanding() > 0 && now() < deadline) {
        setTimeout(check, 5);
        return;
      }
      const cpu = process.cpuUsage(this.cpuAtStart ?? undefined);
      emit({ event: 'measure-end' });
      this.stopped = true;
      void this.ticker?.terminate();
      for (const c of this.conns) c.close();
      const windowMs = Number(((this.lastMeasuredDone || now()) - this.windowStart) / 1000n) / 1000;
      const result: LoadgenResult = {
        event: 'result',
        intendedRate: this.opts.rate,
        achievedRate: windowMs > 0 ? Math.round((this.completed / windowMs) * 1000) : 0,
        sent: this.sent,
        completed: this.completed,
        non2xx: this.non2xx,
        non2xxStatuses: this.non2xxStatuses,
        socketErrors: this.socketErrors,
        timeouts: this.outstanding(),
        latencyUs: summarize(this.latency),
        serviceTimeUs: summarize(this.service),
        dispatchLagUs: summarize(this.lag),
        measuredWindowMs: Math.round(windowMs),
        generatorCpuUsPerRequest: this.completed ? Math.round((cpu.user + cpu.system) / this.completed) : 0,
        latencyHistogram: hdr.encodeIntoCompressedBase64(this.latency),
      };
      emit(result);
      process.exitCode = 0;
    };
    check();
  }
}

function emit(obj: object): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function main(): void {
  const opts = JSON.parse(process.argv[2] ?? '{}') as LoadgenOptions;
  new Generator(opts).start();
}

main();
