// Request spans with the OpenTelemetry SDK. The sampling decision is made
// before any SDK object exists: the caller's sampled flag when it sent one,
// else samplingPercent (Istio's default: 1%). Unsampled requests cost a header
// parse; their incoming context is forwarded untouched, and a new unsampled
// trace carries its decision downstream (traceparent flags 00).

import type { Span, Tracer } from '@opentelemetry/api';
import type { BasicTracerProvider, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { randomFillSync } from 'node:crypto';
import { MeshError } from '../../common/errors.js';
import type { HttpRequestRecord, SpanHandle } from './types.js';
import { extractContext, outgoingHeaders, type HeaderBag, type IncomingContext } from './propagation.js';
import { responseFlagsText } from './response-flags.js';
import { loadOtelSdk, loadOtlpExporter, OTLP_PROTOCOLS, type OtelSdk, type OtlpProtocol } from './otel-sdk.js';
import { reportingExporter, type ExportReportOptions } from './export-report.js';
import { systemClock } from '../../common/clock.js';

export interface TracingOptions {
  exporter: 'otlp' | 'console' | 'none';
  /** OTLP/HTTP traces URL; default http://localhost:4318/v1/traces (the collector's default). */
  endpoint?: string;
  /** OTLP/HTTP encoding; default http/protobuf (OpenTelemetry's default, and what Envoy sends). */
  protocol?: OtlpProtocol;
  /** Share of requests without a caller decision that start a trace, 0–100 (default 1, as Istio). */
  samplingPercent?: number;
  /** service.name resource attribute; default the node's cluster (service) name. */
  serviceName?: string;
  /** Batch export delay (ms); default 5000 (OpenTelemetry's default). */
  exportDelayMs?: number;
  /** Spans per export request, 1–2048; default 64 (DEFAULT_EXPORT_BATCH_SIZE). */
  exportBatchSize?: number;
}

// Spans per OTLP export. An export serialises its batch on the event loop:
// OpenTelemetry's default of 512 spans took 2.5–5 ms here, every half second
// at 1,000 sampled requests/s, and each such stall delayed the requests
// arriving during it (+4–6 ms at p99 with 100 % sampling). 64 spans take
// ~0.4 ms; the cost per span is the same, plus one small POST per batch.
export const DEFAULT_EXPORT_BATCH_SIZE = 64;
export const MAX_QUEUED_SPANS = 2048;

export const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318/v1/traces';

/** A sampled span in flight; the SDK span is ended by `finish`. */
class RecordedSpan implements SpanHandle {
  readonly sampled = true;
  constructor(
    readonly traceId: string,
    readonly headers: Record<string, string>,
    readonly span: Span,
  ) {}
}

/** An unsampled request with an incoming context: forwarded as it came, nothing recorded. */
class ForwardedContext implements SpanHandle {
  readonly sampled = false;
  constructor(
    readonly traceId: string,
    readonly headers: Record<string, string>,
  ) {}
}

export class RequestTracer {
  private readonly provider: BasicTracerProvider | undefined;
  private readonly tracer: Tracer | undefined;
  private readonly percent: number;
  private readonly sdk: OtelSdk | undefined;

  constructor(
    opts: TracingOptions | undefined,
    defaultServiceName: string,
    resourceAttributes: Record<string, string>,
    report: Omit<ExportReportOptions, 'endpoint'> = { registry: undefined, logger: undefined, clock: systemClock },
  ) {
    const percent = opts?.samplingPercent ?? 1;
    if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
      throw new MeshError('MESH_INVALID_CONFIG', `tracing.samplingPercent must be between 0 and 100, got ${percent}`);
    }
    this.percent = percent;
    const batchSize = opts?.exportBatchSize ?? DEFAULT_EXPORT_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_QUEUED_SPANS) {
      throw new MeshError('MESH_INVALID_CONFIG', `tracing.exportBatchSize must be an integer between 1 and ${MAX_QUEUED_SPANS}, got ${batchSize}`);
    }
    const endpoint = exporterEndpoint(opts);
    if (opts?.protocol !== undefined && !OTLP_PROTOCOLS.includes(opts.protocol)) {
      throw new MeshError('MESH_INVALID_CONFIG', `tracing.protocol must be ${OTLP_PROTOCOLS.join(' or ')}, got ${String(opts.protocol)}`);
    }
    if (endpoint === undefined) return;
    // The SDK is loaded here, when tracing is configured, not at import: a sidecar without tracing never pays its memory.
    const sdk = loadOtelSdk();
    this.sdk = sdk;
    const exporter: SpanExporter =
      endpoint === 'console'
        ? new sdk.base.ConsoleSpanExporter()
        : reportingExporter(new (loadOtlpExporter(opts?.protocol ?? 'http/protobuf'))({ url: endpoint }), { ...report, endpoint });
    this.provider = new sdk.base.BasicTracerProvider({
      resource: sdk.resources.resourceFromAttributes({ 'service.name': opts?.serviceName ?? defaultServiceName, ...resourceAttributes }),
      sampler: new sdk.base.AlwaysOnSampler(), // the decision was taken before the span was started
      spanProcessors: [
        new sdk.base.BatchSpanProcessor(exporter, {
          scheduledDelayMillis: opts?.exportDelayMs ?? 5000,
          maxExportBatchSize: batchSize,
          maxQueueSize: MAX_QUEUED_SPANS,
        }),
      ],
    });
    this.tracer = this.provider.getTracer('tsmesh-proxy');
  }

  get enabled(): boolean {
    return this.tracer !== undefined;
  }

  /** `percent`: the listener's sampling when its HCM sets one (else the configured samplingPercent). */
  start(headers: HeaderBag, name: string, direction: 'inbound' | 'outbound' | undefined, percent?: number): SpanHandle | undefined {
    const incoming = extractContext(headers);
    const sample = this.tracer !== undefined && this.decide(incoming, percent ?? this.percent);
    if (!sample) {
      if (incoming) return new ForwardedContext(incoming.traceId, incoming.raw);
      // Tracing is on but this new trace is not sampled: say so downstream (flags 00), as Envoy does, so
      // later hops keep the decision instead of sampling a fragment of the trace on their own.
      if (this.tracer === undefined) return undefined;
      const traceId = randomHex(16);
      return new ForwardedContext(traceId, { traceparent: `00-${traceId}-${randomHex(8)}-00` });
    }
    const api = this.sdk!.api;
    const parent = incoming ? remoteParent(api, incoming) : api.ROOT_CONTEXT;
    const span = this.tracer!.startSpan(
      name,
      { kind: direction === 'outbound' ? api.SpanKind.CLIENT : api.SpanKind.SERVER },
      parent,
    );
    const sc = span.spanContext();
    return new RecordedSpan(sc.traceId, outgoingHeaders(sc.traceId, sc.spanId, incoming), span);
  }

  finish(r: HttpRequestRecord, handle: SpanHandle | undefined): void {
    if (!(handle instanceof RecordedSpan)) return;
    const span = handle.span;
    const colon = r.authority.lastIndexOf(':');
    span.setAttributes({
      'http.request.method': r.method,
      'url.path': r.path,
      'server.address': colon > 0 && !r.authority.endsWith(']') ? r.authority.slice(0, colon) : r.authority,
      'http.response.status_code': r.responseCode,
      'network.protocol.version': r.httpVersion.replace('HTTP/', ''),
      'client.address': r.downstreamRemoteAddress,
      upstream_cluster: r.clusterName ?? '-',
      'upstream_cluster.name': r.clusterName ?? '-',
      response_flags: responseFlagsText(r.responseFlags),
      'user_agent.original': r.userAgent ?? '-',
      'guid:x-request-id': r.requestId ?? '-',
      'upstream.address': r.upstreamHost ?? '-',
      'tsmesh.direction': r.direction,
      'tsmesh.attempts': r.attempts,
      'istio.canonical_service': (r.direction === 'inbound' ? r.destination : r.source).canonicalService ?? '-',
      'peer.principal': (r.direction === 'inbound' ? r.source : r.destination).principal ?? '-',
    });
    if (r.grpcStatus !== undefined) span.setAttribute('rpc.grpc.status_code', r.grpcStatus);
    if (r.responseCode === 0 || r.responseCode >= 500 || r.responseFlags.length > 0) {
      span.setStatus({ code: this.sdk!.api.SpanStatusCode.ERROR });
    }
    span.end();
  }

  async flush(): Promise<void> {
    await this.provider?.forceFlush();
  }

  async shutdown(): Promise<void> {
    await this.provider?.shutdown();
  }

  private decide(incoming: IncomingContext | undefined, percent: number): boolean {
    if (incoming?.sampled !== undefined) return incoming.sampled;
    return percent > 0 && Math.random() * 100 < percent;
  }
}

