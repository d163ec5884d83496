// The HTTP/1.1 connection pool to one upstream endpoint: keep-alive
// connections, one request at a time each (no pipelining, as Envoy), and
// undici's dispatch contract (dispatch(opts, handler) with onConnect /
// onHeaders / onData / onComplete / onError / onUpgrade), so the exchange,
// mirroring and upgrades use it exactly as they would an undici Pool.
//
// Why not undici's Pool on this path: per request it allocates a Request,
// validates and re-serialises headers, runs body/timeout machinery built for
// a general client, and writes head and body separately. Here a request is
// one pre-sized string write (head + small body), the response is parsed by
// the same llhttp, and a connection's timers are one Timeout refreshed per
// request. The proxy's hot path is roughly this pair of sockets.

import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { buildConnector, Dispatcher } from 'undici';
import { EXEC_OK, EXEC_PAUSED, EXEC_UPGRADE, HPE_PAUSED, Parser, PARSE_RESPONSE, SKIP_BODY, type ParserEvents } from './llhttp.js';

export interface H1PoolOptions {
  /** Opens one connection (undici's connector: plaintext or the mesh TLS connector). */
  connect: buildConnector.connector;
  hostname: string;
  port: number;
  protocol: 'http:' | 'https:';
  servername?: string;
  /** Upper bound of open connections (Envoy max_connections); requests beyond it wait in order. */
  maxConnections: number;
  /** Most connects (TCP + TLS handshake) in flight at once; more requests wait for them or for a free connection. */
  maxConnecting?: number;
  /** An idle keep-alive connection closes after this long. */
  keepAliveTimeout: number;
  /** Close a connection after this many requests (0 = unlimited). */
  maxRequestsPerConnection: number;
  /** Largest response head accepted (bytes). */
  maxHeaderBytes?: number;
}

type Handler = Dispatcher.DispatchHandler & {
  onUpgrade?: (status: number, headers: string[] | null, socket: Socket) => void;
  /** The connection a final response came over (access logs read its local address). */
  onUpstreamSocket?: (socket: Socket) => void;
};

interface DispatchOpts {
  path: string;
  method: string;
  headers?: unknown;
  body?: unknown;
  headersTimeout?: number | null;
  upgrade?: string | null;
}

const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;
/**
 * Connects in flight per endpoint. A full mTLS handshake costs ~2 ms of CPU on each side here
 * (OpenSSL 3.0 in Node 20; ~1 ms resumed), the time of dozens of requests, so a pool that opens
 * one connection per waiting request feeds back on itself: a cold sidecar under 1,000 req/s of
 * HTTP/2 (no per-client cap on concurrency) opened 1,024 connections in the first second, the
 * handshakes starved both sidecars and requests waited 2 s or overflowed. Connections that are
 * already open turn over in about a millisecond; a few handshakes at a time are enough to grow.
 */
const DEFAULT_MAX_CONNECTING = 4;
/** Most bytes between two pieces of chunked body data (size line, extensions), as the server side. */
const MAX_CHUNK_GAP = 16 * 1024;
/** Bodies up to this size go out in the same write as the head. */
const INLINE_BODY = 16 * 1024;

function socketError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** A request target goes into the head verbatim: no whitespace or control bytes (they would split it). */
function validPath(p: string): boolean {
  if (typeof p !== 'string' || p.length === 0) return false;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/** Margin taken off a server's advertised keep-alive timeout (undici's keepAliveTimeoutThreshold). */
const KEEP_ALIVE_MARGIN_MS = 1000;

/** A response's `keep-alive: timeout=N` as our idle time in ms (0: do not reuse), -1 when absent. */
function keepAliveHint(raw: string[]): number {
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length !== 10 || n.toLowerCase() !== 'keep-alive') continue;
    // Parsed by hand: node:http upstreams send it on every response.
    let v = raw[i + 1]!;
    let at = v.indexOf('timeout=');
    if (at < 0) at = (v = v.toLowerCase()).indexOf('timeout=');
    const secs = at < 0 ? NaN : parseInt(v.slice(at + 8), 10);
    return Number.isFinite(secs) ? Math.max(0, secs * 1000 - KEEP_ALIVE_MARGIN_MS) : -1;
  }
  return -1;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

