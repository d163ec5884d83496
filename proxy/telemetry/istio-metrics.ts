// Istio's standard request and TCP metrics, with Istio's names, labels and
// default buckets, so existing dashboards and PromQL work unchanged.
// Hot path: interned integer keys (series-index.ts) select a cached set of
// series; label objects are built only the first time a combination is seen.

import { Counter, type Registry } from './prom.js';
import type { NodeInfo } from '../config/resources.js';
import type { Logger } from '../../common/log.js';
import type { HttpRequestRecord, ResponseFlag, TcpConnectionRecord, WorkloadLabels } from './types.js';
import { SeriesIndex } from './series-index.js';
import { istioLabels, selfLabels } from './istio-labels.js';
import { FastCounter, FastHistogram, type CounterSeries, type HistogramSeries } from './series.js';
import { responseFlagsText } from './response-flags.js';

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
      const labels = istioLabels(this.self, r.direction, r.source, r.destination, r.clusterName, r.mtls, flags, {
        request_protocol: r.protocol,
        response_code: String(r.responseCode),
        grpc_response_status: r.grpcStatus === undefined ? '' : String(r.grpcStatus),
      });
      s = this.resolveSeries(labels, (l) => ({
        requests: this.requests.newSeries(l),
        duration: this.duration.newSeries(l),
        requestBytes: this.requestBytes.newSeries(l),
        responseBytes: this.responseBytes.newSeries(l),
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
      const labels = istioLabels(this.self, direction, source, destination, clusterName, mtls, flags, { request_protocol: 'tcp' });
      s = this.resolveSeries(labels, (l) => ({
        sent: this.tcpSent.newSeries(l),
        received: this.tcpReceived.newSeries(l),
        opened: this.tcpOpened.newSeries(l),
        closed: this.tcpClosed.newSeries(l),
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
    return responseFlagsText(flags);
  }
}

