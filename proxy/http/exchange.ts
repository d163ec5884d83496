// One downstream request/response exchange on the hot path: the request's
// state and its attempts upstream (retries, per-try / route / idle timeouts,
// circuit-breaker release, outlier and latency reports per attempt). A
// proxied request allocates one state object, one attempt handler per try,
// one header list and one telemetry record. Response bytes go straight from
// undici into the downstream response with back-pressure both ways; only a
// request body under a retry policy is buffered (bounded) for replay.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Hash } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import type { Timer } from '../../common/clock.js';
import type { ResponseFlag, SpanHandle } from '../telemetry/types.js';
import { FLAG_BIT } from '../telemetry/response-flags.js';
import { applyHeaderOps } from '../router/header-mutation.js';
import type { ClusterChoice, CompiledRoute, RequestFacts } from '../router/route-table.js';
import type { ClusterManager, ClusterRuntime, UpstreamHost } from '../upstream/cluster-manager.js';
import { ATTEMPT_TIMED_OUT, UpstreamAttempt, type AttemptOwner } from '../upstream/attempt.js';
import type { TimeoutSlot } from '../upstream/timeout-slots.js';
import { retryUnprocessed } from '../upstream/unprocessed-retry.js';
import type { CircuitBreaker } from '../resilience/circuit-breaker.js';
import type { RetryState } from '../resilience/retry-state.js';
import type { LocalOriginFailure } from '../resilience/outlier-detector.js';
import type { TimeoutKind } from '../resilience/errors.js';
import type { PickContext } from '../lb/types.js';
import { responseHeaders, trailersObject } from './headers.js';
import { LOCAL_REPLIES, attemptFailureOf, classifyUpstreamError, sendLocalReply, transportFailureReason, type LocalReply, type LocalReplyKind, type ReplyTarget } from './local-reply.js';
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

/** The copy of a request body kept for retries (chunks undefined once over the buffer limit). */
export interface BodyReplay {
  chunks: Buffer[] | undefined;
  complete: boolean;
  body: Buffer | undefined;
}

const NO_PICK_CONTEXT: PickContext = {};
const ATTEMPT_COUNT = ['0', '1', '2', '3', '4', '5', '6', '7', '8'];
const DOWNSTREAM_CLOSED = new Error('downstream closed');

export class Exchange implements RequestFacts, AttemptOwner {
  // request facts (route matching)
  method: string;
  path: string;
  query: string;
  isGrpc: boolean;
  authority: string;
  /** The peer's verified SPIFFE ID (mTLS), when the chain reads it. */
  principal: string | undefined = undefined;
  readonly startTime: number;
  readonly startMono: number;

  route: CompiledRoute | undefined = undefined;
  choice: ClusterChoice | undefined = undefined;
  cluster: ClusterRuntime | undefined = undefined;
  host: UpstreamHost | undefined = undefined;
  span: SpanHandle | undefined = undefined;
  /** Envoy response flags set so far, as FLAG_BIT bits (several may apply: UF with URX, DI with UT). */
  flags = 0;
  attempts = 0;
  responseBytes = 0;
  status = 0;
  grpcStatus: number | undefined = undefined;
  requestId: string | undefined = undefined;
  // Read by access log formats only (RESPONSE_CODE_DETAILS, RESP(…), UPSTREAM_LOCAL_ADDRESS,
  // UPSTREAM_TRANSPORT_FAILURE_REASON): set where the facts arise, formatted when a line is written.
  details: string | undefined = undefined;
  responseHeaders: string[] | undefined = undefined;
  upstreamSocket: Socket | undefined = undefined;
  transportFailure: string | undefined = undefined;

  // upstream side (set by sendUpstream)
  /** Dispatch options shared by every attempt (headers end with x-envoy-attempt-count). */
  opts: Dispatcher.DispatchOptions | undefined = undefined;
  clusters: ClusterManager | undefined = undefined;
  /** Index of the x-envoy-attempt-count value in opts.headers. */
  attemptHeader = 0;
  /** The circuit breaker a request slot was taken from (released in finish()). */
  breaker: CircuitBreaker | undefined = undefined;
  retry: RetryState | undefined = undefined;
  /** Request body copy for replay (only under a retry policy, for requests with a body). */
  replay: BodyReplay | undefined = undefined;
  timeouts: TimeoutSlot | undefined = undefined;
  /** A pending retry backoff or fault delay. */
  timer: Timer | undefined = undefined;
  /** Mirrored requests only: the primary response body's running hash, compared with the shadows'. */
  mirrorHash: Hash | undefined = undefined;
  private attempt: UpstreamAttempt | undefined = undefined;
  private resume: (() => void) | undefined = undefined;
  /** gRPC over HTTP/2: headers held back until data or end, so a trailers-only answer stays trailers-only. */
  private heldHeaders: string[] | undefined = undefined;
  private done = false;
  /** The one transparent retry of a stream the upstream never processed was used (retryUnprocessed). */
  unprocessedRetried = false;

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

