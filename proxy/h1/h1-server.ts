// The downstream side of the HTTP/1.1 engine: one instance per client
// connection, parsing requests with llhttp and answering through a light
// response object. Requests and responses look enough like node:http's
// IncomingMessage / ServerResponse (the fields the exchange, local replies,
// RBAC and telemetry read) that the request path is shared with HTTP/2, but
// none of node:http's per-request streams, header objects on the response
// side, or extra writes are paid: a response's head and its first body chunk
// leave in one write, and a small complete response in exactly one.
//
// Requests on one connection are answered in order, one at a time: a
// pipelined request is parsed only after the previous response ended (the
// parser pauses at its first byte).
//
// Hostile input: llhttp runs strict (CL+TE, duplicate lengths, bad chunks,
// obs-fold, bare LF/CR, bad tokens → 400 and close); a request reaches the
// handler only once every byte of its read parsed, so a malformed tail in
// the same packet is never forwarded. Limits: head bytes and field count
// (431), head time (408), chunk-extension bytes, unread-body discard, idle
// time, and the flush/linger time of a closing connection.

import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { HttpLimits } from '../config/resources.js';
import { EXEC_ERROR, EXEC_PAUSED, EXEC_UPGRADE, HPE_PAUSED, Parser, PARSE_REQUEST, type ParserEvents } from './llhttp.js';

/** What the connection hands its requests to (HttpChain.handle), and upgrades (WebSockets). */
export interface H1Handler {
  handle(req: H1Request, res: H1Response): void;
  upgrade(req: H1Request, socket: Socket, head: Buffer): void;
}

/** Request facts shared by bodiless requests and requests with a body (a Readable). */
export interface H1Request {
  readonly method: string;
  url: string;
  readonly rawHeaders: string[];
  readonly headers: Record<string, string | undefined>;
  readonly httpVersionMajor: 1;
  readonly httpVersionMinor: number;
  readonly socket: Socket;
}

function headerObject(raw: string[]): Record<string, string | undefined> {
  const h: Record<string, string | undefined> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    const prev = h[k];
    // Node's convention: repeated fields joined with ', ' (cookie with '; ').
    h[k] = prev === undefined ? raw[i + 1] : `${prev}${k === 'cookie' ? '; ' : ', '}${raw[i + 1]}`;
  }
  return h;
}

class BodilessRequest implements H1Request {
  readonly httpVersionMajor = 1 as const;
  private h: Record<string, string | undefined> | undefined = undefined;
  constructor(
    readonly method: string,
    public url: string,
    readonly rawHeaders: string[],
    readonly httpVersionMinor: number,
    readonly socket: Socket,
  ) {}
  get headers(): Record<string, string | undefined> {
    return (this.h ??= headerObject(this.rawHeaders));
  }
}

/** A request with a body: the body is the stream (as IncomingMessage is). */
class BodyRequest extends Readable implements H1Request {
  readonly httpVersionMajor = 1 as const;
  private h: Record<string, string | undefined> | undefined = undefined;
  constructor(
    readonly method: string,
    public url: string,
    readonly rawHeaders: string[],
    readonly httpVersionMinor: number,
    readonly socket: Socket,
    private readonly conn: H1ServerConnection,
  ) {
    super();
  }
  get headers(): Record<string, string | undefined> {
    return (this.h ??= headerObject(this.rawHeaders));
  }
  override _read(): void {
    this.conn.bodyWanted();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // As node:http's IncomingMessage: a client gone mid-body is an 'error' only for whoever
    // listens for one (a local reply that never read the body must not crash the process).
    cb(this.listenerCount('error') > 0 ? err : null);
  }
}

const CRLF = '\r\n';
const NO_BODY_STATUS = (s: number) => s === 204 || s === 304 || s < 200;

/** The response of one request, written straight to the connection's socket. */
export class H1Response extends EventEmitter {
  headersSent = false;
  statusCode = 200;
  destroyed = false;
  writableEnded = false;
  /** Set false to close the connection after this response (draining, 431). */
  shouldKeepAlive: boolean;
  private head: string | undefined = undefined;
  private chunked = false;
  private hasLength = false;
  /** HEAD, 1xx, 204, 304: body bytes handed to write()/end() never go out. */
  private noBody = false;
  /** Bytes still owed to a declared content-length (NaN when none was declared). */
  private left = NaN;

