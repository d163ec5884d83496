// The HTTP/2 upstream dispatcher: undici's dispatch contract (dispatch(opts,
// handler) → onConnect/onHeaders/onData/onComplete/onError) over node:http2
// sessions, one active session per endpoint.
//
// Why not undici's h2 client: on a GOAWAY it destroys the socket at once, so
// streams the server had accepted (id ≤ last-stream-id) and was about to
// answer fail too — and are reported as REFUSED_STREAM, which would make a
// processed request look safe to retry. Here a GOAWAY only retires the
// session: accepted streams finish on it, streams above last-stream-id fail
// with REFUSED_STREAM (nghttp2 closes them so; they were never processed)
// and new requests open a new session. That is what Envoy's codec does, and
// what lets the request path retry exactly the unprocessed streams.

import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Dispatcher, buildConnector } from 'undici';
import { ATTEMPT_TIMED_OUT } from './attempt.js';
import { DispatcherBase, undiciClient } from './dispatcher-base.js';
import { requestStream } from './h2-request.js';
import { pingWithDeadline } from '../h2-ping.js';
import { H2_CANCEL, H2_REFUSED_STREAM, http2 } from '../lazy-builtins.js';


export interface H2ClientOptions {
  connect: buildConnector.connector;
  /** A session with no open stream is closed after this long idle (ms, 0: never). */
  idleTimeout: number;
  /** Streams per session before it is retired (undefined: unlimited). */
  maxRequestsPerConnection: number | undefined;
  /** Used only when TLS ALPN did not pick h2: the origin speaks HTTP/1.1 only. */
  h1Fallback: () => Dispatcher;
}

type Handler = Dispatcher.DispatchHandler & {
  /** The connection the response came over (access logs read its local address). */
  onUpstreamSocket?: (socket: Socket) => void;
};

const kCall = Symbol('call');
const kOpen = Symbol('openStreams');
const kStarted = Symbol('startedStreams');
const kIdle = Symbol('idleTimeout');
const kIdleSkipped = Symbol('idleSkipped');
const kRetired = Symbol('retired');
const kSocket = Symbol('socket');
const kClient = Symbol('client');
const kProbe = Symbol('probe');

/**
 * How long a liveness PING may go unanswered before the connection is taken for dead and destroyed
 * (its streams fail as resets, which the retry policy may retry). Envoy's HTTP/2 connection_keepalive
 * timeout plays this part; here a PING is sent only when a request timed out waiting for its response.
 */
export const PING_TIMEOUT_MS = 2000;

/**
 * One request's state, hung on its stream under a single symbol: one shape for every call (fields
 * read monomorphically), and one property added to node:http2's stream object instead of six (each
 * added property is a map transition on an object node:http2 reads in all its hot paths).
 */
class Call {
  responded = false;
  trailers: IncomingHttpHeaders | undefined = undefined;
  error: Error | undefined = undefined;
  done = false;
  /** A streamed request body being pumped into the stream. */
  source: NodeJS.ReadableStream | undefined = undefined;
  /** Response body bytes that came before the response event (see onData). */
  early: Buffer[] | undefined = undefined;
  /** The body's latest chunk, not written yet (see onSourceData). */
  held: Buffer | undefined = undefined;
  flushScheduled = false;
  /** The source is paused until the stream's 'drain'. */
  draining = false;
  /** Bytes the session's connection had read when this stream started (see abortStream). */
  readonly readAtStart: number;
  constructor(
    readonly stream: Stream,
    readonly handler: Handler,
    /** stream.session is gone by 'close'. */
    readonly session: Session,
  ) {
    this.readAtStart = session[kSocket].bytesRead;
  }
  /** The abort callback handed to onConnect, and the resume one handed to onHeaders. */
  readonly abort = (err?: Error): void => abortStream(this.stream, err);
  readonly resume = (): void => void this.stream.resume();
}
type Stream = ClientHttp2Stream & { [kCall]: Call };
type Session = ClientHttp2Session & {
  [kOpen]: number;
  [kStarted]: number;
  [kIdle]: number;
  [kIdleSkipped]: boolean;
  [kRetired]: boolean;
  [kSocket]: Socket;
  [kClient]: H2Client;
  /** A liveness PING is out. */
  [kProbe]: boolean;
};