class PendingRequest {
  aborted = false;
  /** The connection carrying it, once assigned. */
  conn: H1Connection | undefined = undefined;
  /** Sent once on a reused connection that closed before answering: one fresh try. */
  replays = 0;
  readonly abort = (err?: Error): void => {
    if (this.aborted) return;
    this.aborted = true;
    const c = this.conn;
    if (c !== undefined) c.abortRequest(this, err);
    else {
      this.pool.unqueue(this);
      this.handler.onError?.(err ?? socketError('request aborted', 'UND_ERR_ABORTED'));
    }
  };
  constructor(
    readonly pool: H1Pool,
    readonly opts: DispatchOpts,
    readonly handler: Handler,
  ) {}
}

export class H1Pool {
  private readonly idle: H1Connection[] = [];
  private queue: PendingRequest[] = [];
  private open = 0;
  /** Connects in flight (counted in `open` too). */
  private connecting = 0;
  private closed = false;
  private closeWaiters: (() => void)[] = [];

  constructor(readonly options: H1PoolOptions) {}

  /** Connections open or being opened (for stats and leak checks). */
  get connections(): number {
    return this.open;
  }

  /** Requests waiting for a connection. */
  get queued(): number {
    return this.queue.length;
  }

  dispatch(opts: DispatchOpts, handler: Handler): boolean {
    const r = new PendingRequest(this, opts, handler);
    if (this.closed) {
      queueMicrotask(() => handler.onError?.(socketError('the endpoint pool is closed', 'UND_ERR_DESTROYED')));
      return false;
    }
    handler.onConnect?.(r.abort);
    if (r.aborted) return true;
    this.assign(r);
    return true;
  }

  private assign(r: PendingRequest): void {
    const c = this.idle.pop();
    if (c !== undefined) return c.send(r);
    this.queue.push(r);
    this.grow();
  }

  /**
   * Opens a connection only while the waiting requests outnumber the connects already in flight
   * (Envoy's pool rule). A slow connect — a TLS handshake, milliseconds of CPU — would otherwise be
   * doubled by each request that arrives meanwhile, although an exchange finishing on an open
   * connection serves the queue first: a burst of 16 mTLS requests opened 21–28 connections.
   * And never more than `maxConnecting` at once (DEFAULT_MAX_CONNECTING says why).
   */
  private grow(): void {
    const o = this.options;
    if (this.connecting < this.queue.length && this.connecting < (o.maxConnecting ?? DEFAULT_MAX_CONNECTING) && this.open < o.maxConnections) this.connect();
  }

  unqueue(r: PendingRequest): void {
    const i = this.queue.indexOf(r);
    if (i >= 0) this.queue.splice(i, 1);
  }

  private connect(): void {
    this.open++;
    this.connecting++;
    const o = this.options;
    o.connect(
      { hostname: o.hostname, host: o.hostname, protocol: o.protocol, port: String(o.port), servername: o.servername ?? null, localAddress: null, httpSocket: undefined } as unknown as buildConnector.Options,
      (err, socket) => {
        this.connecting--;
        if (err || !socket) {
          this.open--;
          err = err ? Object.assign(err, { connectPhase: true }) : Object.assign(socketError('connect failed', 'ECONNREFUSED'), { connectPhase: true });
          // Nothing else will serve the waiting requests when no connection is open: fail them.
          if (this.open === 0) {
            const waiting = this.queue;
            this.queue = [];
            for (const r of waiting) r.handler.onError?.(err);
          } else {
            const r = this.queue.shift();
            r?.handler.onError?.(err);
          }
          this.maybeClosed();
          return;
        }
        const c = new H1Connection(this, socket as Socket);
        if (this.closed) return c.destroy();
        this.release(c);
        // Connects the cap held back: the queue may still outnumber those in flight.
        this.grow();
      },
    );
  }

