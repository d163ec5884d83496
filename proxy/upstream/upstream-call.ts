// The one place a request leaves for an upstream: cluster lookup, circuit
// breaker, host pick, protocol choice, dispatch. The resilience layer plugs in
// here: retries / per-try timeouts wrap `dispatchAttempt` (the exchange is the
// undici handler; a retrying handler would sit between), circuit breaking
// extends `admit`, outlier detection consumes HostState results in finish().

import type { Dispatcher } from 'undici';
import type { Exchange } from '../http/exchange.js';
import type { ClusterManager, ClusterRuntime, UpstreamHost } from './cluster-manager.js';
import type { PickContext } from '../lb/index.js';

const NO_PICK_CONTEXT: PickContext = {};

export function sendUpstream(
  ex: Exchange,
  clusters: ClusterManager,
  buildOptions: (ex: Exchange, http2: boolean) => Dispatcher.DispatchOptions,
): void {
  const cluster = clusters.get(ex.choice!.cluster);
  if (cluster === undefined) return ex.localReply('NO_CLUSTER');
  if (!admit(cluster)) return ex.localReply('OVERFLOW');
  const host = cluster.lb.pick(NO_PICK_CONTEXT) as UpstreamHost | undefined;
  if (host === undefined) return ex.localReply('NO_HEALTHY_UPSTREAM');
  const useH2 = host.h2 !== undefined && (host.h1 === undefined || ex.isGrpc || ex.req.httpVersionMajor === 2);
  const dispatcher = useH2 ? host.h2! : host.h1!;
  cluster.stats.activeRequests++;
  host.activeRequests++;
  ex.cluster = cluster;
  ex.host = host;
  dispatchAttempt(dispatcher, buildOptions(ex, useH2), ex);
}

/** Circuit breaker (Envoy max_requests); overflow answers 503 UO at once. */
function admit(cluster: ClusterRuntime): boolean {
  return cluster.stats.activeRequests < cluster.config.circuitBreakers.maxRequests;
}

function dispatchAttempt(dispatcher: Dispatcher, opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
  try {
    dispatcher.dispatch(opts, handler);
  } catch (err) {
    handler.onError!(err as Error);
  }
}
