// Istio's standard request and TCP metrics, with Istio's names, labels and
// default buckets, so existing dashboards and PromQL work unchanged.
// Hot path: one string key per request selects a cached set of series; label
// objects are built only the first time a label combination is seen.

import { Counter, type Registry } from 'prom-client';
import type { NodeInfo } from '../config/resources.js';
import type { Logger } from '../../common/log.js';
import type { HttpRequestRecord, ResponseFlag, TcpConnectionRecord, WorkloadLabels } from './types.js';
import { SeriesIndex } from './series-index.js';
import { FastCounter, FastHistogram, type CounterSeries, type HistogramSeries } from './series.js';

/** Istio's default request duration buckets (ms). */
export const DURATION_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
] as const;
/** Istio's default size buckets (bytes): 1 … 10^9 by powers of ten. */
export const SIZE_BUCKETS_BYTES = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9] as const;

/** Above this many label combinations new ones are dropped (and counted) rather than growing without bound. */
export const DEFAULT_MAX_SERIES = 10_000;

type Peer = Partial<WorkloadLabels> | undefined;
const NO_FLAGS: readonly ResponseFlag[] = [];

interface HttpSeries {
  requests: CounterSeries;
  duration: HistogramSeries;
  requestBytes: HistogramSeries;
  responseBytes: HistogramSeries;
}
interface TcpSeries {
  sent: CounterSeries;
  received: CounterSeries;
  opened: CounterSeries;
  closed: CounterSeries;
}

export class IstioMetrics {
  private readonly requests: FastCounter;
  private readonly duration: FastHistogram;
  private readonly requestBytes: FastHistogram;
  private readonly responseBytes: FastHistogram;
  private readonly tcpSent: FastCounter;
  private readonly tcpReceived: FastCounter;
  private readonly tcpOpened: FastCounter;
  private readonly tcpClosed: FastCounter;
  private readonly dropped: Counter;
  private readonly httpIndex = new SeriesIndex<HttpSeries>();
  private readonly tcpIndex = new SeriesIndex<TcpSeries>();
  private readonly byLabels = new Map<string, unknown>();
  private readonly self: Required<WorkloadLabels>;
  private warnedFull = false;

  constructor(
    node: NodeInfo,
    registry: Registry,
    private readonly logger?: Logger,
    private readonly maxSeries = DEFAULT_MAX_SERIES,
  ) {
    this.self = selfLabels(node);
    this.requests = new FastCounter('istio_requests_total', 'Requests handled by the proxy', registry);
    this.duration = new FastHistogram(
      'istio_request_duration_milliseconds',
      'Request duration in milliseconds',
      registry,
      DURATION_BUCKETS_MS,
    );
    this.requestBytes = new FastHistogram('istio_request_bytes', 'Request body sizes in bytes', registry, SIZE_BUCKETS_BYTES);
    this.responseBytes = new FastHistogram('istio_response_bytes', 'Response body sizes in bytes', registry, SIZE_BUCKETS_BYTES);
    this.tcpSent = new FastCounter('istio_tcp_sent_bytes_total', 'Bytes sent to the downstream over TCP', registry);
    this.tcpReceived = new FastCounter('istio_tcp_received_bytes_total', 'Bytes received from the downstream over TCP', registry);
    this.tcpOpened = new FastCounter('istio_tcp_connections_opened_total', 'TCP connections opened', registry);
    this.tcpClosed = new FastCounter('istio_tcp_connections_closed_total', 'TCP connections closed', registry);
    this.dropped = new Counter({
      name: 'tsmesh_telemetry_series_dropped_total',
      help: 'Records not counted because the metric label cardinality limit was reached',
      registers: [registry],
    });
  }