  constructor(
    private readonly conn: H1ServerConnection,
    readonly socket: Socket,
    keepAlive: boolean,
    private readonly isHead: boolean,
    private readonly http10: boolean,
  ) {
    super();
    this.shouldKeepAlive = keepAlive;
  }

  /** Status and headers (a flat [name, value, …] list or an object); sent with the first body bytes or end(). */
  writeHead(status: number, headers?: readonly string[] | Record<string, string | number | readonly string[]>): this {
    if (this.headersSent) return this;
    this.headersSent = true;
    this.statusCode = status;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    if (headers !== undefined) {
      if (Array.isArray(headers)) {
        for (let i = 0; i < headers.length; i += 2) head += this.field(headers[i] as string, headers[i + 1] as string);
      } else {
        for (const k in headers) {
          const v = (headers as Record<string, string | number | readonly string[]>)[k]!;
          if (Array.isArray(v)) for (const one of v) head += this.field(k.toLowerCase(), String(one));
          else head += this.field(k.toLowerCase(), String(v));
        }
      }
    }
    this.head = head;
    return this;
  }

  private field(name: string, value: string): string {
    if (value.indexOf('\n') >= 0 || value.indexOf('\r') >= 0 || name.indexOf('\n') >= 0 || name.indexOf('\r') >= 0) return ''; // never split the head
    // Framing headers are compared case-insensitively (only names of their lengths pay the lowercasing).
    const n = name.length;
    if (n === 14 || n === 17 || n === 10) {
      const l = name.toLowerCase();
      if (l === 'content-length') {
        if (this.hasLength) return ''; // one length only: two would be a smuggling vector downstream
        this.hasLength = true;
        this.left = Number(value);
      } else if (l === 'transfer-encoding' || l === 'connection' || l === 'keep-alive') return ''; // framing is ours
    }
    return `${name}: ${value}\r\n`;
  }

  /** Ends the head: framing and connection headers, decided when the first body bytes (or the end) are known. */
  private finishHead(endLength: number): string {
    let head = this.head!;
    this.head = undefined;
    const bodyless = this.isHead || NO_BODY_STATUS(this.statusCode);
    this.noBody = bodyless;
    if (this.conn.draining) this.shouldKeepAlive = false; // drain began while this request ran
    if (!this.hasLength && !bodyless) {
      if (endLength >= 0) head += `content-length: ${endLength}\r\n`;
      else if (this.http10) this.shouldKeepAlive = false; // close-delimited
      else {
        this.chunked = true;
        head += 'transfer-encoding: chunked\r\n';
      }
    }
    if (!this.shouldKeepAlive) head += 'connection: close\r\n';
    else if (this.http10) head += 'connection: keep-alive\r\n'; // an HTTP/1.0 client closes otherwise
    return head + CRLF;
  }

