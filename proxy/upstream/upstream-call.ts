// The one place a request leaves for an upstream, in Envoy's order: local
// rate limit → fault injection → cluster lookup → circuit-breaker admission
// → (request body copied for replay when a retry policy needs it) →
// attempts. The attempts themselves (host pick, retries, timeouts) run in
// the Exchange. A request without policies pays one WeakMap read and one
// breaker acquire/release over the bare path.

import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { HttpConnectionManager } from '../config/resources.js';
import type { BodyReplay, Exchange } from '../http/exchange.js';
import { faultAbortReply } from '../http/local-reply.js';
import { FLAG_BIT } from '../telemetry/response-flags.js';
import type { FaultDecision } from '../resilience/fault.js';
import { RetryState } from '../resilience/retry-state.js';
import type { ClusterManager } from './cluster-manager.js';
import { routePolicies, type RoutePolicies } from './route-policies.js';
import { takeTimeoutSlot } from './timeout-slots.js';

type BuildOptions = (ex: Exchange, http2: boolean) => Dispatcher.DispatchOptions;

export function sendUpstream(ex: Exchange, clusters: ClusterManager, buildOptions: BuildOptions): void {
  const limits = (ex.ctx as { hcm?: HttpConnectionManager }).hcm?.limits;
  const pol = routePolicies(ex.route!, clusters.clock, clusters.metricsRegistry(), limits?.maxRequestBodyBytes);
  const bucket = pol.bucket;
  if (bucket !== undefined && !bucket.tryConsume()) {
    return ex.localReply('RATE_LIMITED', undefined, { 'retry-after': String(bucket.retryAfterSeconds()) });
  }
  if (pol.fault !== undefined) {
    const f = pol.fault.decide(ex.req.headers, ex.isGrpc);
    if (f !== undefined) return fault(ex, f, clusters, buildOptions, pol);
  }
  admit(ex, clusters, buildOptions, pol, limits?.streamIdleTimeout ?? 0);
}

/** Fault injection: delay (flag DI) on the clock, then abort (FI) or carry on. */
function fault(ex: Exchange, f: FaultDecision, clusters: ClusterManager, buildOptions: BuildOptions, pol: RoutePolicies): void {
  if (f.delayMs > 0) ex.flags |= FLAG_BIT.DI;
  const next = (): void => {
    ex.timer = undefined;
    if (f.abortStatus > 0) ex.replyWith(faultAbortReply(f.abortStatus, f.grpcStatus), 'FI');
    else admit(ex, clusters, buildOptions, pol, (ex.ctx as { hcm?: HttpConnectionManager }).hcm?.limits.streamIdleTimeout ?? 0);
  };
  // A downstream reset during the delay cancels ex.timer (Exchange.finish).
  if (f.delayMs > 0) ex.timer = clusters.clock.setTimeout(next, f.delayMs);
  else next();
}

function admit(ex: Exchange, clusters: ClusterManager, buildOptions: BuildOptions, pol: RoutePolicies, streamIdleTimeout: number): void {
  const cluster = clusters.get(ex.choice!.cluster);
  if (cluster === undefined) return ex.localReply('NO_CLUSTER');
  const breaker = cluster.resilience.breaker;
  // Circuit breaker (max_requests): overflow answers 503 UO at once, nothing queues.
  if (!breaker.tryAcquireRequest()) return ex.localReply('OVERFLOW');
  ex.breaker = breaker;
  ex.cluster = cluster;
  ex.clusters = clusters;
  const opts = buildOptions(ex, false) as Dispatcher.DispatchOptions & { headersTimeout?: number; body?: unknown };
  // Always sent (Envoy include_attempt_count_in_request); the value is rewritten per attempt.
  const headers = opts.headers as string[];
  let at = headers.lastIndexOf('x-envoy-attempt-count');
  if (at < 0 || (at & 1) !== 0) at = headers.push('x-envoy-attempt-count', '1') - 2;
  ex.attemptHeader = at + 1;
  ex.opts = opts;
  if (pol.retry !== undefined) ex.retry = new RetryState(pol.retry, breaker);
  // Route idle timeout, else the HCM's stream idle timeout (Envoy: 5 min): reset while response bytes flow.
  const idle = pol.idleTimeout > 0 ? pol.idleTimeout : streamIdleTimeout;
  if (pol.timed || idle > 0) {
    // Route / idle / per-try timeouts run on our clock across attempts (504 UT), not undici's.
    opts.headersTimeout = 0;
    ex.timeouts = takeTimeoutSlot(clusters.clock, ex);
    ex.timeouts.t.start(ex.route!.timeout, idle);
  }
  const body = opts.body;
  if (ex.retry !== undefined && body != null && typeof body !== 'string' && !Buffer.isBuffer(body)) {
    return teeForReplay(ex, opts, body as NodeJS.ReadableStream);
  }
  ex.startAttempt();
}

/**
 * Streams the request body to the first attempt while keeping a copy (up to the retry policy's
 * limit) for replay. A retry replays the copy only when the whole body had arrived by then, so a
 * streaming call (gRPC client/bidi streams) is never held back — it just is not retried.
 */
function teeForReplay(ex: Exchange, opts: { body?: unknown }, src: NodeJS.ReadableStream): void {
  const rs = ex.retry!;
  if (Number(ex.req.headers['content-length']) > rs.policy.maxBufferBytes) {
    rs.markNotReplayable();
    return ex.startAttempt();
  }
  const replay: BodyReplay = { chunks: [], complete: false, body: undefined };
  ex.replay = replay;
  const first = new PassThrough();
  src.on('data', (c: Buffer) => {
    if (replay.chunks !== undefined) {
      if (rs.addBodyBytes(c.length)) replay.chunks.push(c);
      else replay.chunks = undefined; // over the limit: no copy, no retry
    }
    if (!first.write(c)) {
      src.pause();
      first.once('drain', () => src.resume());
    }
  });
  src.on('end', () => {
    replay.complete = true;
    first.end();
  });
  src.on('error', (err: Error) => first.destroy(err));
  opts.body = first;
  ex.startAttempt();
}