  /** A connection is free: the next waiting request takes it, else it idles. */
  release(c: H1Connection): void {
    const r = this.queue.shift();
    if (r !== undefined) return c.send(r);
    if (this.closed) return c.destroy();
    this.idle.push(c);
    c.startIdle();
  }

  /** A connection is gone (closed, failed, upgraded away). */
  removed(c: H1Connection): void {
    this.open--;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    // Requests still waiting get a new connection.
    if (!this.closed) this.grow();
    this.maybeClosed();
  }

  /** Sent on a reused connection that closed before any answer: one retry on a fresh one. */
  replay(r: PendingRequest): void {
    r.conn = undefined;
    r.replays++;
    this.queue.unshift(r);
    this.grow();
  }

  private maybeClosed(): void {
    if (this.closed && this.open === 0) for (const w of this.closeWaiters.splice(0)) w();
  }

  /** Graceful: in-flight requests finish, idle connections close, new requests are refused. */
  close(): Promise<void> {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.destroy();
    if (this.open === 0) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  destroy(): Promise<void> {
    this.closed = true;
    const waiting = this.queue;
    this.queue = [];
    for (const r of waiting) r.handler.onError?.(socketError('the endpoint pool was destroyed', 'UND_ERR_DESTROYED'));
    for (const c of this.idle.splice(0)) c.destroy();
    for (const c of H1Connection.live(this)) c.destroy();
    return this.close();
  }
}

const liveConnections = new WeakMap<H1Pool, Set<H1Connection>>();

function onSocketData(this: Socket, chunk: Buffer): void {
  (this as unknown as { [kConn]: H1Connection })[kConn].onData(chunk);
}
function onSocketEnd(this: Socket): void {
  (this as unknown as { [kConn]: H1Connection })[kConn].onEnd();
}
function onSocketClose(this: Socket): void {
  (this as unknown as { [kConn]: H1Connection })[kConn].onClose();
}
function onSocketError(this: Socket, err: Error): void {
  (this as unknown as { [kConn]: H1Connection })[kConn].onError(err);
}
function onIdleTimer(c: H1Connection): void {
  c.onIdleTimer();
}
function onHeadersTimer(c: H1Connection): void {
  c.onHeadersTimer();
}
const kConn = Symbol('tsmesh.h1conn');

class H1Connection implements ParserEvents {
  static live(pool: H1Pool): H1Connection[] {
    return [...(liveConnections.get(pool) ?? [])];
  }

  private readonly parser: Parser;
  private req: PendingRequest | undefined = undefined;
  private served = 0;
  private idleTimer: NodeJS.Timeout | undefined = undefined;
  private idleTimerMs = 0;
  /** The server's own keep-alive timeout (its `keep-alive: timeout=N`, less a margin), 0 = none given. */
  private serverIdleMs = 0;
  private headersTimer: NodeJS.Timeout | undefined = undefined;
  private headersTimerMs = 0;
  /** The current request's headers timeout (0 = none). */
  private headersDeadline = 0;
  private idleSince = false;
  private executing = false;
  private gone = false;
  // response state
  private raw: string[] = [];
  private trailers: string[] | undefined = undefined;
  private lastWasValue = false;
  private headBytes = 0;
  private headersDone = false;
  private status = 0;
  private keepAlive = false;
  private gotBytes = false;
  private bodyPending = false;
  /** The response ended inside this read: the parser paused there (see onMessageComplete). */
  private responseDone = false;
  // Stream positions for MAX_CHUNK_GAP (see H1ServerConnection): bytes parsed before this read,
  // the position of this read's first byte (a callback's offset within the read makes a
  // position), the end of the last head value (-1: none in this message) and of the last body data.
  private parsed = 0;
  private base = 0;
  private mark = -1;
  private bodyMark = 0;
  private readonly resume = (): void => {
    if (!this.gone) this.socket.resume();
  };