function coded(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}
const CLOSED = coded('HTTP/2 client is closed', 'UND_ERR_CLOSED');
const ABORTED = coded('request aborted', 'UND_ERR_ABORTED');
const NO_RESPONSE = coded('HTTP/2 stream ended before response headers', 'UND_ERR_SOCKET');

export class H2Client extends DispatcherBase {
  private session: Session | undefined = undefined;
  private readonly sessions = new Set<Session>();
  private connecting = false;
  /** Requests waiting for a session: [opts, handler, opts, handler, …]. */
  private queue: (Dispatcher.DispatchOptions | Handler)[] = [];
  private closed = false;
  private fallback: Dispatcher | undefined = undefined;
  private readonly url: URL;
  private readonly scheme: string;
  private readonly authority: string;

  constructor(
    readonly origin: string,
    private readonly o: H2ClientOptions,
  ) {
    super();
    this.url = new URL(origin);
    this.scheme = this.url.protocol === 'https:' ? 'https' : 'http';
    this.authority = this.url.host;
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Handler): boolean {
    if (this.closed) {
      handler.onError?.(CLOSED);
      return false;
    }
    if (this.fallback !== undefined) return this.fallback.dispatch(opts, handler);
    const s = this.session;
    if (s !== undefined && !s.closed && !s.destroyed) {
      this.start(s, opts, handler);
      return true;
    }
    this.queue.push(opts, handler);
    if (!this.connecting) this.openSession();
    return true;
  }

  private openSession(): void {
    this.connecting = true;
    const u = this.url;
    this.o.connect({ hostname: u.hostname, host: u.host, protocol: u.protocol, port: u.port, servername: undefined, localAddress: null }, (err, socket) => {
      this.connecting = false;
      if (err !== null || socket === null) return this.failQueue(err ?? coded('connect failed', 'UND_ERR_SOCKET'));
      if (this.closed) {
        socket.destroy();
        return this.failQueue(CLOSED);
      }
      const alpn = (socket as TLSSocket).alpnProtocol;
      if (u.protocol === 'https:' && alpn !== 'h2') {
        // The server chose HTTP/1.1: hand this origin to an HTTP/1.1 client for good.
        socket.destroy();
        this.fallback = this.o.h1Fallback();
        const q = this.queue;
        this.queue = [];
        for (let i = 0; i < q.length; i += 2) this.fallback.dispatch(q[i] as Dispatcher.DispatchOptions, q[i + 1] as Handler);
        return;
      }
      this.open(socket);
    });
  }

  private open(socket: Socket): void {
    const s = http2().connect(this.origin, { createConnection: () => socket, settings: { enablePush: false } }) as Session;
    s[kOpen] = 0;
    s[kStarted] = 0;
    s[kIdle] = this.o.idleTimeout;
    s[kIdleSkipped] = false;
    s[kRetired] = false;
    s[kSocket] = socket;
    s[kClient] = this;
    s[kProbe] = false;
    s.on('error', noop); // each stream gets its own error
    s.on('goaway', this.retire.bind(this, s));
    s.once('close', () => {
      this.sessions.delete(s);
      if (this.session === s) this.session = undefined;
    });
    if (this.o.idleTimeout > 0) {
      s.on('timeout', onSessionIdle); // not setTimeout's callback: Node adds that with once()
      s.setTimeout(this.o.idleTimeout);
    }
    this.sessions.add(s);
    this.session = s;
    const q = this.queue;
    this.queue = [];
    for (let i = 0; i < q.length; i += 2) this.dispatch(q[i] as Dispatcher.DispatchOptions, q[i + 1] as Handler);
  }

