// The sidecar's telemetry: Istio-standard metrics, OpenTelemetry spans, an
// access logs in Envoy's formats, and a live request feed for the admin /tap
// stream. The request path sees only the `Telemetry` contract (types.ts).

import { Registry } from './prom.js';
import type { AccessLogSink, NodeInfo } from '../config/resources.js';
import type { Logger } from '../../common/log.js';
import { systemClock } from '../../common/clock.js';
import type { HttpRequestRecord, SpanHandle, Telemetry, TcpConnectionRecord, WorkloadLabels } from './types.js';
import { IstioMetrics } from './istio-metrics.js';
import { RequestTracer, type TracingOptions } from './tracing.js';
import { AccessLog, type AccessLogOptions } from './access-log.js';
import { meshCounter } from './registry.js';
import { ENVOY_DEFAULT_FORMAT } from './log-format.js';

const ENVOY_DEFAULT = { text: ENVOY_DEFAULT_FORMAT };

export type { TracingOptions } from './tracing.js';
export type { AccessLogOptions } from './access-log.js';
export { DURATION_BUCKETS_MS, SIZE_BUCKETS_BYTES } from './istio-metrics.js';
export { meshCounter, meshGauge, meshHistogram, Registry } from './registry.js';
export * from './types.js';

export interface TelemetryOptions {
  node: NodeInfo;
  /** Shared registry for every tsmesh metric; a new one when omitted. */
  registry?: Registry;
  tracing?: TracingOptions;
  accessLog?: AccessLogOptions;
  logger?: Logger;
  /** Cap on metric label combinations (default 10,000). */
  maxSeries?: number;
}

export type RequestListener = (record: HttpRequestRecord) => void;

export interface SidecarTelemetry extends Telemetry {
  readonly registry: Registry;
  /** Live feed of finished HTTP requests (admin /tap); returns the unsubscribe function. */
  onRequest(listener: RequestListener): () => void;
  /** Exports pending spans and writes pending access-log lines. */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export function createTelemetry(opts: TelemetryOptions): SidecarTelemetry {
  const registry = opts.registry ?? new Registry();
  const metrics = new IstioMetrics(opts.node, registry, opts.logger, opts.maxSeries);
  const tracer = new RequestTracer(opts.tracing, opts.node.cluster, {
    'service.namespace': opts.node.namespace,
    'service.instance.id': opts.node.id,
    ...(opts.node.version ? { 'service.version': opts.node.version } : {}),
    'k8s.namespace.name': opts.node.namespace,
  }, { registry, logger: opts.logger, clock: systemClock });
  const accessLog = opts.accessLog ? new AccessLog(opts.accessLog, opts.logger) : undefined;
  // Access logs a listener's config asks for (xDS access_log on /dev/stdout or /dev/stderr): one writer per
  // stream and format, found by the sink object the config holds; a stream the bootstrap's log already
  // writes to is not written twice.
  const writers = new Map<string, AccessLog>();
  const bySink = new WeakMap<AccessLogSink, AccessLog | null>();
  const bootstrapStream = opts.accessLog?.path === 'stdout' ? '/dev/stdout' : opts.accessLog?.path === 'stderr' ? '/dev/stderr' : undefined;
  const sinkLog = (sink: AccessLogSink): AccessLog | undefined => {
    let l = bySink.get(sink);
    if (l === undefined) {
      if (sink.path === bootstrapStream) l = null;
      else {
        const key = `${sink.path} ${JSON.stringify(sink.format ?? null)}`;
        l = writers.get(key) ?? null;
        if (l === null) {
          // The format was compiled when the config was read (a bad one is refused there), so this cannot throw.
          l = new AccessLog({ path: sink.path === '/dev/stdout' ? 'stdout' : 'stderr', format: sink.format ?? ENVOY_DEFAULT }, opts.logger);
          writers.set(key, l);
        }
      }
      bySink.set(sink, l);
    }
    return l ?? undefined;
  };
  let listeners: RequestListener[] = [];
  const logger = opts.logger;
  // Shadow vs primary responses (traffic mirroring); the canary's mirror phase reads the mismatch rate.
  const mirrorResponses = meshCounter(registry, {
    name: 'tsmesh_mirror_responses_total',
    help: 'Mirrored requests by how the shadow response compared with the primary one (status code)',
    labelNames: ['cluster_name', 'mirror_cluster_name', 'outcome'] as const,
  });
  const mirrorBodies = meshCounter(registry, {
    name: 'tsmesh_mirror_bodies_total',
    help: 'Mirrored requests whose statuses matched, by how the bodies compared (SHA-256 of each)',
    labelNames: ['cluster_name', 'mirror_cluster_name', 'outcome'] as const,
  });

  return {
    registry,
    accessLogging: accessLog !== undefined,
    startSpan(headers, name, direction, samplingPercent) {
      return tracer.start(headers, name, direction, samplingPercent);
    },
    httpRequestDone(record: HttpRequestRecord, span: SpanHandle | undefined) {
      metrics.recordHttp(record);
      if (span !== undefined) {
        if (record.traceId === undefined) record.traceId = span.traceId;
        tracer.finish(record, span);
      }
      if (accessLog !== undefined) accessLog.log(record);
      if (record.accessLogs !== undefined) for (const s of record.accessLogs) sinkLog(s)?.log(record);
      if (listeners.length !== 0) {
        for (const l of listeners) {
          try {
            l(record);
          } catch (err) {
            logger?.warn('request listener failed', { err });
          }
        }
      }
    },
    tcpConnectionOpened(
      direction: 'inbound' | 'outbound',
      clusterName: string | undefined,
      peer?: { source?: Partial<WorkloadLabels>; destination?: Partial<WorkloadLabels>; mtls?: boolean },
    ) {
      metrics.tcpOpenedFor(direction, clusterName, peer?.source, peer?.destination, peer?.mtls ?? false);
    },
    tcpConnectionClosed(record: TcpConnectionRecord) {
      metrics.recordTcpClosed(record);
      if (accessLog !== undefined) accessLog.log(record);
      if (record.accessLogs !== undefined) for (const s of record.accessLogs) sinkLog(s)?.log(record);
    },
    mirrorResponse(primaryCluster, mirrorCluster, outcome) {
      mirrorResponses.inc({ cluster_name: primaryCluster, mirror_cluster_name: mirrorCluster, outcome });
    },
    mirrorBody(primaryCluster, mirrorCluster, outcome) {
      mirrorBodies.inc({ cluster_name: primaryCluster, mirror_cluster_name: mirrorCluster, outcome });
    },
    onRequest(listener) {
      // Copy-on-write: the hot path iterates the array without guarding against changes mid-loop.
      listeners = [...listeners, listener];
      return () => {
        listeners = listeners.filter((l) => l !== listener);
      };
    },
    async flush() {
      accessLog?.flush();
      for (const l of writers.values()) l.flush();
      await tracer.flush();
    },
    async shutdown() {
      listeners = [];
      await Promise.allSettled([tracer.shutdown(), accessLog?.close(), ...[...writers.values()].map((l) => l.close())]);
    },
  };
}