  constructor(
    private readonly pool: H1Pool,
    readonly socket: Socket,
  ) {
    this.parser = new Parser(PARSE_RESPONSE, this);
    (socket as unknown as { [kConn]: H1Connection })[kConn] = this;
    socket.setNoDelay(true);
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    let set = liveConnections.get(pool);
    if (!set) liveConnections.set(pool, (set = new Set()));
    set.add(this);
  }

  // ------------------------------------------------------------ requests

  send(r: PendingRequest): void {
    if (r.aborted) return this.pool.release(this);
    this.req = r;
    r.conn = this;
    this.served++;
    this.headersDone = false;
    this.gotBytes = false;
    this.idleSince = false;
    this.headersDeadline = 0;
    const o = r.opts;
    const body = o.body;
    if (!validPath(o.path)) return this.failRequest(r, socketError(`invalid request path ${JSON.stringify(o.path)}`, 'UND_ERR_INVALID_ARG'));
    let head = `${o.method} ${o.path} HTTP/1.1\r\n`;
    const h = o.headers as string[] | undefined;
    let hasLength = false;
    if (h !== undefined) {
      for (let i = 0; i < h.length; i += 2) {
        const v = h[i + 1]!;
        if (v.indexOf('\n') >= 0 || v.indexOf('\r') >= 0) return this.failRequest(r, socketError(`invalid value of request header ${h[i]}`, 'UND_ERR_INVALID_ARG'));
        const n = h[i]!;
        if (n === 'content-length') hasLength = true;
        else if (n === 'transfer-encoding') continue; // the framing is ours (see below)
        head += `${n}: ${v}\r\n`;
      }
    }
    if (o.upgrade) head += `connection: upgrade\r\nupgrade: ${o.upgrade}\r\n`;
    const max = this.pool.options.maxRequestsPerConnection;
    if (max > 0 && this.served >= max) head += 'connection: close\r\n';
    this.armHeadersTimeout(o.headersTimeout ?? 0);
    if (body == null) {
      if (!hasLength && (o.method === 'POST' || o.method === 'PUT' || o.method === 'PATCH')) head += 'content-length: 0\r\n';
      this.socket.write(head + '\r\n', 'latin1');
      return;
    }
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      const buf = typeof body === 'string' ? Buffer.from(body) : body;
      if (!hasLength) head += `content-length: ${buf.length}\r\n`;
      head += '\r\n';
      if (buf.length <= INLINE_BODY) {
        const out = Buffer.allocUnsafe(head.length + buf.length);
        out.write(head, 0, 'latin1');
        buf.copy(out, head.length);
        this.socket.write(out);
      } else {
        this.socket.cork();
        this.socket.write(head, 'latin1');
        this.socket.write(buf);
        this.socket.uncork();
      }
      return;
    }
    // A stream (the downstream request body): its length if known, else chunked.
    const chunked = !hasLength;
    this.socket.write(head + (chunked ? 'transfer-encoding: chunked\r\n\r\n' : '\r\n'), 'latin1');
    this.pipeBody(r, body as Readable, chunked);
  }