  /**
   * No new streams on `s` (GOAWAY received, or its request budget is spent); open streams finish on
   * it, then it closes. Not closed at once: a client's close() sends GOAWAY, and nghttp2 then
   * refuses the streams it has not sent yet. @internal (also called when a session is found silent)
   */
  retire(s: Session): void {
    if (this.session === s) this.session = undefined;
    s[kRetired] = true;
    // Closed on the next turn: retire() runs inside node:http2's 'goaway' callback (nghttp2 is still
    // parsing), and closing a session from within nghttp2's callbacks has corrupted Node 20's heap.
    if (s[kOpen] === 0 && !s.closed) setImmediate(closeIfIdle, s);
  }

  private failQueue(err: Error): void {
    const q = this.queue;
    this.queue = [];
    for (let i = 1; i < q.length; i += 2) (q[i] as Handler).onError?.(err);
  }

  private start(s: Session, opts: Dispatcher.DispatchOptions, handler: Handler): void {
    const headers = requestHeaders(opts, this.scheme, this.authority);
    const body = opts.body as unknown;
    const endStream = body == null || (typeof body === 'string' ? body.length === 0 : Buffer.isBuffer(body) && body.length === 0);
    let stream: Stream;
    try {
      stream = requestStream(s, headers, { endStream }) as Stream;
    } catch (err) {
      // The session went away between the check and the request (e.g. a GOAWAY in this tick), or
      // the request itself was refused (a header HTTP/2 forbids): only the former retires it.
      if (s.closed || s.destroyed) this.retire(s);
      handler.onError?.(err as Error);
      return;
    }
    s[kOpen]++;
    if (this.o.maxRequestsPerConnection !== undefined && ++s[kStarted] >= this.o.maxRequestsPerConnection) this.retire(s);
    const call = new Call(stream, handler, s);
    stream[kCall] = call;
    // on(), not once(): each fires once anyway, and once() allocates a wrapper per listener per request.
    stream.on('response', onResponse);
    stream.on('data', onData);
    stream.on('trailers', onTrailers);
    stream.on('end', onEnd);
    stream.on('error', onStreamError);
    stream.on('close', onClose);
    handler.onConnect?.(call.abort);
    if (call.done) return; // aborted in onConnect
    if (!endStream) writeBody(stream, body);
  }

  override close(cb?: () => void): Promise<void> {
    this.closed = true;
    this.failQueue(CLOSED);
    const waits: Promise<unknown>[] = [...this.sessions].map((s) => new Promise<void>((r) => (s.destroyed ? r() : (s.once('close', () => r()), s.close()))));
    if (this.fallback !== undefined) waits.push(this.fallback.close());
    const p = Promise.all(waits).then(() => undefined);
    if (cb) void p.then(cb);
    return p;
  }

  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> {
    const err = typeof a === 'function' ? null : (a ?? null);
    const cb = typeof a === 'function' ? a : b;
    this.closed = true;
    this.failQueue(err ?? CLOSED);
    const waits: Promise<unknown>[] = [...this.sessions].map((s) => new Promise<void>((r) => (s.destroyed ? r() : (s.once('close', () => r()), s.destroy()))));
    if (this.fallback !== undefined) waits.push(this.fallback.destroy(err));
    const p = Promise.all(waits).then(() => undefined);
    if (cb) void p.then(cb);
    return p;
  }
}

/** An HTTP/1.1 client for an origin whose TLS server did not offer h2 (settings as the h2 client's). */
export function h1FallbackClient(origin: string, connect: buildConnector.connector, idleTimeout: number): () => Dispatcher {
  return () => new (undiciClient())(origin, { connect, keepAliveTimeout: Math.min(idleTimeout || 4_000, 600_000), headersTimeout: 0, bodyTimeout: 0 });
}

function noop(): void {}

/** A PING on `s`; unanswered within PING_TIMEOUT_MS, the session is destroyed. One at a time per session. */
function probe(s: Session): void {
  if (s[kProbe] || s.destroyed || s.closed) return;
  s[kProbe] = pingWithDeadline(s, PING_TIMEOUT_MS, onProbeSettled);
}

function onProbeSettled(s: Session, answered: boolean): void {
  s[kProbe] = false;
  if (answered || s.destroyed) return;
  s.destroy(coded(`HTTP/2 upstream connection did not answer a PING within ${PING_TIMEOUT_MS} ms`, 'UND_ERR_SOCKET'));
}