  recordHttp(r: HttpRequestRecord): void {
    let s = this.httpIndex.find(
      r.source, r.destination, r.clusterName, r.responseFlags, r.responseCode, r.grpcStatus,
      r.direction === 'outbound', r.protocol === 'grpc', r.mtls,
    );
    if (s === undefined) {
      const flags = this.flagsLabel(r.responseFlags);
      const labels = this.labels(r.direction, r.source, r.destination, r.clusterName, r.mtls, flags, {
        request_protocol: r.protocol,
        response_code: String(r.responseCode),
        grpc_response_status: r.grpcStatus === undefined ? '' : String(r.grpcStatus),
      });
      s = this.resolveSeries(labels, (l) => ({
        requests: this.requests.series_(l),
        duration: this.duration.series_(l),
        requestBytes: this.requestBytes.series_(l),
        responseBytes: this.responseBytes.series_(l),
      }));
      if (s === undefined) return;
      this.httpIndex.remember(s);
    }
    s.requests.inc();
    s.duration.observe(r.durationMs);
    s.requestBytes.observe(r.requestBytes);
    s.responseBytes.observe(r.responseBytes);
  }

  tcpOpenedFor(
    direction: 'inbound' | 'outbound',
    clusterName: string | undefined,
    source: Peer,
    destination: Peer,
    mtls: boolean,
  ): void {
    this.tcpSeries(direction, clusterName, source, destination, mtls, NO_FLAGS)?.opened.inc();
  }

  recordTcpClosed(r: TcpConnectionRecord): void {
    const s = this.tcpSeries(r.direction, r.clusterName, r.source, r.destination, r.mtls, r.responseFlags);
    if (!s) return;
    s.closed.inc();
    s.sent.inc(r.bytesSent);
    s.received.inc(r.bytesReceived);
  }

  private tcpSeries(
    direction: 'inbound' | 'outbound',
    clusterName: string | undefined,
    source: Peer,
    destination: Peer,
    mtls: boolean,
    responseFlags: readonly ResponseFlag[],
  ): TcpSeries | undefined {
    let s = this.tcpIndex.find(source, destination, clusterName, responseFlags, 0, undefined, direction === 'outbound', false, mtls);
    if (s === undefined) {
      const flags = this.flagsLabel(responseFlags);
      const labels = this.labels(direction, source, destination, clusterName, mtls, flags, { request_protocol: 'tcp' });
      s = this.resolveSeries(labels, (l) => ({
        sent: this.tcpSent.series_(l),
        received: this.tcpReceived.series_(l),
        opened: this.tcpOpened.series_(l),
        closed: this.tcpClosed.series_(l),
      }));
      if (s === undefined) return undefined;
      this.tcpIndex.remember(s);
    }
    return s;
  }

  /**
   * Slow path, once per new index key: different keys can describe the same
   * label set (e.g. a field given explicitly vs filled from the node), so series
   * are owned by their full label values and the index only points at them.
   */
  private resolveSeries<S>(
    labels: Readonly<Record<string, string>>,
    create: (labels: Readonly<Record<string, string>>) => S,
  ): S | undefined {
    const canonical = Object.values(labels).join('\u0000');
    let s = this.byLabels.get(canonical) as S | undefined;
    if (s === undefined) {
      if (this.byLabels.size >= this.maxSeries) {
        this.dropped.inc();
        if (!this.warnedFull) {
          this.warnedFull = true;
          this.logger?.warn('metric label cardinality limit reached; new label combinations are not counted', {
            maxSeries: this.maxSeries,
          });
        }
        return undefined;
      }
      s = create(labels);
      this.byLabels.set(canonical, s);
    }
    return s;
  }

  /** '-' when none, else Envoy's comma-joined short names (a join only in the rare multi-flag case). */
  private flagsLabel(flags: readonly ResponseFlag[]): string {
    return flags.length === 0 ? '-' : flags.length === 1 ? flags[0]! : flags.join(',');
  }