  write(chunk: Buffer | string): boolean {
    if (this.writableEnded || this.destroyed) return false;
    if (!this.headersSent) this.writeHead(200);
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.head !== undefined) {
      const head = this.finishHead(-1);
      if (buf.length === 0 || this.noBody) return this.socket.write(head, 'latin1');
      this.left -= buf.length;
      return this.chunked ? this.writeChunked(head, buf) : this.writeJoined(head, buf);
    }
    if (buf.length === 0 || this.noBody) return true;
    this.left -= buf.length;
    return this.chunked ? this.writeChunked('', buf) : this.socket.write(buf);
  }

  private writeJoined(head: string, buf: Buffer): boolean {
    if (buf.length > 16 * 1024) {
      this.socket.cork();
      this.socket.write(head, 'latin1');
      const ok = this.socket.write(buf);
      this.socket.uncork();
      return ok;
    }
    const out = Buffer.allocUnsafe(head.length + buf.length);
    out.write(head, 0, 'latin1');
    buf.copy(out, head.length);
    return this.socket.write(out);
  }

  /** One chunk: size line, data and its CRLF always go out together (back-pressure or not). */
  private writeChunked(prefix: string, buf: Buffer): boolean {
    const head = `${prefix}${buf.length.toString(16)}\r\n`;
    const s = this.socket;
    if (buf.length > 16 * 1024) {
      s.cork();
      s.write(head, 'latin1');
      s.write(buf);
      const ok = s.write(CRLF, 'latin1');
      s.uncork();
      return ok;
    }
    const out = Buffer.allocUnsafe(head.length + buf.length + 2);
    out.write(head, 0, 'latin1');
    buf.copy(out, head.length);
    out[out.length - 2] = 13;
    out[out.length - 1] = 10;
    return s.write(out);
  }

  private trailers: string | undefined = undefined;

  addTrailers(t: Record<string, string>): void {
    let s = '';
    for (const k in t) {
      const v = String(t[k]);
      if (v.indexOf('\n') < 0 && v.indexOf('\r') < 0 && k.indexOf('\n') < 0 && k.indexOf('\r') < 0) s += `${k}: ${v}\r\n`;
    }
    this.trailers = s;
  }

  end(data?: Buffer | string): this {
    if (this.writableEnded || this.destroyed) return this;
    if (!this.headersSent) this.writeHead(200);
    const buf = data === undefined ? undefined : typeof data === 'string' ? Buffer.from(data) : data;
    if (this.head !== undefined) {
      // Nothing written yet: the whole body is known, so it gets a content-length (one write).
      const head = this.finishHead(buf?.length ?? 0);
      if (buf === undefined || buf.length === 0 || this.noBody) this.socket.write(head, 'latin1');
      else {
        this.left -= buf.length;
        this.writeJoined(head, buf);
      }
    } else {
      if (buf !== undefined && buf.length > 0) this.write(buf);
      if (this.chunked) this.socket.write(this.trailers ? `0\r\n${this.trailers}\r\n` : '0\r\n\r\n', 'latin1');
    }
    // A body that does not match its declared content-length leaves the client unable to find the
    // next response: the connection cannot be reused (it closes once this response is flushed).
    if (this.hasLength && !this.noBody && this.left !== 0) this.shouldKeepAlive = false;
    this.writableEnded = true;
    // No 'finish'/'close' events on a normal end (the exchange records itself right after end()):
    // 'close' means the connection went away under an unfinished response.
    this.conn.responseEnded(this);
    return this;
  }

  /** Aborts the response: the only way to tell an HTTP/1.1 client that it was cut short. */
  destroy(): this {
    if (this.destroyed || this.writableEnded) return this;
    this.destroyed = true;
    this.socket.destroy();
    return this;
  }

  /** The connection went away under this response. */
  closedUnder(): void {
    if (this.writableEnded) return;
    this.destroyed = true;
    this.emit('close');
  }
}

export interface H1ServerOptions {
  limits: HttpLimits;
  /** Called when the connection closes (the chain's connection set). */
  onClose?: (c: H1ServerConnection) => void;
}

const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-tsmesh-error: MESH_BAD_REQUEST\r\nconnection: close\r\n\r\n';
const TOO_LARGE = 'HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nx-tsmesh-error: MESH_HEADERS_TOO_LARGE\r\nconnection: close\r\n\r\n';
const TIMED_OUT = 'HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nx-tsmesh-error: MESH_REQUEST_HEADERS_TIMEOUT\r\nconnection: close\r\n\r\n';
const INTERNAL_ERROR = 'HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nx-tsmesh-error: MESH_INTERNAL\r\nconnection: close\r\n\r\n';
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
/** An unread request body larger than this is not drained after its response: the connection closes. */
const MAX_DISCARD = 256 * 1024;
/**
 * Closing while the client may still be sending (an unread body, a rejected head): our side
 * ends first and the socket stays open this long, reading and dropping, so that the client's
 * kernel is not sent a reset that would discard the answer before the client read it.
 */
const LINGER_MS = 2_000;
/**
 * Longest a closing connection may take to flush what was written (a client that stops
 * reading would otherwise hold it forever): the idle timeout, at most 30 s.
 */
const MAX_FLUSH_MS = 30_000;
/**
 * Most bytes between two pieces of chunked body data (CRLF, size line, chunk extensions):
 * llhttp neither keeps nor bounds extensions, so an endless one would be read forever
 * (Node bounds them the same way, CVE-2024-22019). Trailers are bounded by the head limit.
 */
const MAX_CHUNK_GAP = 16 * 1024;

