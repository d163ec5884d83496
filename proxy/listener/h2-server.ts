// The downstream side of HTTP/2 on node:http2's core API: each stream of a
// session (its 'stream' event: stream, headers, flags, raw headers) becomes
// a light request/response pair shaped like the HTTP/1.1 engine's (the
// fields the exchange, local replies, RBAC and telemetry read), without the
// compatibility layer's per-request objects (Http2ServerRequest/Response,
// their header maps, socket proxies and extra listeners).
//
// The request's header object is the one nghttp2's headers arrived in (no
// copy); a request without a body is a plain object, one with a body a
// Readable fed from the stream with back-pressure (a paused reader pauses
// the stream, so HTTP/2 flow control stops the client). The response sends
// its HEADERS once: with END_STREAM when the answer has no body, otherwise
// before the first DATA; trailers (gRPC) go out through waitForTrailers /
// sendTrailers. A response cut short resets the stream (INTERNAL_ERROR).
// Session-level limits (concurrent streams, header list size and pairs,
// memory) are the session's SETTINGS; idle time and GOAWAY drain live in
// h2-sessions.ts.

import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { sessionStreamClosed } from './h2-sessions.js';
import { H2_FLAG_END_STREAM, H2_NO_ERROR } from '../lazy-builtins.js';

/** Resets a stream with RST_STREAM(INTERNAL_ERROR). */
const RESET = Object.assign(new Error('response cut short'), { code: 'MESH_STREAM_RESET' });

/** What the streams are handed to (HttpChain.handle). */
export type H2Handle = (req: H2Request, res: H2Response) => void;

/** Request facts shared by bodiless requests and requests with a body (a Readable). */
export interface H2Request {
  readonly method: string;
  url: string;
  readonly rawHeaders: string[];
  /** nghttp2's header object: lower-case names, pseudo-headers included, repeats joined as Node does. */
  readonly headers: IncomingHttpHeaders;
  readonly httpVersionMajor: 2;
  readonly httpVersionMinor: 0;
  /** The connection's socket (TLS socket on TLS listeners). */
  readonly socket: Socket;
  readonly stream: ServerHttp2Stream;
}

class BodilessRequest implements H2Request {
  readonly httpVersionMajor = 2 as const;
  readonly httpVersionMinor = 0 as const;
  constructor(
    readonly method: string,
    public url: string,
    readonly rawHeaders: string[],
    readonly headers: IncomingHttpHeaders,
    readonly socket: Socket,
    readonly stream: ServerHttp2Stream,
  ) {}
}

/** The one property hung on node:http2's stream (each added property is a map transition on an object its hot paths read). */
const kRes = Symbol('tsmesh.h2Response');
type Tagged = ServerHttp2Stream & { [kRes]: H2Response };

/** A request with a body: the body is the stream (as IncomingMessage is). */
class BodyRequest extends Readable implements H2Request {
  readonly httpVersionMajor = 2 as const;
  readonly httpVersionMinor = 0 as const;
  constructor(
    readonly method: string,
    public url: string,
    readonly rawHeaders: string[],
    readonly headers: IncomingHttpHeaders,
    readonly socket: Socket,
    readonly stream: ServerHttp2Stream,
  ) {
    super();
    // A client gone mid-body is seen in the response's 'close' listener (onStreamClose), which
    // every stream has: no 'aborted' listener of its own.
    stream.on('data', onBodyData);
    stream.on('end', onBodyEnd);
  }
  override _read(): void {
    const s = this.stream;
    if (s.isPaused()) s.resume();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // A reader that gave up (an upstream that failed, a local reply): stop reading the client's body.
    const s = this.stream;
    s.removeListener('data', onBodyData);
    if (!s.destroyed) s.resume();
    // As node:http's IncomingMessage: a client gone mid-body is an 'error' only for whoever listens
    // for one (a local reply that never read the body must not crash the process).
    cb(this.listenerCount('error') > 0 ? err : null);
  }
}

function onBodyData(this: Tagged, chunk: Buffer): void {
  if (!this[kRes].body!.push(chunk)) this.pause();
}
function onBodyEnd(this: Tagged): void {
  this[kRes].body!.push(null);
}
function onBodyAborted(this: Tagged): void {
  const r = this[kRes].body!;
  if (r.readableEnded || r.destroyed) return;
  r.emit('aborted');
  r.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
}