  /** Builds the full Istio label set; runs once per new label combination. */
  private labels(
    direction: 'inbound' | 'outbound',
    source: Peer,
    destination: Peer,
    clusterName: string | undefined,
    mtls: boolean,
    flags: string,
    extra: Record<string, string>,
  ): Readonly<Record<string, string>> {
    // The proxy's own workload fills the side it stands on: source for outbound, destination for inbound.
    const src = resolve(source, direction === 'outbound' ? this.self : undefined);
    const dst = resolve(destination, direction === 'inbound' ? this.self : undefined);
    const dstService = dst.service !== 'unknown' ? dst.service : serviceFromCluster(clusterName) ?? 'unknown';
    const [svcName, svcNamespace] = splitService(dstService, dst.namespace);
    const labels: Record<string, string> = {
      reporter: direction === 'outbound' ? 'source' : 'destination',
      source_workload: src.workload,
      source_workload_namespace: src.namespace,
      source_principal: src.principal,
      source_app: src.app,
      source_version: src.version,
      source_canonical_service: src.canonicalService,
      source_cluster: src.cluster,
      destination_workload: dst.workload,
      destination_workload_namespace: dst.namespace,
      destination_principal: dst.principal,
      destination_app: dst.app,
      destination_version: dst.version,
      destination_service: dstService,
      destination_service_name: svcName,
      destination_service_namespace: svcNamespace,
      destination_canonical_service: dst.canonicalService,
      destination_cluster: dst.cluster,
      request_protocol: extra.request_protocol!,
      ...(extra.response_code !== undefined
        ? { response_code: extra.response_code, grpc_response_status: extra.grpc_response_status! }
        : {}),
      response_flags: flags,
      connection_security_policy: mtls ? 'mutual_tls' : 'none',
    };
    return Object.freeze(labels);
  }
}

function selfLabels(node: NodeInfo): Required<WorkloadLabels> {
  const app = node.labels['app'] ?? node.cluster;
  return {
    workload: node.workload,
    namespace: node.namespace,
    service: `${node.cluster}.${node.namespace}.svc.cluster.local`,
    version: node.version ?? node.labels['version'] ?? 'unknown',
    principal: `spiffe://${node.trustDomain}/ns/${node.namespace}/sa/${node.serviceAccount}`,
    app,
    canonicalService: node.labels['service.istio.io/canonical-name'] ?? app,
    cluster: node.labels['topology.istio.io/cluster'] ?? 'Kubernetes',
  };
}

/** Fills every label, the record's values first, then (for the proxy's own side) the node's, else 'unknown'. */
function resolve(p: Peer, self: Required<WorkloadLabels> | undefined): Required<WorkloadLabels> {
  const pick = (k: keyof WorkloadLabels): string => {
    const v = p?.[k];
    return v !== undefined && v !== '' ? v : self?.[k] ?? 'unknown';
  };
  const service = pick('service');
  const app = p?.app || self?.app || (service !== 'unknown' ? service.split('.')[0]! : 'unknown');
  return {
    workload: pick('workload'),
    namespace: pick('namespace'),
    service,
    version: pick('version'),
    principal: pick('principal'),
    app,
    canonicalService: p?.canonicalService || self?.canonicalService || app,
    cluster: pick('cluster'),
  };
}

/** Istio-style cluster names: outbound|9080|v2|reviews.default.svc.cluster.local → the host. */
function serviceFromCluster(cluster: string | undefined): string | undefined {
  if (!cluster) return undefined;
  const parts = cluster.split('|');
  return parts.length === 4 && parts[3] ? parts[3] : cluster;
}

function splitService(service: string, namespace: string): [string, string] {
  if (service === 'unknown') return ['unknown', namespace];
  const dot = service.indexOf('.');
  if (dot < 0) return [service, namespace];
  const rest = service.slice(dot + 1);
  const dot2 = rest.indexOf('.');
  return [service.slice(0, dot), dot2 < 0 ? rest : rest.slice(0, dot2)];
}