function onData(this: Socket, chunk: Buffer): void {
  (this as unknown as { [kConn]: H1ServerConnection })[kConn].onData(chunk);
}
function onDrain(this: Socket): void {
  (this as unknown as { [kConn]: H1ServerConnection })[kConn].onDrain();
}
function onClose(this: Socket): void {
  (this as unknown as { [kConn]: H1ServerConnection })[kConn].onClose();
}
function onError(): void {}
function onEnd(this: Socket): void {
  (this as unknown as { [kConn]: H1ServerConnection })[kConn].onEnd();
}
function onHeadTimer(c: H1ServerConnection): void {
  c.onHeadTimer();
}
function onIdleTimer(c: H1ServerConnection): void {
  c.onIdleTimer();
}
function parsePending(c: H1ServerConnection): void {
  c.parsePending();
}
function destroySocket(s: Socket): void {
  s.destroy();
}
function destroyOnFinish(this: Socket): void {
  this.destroy();
}
function lingerOnFinish(this: Socket): void {
  // Half-open now: the client's FIN (or the timer) ends it; what it still sends is dropped.
  this.resume();
  (this as unknown as { [kConn]: H1ServerConnection })[kConn].closeWithin(LINGER_MS);
}
const kConn = Symbol('tsmesh.h1server');

export class H1ServerConnection implements ParserEvents {
  private readonly parser = new Parser(PARSE_REQUEST, this);
  private res: H1Response | undefined = undefined;
  private body: BodyRequest | undefined = undefined;
  /** A request whose head was parsed: handed to the handler once the bytes of this read are parsed. */
  private started: H1Request | undefined = undefined;
  /** Bytes after a pause, parsed when the current response ends. */
  private pending: Buffer | undefined = undefined;
  private beginPending = false;
  // the request being parsed
  private url = '';
  private raw: string[] = [];
  private lastWasValue = false;
  private headBytes = 0;
  private inHead = false;
  /** The head timer runs for the request being parsed (armed once, when its head outlasts a read). */
  private headArmed = false;
  /** From a request's first byte to its last (body included, read or discarded). */
  private inMessage = false;
  private tooLarge = false;
  private upgradeReq: H1Request | undefined = undefined;
  /** Declared body bytes not yet parsed (-1: chunked, unknown). */
  private bodyLeft = 0;
  // Stream positions (bytes parsed on this connection) for MAX_CHUNK_GAP: `base` is the
  // position of the chunk being parsed (a callback's offset within it makes a position),
  // `mark` is the end of the last head value, `bodyMark` the end of the last chunk data.
  private parsed = 0;
  private base = 0;
  private mark = 0;
  private bodyMark = 0;
  private discarding = 0;
  /** The request body's reader is behind: reading stays paused until it asks for more. */
  private bodyFull = false;
  private executing = false;
  private closed = false;
  /** Draining: close after the response in progress. */
  private closeAfter = false;
  /** The client's FIN arrived (nothing more to read: no linger on close). */
  private peerEnded = false;
  private headTimer: NodeJS.Timeout | undefined = undefined;
  private idleTimer: NodeJS.Timeout | undefined = undefined;
  private closeTimer: NodeJS.Timeout | undefined = undefined;
  private readonly maxHead: number;
  private readonly maxFields: number;

  constructor(
    readonly socket: Socket,
    private readonly handler: H1Handler,
    private readonly options: H1ServerOptions,
  ) {
    this.maxHead = options.limits.maxRequestHeadersKb * 1024;
    this.maxFields = 2 * (options.limits.maxHeadersCount > 0 ? options.limits.maxHeadersCount : Infinity);
    (socket as unknown as { [kConn]: H1ServerConnection })[kConn] = this;
    socket.setNoDelay(true);
    socket.on('data', onData);
    socket.on('drain', onDrain);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('error', onError);
    socket.resume(); // a TLS terminator may hand the socket over paused
    this.armIdle();
  }

  /** drain() was called: responses say `connection: close`. */
  get draining(): boolean {
    return this.closeAfter;
  }

  /** True while no request is in progress (drain closes such connections at once). */
  get idle(): boolean {
    return this.res === undefined && !this.inMessage && this.pending === undefined;
  }

  // -------------------------------------------------------------- socket

  onData(chunk: Buffer): void {
    if (this.closed) return;
    if (this.pending !== undefined) {
      // Paused behind a response: keep the bytes in order (bounded by TCP flow control: reading is paused).
      this.pending = Buffer.concat([this.pending, chunk]);
      return;
    }
    this.parse(chunk);
  }

