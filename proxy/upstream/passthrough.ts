// Istio's PassthroughCluster (an Envoy ORIGINAL_DST cluster with one host per
// connection): a redirected connection no filter chain claims is piped to the
// destination the app asked for. The proxy's own connections are not
// redirected again because the redirect rules exclude its UID. Reported like
// any TCP connection, with destination_service="PassthroughCluster".

import { connect, type Socket } from 'node:net';
import type { OriginalDst } from '../listener/original-dst.js';
import type { ConnectionFacts, ResponseFlag, Telemetry } from '../telemetry/types.js';
import type { AccessLogSink } from '../config/resources.js';
import { downstreamFacts, upstreamLocalAddress } from '../listener/connection-facts.js';

export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
/** Envoy's default cluster connect_timeout. */
export const PASSTHROUGH_CONNECT_TIMEOUT_MS = 5_000;
/** Envoy's tcp_proxy idle_timeout default: a silent connection is closed after an hour. */
export const PASSTHROUGH_IDLE_TIMEOUT_MS = 3_600_000;

const DESTINATION = { service: PASSTHROUGH_CLUSTER };

export interface PassthroughDeps {
  telemetry: Telemetry;
  direction: 'inbound' | 'outbound';
  /** The listener's access logs (its chains'), for the connections no chain claims. */
  accessLogs?: readonly AccessLogSink[];
}

/** The listener's sinks and the facts formats print, for a connection that is logged. */
function logged(downstream: Socket, deps: PassthroughDeps): (ConnectionFacts & { accessLogs?: readonly AccessLogSink[] }) | undefined {
  if (deps.accessLogs === undefined && deps.telemetry.accessLogging !== true) return undefined;
  return { ...downstreamFacts(downstream), ...(deps.accessLogs ? { accessLogs: deps.accessLogs } : {}) };
}

export function passThrough(downstream: Socket, dst: OriginalDst, deps: PassthroughDeps | undefined, connectTimeoutMs = PASSTHROUGH_CONNECT_TIMEOUT_MS): void {
  const start = Date.now();
  const startMono = performance.now();
  const up = connect({ host: dst.address, port: dst.port, noDelay: true });
  const flags: ResponseFlag[] = [];
  let bytesReceived = 0;
  let bytesSent = 0;
  let done = false;
  const facts = deps ? logged(downstream, deps) : undefined;
  deps?.telemetry.tcpConnectionOpened(deps.direction, PASSTHROUGH_CLUSTER, { destination: DESTINATION });
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    downstream.destroy();
    up.destroy();
    deps?.telemetry.tcpConnectionClosed({
      direction: deps.direction,
      downstreamRemoteAddress: downstream.remoteAddress ?? '',
      startTime: start,
      durationMs: performance.now() - startMono,
      clusterName: PASSTHROUGH_CLUSTER,
      upstreamHost: `${dst.address}:${dst.port}`,
      bytesReceived,
      bytesSent,
      responseFlags: flags,
      source: {},
      destination: DESTINATION,
      mtls: false,
      ...facts,
    });
  };
  const timer = setTimeout(() => {
    flags.push('UF');
    finish();
  }, connectTimeoutMs);
  downstream.on('error', finish);
  downstream.on('close', finish);
  up.on('error', () => {
    if (up.connecting) flags.push('UF');
    finish();
  });
  up.once('connect', () => {
    clearTimeout(timer);
    if (facts) facts.upstreamLocalAddress = upstreamLocalAddress(up);
    up.setTimeout(PASSTHROUGH_IDLE_TIMEOUT_MS, finish);
    downstream.setTimeout(PASSTHROUGH_IDLE_TIMEOUT_MS, finish);
    if (deps) {
      downstream.on('data', (c: Buffer) => void (bytesReceived += c.length));
      up.on('data', (c: Buffer) => void (bytesSent += c.length));
    }
    downstream.pipe(up);
    up.pipe(downstream);
    downstream.resume();
  });
  // Either side's FIN is forwarded by pipe(); close once both directions are finished.
  up.on('close', () => (downstream.writableEnded ? finish() : downstream.end()));
}

const BLACKHOLE = { service: 'BlackHoleCluster' };

/**
 * Istio's BlackHoleCluster for connections no chain claims under
 * outboundTrafficPolicy REGISTRY_ONLY (TLS the app originates, opaque TCP):
 * closed at once, never connected onward, and reported as such.
 */
export function blackHole(downstream: Socket, dst: OriginalDst | undefined, deps: PassthroughDeps): void {
  deps.telemetry.tcpConnectionOpened(deps.direction, BLACKHOLE.service, { destination: BLACKHOLE });
  const facts = logged(downstream, deps);
  const remote = downstream.remoteAddress ?? ''; // read before the socket is gone
  downstream.destroy();
  deps.telemetry.tcpConnectionClosed({
    direction: deps.direction,
    downstreamRemoteAddress: remote,
    startTime: Date.now(),
    durationMs: 0,
    clusterName: BLACKHOLE.service,
    ...(dst ? { upstreamHost: `${dst.address}:${dst.port}` } : {}),
    bytesReceived: 0,
    bytesSent: 0,
    responseFlags: [],
    source: {},
    destination: BLACKHOLE,
    mtls: false,
    ...facts,
  });
}