  private pipeBody(r: PendingRequest, src: Readable, chunked: boolean): void {
    this.bodyPending = true;
    const socket = this.socket;
    const onData = (c: Buffer): void => {
      if (this.req !== r || this.gone) return;
      if (c.length === 0) return;
      const ok = chunked ? socket.write(`${c.length.toString(16)}\r\n`, 'latin1') && socket.write(c) && socket.write('\r\n', 'latin1') : socket.write(c);
      if (!ok) {
        src.pause();
        socket.once('drain', () => src.resume());
      }
    };
    const onEnd = (): void => {
      cleanup();
      this.bodyPending = false;
      if (this.req !== r || this.gone) return;
      if (chunked) socket.write('0\r\n\r\n', 'latin1');
    };
    const onError = (err: Error): void => {
      cleanup();
      this.bodyPending = false;
      if (this.req === r) this.abortRequest(r, err);
    };
    const cleanup = (): void => {
      src.off('data', onData);
      src.off('end', onEnd);
      src.off('error', onError);
    };
    src.on('data', onData);
    src.on('end', onEnd);
    src.on('error', onError);
    src.resume();
  }

  private failRequest(r: PendingRequest, err: Error): void {
    this.req = undefined;
    r.conn = undefined;
    r.handler.onError?.(err);
    this.pool.release(this);
  }

  /** The owner aborted the request while this connection carries it: the connection cannot be reused. */
  abortRequest(r: PendingRequest, err?: Error): void {
    if (this.req !== r) return;
    this.req = undefined;
    this.destroy();
    r.handler.onError?.(err ?? socketError('request aborted', 'UND_ERR_ABORTED'));
  }

  // ------------------------------------------------------------ timers
  // Two Timeouts per connection, made once and refreshed: no timer allocation per request.

  private armHeadersTimeout(ms: number): void {
    if (ms <= 0) return;
    this.headersDeadline = ms;
    const t = this.headersTimer;
    if (t !== undefined && this.headersTimerMs === ms) t.refresh();
    else {
      if (t !== undefined) clearTimeout(t);
      this.headersTimerMs = ms;
      this.headersTimer = setTimeout(onHeadersTimer, ms, this);
      this.headersTimer.unref();
    }
  }

  startIdle(): void {
    this.idleSince = true;
    const own = this.pool.options.keepAliveTimeout;
    const ms = this.serverIdleMs > 0 && this.serverIdleMs < own ? this.serverIdleMs : own;
    const t = this.idleTimer;
    if (t !== undefined && this.idleTimerMs === ms) t.refresh();
    else {
      if (t !== undefined) clearTimeout(t);
      this.idleTimerMs = ms;
      this.idleTimer = setTimeout(onIdleTimer, ms, this);
      this.idleTimer.unref();
    }
  }

  onIdleTimer(): void {
    if (this.idleSince && this.req === undefined) this.destroy();
  }

  onHeadersTimer(): void {
    const r = this.req;
    if (r === undefined || this.headersDone || this.headersDeadline === 0) return;
    this.lose(socketError('upstream response headers timeout', 'UND_ERR_HEADERS_TIMEOUT'), false);
  }

  // ------------------------------------------------------------ socket events

  onData(chunk: Buffer): void {
    if (this.req === undefined) return this.destroy(); // bytes nobody asked for: out of sync
    this.gotBytes = true;
    this.executing = true;
    this.base = this.parsed;
    let res;
    try {
      res = this.parser.execute(chunk);
    } catch (err) {
      // A handler callback threw (it runs inside the parse): the request fails, the connection
      // goes (its parser stopped mid-message), the process stays up.
      this.executing = false;
      return this.lose(err instanceof Error ? err : new Error(String(err)), false);
    } finally {
      this.executing = false;
    }
    if (this.gone) return this.parser.destroy();
    const stoppedAt = res === EXEC_PAUSED || res === EXEC_UPGRADE ? this.parser.stoppedAt : chunk.length;
    this.parsed += stoppedAt;
    if (res === EXEC_OK) {
      // An endless chunk extension (or trailer section) is never stored, but would be read forever.
      const max = (this.pool.options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES) + MAX_CHUNK_GAP;
      if (this.headersDone && this.parsed - this.bodyMark > max) this.lose(socketError('upstream chunk framing too long', 'UND_ERR_SOCKET'), false);
      return;
    }
    if (res === EXEC_PAUSED) {
      this.parser.resume();
      // Bytes after a complete response, before the next request was even sent: the server is
      // out of step with us (they would be taken as the next request's response). Never reuse.
      if (stoppedAt < chunk.length) this.keepAlive = false;
      return this.afterResponse();
    }
    if (res === EXEC_UPGRADE) return this.upgraded(chunk.subarray(stoppedAt));
    this.lose(Object.assign(this.parser.lastError!, { code: 'UND_ERR_SOCKET' }), false);
  }