function closeIfIdle(s: Session): void {
  if (s[kOpen] === 0 && !s.closed) s.close();
}

function onSessionIdle(this: Session): void {
  // Only a session without open streams is idle: a long quiet stream keeps it, and the timer is
  // re-armed when the last stream closes.
  if (this.closed) return;
  if (this[kOpen] === 0) this.close();
  else this[kIdleSkipped] = true;
}

function requestHeaders(opts: Dispatcher.DispatchOptions, scheme: string, authority: string): OutgoingHttpHeaders {
  const h: OutgoingHttpHeaders = { ':method': opts.method, ':path': opts.path, ':scheme': scheme, ':authority': authority };
  const raw = opts.headers as string[] | Record<string, string> | null | undefined;
  if (Array.isArray(raw)) {
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!;
      const v = raw[i + 1]!;
      if (k === 'host') h[':authority'] = v;
      else {
        const prev = h[k];
        h[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [String(prev), v];
      }
    }
  } else if (raw) for (const k of Object.keys(raw)) h[k === 'host' ? ':authority' : k] = raw[k];
  return h;
}

type Source = NodeJS.ReadableStream & { [kCall]: Call };

/**
 * The request body into the stream: a buffer in one write, a readable pumped with back-pressure
 * (its own pause/resume on the stream's 'drain'; pipe() would add half a dozen listeners and
 * closures per request).
 */
function writeBody(stream: Stream, body: unknown): void {
  if (typeof body === 'string' || Buffer.isBuffer(body) || body instanceof Uint8Array) {
    stream.end(body);
    return;
  }
  const src = body as Source;
  const call = stream[kCall];
  src[kCall] = call;
  call.source = src;
  src.on('data', onSourceData);
  src.on('end', onSourceEnd);
  src.on('error', onSourceError);
}

/**
 * A body chunk is held until the body's end, the next chunk, or the end of this event-loop turn,
 * whichever comes first. A unary call's message and its END_STREAM usually arrive in one read but
 * reach us in separate callbacks; node:http2 puts END_STREAM on the last DATA frame only when the
 * stream is ended in the same tick as that write (otherwise an empty DATA frame follows in a write
 * of its own). Held, the message goes out as DATA+END_STREAM together with the HEADERS: one write
 * upstream per call instead of two. A streaming body's chunks wait at most one loop turn.
 */
function onSourceData(this: Source, chunk: Buffer): void {
  const c = this[kCall];
  if (c.done || c.stream.destroyed) return;
  const prev = c.held;
  c.held = chunk;
  if (prev !== undefined) writeChunk(c, prev);
  else if (!c.flushScheduled) {
    c.flushScheduled = true;
    setImmediate(flushHeld, c);
  }
}
function flushHeld(c: Call): void {
  c.flushScheduled = false;
  const chunk = c.held;
  if (chunk === undefined) return;
  c.held = undefined;
  if (!c.done && !c.stream.destroyed && !c.stream.writableEnded) writeChunk(c, chunk);
}
function writeChunk(c: Call, chunk: Buffer): void {
  const s = c.stream;
  if (!s.write(chunk) && !c.draining) {
    c.draining = true;
    c.source!.pause();
    s.once('drain', onSinkDrain);
  }
}
function onSourceEnd(this: Source): void {
  const c = this[kCall];
  const s = c.stream;
  const chunk = c.held;
  c.held = undefined;
  if (c.done || s.destroyed || s.writableEnded) return;
  if (chunk !== undefined) s.end(chunk);
  else s.end();
}
function onSourceError(this: Source, err: Error): void {
  abortStream(this[kCall].stream, err);
}
function onSinkDrain(this: Stream): void {
  const c = this[kCall];
  c.draining = false;
  c.source!.resume();
}