/** Connection-specific header fields HTTP/2 forbids (RFC 9113 §8.2.2): never sent downstream. */
function forbidden(name: string): boolean {
  switch (name.length) {
    case 2:
      return name === 'te';
    case 4:
      return name === 'host';
    case 7:
      return name === 'upgrade';
    case 10:
      return name === 'connection' || name === 'keep-alive';
    case 16:
      return name === 'proxy-connection';
    case 17:
      return name === 'transfer-encoding';
    default:
      return false;
  }
}

function bodiless(status: number): boolean {
  return status === 204 || status === 304 || status < 200;
}

/** The response of one stream. */
export class H2Response extends EventEmitter {
  statusCode = 200;
  destroyed = false;
  writableEnded = false;
  /** HEADERS built but not sent: they leave with the first body bytes, end(), or on the next tick. */
  private pending: OutgoingHttpHeaders | undefined = undefined;
  private sent = false;
  private trailers: OutgoingHttpHeaders | undefined = undefined;
  /** Trailers may follow (the client sent `te: trailers`, as gRPC clients do). */
  private readonly trailersWanted: boolean;
  private readonly isHead: boolean;
  private noBody = false;
  private drainHooked = false;
  /** @internal the request's body reader, if the request has a body */
  body: BodyRequest | undefined = undefined;

  constructor(
    readonly stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    /** stream.session is gone by 'close'. */
    private readonly session: ServerHttp2Session | undefined,
  ) {
    super();
    this.trailersWanted = headers.te === 'trailers';
    this.isHead = headers[':method'] === 'HEAD';
    (stream as Tagged)[kRes] = this;
    stream.on('close', onStreamClose);
  }

  get headersSent(): boolean {
    return this.sent || this.stream.headersSent;
  }

  /** Status and headers (a flat [name, value, …] list or an object). */
  writeHead(status: number, headers?: readonly string[] | Record<string, string | number | readonly string[]>): this {
    if (this.headersSent) return this;
    this.sent = true;
    this.statusCode = status;
    const h: OutgoingHttpHeaders = { ':status': status };
    if (headers !== undefined) {
      if (Array.isArray(headers)) {
        for (let i = 0; i < headers.length; i += 2) add(h, (headers[i] as string).toLowerCase(), headers[i + 1] as string);
      } else {
        const o = headers as Record<string, string | number | readonly string[]>;
        for (const k in o) {
          const v = o[k]!;
          if (Array.isArray(v)) for (const one of v) add(h, k.toLowerCase(), String(one));
          else add(h, k.toLowerCase(), v as string | number);
        }
      }
    }
    this.noBody = this.isHead || bodiless(status);
    this.pending = h;
    // Bodiless answers and small bodies leave with end() in this tick; a streamed body's first
    // bytes may be long in coming, and the client should see the headers meanwhile.
    process.nextTick(flushPending, this);
    return this;
  }

  /** Sends the pending HEADERS frame. False when the stream cannot take it any more. */
  private respond(endStream: boolean): boolean {
    const h = this.pending!;
    this.pending = undefined;
    const s = this.stream;
    if (s.destroyed || s.closed) return false;
    const waitForTrailers = !endStream && (this.trailersWanted || this.trailers !== undefined);
    try {
      s.respond(h, endStream ? END_STREAM : waitForTrailers ? WAIT_FOR_TRAILERS : OPEN);
    } catch {
      // A header value HTTP/2 refuses: the client gets a reset, not a half-formed answer.
      this.reset();
      return false;
    }
    if (waitForTrailers) s.on('wantTrailers', onWantTrailers);
    return true;
  }

  /** @internal next tick after writeHead */
  flushPending(): void {
    if (this.pending !== undefined && !this.destroyed) this.respond(this.noBody);
  }

  write(chunk: Buffer | string): boolean {
    if (this.writableEnded || this.destroyed) return false;
    if (!this.sent) this.writeHead(200);
    if (this.pending !== undefined && !this.respond(this.noBody)) return false;
    if (this.noBody || chunk.length === 0) return true;
    const s = this.stream;
    if (s.destroyed || s.writableEnded) return false;
    const ok = s.write(chunk);
    if (!ok && !this.drainHooked) {
      this.drainHooked = true;
      s.on('drain', onStreamDrain);
    }
    return ok;
  }

  addTrailers(t: Record<string, string>): void {
    const h: OutgoingHttpHeaders = {};
    let n = 0;
    for (const k in t) {
      const name = k.toLowerCase();
      if (name.charCodeAt(0) === 58 || forbidden(name)) continue;
      h[name] = t[k];
      n++;
    }
    if (n > 0) this.trailers = h;
  }

