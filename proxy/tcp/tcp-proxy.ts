// Opaque L4 proxying (Envoy tcp_proxy): pick a cluster by weight, a host by
// the cluster's balancer, connect, then pipe both ways with back-pressure,
// an idle timeout, and byte counters for telemetry.

import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { buildConnector } from 'undici';
import type { NodeInfo, TcpProxy } from '../config/resources.js';
import type { ResponseFlag, Telemetry } from '../telemetry/types.js';
import { downstreamFacts, upstreamLocalAddress } from '../listener/connection-facts.js';
import { transportFailureReason } from '../http/local-reply.js';
import { withPrincipal, type ClusterManager, type ClusterRuntime, type DestinationLabels, type PrincipalLabels, type UpstreamHost } from '../upstream/cluster-manager.js';
import { tlsConnector } from '../upstream/endpoint-pools.js';
import { socketConnector } from '../upstream/socket-connector.js';
import { peerPrincipal } from '../listener/peer-principal.js';
import { originalDstOf } from '../listener/original-dst.js';
import { selfLabels } from '../telemetry/istio-labels.js';

/**
 * One connector per (cluster runtime, host): a mesh cluster's connections are mTLS with the peer's
 * SPIFFE identity checked (and resume that host's TLS session); others are plain TCP. Cached so the
 * session ticket survives from one connection to the next; a config swap makes new runtimes.
 */
const connectors = new WeakMap<ClusterRuntime, WeakMap<UpstreamHost, HostConnector>>();

/** A host's connector, and the SPIFFE ID its last mTLS handshake verified (read right after it connects). */
interface HostConnector {
  connect: buildConnector.connector;
  principal: string | undefined;
  principalLabels: PrincipalLabels;
}

function connectorFor(cluster: ClusterRuntime, host: UpstreamHost): HostConnector {
  let byHost = connectors.get(cluster);
  if (!byHost) connectors.set(cluster, (byHost = new WeakMap()));
  let c = byHost.get(host);
  if (!c) {
    const timeout = cluster.config.connectTimeout;
    const hc: HostConnector = { connect: socketConnector(timeout), principal: undefined, principalLabels: undefined };
    // No ALPN: the peer's inbound mTLS chain takes any TLS, and opaque TCP is not HTTP.
    if (cluster.upstreamTls) hc.connect = tlsConnector(timeout, cluster.upstreamTls, [], (id) => (hc.principal = id));
    byHost.set(host, (c = hc));
  }
  return c;
}

type Dialled = (err: Error | null, socket: Socket | null) => void;

/**
 * An ORIGINAL_DST cluster's connection: to where the downstream was going (Istio's inbound passthrough,
 * from the cluster's bind address so the redirect rules let it through), within the connect timeout.
 */
function dialOriginalDst(cluster: ClusterRuntime, dst: { address: string; port: number }, done: Dialled): void {
  const source = cluster.config.upstreamBindConfig?.sourceAddress;
  const s = netConnect({ host: dst.address, port: dst.port, noDelay: true, ...(source ? { localAddress: source.address, localPort: source.port || undefined } : {}) });
  const fail = (err: Error) => {
    s.destroy();
    done(err, null);
  };
  s.setTimeout(cluster.config.connectTimeout, () => fail(new Error('connect timeout')));
  s.once('error', fail);
  s.once('connect', () => {
    s.setTimeout(0);
    s.off('error', fail);
    done(null, s);
  });
}

export interface TcpChainDeps {
  clusters: ClusterManager;
  telemetry: Telemetry;
  node: NodeInfo;
  direction: 'inbound' | 'outbound';
}

export class TcpChain {
  constructor(
    public config: TcpProxy,
    public deps: TcpChainDeps,
    readonly tls: boolean,
  ) {}

  private pickCluster(): string | undefined {
    const c = this.config;
    if (c.cluster !== undefined) return c.cluster;
    const list = c.weightedClusters ?? [];
    const total = list.reduce((s, w) => s + w.weight, 0);
    let x = Math.random() * total;
    for (const w of list) {
      if (x < w.weight) return w.name;
      x -= w.weight;
    }
    return list[list.length - 1]?.name;
  }