  private parse(chunk: Buffer): void {
    this.executing = true;
    this.base = this.parsed;
    let r;
    try {
      r = this.parser.execute(chunk);
    } catch {
      // A callback threw (a body reader's bug): this connection is lost, the process is not.
      this.executing = false;
      this.started = undefined;
      return this.close();
    } finally {
      this.executing = false;
    }
    if (this.closed) return this.parser.destroy();
    // A head still incomplete after this read: its timer starts (loop time, so as at its first
    // byte). Almost every head arrives whole in one read and never touches the timer; a timer
    // left from an earlier head finds no head in progress when it fires.
    if (this.inHead && !this.headArmed) {
      this.headArmed = true;
      this.armHead();
    }
    const req = this.started;
    this.started = undefined;
    const stopped = r === EXEC_PAUSED || r === EXEC_UPGRADE;
    this.parsed += stopped ? this.parser.stoppedAt : chunk.length;
    if (r === EXEC_ERROR || (this.bodyLeft === -1 && this.parsed - this.bodyMark > MAX_CHUNK_GAP + this.maxHead)) {
      // A malformed request: answer 400/431 when nothing was answered on this request yet, else
      // reset. A request whose head arrived with the malformed bytes never reaches the handler.
      if (this.res !== undefined && this.res.headersSent) return this.close();
      return this.close(this.tooLarge ? TOO_LARGE : BAD_REQUEST);
    }
    if (r === EXEC_UPGRADE) {
      const up = this.upgradeReq;
      this.upgradeReq = undefined;
      this.detach();
      if (up === undefined || up.method === 'CONNECT') return void this.socket.end(BAD_REQUEST, 'latin1');
      try {
        return this.handler.upgrade(up, this.socket, chunk.subarray(this.parser.stoppedAt));
      } catch {
        return void this.socket.destroy(); // as a throwing handle(): the connection, not the process
      }
    }
    if (r === EXEC_PAUSED) {
      this.pending = chunk.subarray(this.parser.stoppedAt);
      this.socket.pause();
    }
    if (req !== undefined) {
      if (this.body !== undefined && req.httpVersionMinor > 0 && expectsContinue(req.rawHeaders)) this.socket.write(CONTINUE, 'latin1');
      const res = this.res!;
      try {
        this.handler.handle(req, res);
      } catch {
        // A handler bug must cost this connection, never the process (it serves every other one).
        if (!res.headersSent) this.close(INTERNAL_ERROR);
        else this.close();
      }
    }
  }

  /** Bytes held behind a response that has ended: parse them now (outside the response's own stack). */
  parsePending(): void {
    const p = this.pending;
    if (this.closed || p === undefined) return;
    this.pending = undefined;
    this.parser.resume();
    if (this.beginPending) {
      this.beginPending = false;
      this.begin();
    }
    this.parse(p);
    if (this.closed || this.pending !== undefined) return;
    if (!this.bodyFull) this.socket.resume();
  }

  onDrain(): void {
    const res = this.res;
    if (res !== undefined) res.emit('drain');
  }

  onEnd(): void {
    // The client is gone (no half-open HTTP, as node:http's default and Envoy): what was
    // written is flushed, a response in progress is closed under its handler (the upstream
    // request is aborted), requests read but not answered yet are dropped.
    this.peerEnded = true;
    this.close('');
  }

  onClose(): void {
    // The timer must not keep the socket (and this connection) alive once it is gone.
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    this.close();
  }

  /** Destroys the socket after `ms` at the latest (closing: flush or linger bound). */
  closeWithin(ms: number): void {
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    this.closeTimer = setTimeout(destroySocket, ms, this.socket);
    this.closeTimer.unref();
  }

  bodyWanted(): void {
    this.bodyFull = false;
    if (this.pending === undefined && !this.closed) this.socket.resume();
  }

  /** Stop reading this connection as HTTP (an upgrade took it over). */
  private detach(): void {
    this.closed = true;
    this.clearTimers();
    const s = this.socket;
    s.off('data', onData);
    s.off('drain', onDrain);
    s.off('end', onEnd);
    s.off('close', onClose);
    (s as { readableFlowing: boolean | null }).readableFlowing = null; // as node:http: nothing flows until the new reader attaches
    this.options.onClose?.(this);
    if (!this.executing) this.parser.destroy();
  }

