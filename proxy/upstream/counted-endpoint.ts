// An endpoint's dispatcher as its cluster's circuit breaker sees it (Envoy
// semantics, per cluster across all its endpoints): every connection the
// endpoint opens takes a max_connections slot before it is opened (refused:
// the requests waiting for it fail with 503 UO, upstream_cx_overflow), and
// a request that has to wait for a connection counts against
// max_pending_requests (full: 503 UO at once, upstream_rq_pending_overflow).
// Requests waiting here = in flight beyond the established connections (one
// request per HTTP/1.1 connection), or all of them while a multiplexed
// endpoint has no session yet. Only the request path's attempts are counted;
// mirrors and upgrades pass through.

import type { Dispatcher, buildConnector } from 'undici';
import { DispatcherBase } from './dispatcher-base.js';
import type { CircuitBreaker } from '../resilience/circuit-breaker.js';
import { UpstreamAttempt } from './attempt.js';

/** What the endpoint pools implement (undici's Pool and Client, H1Pool, H2Client). */
export interface EndpointDispatcher {
  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

export class CountedEndpoint extends DispatcherBase {
  inner!: EndpointDispatcher;
  /**
   * The SPIFFE ID this endpoint's last verified mTLS handshake presented: telemetry's destination
   * principal for requests sent here (Istio's client side reads it from the upstream's certificate).
   */
  peerPrincipal: string | undefined = undefined;
  private inflight = 0;
  private established = 0;
  /** This endpoint's share of breaker.pendingRequests. */
  private waiting = 0;

  constructor(
    private readonly breaker: CircuitBreaker,
    private readonly multiplexed: boolean,
  ) {
    super();
  }

  /** `base` with the cluster's max_connections applied and this endpoint's connections counted. */
  connector(base: buildConnector.connector): buildConnector.connector {
    const b = this.breaker;
    const onClose = (): void => {
      b.releaseConnection();
      this.established--;
      this.update();
    };
    return (opts, cb) => {
      if (!b.tryAcquireConnection()) return cb(b.overflowError('connections'), null);
      base(opts, (err, socket) => {
        if (err !== null || socket === null) {
          b.releaseConnection();
          return cb(err ?? new Error('no socket'), null);
        }
        this.established++;
        this.update();
        socket.once('close', onClose);
        cb(null, socket);
      });
    };
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (!(handler instanceof UpstreamAttempt)) return this.inner.dispatch(opts, handler);
    const b = this.breaker;
    if (this.waitingWith(this.inflight + 1) > this.waiting && b.pendingRequests >= b.thresholds.maxPendingRequests) {
      b.rqPendingOverflow++;
      handler.onError(b.overflowError('pendingRequests'));
      return false;
    }
    this.inflight++;
    this.update();
    handler.endpoint = this;
    return this.inner.dispatch(opts, handler);
  }

  /** An attempt dispatched here ended (completed or failed). */
  attemptDone(): void {
    this.inflight--;
    this.update();
  }

  private waitingWith(inflight: number): number {
    if (this.multiplexed) return this.established > 0 ? 0 : inflight;
    return inflight > this.established ? inflight - this.established : 0;
  }

  private update(): void {
    const w = this.waitingWith(this.inflight);
    if (w !== this.waiting) {
      this.breaker.adjustPending(w - this.waiting);
      this.waiting = w;
    }
  }

  override close(cb?: () => void): Promise<void> {
    const p = this.inner.close();
    if (cb) void p.then(cb, cb);
    return p;
  }

  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> {
    const p = this.inner.destroy();
    const cb = typeof a === 'function' ? a : b;
    if (cb) void p.then(cb, cb);
    return p;
  }
}