  /** Proxies one downstream connection; `downstream` may already hold unshifted first bytes. */
  handle(downstream: Duplex & { remoteAddress?: string }): void {
    const start = Date.now();
    const startMono = performance.now();
    const clusterName = this.pickCluster();
    const cluster = clusterName !== undefined ? this.deps.clusters.get(clusterName) : undefined;
    const originalDst = cluster?.config.type === 'ORIGINAL_DST' ? originalDstOf(downstream) : undefined;
    const host = cluster && !originalDst ? (cluster.lb.pick({}) as UpstreamHost | undefined) : undefined;
    const flags: ResponseFlag[] = [];
    // Access log formats read the connection's addresses: taken now, while the socket still has them.
    const facts = this.config.accessLog !== undefined || this.deps.telemetry.accessLogging === true ? downstreamFacts(downstream as Socket) : undefined;
    let bytesReceived = 0;
    let bytesSent = 0;
    let upstream: Socket | undefined;
    let closed = false;
    // The same labels on the opened and closed series: the peer's verified SPIFFE ID on an mTLS inbound
    // connection, this workload on an outbound one (Istio's source side).
    const principal = this.tls ? peerPrincipal({ socket: downstream }) : undefined;
    const source = this.deps.direction === 'outbound' ? selfLabels(this.deps.node) : principal !== undefined ? { principal } : {};
    let destination: DestinationLabels = cluster?.destination ?? {};
    // Over mesh mTLS the peer's identity is known once the upstream handshake is done: the connection is
    // counted as opened then (or when it ends without one), with the same labels its close will carry.
    const connector = host && cluster?.upstreamTls ? connectorFor(cluster, host) : undefined;
    let opened = false;
    const open = () => {
      if (opened) return;
      opened = true;
      this.deps.telemetry.tcpConnectionOpened(this.deps.direction, clusterName, { source, destination, mtls: this.tls });
    };
    if (connector === undefined) open();
    const finish = () => {
      if (closed) return;
      closed = true;
      open();
      if (host) host.activeRequests--;
      downstream.destroy();
      upstream?.destroy();
      this.deps.telemetry.tcpConnectionClosed({
        direction: this.deps.direction,
        downstreamRemoteAddress: downstream.remoteAddress ?? '',
        startTime: start,
        durationMs: performance.now() - startMono,
        clusterName,
        upstreamHost: originalDst ? `${originalDst.address}:${originalDst.port}` : host?.key,
        bytesReceived,
        bytesSent,
        responseFlags: flags,
        source,
        destination,
        mtls: this.tls,
        ...(this.config.accessLog !== undefined ? { accessLogs: this.config.accessLog } : {}),
        ...facts,
      });
    };
    downstream.on('error', finish);
    downstream.on('close', finish);
    if (!host && !originalDst) {
      // An ORIGINAL_DST cluster on a connection that was not redirected has no host either.
      flags.push(cluster ? 'UH' : 'NR');
      finish();
      return;
    }
    downstream.pause();
    const connected: Dialled = (err, socket) => {
      if (err || !socket) {
        // Refused, timed out, TLS handshake or peer identity failed: no connection was made.
        flags.push('UF');
        if (facts) {
          const reason = transportFailureReason(err);
          if (reason !== undefined) facts.upstreamTransportFailureReason = reason;
        }
        finish();
        return;
      }
      const up = socket as Socket;
      upstream = up;
      if (facts) facts.upstreamLocalAddress = upstreamLocalAddress(up);
      if (closed) return void up.destroy();
      if (connector) {
        destination = withPrincipal(connector, destination, connector.principal);
        open();
      }
      const idle = this.config.idleTimeout;
      if (idle > 0) {
        up.setTimeout(idle, finish);
        (downstream as Socket).setTimeout?.(idle, finish);
      }
      downstream.on('data', (c: Buffer) => {
        bytesReceived += c.length;
      });
      up.on('data', (c: Buffer) => {
        bytesSent += c.length;
      });
      up.on('error', () => {
        flags.push('UC');
        finish();
      });
      // Upstream closed: let queued bytes reach the downstream, then its 'close' finishes the record.
      up.on('close', () => downstream.end());
      downstream.pipe(up);
      up.pipe(downstream);
      downstream.resume();
    };
    if (originalDst) return dialOriginalDst(cluster!, originalDst, connected);
    host!.activeRequests++;
    const addr = host!.endpoint.address;
    const connect = (connector ?? connectorFor(cluster!, host!)).connect;
    connect({ hostname: addr.address, host: addr.address, port: String(addr.port), protocol: cluster!.upstreamTls ? 'https:' : 'http:' } as buildConnector.Options, connected as Parameters<buildConnector.connector>[1]);
  }
}