  onEnd(): void {
    // A response framed by connection close ends here.
    if (this.req !== undefined && this.headersDone) {
      const err = this.parser.finish();
      if (err !== undefined) return this.lose(Object.assign(err, { code: 'UND_ERR_SOCKET' }), false);
      if (this.responseDone) {
        this.keepAlive = false;
        return this.afterResponse();
      }
    }
    this.lose(socketError('other side closed', 'UND_ERR_SOCKET'), true);
  }

  onError(err: Error): void {
    if (!(err as { code?: string }).code) Object.assign(err, { code: 'UND_ERR_SOCKET' });
    this.lose(err, true);
  }

  onClose(): void {
    this.lose(socketError('other side closed', 'UND_ERR_SOCKET'), true);
  }

  /** The connection is lost: its request (if any) is replayed once when safe, else fails with `err`. */
  private lose(err: Error, mayReplay: boolean): void {
    const r = this.req;
    this.req = undefined;
    this.destroy();
    if (r === undefined) return;
    r.conn = undefined;
    if (mayReplay && this.canReplay(r)) return this.pool.replay(r);
    r.handler.onError?.(err);
  }

  /** A keep-alive connection the server closed as we reused it: nothing was answered, safe to send again. */
  private canReplay(r: PendingRequest): boolean {
    if (this.served <= 1 || this.gotBytes || r.replays > 0 || r.aborted) return false;
    const b = r.opts.body;
    return IDEMPOTENT.has(r.opts.method) && (b == null || typeof b === 'string' || Buffer.isBuffer(b));
  }

  /** Closes the connection; a request still on it is failed (callers that replay take it off first). */
  destroy(): void {
    if (this.gone) return;
    this.gone = true;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    if (this.headersTimer !== undefined) clearTimeout(this.headersTimer);
    this.socket.destroy();
    // Never free the parser under its own execute(): onData frees it after.
    if (!this.executing) this.parser.destroy();
    liveConnections.get(this.pool)?.delete(this);
    this.pool.removed(this);
    const r = this.req;
    if (r !== undefined) {
      this.req = undefined;
      r.conn = undefined;
      r.handler.onError?.(socketError('upstream connection closed', 'UND_ERR_SOCKET'));
    }
  }

  private upgraded(rest: Buffer): void {
    const r = this.req!;
    // A 101 to a request that asked for no upgrade: nobody could take the socket.
    if (!r.opts.upgrade) return this.lose(socketError('unexpected upgrade response', 'UND_ERR_SOCKET'), false);
    this.req = undefined;
    this.gone = true;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    if (this.headersTimer !== undefined) clearTimeout(this.headersTimer);
    const s = this.socket;
    s.off('data', onSocketData);
    s.off('end', onSocketEnd);
    s.off('close', onSocketClose);
    s.off('error', onSocketError);
    this.parser.destroy();
    liveConnections.get(this.pool)?.delete(this);
    this.pool.removed(this);
    // Handed over as node:http hands an upgraded socket: not flowing until its new reader
    // attaches (a 'data' listener or pipe), with what followed the head put back in front.
    (s as { readableFlowing: boolean | null }).readableFlowing = null;
    if (rest.length) s.unshift(rest);
    (r.handler as { onUpgrade?: (status: number, raw: string[], socket: Socket) => void }).onUpgrade?.(this.status, this.raw, s);
  }