  /** Ends the exchange with a local reply (404/503/504…) and records it with the reply's flag, plus `flag` (e.g. URX). */
  localReply(kind: LocalReplyKind, flag?: ResponseFlag, extra?: Record<string, string>): void {
    this.replyWith(LOCAL_REPLIES[kind], flag, extra);
  }

  replyWith(reply: LocalReply, flag?: ResponseFlag, extra?: Record<string, string>): void {
    if (this.done) return;
    this.flags |= FLAG_BIT[reply.flag];
    if (flag !== undefined) this.flags |= FLAG_BIT[flag];
    this.details = reply.details;
    if (!this.res.headersSent && this.heldHeaders === undefined) {
      this.status = this.isGrpc ? 200 : reply.status;
      if (this.isGrpc) this.grpcStatus = reply.grpcStatus;
      sendLocalReply(this.res as unknown as ReplyTarget, reply, this.isGrpc, extra);
    } else {
      this.res.destroy();
    }
    this.finish();
  }

  // ---------------------------------------------------------------- attempts

  /** Picks a host (another one on retries when the policy asks) and dispatches one attempt. */
  startAttempt(): void {
    this.timer = undefined;
    if (this.done) return;
    const cluster = this.cluster!;
    const rs = this.retry;
    const exclude = rs?.policy.retryOtherHosts && rs.attempts > 0 ? rs.exclude : undefined;
    const host = cluster.lb.pick(exclude ? { exclude } : NO_PICK_CONTEXT) as UpstreamHost | undefined;
    if (host === undefined) return this.localReply('NO_HEALTHY_UPSTREAM');
    const n = rs ? rs.startAttempt(host) : 1;
    this.attempts = n;
    const opts = this.opts!;
    const replay = this.replay;
    if (n > 1 && replay !== undefined) opts.body = replay.body ??= Buffer.concat(replay.chunks!);
    const headers = opts.headers as string[];
    headers[this.attemptHeader] = ATTEMPT_COUNT[n] ?? String(n);
    host.activeRequests++;
    this.host = host;
    const a = new UpstreamAttempt(this, host, this.clusters!.clock.monotonic());
    this.attempt = a;
    if (rs !== undefined && this.timeouts !== undefined) this.timeouts.t.startAttempt(rs.policy.perTryTimeout, rs.policy.perTryIdleTimeout);
    const useH2 = host.h2 !== undefined && (host.h1 === undefined || this.isGrpc || this.req.httpVersionMajor === 2);
    try {
      (useH2 ? host.h2! : host.h1!).dispatch(opts, a);
    } catch (err) {
      a.onError(err as Error);
    }
  }

  /** The attempt is over for this exchange: host counters and per-try timers (no outlier report). */
  private releaseAttempt(a: UpstreamAttempt): void {
    a.ended = true;
    a.host.activeRequests--;
    this.timeouts?.t.endAttempt();
  }

  /** The attempt is over: release it and report its outcome (outlier detection, PEAK_EWMA latency). */
  private endAttempt(a: UpstreamAttempt, status: number, failure?: LocalOriginFailure, grpcStatus?: number): void {
    this.releaseAttempt(a);
    const cluster = this.cluster!;
    cluster.resilience.endAttempt(a.host, this.clusters!.clock.monotonic() - a.t0, status, failure, grpcStatus);
  }

  /** Before a retry decision: a body that has not fully arrived (or was not copied) cannot be replayed. */
  private checkReplayable(rs: RetryState): RetryState {
    const r = this.replay;
    if (r !== undefined && (!r.complete || r.chunks === undefined)) rs.markNotReplayable();
    return rs;
  }

  private scheduleRetry(): void {
    this.timer = this.retry!.scheduleRetry(this.clusters!.clock, () => this.startAttempt());
  }

  private responseStarted(): boolean {
    return this.res.headersSent || this.heldHeaders !== undefined;
  }

  /** A timer of RequestTimeouts fired (route, idle, per-try, per-try idle). */
  onTimeout(kind: TimeoutKind): void {
    if (this.done) return;
    const a = this.attempt;
    const live = a !== undefined && !a.ended;
    if (kind === 'perTry' || kind === 'perTryIdle') {
      if (!live) return;
      a.cancel(ATTEMPT_TIMED_OUT);
      this.endAttempt(a, 0, 'timeout');
      if (a.forwarded) return this.resetDownstream('UT');
      const d = this.retry ? this.checkReplayable(this.retry).onFailure('per-try-timeout') : 'no-retry';
      if (d === 'retry') return this.scheduleRetry();
      return this.localReply('TIMEOUT', d === 'limit' ? 'URX' : undefined);
    }
    // Route timeout / stream idle timeout: the whole request is over.
    if (live) {
      a.cancel(ATTEMPT_TIMED_OUT);
      this.endAttempt(a, 0, 'timeout');
    }
    if (this.responseStarted()) return this.resetDownstream('UT');
    this.localReply('TIMEOUT');
  }