function abortStream(stream: Stream, err?: Error): void {
  const c = stream[kCall];
  if (c.done) return;
  c.done = true;
  c.held = undefined;
  // Timed out waiting for its response: the connection may be dead without a FIN (a host that died,
  // a partition), or wedged: node:http2 stops reading, and tells nobody, once nghttp2 has ended a
  // session over a protocol error the peer made (a HEADERS block cut by another frame). Every later
  // stream on it would wait for its own timeout. Silent for this stream's whole life: no new streams
  // on it. Either way a PING decides whether it is destroyed.
  if (err === ATTEMPT_TIMED_OUT && !c.responded) {
    const s = c.session;
    if (!s[kRetired] && s[kSocket].bytesRead === c.readAtStart) s[kClient].retire(s);
    probe(s);
  }
  stream.removeListener('data', onData);
  // close(code) first ends the writable side: a request whose body is still being sent would reach the
  // upstream as END_STREAM with a truncated body, then the RST. Such a stream is destroyed instead
  // (RST_STREAM INTERNAL_ERROR, no END_STREAM).
  if (stream.writableEnded) stream.close(H2_CANCEL);
  else stream.destroy(err ?? ABORTED);
  c.handler.onError?.(err ?? ABORTED);
}

function onResponse(this: Stream, headers: IncomingHttpHeaders): void {
  const c = this[kCall];
  if (c.done) return;
  c.responded = true;
  const raw: string[] = [];
  for (const k in headers) {
    if (k.charCodeAt(0) === 58) continue;
    const v = headers[k];
    if (Array.isArray(v)) for (const x of v) raw.push(k, x);
    else if (v !== undefined) raw.push(k, String(v));
  }
  c.handler.onUpstreamSocket?.(c.session[kSocket]);
  let ok = c.handler.onHeaders?.(Number(headers[':status']), raw as unknown as Buffer[], c.resume, '');
  const early = c.early;
  if (early !== undefined) {
    // Already in memory (at most the stream's flow-control window): handed over at once.
    c.early = undefined;
    for (const chunk of early) if (!c.done) ok = c.handler.onData?.(chunk) !== false && ok !== false;
  }
  if (ok === false) this.pause();
}

/**
 * node:http2 emits 'response' from process.nextTick but pushes DATA as it parses it, so body bytes
 * read together with the HEADERS come first. They wait for the response (on a busy TLS session, the
 * mesh's h2 mTLS hop, ~4 % of small responses lost their body when they were dropped here).
 */
function onData(this: Stream, chunk: Buffer): void {
  const c = this[kCall];
  if (c.done) return;
  if (!c.responded) {
    (c.early ??= []).push(chunk);
    return;
  }
  if (c.handler.onData?.(chunk) === false) this.pause();
}

function onTrailers(this: Stream, trailers: IncomingHttpHeaders): void {
  this[kCall].trailers = trailers;
}

function onEnd(this: Stream): void {
  const c = this[kCall];
  if (c.done) return;
  if (!c.responded) return; // settled in onClose with the reset's error
  c.done = true;
  c.handler.onComplete?.((c.trailers ?? null) as unknown as string[] | null);
}

function onStreamError(this: Stream, err: Error): void {
  this[kCall].error = err;
}

function onClose(this: Stream): void {
  const c = this[kCall];
  const s = c.session;
  if (--s[kOpen] === 0 && !s.destroyed) {
    if (s[kRetired]) {
      if (!s.closed) s.close();
    } else if (s[kIdleSkipped]) {
      s[kIdleSkipped] = false;
      s.setTimeout(s[kIdle]);
    }
  }
  if (c.done) return;
  c.done = true;
  const code = this.rstCode;
  let err = c.error;
  if (code === H2_REFUSED_STREAM) err = refusedStream();
  else if (err === undefined) err = c.responded ? coded(`HTTP/2 stream reset (code ${code ?? '?'})`, 'UND_ERR_SOCKET') : code ? coded(`HTTP/2 stream reset before response (code ${code})`, 'UND_ERR_SOCKET') : NO_RESPONSE;
  c.handler.onError?.(err);
}

/** The stream was never processed by the upstream (RST_STREAM REFUSED_STREAM, or above a GOAWAY's last-stream-id). */
function refusedStream(): Error {
  return coded('Stream closed with error code NGHTTP2_REFUSED_STREAM', 'ERR_HTTP2_STREAM_ERROR');
}
