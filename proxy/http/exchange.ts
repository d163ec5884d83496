// One downstream request/response exchange on the hot path. A single object
// holds the request's state AND is the undici dispatch handler, so a proxied
// request allocates one state object, one header list and one telemetry
// record. Response bytes go straight from undici into the downstream
// response with back-pressure both ways; nothing buffers whole bodies.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Dispatcher } from 'undici';
import type { ResponseFlag, SpanHandle } from '../telemetry/types.js';
import { applyHeaderOps } from '../router/header-mutation.js';
import type { ClusterChoice, CompiledRoute, RequestFacts } from '../router/route-table.js';
import type { ClusterRuntime, UpstreamHost } from '../upstream/cluster-manager.js';
import { responseHeaders, trailersObject } from './headers.js';
import { LOCAL_REPLIES, classifyUpstreamError, sendLocalReply, type LocalReplyKind, type ReplyTarget } from './local-reply.js';
import type { HttpChainContext } from './chain-context.js';

export type DownstreamRequest = IncomingMessage | Http2ServerRequest;
export type DownstreamResponse = ServerResponse | Http2ServerResponse;

const kExchange = Symbol('tsmesh.exchange');

// Listeners shared by every exchange: `this` is the response, the exchange hangs off it.
function onResponseClose(this: DownstreamResponse): void {
  (this as unknown as Record<symbol, Exchange>)[kExchange]!.downstreamClosed();
}
function onResponseDrain(this: DownstreamResponse): void {
  (this as unknown as Record<symbol, Exchange>)[kExchange]!.resumeUpstream();
}

export class Exchange implements RequestFacts, Dispatcher.DispatchHandler {
  // request facts (route matching)
  method: string;
  path: string;
  query: string;
  isGrpc: boolean;
  authority: string;
  readonly startTime: number;
  readonly startMono: number;

  route: CompiledRoute | undefined = undefined;
  choice: ClusterChoice | undefined = undefined;
  cluster: ClusterRuntime | undefined = undefined;
  host: UpstreamHost | undefined = undefined;
  span: SpanHandle | undefined = undefined;
  flag: ResponseFlag | undefined = undefined;
  attempts = 0;
  responseBytes = 0;
  status = 0;
  grpcStatus: number | undefined = undefined;
  requestId: string | undefined = undefined;
  private abortUpstream: ((err?: Error) => void) | undefined = undefined;
  private resume: (() => void) | undefined = undefined;
  /** gRPC over HTTP/2: headers held back until data or end, so a trailers-only answer stays trailers-only. */
  private heldHeaders: string[] | undefined = undefined;
  private done = false;

  constructor(
    readonly ctx: HttpChainContext,
    readonly req: DownstreamRequest,
    readonly res: DownstreamResponse,
  ) {
    this.startTime = Date.now();
    this.startMono = performance.now();
    this.method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    this.path = q < 0 ? url : url.slice(0, q);
    this.query = q < 0 ? '' : url.slice(q + 1);
    const h = req.headers;
    this.authority = (h[':authority'] as string | undefined) ?? h.host ?? '';
    const ct = h['content-type'];
    this.isGrpc = ct !== undefined && ct.startsWith('application/grpc');
    (res as unknown as Record<symbol, Exchange>)[kExchange] = this;
    res.on('close', onResponseClose);
  }

  header(name: string): string | undefined {
    if (name.charCodeAt(0) === 58) {
      if (name === ':method') return this.method;
      if (name === ':authority') return this.authority;
      if (name === ':path') return this.req.url;
      if (name === ':scheme') return this.ctx.tls ? 'https' : 'http';
      return undefined;
    }
    const v = this.req.headers[name];
    return v === undefined ? undefined : Array.isArray(v) ? v.join(',') : v;
  }

  /** Ends the exchange with a local reply (404/503/504…) and records it. */
  localReply(kind: LocalReplyKind): void {
    const reply = LOCAL_REPLIES[kind];
    this.flag = reply.flag;
    if (!this.res.headersSent) {
      this.status = this.isGrpc ? 200 : reply.status;
      if (this.isGrpc) this.grpcStatus = reply.grpcStatus;
      sendLocalReply(this.res as unknown as ReplyTarget, reply, this.isGrpc);
    } else {
      this.res.destroy();
    }
    this.finish();
  }

  // ---------------------------------------------------------- undici handler

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    this.attempts++;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 100-continue / 103 early hints: not forwarded
    this.resume = resume;
    this.status = statusCode;
    let flat = responseHeaders(rawHeaders);
    if (!this.choice!.responseOps.empty) flat = applyHeaderOps(this.choice!.responseOps, flat);
    if (this.isGrpc) {
      for (let i = 0; i < flat.length; i += 2) if (flat[i] === 'grpc-status') this.grpcStatus = Number(flat[i + 1]);
      if ((this.res as Http2ServerResponse).stream !== undefined) {
        this.heldHeaders = flat;
        return true;
      }
    }
    (this.res as ServerResponse).writeHead(statusCode, flat as unknown as Record<string, string>);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.heldHeaders) this.flushHeld();
    this.responseBytes += chunk.length;
    const ok = (this.res as ServerResponse).write(chunk);
    if (!ok) this.res.once('drain', onResponseDrain);
    return ok;
  }

  resumeUpstream(): void {
    this.resume?.();
  }

  onComplete(rawTrailers: unknown): void {
    const trailers = trailersObject(rawTrailers);
    if (trailers?.['grpc-status'] !== undefined) this.grpcStatus = Number(trailers['grpc-status']);
    const res = this.res;
    if (this.heldHeaders) {
      const stream = (res as Http2ServerResponse).stream;
      if (!trailers && !stream.destroyed) {
        // Trailers-only: one HEADERS frame with END_STREAM, as gRPC expects.
        const h: Record<string, string | number> = { ':status': this.status };
        const flat = this.heldHeaders;
        for (let i = 0; i < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
        this.heldHeaders = undefined;
        stream.respond(h, { endStream: true });
        this.finish();
        return;
      }
      this.flushHeld();
    }
    if (trailers) (res as ServerResponse).addTrailers(trailers);
    (res as ServerResponse).end();
    this.finish();
  }

  onError(err: Error): void {
    if (this.done) return;
    const kind: LocalReplyKind = (err as { code?: string }).code === 'UND_ERR_ABORTED' && this.flag === 'DC' ? 'UPSTREAM_RESET' : classifyUpstreamError(err);
    if (this.res.headersSent || this.heldHeaders) {
      // The response already started: all we can do is reset the downstream stream (Envoy: UR/UC).
      this.flag ??= kind === 'TIMEOUT' ? 'UT' : 'UR';
      this.res.destroy();
      this.finish();
      return;
    }
    if (this.flag === 'DC') return this.finish();
    this.localReply(kind);
  }

  private flushHeld(): void {
    const flat = this.heldHeaders!;
    this.heldHeaders = undefined;
    (this.res as ServerResponse).writeHead(this.status, flat as unknown as Record<string, string>);
  }

  /** The downstream went away: abort the upstream request if it still runs. */
  downstreamClosed(): void {
    if (this.done) return;
    this.flag ??= 'DC';
    this.abortUpstream?.(new Error('downstream closed'));
    this.finish();
  }

  /** Records the exchange exactly once. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.cluster) this.cluster.stats.activeRequests--;
    if (this.host) {
      this.host.activeRequests--;
      this.cluster!.lb.onResult?.(this.host, performance.now() - this.startMono, this.status >= 500 || this.status === 0);
    }
    this.ctx.recordHttp(this);
  }
}