  /** Closes the connection; `last` (a final reply) and anything already written are flushed first. */
  close(last?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    const s = this.socket;
    if (s.writable && (last !== undefined || s.writableLength > 0)) {
      if (last) s.end(last, 'latin1');
      else s.end();
      // The client may still be sending this request: linger rather than reset under the answer.
      s.once('finish', this.inMessage && !this.peerEnded ? lingerOnFinish : destroyOnFinish);
      const idle = this.options.limits.idleTimeout;
      this.closeWithin(idle > 0 && idle < MAX_FLUSH_MS ? idle : MAX_FLUSH_MS);
    } else s.destroy();
    if (!this.executing) this.parser.destroy();
    const res = this.res;
    this.res = undefined;
    res?.closedUnder();
    const body = this.body;
    this.body = undefined;
    if (body !== undefined && !body.readableEnded) body.destroy(Object.assign(new Error('downstream closed'), { code: 'ECONNRESET' }));
    this.options.onClose?.(this);
  }

  /** Graceful drain: close now when idle, else after the current response. */
  drain(): void {
    if (this.idle) this.close('');
    else this.closeAfter = true;
  }

  // -------------------------------------------------------------- timers

  private clearTimers(): void {
    if (this.headTimer !== undefined) clearTimeout(this.headTimer);
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
  }