  // ------------------------------------------------------------ parser events

  onMessageBegin(): number {
    this.raw = [];
    this.trailers = undefined;
    this.lastWasValue = false;
    this.headBytes = 0;
    this.headersDone = false;
    this.mark = -1;
    return 0;
  }

  onUrl(): number {
    return 0;
  }

  onHeaderField(s: string): number {
    if ((this.headBytes += s.length) > (this.pool.options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES)) return -1;
    const list = this.headersDone ? (this.trailers ??= []) : this.raw;
    if (this.lastWasValue || list.length === 0) list.push(s, '');
    else list[list.length - 2] += s;
    this.lastWasValue = false;
    return 0;
  }

  onHeaderValue(v: string, end: number): number {
    if ((this.headBytes += v.length) > (this.pool.options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES)) return -1;
    const list = this.headersDone ? this.trailers! : this.raw;
    list[list.length - 1] += v;
    this.lastWasValue = true;
    this.mark = this.base + end;
    return 0;
  }

  onHeadersComplete(status: number, upgrade: boolean, keepAlive: boolean): number {
    const r = this.req!;
    this.status = status;
    this.keepAlive = keepAlive;
    if (status === 101 && upgrade && r.opts.upgrade) {
      this.headersDone = true; // handed over on the pause that follows the head
      return 0;
    }
    if (status < 200) {
      // 1xx: informational, a whole message of its own; the real response follows.
      if (status !== 101 || !upgrade) r.handler.onHeaders?.(status, this.raw as unknown as Buffer[], this.resume, '');
      return 0;
    }
    this.headersDone = true;
    this.bodyMark = this.mark >= 0 ? this.mark : this.parsed; // no header value: the start of this read
    if (keepAlive) {
      // Close before the server would: a request sent as its keep-alive timer fires is lost
      // (replayable only when idempotent and bodiless).
      const hint = keepAliveHint(this.raw);
      if (hint >= 0) {
        this.serverIdleMs = hint;
        if (hint === 0) this.keepAlive = false;
      }
    }
    r.handler.onUpstreamSocket?.(this.socket);
    const paused = r.handler.onHeaders?.(status, this.raw as unknown as Buffer[], this.resume, '') === false;
    if (paused && !this.gone) this.socket.pause();
    return r.opts.method === 'HEAD' || status === 204 || status === 304 ? SKIP_BODY : 0;
  }

  onBody(b: Buffer, offset: number): number {
    const at = this.base + offset;
    if (at - this.bodyMark > MAX_CHUNK_GAP) return -1;
    this.bodyMark = at + b.length;
    const r = this.req;
    if (r === undefined) return 0;
    if (r.handler.onData?.(b) === false && !this.gone) this.socket.pause();
    return 0;
  }

  onMessageComplete(): number {
    const r = this.req;
    if (r === undefined) return 0;
    if (!this.headersDone) return 0; // end of a 1xx
    if (this.status === 101 && r.opts.upgrade) return 0;
    // Answered before the request body was all sent: the connection cannot be reused.
    if (this.bodyPending) this.keepAlive = false;
    const trailers = this.trailers;
    r.handler.onComplete?.(trailers ?? null);
    // Pause here: what follows in this read is checked (and the connection released) by onData.
    this.responseDone = true;
    return HPE_PAUSED;
  }

  /** The exchange is complete both ways: keep the connection or close it. */
  private afterResponse(): void {
    this.responseDone = false;
    const r = this.req;
    this.req = undefined;
    if (r !== undefined) r.conn = undefined;
    if (this.gone) return;
    const max = this.pool.options.maxRequestsPerConnection;
    if (!this.keepAlive || (max > 0 && this.served >= max)) {
      // Closing from inside a parser callback is fine: destroy only touches the socket.
      return this.destroy();
    }
    if (this.socket.isPaused()) this.socket.resume();
    this.pool.release(this);
  }
}