// Ids for unsampled traces come from a pooled random buffer: one syscall per 256 ids, not per request.
const pool = Buffer.allocUnsafe(24 * 256);
let poolPos = pool.length;
function randomHex(bytes: number): string {
  if (poolPos + bytes > pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  const hex = pool.toString('hex', poolPos, poolPos + bytes);
  poolPos += bytes;
  return hex === '0'.repeat(bytes * 2) ? randomHex(bytes) : hex;
}

function remoteParent(api: OtelSdk['api'], c: IncomingContext) {
  return api.trace.setSpanContext(api.ROOT_CONTEXT, {
    traceId: c.traceId,
    spanId: c.spanId,
    traceFlags: 1,
    isRemote: true,
    ...(c.traceState !== undefined ? { traceState: api.createTraceState(c.traceState) } : {}),
  });
}

/** Where spans go: 'console', an OTLP URL, or undefined when tracing is off. Validated before any SDK is loaded. */
function exporterEndpoint(opts: TracingOptions | undefined): string | undefined {
  switch (opts?.exporter ?? 'none') {
    case 'none':
      return undefined;
    case 'console':
      return 'console';
    case 'otlp': {
      const url = opts?.endpoint ?? DEFAULT_OTLP_ENDPOINT;
      try {
        new URL(url);
      } catch {
        throw new MeshError('MESH_INVALID_CONFIG', `tracing.endpoint is not a valid URL: ${url}`);
      }
      return url;
    }
    default:
      throw new MeshError('MESH_INVALID_CONFIG', `tracing.exporter must be otlp, console or none, got ${String(opts?.exporter)}`);
  }
}
