// One attempt of a request against one host: the undici dispatch handler.
// It forwards undici's callbacks to its Exchange until the exchange ends the
// attempt (retry, per-try timeout, downstream gone); after that the
// callbacks of the abandoned attempt are ignored and a discarded response
// body is drained (bounded) so the keep-alive connection can be reused.

import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import type { UpstreamHost } from './cluster-manager.js';
import type { CountedEndpoint } from './counted-endpoint.js';

/** What an attempt reports to (the Exchange). */
export interface AttemptOwner {
  attemptHeaders(a: UpstreamAttempt, status: number, rawHeaders: Buffer[], resume: () => void): boolean;
  attemptData(a: UpstreamAttempt, chunk: Buffer): boolean;
  attemptComplete(a: UpstreamAttempt, rawTrailers: unknown): void;
  attemptError(a: UpstreamAttempt, err: Error): void;
}

/** What an attempt is cancelled with when a route or per-try timeout fires (the connection pools may act on it). */
export const ATTEMPT_TIMED_OUT = Object.assign(new Error('upstream request timeout'), { code: 'MESH_UPSTREAM_TIMEOUT' });

/** A discarded response body larger than this is not drained: the upstream request is aborted. */
const MAX_DRAIN_BYTES = 64 * 1024;

export class UpstreamAttempt implements Dispatcher.DispatchHandler {
  abort: ((err?: Error) => void) | undefined = undefined;
  /** Set by the owner when it is done with this attempt (callbacks are ignored from then on). */
  ended = false;
  /** Response headers of this attempt went downstream. */
  forwarded = false;
  /** The endpoint that counts this attempt for its cluster's circuit breaker, until it ends. */
  endpoint: CountedEndpoint | undefined = undefined;
  /** The upstream connection the response came over (set by tsmesh's own pools). */
  socket: Socket | undefined = undefined;
  private drained = 0;

  constructor(
    private readonly owner: AttemptOwner,
    readonly host: UpstreamHost,
    /** clock.monotonic() at start (latency for PEAK_EWMA). */
    readonly t0: number,
  ) {}

  /** End this attempt from the owner's side and abort it upstream. */
  cancel(err: Error): void {
    this.ended = true;
    const abort = this.abort;
    if (abort !== undefined) {
      this.abort = undefined;
      abort(err);
    }
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.ended) abort(new Error('attempt abandoned'));
    else this.abort = abort;
  }

  private release(): void {
    const e = this.endpoint;
    if (e !== undefined) {
      this.endpoint = undefined;
      e.attemptDone();
    }
  }

  onUpstreamSocket(socket: Socket): void {
    this.socket = socket;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (this.ended) return true;
    return this.owner.attemptHeaders(this, statusCode, rawHeaders, resume);
  }

  onData(chunk: Buffer): boolean {
    if (!this.ended) return this.owner.attemptData(this, chunk);
    this.drained += chunk.length;
    if (this.drained > MAX_DRAIN_BYTES) this.cancel(new Error('discarded response too large to drain'));
    return true;
  }

  onComplete(rawTrailers: unknown): void {
    this.release();
    if (!this.ended) this.owner.attemptComplete(this, rawTrailers);
    this.abort = undefined;
  }

  onError(err: Error): void {
    this.release();
    this.abort = undefined;
    if (!this.ended) this.owner.attemptError(this, err);
  }
}
