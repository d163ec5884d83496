// HTTP/2 (prior-knowledge h2c) and gRPC unary modes of the open-loop
// generator: one node:http2 session per "connection"; each request is its own
// stream, sent at once when its time comes — unlike HTTP/1.1, a request never
// waits behind another on the same session (streams are concurrent). Latency
// accounting is the generator's: intended send time → end of the response.
//
// gRPC: a real unary exchange — POST with content-type application/grpc,
// te: trailers and one length-prefixed protobuf message; success is HTTP 200
// with grpc-status 0 (in the trailers, or in the headers of a trailers-only
// answer). Anything else counts as non-2xx.
import http2 from 'node:http2';
import net from 'node:net';

const now = (): bigint => process.hrtime.bigint();

/** What a session reports to the generator (open-loop.ts's Generator). */
export interface H2Recorder {
  readonly stopped: boolean;
  recordResponse(intended: bigint, written: bigint, status: number, failure?: string): void;
  recordSocketError(intended: bigint): void;
  dispatchDue(): void;
}

export interface H2Target {
  host: string;
  port: number;
  path: string;
  hostHeader: string;
  /** 'h2': GET; 'grpc': unary POST of `grpcMessage`. */
  mode: 'h2' | 'grpc';
}

/** `Bench.Echo/Call`-style request message: field 1 (bytes) = payload, framed for gRPC (flag 0 + 4-byte length). */
export function grpcFrame(message: Buffer): Buffer {
  const f = Buffer.alloc(5 + message.length);
  f.writeUInt8(0, 0);
  f.writeUInt32BE(message.length, 1);
  message.copy(f, 5);
  return f;
}

/** A protobuf message with one length-delimited field 1 holding `payload` (< 128 bytes). */
export function protoBytesField(payload: Buffer): Buffer {
  if (payload.length >= 128) throw new RangeError('payload must be < 128 bytes (one-byte varint length)');
  return Buffer.concat([Buffer.from([0x0a, payload.length]), payload]);
}

const GRPC_BODY = grpcFrame(protoBytesField(Buffer.from('tsmesh-bench')));

/** One in-flight stream; a class rather than closures so each request allocates one small object. */
class StreamState {
  status = 0;
  grpcStatus: string | undefined = undefined;
  /** x-tsmesh-error of a failed answer (why the proxy answered itself). */
  meshError: string | undefined = undefined;
  done = false;
  /** The body ended; a gRPC answer whose grpc-status has not arrived yet completes on close. */
  ended = false;
  written = 0n;
  constructor(
    readonly owner: H2Session,
    readonly intended: bigint,
  ) {}
}

export class H2Session {
  private session: http2.ClientHttp2Session | null = null;
  private ready = false;
  /** Intended times waiting for the session to connect (only before connect / during reconnect). */
  private waiting: bigint[] = [];
  private readonly headers: http2.OutgoingHttpHeaders;
  readonly grpc: boolean;

  constructor(
    private readonly gen: H2Recorder,
    private readonly target: H2Target,
  ) {
    this.grpc = target.mode === 'grpc';
    this.headers =
      target.mode === 'grpc'
        ? { ':method': 'POST', ':path': target.path, ':authority': target.hostHeader, 'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'tsmesh-bench' }
        : { ':method': 'GET', ':path': target.path, ':authority': target.hostHeader, 'user-agent': 'tsmesh-bench' };
    this.connect();
  }

  private connect(): void {
    this.ready = false;
    const { host, port } = this.target;
    const s = http2.connect(`http://${host}:${port}`, { peerMaxConcurrentStreams: 1000, createConnection: () => net.connect({ host, port, noDelay: true }) });
    this.session = s;
    s.on('connect', () => {
      this.ready = true;
      const w = this.waiting;
      this.waiting = [];
      for (const t of w) this.send(t);
    });
    s.on('error', () => {});
    s.on('close', () => {
      if (this.session !== s) return;
      this.session = null;
      this.ready = false;
      if (!this.gen.stopped) setTimeout(() => this.connect(), 10);
    });
  }

  enqueue(intended: bigint): void {
    if (this.ready) this.send(intended);
    else this.waiting.push(intended);
  }

  private send(intended: bigint): void {
    const st = new StreamState(this, intended);
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.session!.request(this.headers, { endStream: this.target.mode !== 'grpc' });
    } catch {
      this.gen.recordSocketError(intended);
      return;
    }
    st.written = now();
    (stream as StreamWithState).benchState = st;
    stream.on('response', onResponse);
    stream.on('trailers', onTrailers);
    stream.on('data', noop);
    stream.on('end', onEnd);
    stream.on('close', onClose);
    stream.on('error', noop);
    if (this.target.mode === 'grpc') stream.end(GRPC_BODY);
  }

  complete(st: StreamState): void {
    st.done = true;
    const status = st.status;
    if (status < 200 || status > 299) this.gen.recordResponse(st.intended, st.written, status, st.meshError ? `${status} ${st.meshError}` : String(status));
    else if (this.grpc && st.grpcStatus !== '0') this.gen.recordResponse(st.intended, st.written, 502, `grpc-status ${st.grpcStatus ?? 'missing'}${st.meshError ? ` ${st.meshError}` : ''}`);
    else this.gen.recordResponse(st.intended, st.written, status);
    this.gen.dispatchDue();
  }

  fail(st: StreamState): void {
    st.done = true;
    this.gen.recordSocketError(st.intended);
  }

  close(): void {
    this.session?.destroy();
  }
}

type StreamWithState = http2.ClientHttp2Stream & { benchState: StreamState };
const stateOf = (s: unknown): StreamState => (s as StreamWithState).benchState;

function noop(): void {}

function onResponse(this: http2.ClientHttp2Stream, h: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
  const st = stateOf(this);
  st.status = Number(h[':status']);
  const g = h['grpc-status'];
  if (g !== undefined) st.grpcStatus = String(g);
  const e = h['x-tsmesh-error'];
  if (e !== undefined) st.meshError = String(e);
}

function onTrailers(this: http2.ClientHttp2Stream, t: http2.IncomingHttpHeaders): void {
  const g = t['grpc-status'];
  if (g !== undefined) stateOf(this).grpcStatus = String(g);
}

function onEnd(this: http2.ClientHttp2Stream): void {
  const st = stateOf(this);
  st.ended = true;
  if (!st.done && (st.grpcStatus !== undefined || !st.owner.grpc)) st.owner.complete(st);
}

function onClose(this: http2.ClientHttp2Stream): void {
  const st = stateOf(this);
  if (st.done) return;
  if (st.ended) st.owner.complete(st);
  else st.owner.fail(st);
}