  private resetDownstream(flag: ResponseFlag): void {
    this.flags |= FLAG_BIT[flag];
    this.details = flag === 'UT' ? 'upstream_response_timeout' : 'upstream_reset_after_response_started{remote_reset}';
    this.res.destroy();
    this.finish();
  }

  // ----------------------------------------------------- attempt callbacks

  attemptHeaders(a: UpstreamAttempt, statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 100-continue / 103 early hints: not forwarded
    let flat = responseHeaders(rawHeaders);
    let grpc: number | undefined;
    if (this.isGrpc) for (let i = 0; i < flat.length; i += 2) if (flat[i] === 'grpc-status') grpc = Number(flat[i + 1]);
    const rs = this.retry;
    if (rs !== undefined) {
      const d = this.checkReplayable(rs).onResponse(statusCode, grpc);
      if (d === 'retry') {
        // Discard this response (drained by the attempt) and try again after the backoff.
        this.endAttempt(a, statusCode, undefined, grpc);
        this.scheduleRetry();
        return true;
      }
      if (d === 'limit') this.flags |= FLAG_BIT.URX; // forwarded as is, but the retries ran out (Envoy URX)
      rs.commit(); // from now on nothing is retried
      this.timeouts?.t.endAttempt(); // the per-try timeout covers the wait for response headers
    }
    a.forwarded = true;
    this.resume = resume;
    this.status = statusCode;
    this.details = 'via_upstream';
    this.upstreamSocket = a.socket;
    if (grpc !== undefined) this.grpcStatus = grpc;
    if (!this.choice!.responseOps.empty) flat = applyHeaderOps(this.choice!.responseOps, flat);
    this.responseHeaders = flat;
    if (this.isGrpc && (this.res as Http2ServerResponse).stream !== undefined) {
      this.heldHeaders = flat;
      return true;
    }
    (this.res as ServerResponse).writeHead(statusCode, flat as unknown as Record<string, string>);
    return true;
  }

  attemptData(_a: UpstreamAttempt, chunk: Buffer): boolean {
    if (this.heldHeaders) this.flushHeld();
    this.responseBytes += chunk.length;
    this.timeouts?.t.activity();
    if (this.mirrorHash !== undefined) this.mirrorHash.update(chunk);
    const ok = (this.res as ServerResponse).write(chunk);
    if (!ok) this.res.once('drain', onResponseDrain);
    return ok;
  }

  resumeUpstream(): void {
    this.resume?.();
  }

  attemptComplete(a: UpstreamAttempt, rawTrailers: unknown): void {
    const trailers = trailersObject(rawTrailers);
    if (trailers?.['grpc-status'] !== undefined) this.grpcStatus = Number(trailers['grpc-status']);
    this.endAttempt(a, this.status, undefined, this.isGrpc ? this.grpcStatus : undefined);
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

  attemptError(a: UpstreamAttempt, err: Error): void {
    if (this.done) return;
    if (a.forwarded) {
      // The response already started: never retried; all we can do is reset the downstream (Envoy: UR).
      this.endAttempt(a, this.status, 'reset');
      return this.resetDownstream(classifyUpstreamError(err) === 'TIMEOUT' ? 'UT' : 'UR');
    }
    const failure = attemptFailureOf(err);
    if (failure === 'connect-failure') this.transportFailure = transportFailureReason(err);
    // A circuit-breaker overflow or a stream the upstream never processed says nothing about the host.
    if (failure === 'overflow' || failure === 'refused-stream') this.releaseAttempt(a);
    else this.endAttempt(a, 0, failure === 'connect-failure' ? 'connect-failure' : 'reset');
    const d = this.retry ? this.checkReplayable(this.retry).onFailure(failure) : 'no-retry';
    if (d === 'retry') return this.scheduleRetry();
    if (failure === 'refused-stream' && retryUnprocessed(this)) return;
    this.localReply(classifyUpstreamError(err), d === 'limit' ? 'URX' : undefined);
  }

  private flushHeld(): void {
    const flat = this.heldHeaders!;
    this.heldHeaders = undefined;
    (this.res as ServerResponse).writeHead(this.status, flat as unknown as Record<string, string>);
  }

  /** The downstream went away: abort the upstream attempt and any pending retry. */
  downstreamClosed(): void {
    if (this.done) return;
    this.flags |= FLAG_BIT.DC;
    if (this.status === 0) this.details = 'downstream_remote_disconnect';
    const a = this.attempt;
    if (a !== undefined && !a.ended) {
      this.releaseAttempt(a);
      a.cancel(DOWNSTREAM_CLOSED);
    }
    this.finish();
  }

  /** Records the exchange exactly once and gives back every slot it holds. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    const a = this.attempt;
    if (a !== undefined && !a.ended) this.releaseAttempt(a);
    if (this.timer !== undefined) {
      this.timer.cancel();
      this.timer = undefined;
    }
    this.breaker?.releaseRequest();
    this.retry?.finish();
    if (this.timeouts !== undefined) {
      this.timeouts.release();
      this.timeouts = undefined;
    }
    this.ctx.recordHttp(this);
  }
}