  private armIdle(): void {
    const ms = this.options.limits.idleTimeout;
    if (ms <= 0) return;
    if (this.idleTimer !== undefined) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(onIdleTimer, ms, this);
      this.idleTimer.unref();
    }
  }

  onIdleTimer(): void {
    if (this.closed) return;
    // FIN, not RST: a client racing a request against this close sees a clean end and retries.
    if (this.idle) this.close('');
    else this.idleTimer!.refresh(); // busy: idle time counts from the end of this exchange
  }

  private armHead(): void {
    const l = this.options.limits;
    const ms = l.requestHeadersTimeout || (l.requestTimeout ? Math.min(60_000, l.requestTimeout) : 60_000);
    if (this.headTimer !== undefined) this.headTimer.refresh();
    else {
      this.headTimer = setTimeout(onHeadTimer, ms, this);
      this.headTimer.unref();
    }
  }

  onHeadTimer(): void {
    // Slow headers (slowloris): 408 and close, as node:http's headersTimeout does.
    if (!this.inHead || this.closed) return;
    this.close(TIMED_OUT);
  }

  // -------------------------------------------------------------- parser events

  onMessageBegin(): number {
    if (this.res !== undefined) {
      // A pipelined request while the previous response is in progress: parse it later.
      this.beginPending = true;
      return HPE_PAUSED;
    }
    this.begin();
    return 0;
  }

  private begin(): void {
    this.url = '';
    this.raw = [];
    this.lastWasValue = false;
    this.headBytes = 0;
    this.inHead = true;
    this.inMessage = true;
    this.headArmed = false;
  }

  onUrl(s: string): number {
    if ((this.headBytes += s.length) > this.maxHead) return this.overflow();
    this.url += s;
    return 0;
  }

  private overflow(): number {
    this.tooLarge = true;
    return -1;
  }

  onHeaderField(f: string): number {
    if ((this.headBytes += f.length) > this.maxHead) return this.overflow();
    if (!this.inHead) return 0; // a trailer: counted against the head limit, not kept
    const raw = this.raw;
    if (this.lastWasValue || raw.length === 0) {
      if (raw.length >= this.maxFields) return this.overflow(); // Envoy max_headers_count: 431
      raw.push(f.toLowerCase(), '');
    } else raw[raw.length - 2] += f.toLowerCase();
    this.lastWasValue = false;
    return 0;
  }

  onHeaderValue(v: string, end: number): number {
    if ((this.headBytes += v.length) > this.maxHead) return this.overflow();
    if (this.inHead) {
      const raw = this.raw;
      raw[raw.length - 1] += v;
      this.mark = this.base + end;
    }
    this.lastWasValue = true;
    return 0;
  }

  onHeadersComplete(_status: number, upgrade: boolean, keepAlive: boolean): number {
    this.inHead = false;
    const p = this.parser;
    // HTTP/1.0 and 1.1 only (llhttp also takes 0.9 and 2.0 request lines).
    if (p.httpMajor !== 1) return -1;
    const method = p.method;
    const minor = p.httpMinor;
    const raw = this.raw;
    const left = declaredBody(raw, minor === 1);
    if (left === INVALID_HEAD) return -1;
    if (upgrade) {
      // An upgrade carrying a body is refused: its bytes would be neither request nor tunnel.
      if (left !== 0) return -1;
      this.upgradeReq = new BodilessRequest(method, this.url, raw, minor, this.socket);
      return 0;
    }
    this.bodyLeft = left;
    this.bodyMark = this.mark;
    const req = left !== 0 ? new BodyRequest(method, this.url, raw, minor, this.socket, this) : new BodilessRequest(method, this.url, raw, minor, this.socket);
    if (left !== 0) this.body = req as BodyRequest;
    // RFC 9112 §6.1: an HTTP/1.0 message with transfer-encoding has faulty framing: close after it.
    this.res = new H1Response(this, this.socket, keepAlive && !this.closeAfter && !(minor === 0 && left === -1), method === 'HEAD', minor === 0);
    this.started = req;
    return 0;
  }

  onBody(b: Buffer, offset: number): number {
    if (this.bodyLeft > 0) this.bodyLeft -= b.length;
    else if (this.bodyLeft === -1) {
      const at = this.base + offset;
      if (at - this.bodyMark > MAX_CHUNK_GAP) return -1;
      this.bodyMark = at + b.length;
    }
    const body = this.body;
    if (body === undefined) {
      // The response already ended and nobody reads this body: discard it, within a bound.
      if ((this.discarding += b.length) > MAX_DISCARD) {
        this.close('');
        return -1;
      }
      return 0;
    }
    if (!body.push(b)) {
      this.bodyFull = true;
      this.socket.pause();
    }
    return 0;
  }

  onMessageComplete(): number {
    if (this.upgradeReq !== undefined) return 0;
    this.inMessage = false;
    const body = this.body;
    this.body = undefined;
    this.discarding = 0;
    this.bodyLeft = 0;
    if (body !== undefined) {
      body.push(null);
      // Reading may have been paused for this body's back-pressure; the next request must be read.
      this.bodyFull = false;
      if (this.pending === undefined) this.socket.resume();
    }
    if (this.closeAfter && this.res === undefined) this.close('');
    return 0;
  }

  // -------------------------------------------------------------- responses

  /** The response went out whole: next request (parsed now if it was waiting), or close. */
  responseEnded(res: H1Response): void {
    if (this.res !== res) return;
    this.res = undefined;
    // A large body still on its way is not drained: close (after a linger) instead.
    if (!res.shouldKeepAlive || this.closeAfter || this.bodyLeft > MAX_DISCARD) return this.close('');
    const body = this.body;
    if (body !== undefined) {
      // Answered before the request body was read: discard the rest of it (bounded) to keep the connection.
      this.body = undefined;
      body.destroy();
      this.bodyFull = false;
      if (this.pending === undefined) this.socket.resume();
    }
    this.armIdle();
    // Held bytes are parsed outside the caller's stack (the end may run inside an upstream
    // parser callback); reading stays paused until then so that nothing overtakes them.
    if (this.pending !== undefined) setImmediate(parsePending, this);
  }
}

/** The request body's declared length: 0 = none, -1 = chunked (llhttp has already refused conflicting framings). */
const INVALID_HEAD = -2;

/**
 * The request body's declared length (0 = none, -1 = chunked; llhttp has already refused
 * conflicting framings), or INVALID_HEAD: an HTTP/1.1 request without a Host, or any with
 * several (RFC 9112 §3.2: 400; two hosts would let the proxy and the upstream route apart).
 */
function declaredBody(raw: string[], needHost: boolean): number {
  let body = 0;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n === 'host') hosts++;
    else if (n === 'transfer-encoding') body = -1;
    else if (n === 'content-length' && body === 0) body = Number(raw[i + 1]);
  }
  if (hosts > 1 || (hosts === 0 && needHost)) return INVALID_HEAD;
  return body;
}

function expectsContinue(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) if (raw[i] === 'expect' && raw[i + 1]!.toLowerCase() === '100-continue') return true;
  return false;
}
