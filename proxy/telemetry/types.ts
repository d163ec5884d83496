// The contract between the request path and telemetry (metrics, traces,
// access logs). The request path fills one record per request or TCP
// connection and hands it over once, at the end; tracing also gets a hook at
// the start so the outgoing request carries the new span's context.

import type { AccessLogSink } from '../config/resources.js';

export type ResponseFlag =
  | 'UF' // upstream connection failure
  | 'UO' // upstream overflow (circuit breaker)
  | 'NR' // no route
  | 'URX' // retry limit exceeded
  | 'UT' // upstream request timeout
  | 'UC' // upstream connection terminated
  | 'UR' // upstream remote reset
  | 'DC' // downstream connection terminated
  | 'UH' // no healthy upstream
  | 'LR' // local reset
  | 'RL' // rate limited
  | 'FI' // fault injected (abort)
  | 'DI' // fault injected (delay)
  | 'UAEX' // unauthorized (RBAC / external)
  | 'DPE' // downstream protocol error
  | 'RLSE'; // rate limit service error (unused today)

export interface WorkloadLabels {
  workload: string;
  namespace: string;
  /** e.g. reviews.default.svc.cluster.local or the service name */
  service: string;
  version: string;
  /** SPIFFE ID, when known */
  principal: string;
  /** Istio's `app` label; defaults to the short service name. */
  app?: string;
  /** Istio's canonical service; defaults to app. */
  canonicalService?: string;
  /** Istio's cluster id (destination_cluster), e.g. Kubernetes. */
  cluster?: string;
}

export interface HttpRequestRecord extends ConnectionFacts {
  direction: 'inbound' | 'outbound';
  /** 'http' or 'grpc' — Istio's request_protocol label. */
  protocol: 'http' | 'grpc';
  /** 'HTTP/1.1' | 'HTTP/2' as seen downstream. */
  httpVersion: string;
  method: string;
  authority: string;
  path: string;
  requestId?: string;
  userAgent?: string;
  downstreamRemoteAddress: string;
  startTime: number; // epoch ms
  durationMs: number;
  responseCode: number; // 0 when no response was sent (downstream reset)
  grpcStatus?: number;
  responseFlags: readonly ResponseFlag[];
  routeName?: string;
  clusterName?: string;
  upstreamHost?: string;
  attempts: number;
  requestBytes: number;
  responseBytes: number;
  source: Partial<WorkloadLabels>;
  destination: Partial<WorkloadLabels>;
  /** W3C trace id of the request's span, when traced. */
  traceId?: string;
  mtls: boolean;
  /** The listener's own access logs (HCM / TCP proxy access_log), besides the bootstrap's. */
  accessLogs?: readonly AccessLogSink[];
  // Read only by access log formats, so filled only when the request is access-logged (ConnectionFacts).
  /** The request's headers as received (lower-case names). */
  requestHeaders?: Readonly<Record<string, string | string[] | undefined>>;
  /** The request target as received, query included (Envoy's :path). */
  url?: string;
  scheme?: 'http' | 'https';
  /** The response's headers as sent downstream (flat [name, value, …], lower-case names). */
  responseHeaders?: readonly string[];
  /** Envoy's %RESPONSE_CODE_DETAILS%: via_upstream, route_not_found, … */
  responseCodeDetails?: string;
}

/** Facts about the connection a request or connection record came over, for access log formats. */
export interface ConnectionFacts {
  downstreamRemotePort?: number;
  /** `ip:port` the client connected to (its original destination when the connection was redirected). */
  downstreamLocalAddress?: string;
  /** The SNI the client sent, on TLS connections. */
  requestedServerName?: string;
  /** `ip:port` of this proxy's side of the upstream connection. */
  upstreamLocalAddress?: string;
  /** Why the upstream connection failed at the transport (TLS), when it did. */
  upstreamTransportFailureReason?: string;
  /** Why a network filter closed the connection (RBAC). */
  connectionTerminationDetails?: string;
}

export interface TcpConnectionRecord extends ConnectionFacts {
  direction: 'inbound' | 'outbound';
  downstreamRemoteAddress: string;
  startTime: number;
  durationMs: number;
  clusterName?: string;
  upstreamHost?: string;
  bytesReceived: number; // from downstream
  bytesSent: number; // to downstream
  responseFlags: readonly ResponseFlag[];
  source: Partial<WorkloadLabels>;
  destination: Partial<WorkloadLabels>;
  mtls: boolean;
  /** The listener's own access logs (HCM / TCP proxy access_log), besides the bootstrap's. */
  accessLogs?: readonly AccessLogSink[];
}

/** A started trace span; `headers` must be added to the upstream request. */
export interface SpanHandle {
  traceId: string;
  headers: Record<string, string>;
  /** False when the incoming context is only forwarded (no span recorded here). */
  sampled?: boolean;
}

export interface Telemetry {
  /**
   * The bootstrap writes an access log: every record then carries the facts a log format reads (the
   * request's and response's headers, addresses). A listener's own access_log asks for them too.
   */
  readonly accessLogging?: boolean;
  /** Called when request headers arrive; returns undefined when the request is not sampled/traced. */
  startSpan(
    requestHeaders: Readonly<Record<string, string | string[] | undefined>>,
    name: string,
    /** inbound → SERVER span, outbound → CLIENT span (default inbound). */
    direction?: 'inbound' | 'outbound',
    /** The listener's own sampling (its HCM tracing.random_sampling, pushed over xDS): overrides the bootstrap's samplingPercent. */
    samplingPercent?: number,
  ): SpanHandle | undefined;
  /** Called exactly once per HTTP request (or gRPC call), after the response finished or failed. */
  httpRequestDone(record: HttpRequestRecord, span: SpanHandle | undefined): void;
  tcpConnectionOpened(
    direction: 'inbound' | 'outbound',
    clusterName: string | undefined,
    /** Peer labels when already known (e.g. from the client certificate). */
    peer?: { source?: Partial<WorkloadLabels>; destination?: Partial<WorkloadLabels>; mtls?: boolean },
  ): void;
  tcpConnectionClosed(record: TcpConnectionRecord): void;
  /** A mirrored (shadow) response compared with the primary's: same status class and code, different, or no shadow answer. */
  mirrorResponse?(primaryCluster: string, mirrorCluster: string, outcome: MirrorOutcome): void;
  /** The bodies of a mirrored request whose statuses matched (SHA-256 of each), compared. */
  mirrorBody?(primaryCluster: string, mirrorCluster: string, outcome: MirrorOutcome): void;
}

export type MirrorOutcome = 'match' | 'mismatch' | 'error';