  end(data?: Buffer | string): this {
    if (this.writableEnded || this.destroyed) return this;
    this.writableEnded = true;
    if (!this.sent) this.writeHead(200);
    const hasData = data !== undefined && data.length > 0 && !this.noBody;
    const s = this.stream;
    if (this.pending !== undefined) {
      if (!this.respond(!hasData && this.trailers === undefined)) return this;
      if (!hasData && this.trailers === undefined) return this.stopBody();
    }
    if (s.destroyed || s.writableEnded) return this;
    if (hasData) s.end(data);
    else s.end();
    return this.stopBody();
  }

  /**
   * A complete response to a request whose body is still coming (a local reply, an upstream that
   * answered early): RST_STREAM(NO_ERROR) once the response is out asks the client to stop sending
   * (RFC 9113 §8.1). Otherwise the unread body, paused by back-pressure, would hold the stream
   * open — and its concurrent-stream slot — for good.
   */
  private stopBody(): this {
    const r = this.body;
    if (r !== undefined && !r.readableEnded && !this.stream.destroyed) this.stream.close(H2_NO_ERROR);
    return this;
  }

  /** Aborts the response: RST_STREAM, the way to tell an HTTP/2 client that it was cut short. */
  destroy(): this {
    if (this.destroyed || this.writableEnded) return this;
    this.reset();
    return this;
  }

  private reset(): void {
    this.destroyed = true;
    this.pending = undefined;
    // destroy(err), not close(code): close() ends the writable side first, so the client would see
    // END_STREAM — a complete-looking, truncated response — before the RST_STREAM.
    const s = this.stream;
    if (!s.destroyed) s.destroy(RESET);
  }

  /** @internal the stream's 'wantTrailers' */
  sendTrailers(): void {
    const s = this.stream;
    if (s.destroyed || s.closed) return;
    try {
      s.sendTrailers(this.trailers ?? {});
    } catch {
      this.reset();
    }
  }

  /** @internal the stream closed: 'close' for whoever still waits for this response (client gone). */
  closed(): void {
    if (this.session !== undefined) sessionStreamClosed(this.session);
    if (this.writableEnded && !this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

const END_STREAM = { endStream: true } as const;
const WAIT_FOR_TRAILERS = { waitForTrailers: true } as const;
const OPEN = {} as const;

function add(h: OutgoingHttpHeaders, name: string, value: string | number): void {
  if (name.charCodeAt(0) === 58 || forbidden(name)) return;
  const prev = h[name];
  if (prev === undefined) h[name] = value;
  else if (Array.isArray(prev)) prev.push(String(value));
  else h[name] = [String(prev), String(value)];
}

function flushPending(res: H2Response): void {
  res.flushPending();
}
function onWantTrailers(this: Tagged): void {
  this[kRes].sendTrailers();
}
function onStreamDrain(this: Tagged): void {
  this[kRes].emit('drain');
}
function onStreamClose(this: Tagged): void {
  const res = this[kRes];
  const r = res.body;
  if (r !== undefined && !r.readableEnded && !r.destroyed) onBodyAborted.call(this);
  res.closed();
}
function noop(): void {}

/**
 * One new stream: its request and response, handed to `handle`. `socket` is the connection's
 * (the session's) socket; stream errors are settled through 'close' (a reset by the client is
 * never an uncaught 'error').
 */
export function serveStream(handle: H2Handle, socket: Socket, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]): void {
  stream.on('error', noop);
  const method = headers[':method'] as string;
  const url = (method === 'CONNECT' ? headers[':authority'] : headers[':path']) ?? '';
  // A client waiting for 100-continue gets it at once, as node:http2's compatibility server does.
  // additionalHeaders throws on a stream the client has reset meanwhile: inside node:http2's 'stream'
  // callback that would be uncaught.
  if (headers.expect === '100-continue' && !stream.endAfterHeaders) {
    try {
      stream.additionalHeaders({ ':status': 100 });
    } catch {
      return void (stream.destroyed || stream.destroy());
    }
  }
  // The response first: it tags the stream, which the body's listeners read.
  const res = new H2Response(stream, headers, stream.session as ServerHttp2Session | undefined);
  let req: H2Request;
  if (flags & H2_FLAG_END_STREAM) req = new BodilessRequest(method, url, rawHeaders, headers, socket, stream);
  else req = res.body = new BodyRequest(method, url, rawHeaders, headers, socket, stream);
  try {
    handle(req, res);
  } catch {
    // A throwing handler costs its stream (RST_STREAM INTERNAL_ERROR), never the process: this runs
    // inside node:http2's 'stream' callback, where an exception is uncaught.
    if (!res.writableEnded) res.destroy();
    else if (!stream.destroyed) stream.destroy(RESET);
  }
}
