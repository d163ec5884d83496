// The proxy's configuration model: the subset of Envoy's xDS v3 resources that
// tsmesh supports, as immutable camelCase domain objects. The bootstrap file
// (bootstrap.ts) and the xDS client (proxy/xds) both produce exactly these
// types; nothing past that edge sees YAML or protobuf. Field names follow
// Envoy's so that users and the control plane translate 1:1. Durations are
// milliseconds; percentages are 0–100 (fractions allowed).

export type Millis = number;

export interface SocketAddress {
  address: string; // IP literal or hostname
  port: number;
}

// ---------------------------------------------------------------- matchers

/** Envoy's StringMatcher: exactly one of the match fields is set. */
export interface StringMatcher {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  /** RE2-style regular expression, matched against the whole string. */
  safeRegex?: string;
  ignoreCase?: boolean;
}

export interface HeaderMatcher {
  /** Lower-case header name; pseudo-headers `:method`, `:authority`, `:path`, `:scheme` are allowed. */
  name: string;
  /** When absent, the header must be present (Envoy's present_match). */
  stringMatch?: StringMatcher;
  presentMatch?: boolean;
  invertMatch?: boolean;
}

export interface QueryParameterMatcher {
  name: string;
  stringMatch?: StringMatcher;
  presentMatch?: boolean;
}

// ---------------------------------------------------------------- secrets & TLS

/** A Secret (SDS). `default` holds the workload's own certificate, `ROOTCA` the trust bundle (Istio's names). */
export interface Secret {
  name: string;
  tlsCertificate?: {
    certificateChain: string; // PEM
    privateKey: string; // PEM; only ever set by the workload itself, never pushed by the control plane
  };
  validationContext?: {
    trustedCa: string; // PEM bundle, one or more roots
  };
}

export interface TlsParams {
  minVersion: 'TLSv1.2' | 'TLSv1.3';
}

/** TLS a listener's filter chain terminates (Envoy DownstreamTlsContext). */
export interface DownstreamTlsContext {
  /** Name of a Secret holding tlsCertificate. */
  certificateSecret: string;
  /** Name of a Secret holding validationContext; required when requireClientCertificate. */
  validationSecret?: string;
  requireClientCertificate: boolean;
  /** Allowed client SPIFFE IDs (URI SAN); empty = any identity the trust bundle vouches for. */
  matchSubjectAltNames: StringMatcher[];
  alpnProtocols: string[];
  params: TlsParams;
}

/** TLS a cluster originates to its endpoints (Envoy UpstreamTlsContext). */
export interface UpstreamTlsContext {
  certificateSecret?: string;
  validationSecret: string;
  /** The server's URI SAN (SPIFFE ID) must match one of these; empty = any trusted identity. */
  matchSubjectAltNames: StringMatcher[];
  /**
   * A server outside the mesh (TLS origination): its certificate must be valid for one of these DNS
   * names (Envoy's DNS-type SAN matchers; wildcard certificates honoured) instead of carrying a SPIFFE
   * ID. `validationSecret` then usually names `file-root:<path>` or `system-roots` (tls/file-roots.ts).
   */
  matchDnsSubjectAltNames?: string[];
  sni?: string;
  alpnProtocols: string[];
  params: TlsParams;
}

// ---------------------------------------------------------------- listeners

export type TrafficDirection = 'INBOUND' | 'OUTBOUND' | 'UNSPECIFIED';

export interface Listener {
  name: string;
  address: SocketAddress;
  trafficDirection: TrafficDirection;
  /** Chains are tried in order; the first whose match fits the detected connection wins. */
  filterChains: FilterChain[];
  /** How long to wait for the first bytes before treating the connection as opaque TCP (server-speaks-first). */
  protocolDetectionTimeout: Millis;
  /** Envoy's api_listener: a listener without a socket that gRPC proxyless clients resolve `xds:///name` through.
   * When set, `address` and `filterChains` are not used (a sidecar does not bind it). */
  apiListener?: HttpConnectionManager;
  /** Envoy's use_original_dst: connections were redirected here (iptables REDIRECT); the proxy reads each one's
   * original destination (SO_ORIGINAL_DST) and, on a non-INBOUND listener, passes a connection no filter chain
   * matches through to it (Istio's PassthroughCluster); INBOUND closes it. Needs the native addon. */
  useOriginalDst?: boolean;
}

export interface FilterChainMatch {
  /** 'tls' when a TLS ClientHello was seen, 'raw_buffer' otherwise. */
  transportProtocol?: 'tls' | 'raw_buffer';
  /** Detected application protocols, e.g. ['http/1.1', 'h2c'] (Envoy's http_inspector names) or TLS ALPN values. */
  applicationProtocols?: string[];
  serverNames?: string[];
  /** Envoy's destination_port: the connection's local port, or on a useOriginalDst listener its original
   * destination's port (an inbound chain per application port). */
  destinationPort?: number;
  /** Envoy's prefix_ranges: the connection's destination IP (the original one on a useOriginalDst listener)
   * is in one of these; the most specific matching range wins (a TCP service's ClusterIP and pod IPs). */
  prefixRanges?: CidrRange[];
}

/** Envoy's core.v3.CidrRange. */
export interface CidrRange {
  addressPrefix: string;
  prefixLen: number;
}

export interface FilterChain {
  name: string;
  filterChainMatch?: FilterChainMatch;
  transportSocket?: DownstreamTlsContext;
  filter: HttpConnectionManager | TcpProxy;
}

export interface HttpLimits {
  maxRequestHeadersKb: number; // Envoy default 60
  maxHeadersCount: number; // Envoy default 100
  http2MaxConcurrentStreams: number; // 100
  requestHeadersTimeout: Millis; // 0 = none
  idleTimeout: Millis; // connection idle timeout, Envoy default 1h
  streamIdleTimeout: Millis; // Envoy default 5m
  requestTimeout: Millis; // 0 = none
  maxRequestBodyBytes: number; // bodies are streamed; this bounds what a policy may buffer (retries)
}

/**
 * Envoy's file access log on a connection manager or TCP proxy (envoy.access_loggers.file): a line per
 * request or connection. Only the process's own streams: a control plane does not pick files on the
 * workload's disk.
 */
export const ACCESS_LOG_PATHS = ['/dev/stdout', '/dev/stderr'] as const;
export interface AccessLogSink {
  path: (typeof ACCESS_LOG_PATHS)[number];
  /** Envoy's log_format; absent: Envoy's default text line. */
  format?: AccessLogFormat;
}

/**
 * Envoy's SubstitutionFormatString: a text line of command operators (text_format_source) or a JSON
 * object whose values are format strings (json_format), see proxy/telemetry/log-format.ts.
 */
export type AccessLogFormat = { text: string } | { json: Record<string, unknown>; omitEmptyValues?: boolean };

export interface HttpConnectionManager {
  kind: 'http';
  statPrefix: string;
  /** Either a route configuration fetched by name (RDS) or one given inline. */
  rdsRouteConfigName?: string;
  routeConfig?: RouteConfiguration;
  codecType: 'AUTO' | 'HTTP1' | 'HTTP2';
  httpFilters: HttpFilter[];
  limits: HttpLimits;
  /** Trust the downstream's x-forwarded-for (Envoy use_remote_address=false semantics when false). */
  useRemoteAddress: boolean;
  xffNumTrustedHops: number;
  generateRequestId: boolean;
  tracing?: { randomSamplingPercent: number };
  accessLog?: AccessLogSink[];
  /** Istio's MeshConfig.outboundTrafficPolicy for a request whose Host matches no virtual host, on a connection
   * with an original destination (useOriginalDst listener): ALLOW_ANY forwards it there (PassthroughCluster),
   * REGISTRY_ONLY answers 502 (BlackHoleCluster). Absent: 404 NR, as Envoy. On the wire: the filter chain's
   * metadata (filter_metadata.tsmesh.outbound_traffic_policy). */
  outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY';
}

export interface TcpProxy {
  kind: 'tcp';
  statPrefix: string;
  cluster?: string;
  weightedClusters?: WeightedCluster[];
  idleTimeout: Millis; // Envoy default 1h
  accessLog?: AccessLogSink[];
}

// ---------------------------------------------------------------- HTTP filters

/** Envoy RBAC semantics: ALLOW lets through requests that match a policy, DENY refuses them. */
export interface RbacRules {
  action: 'ALLOW' | 'DENY';
  policies: Record<string, RbacPolicy>;
}

export interface RbacPolicy {
  /** Any permission matches (OR). */
  permissions: RbacPermission[];
  /** Any principal matches (OR). */
  principals: RbacPrincipal[];
}

export type RbacPermission =
  | { any: true }
  | { urlPath: StringMatcher }
  | { header: HeaderMatcher }
  | { andRules: RbacPermission[] }
  | { orRules: RbacPermission[] }
  | { notRule: RbacPermission };

export type RbacPrincipal =
  | { any: true }
  /** The peer's verified SPIFFE ID. */
  | { authenticated: StringMatcher }
  | { andIds: RbacPrincipal[] }
  | { orIds: RbacPrincipal[] }
  | { notId: RbacPrincipal };

export type HttpFilter =
  | { name: string; kind: 'rbac'; rules?: RbacRules }
  | { name: string; kind: 'fault' }
  | { name: string; kind: 'localRateLimit' }
  | { name: string; kind: 'router' };

// ---------------------------------------------------------------- routes

export interface HeaderValueOption {
  header: { key: string; value: string };
  /** APPEND_IF_EXISTS_OR_ADD (default), ADD_IF_ABSENT, OVERWRITE_IF_EXISTS_OR_ADD. */
  appendAction: 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD';
}

export interface HeaderMutations {
  requestHeadersToAdd: HeaderValueOption[];
  requestHeadersToRemove: string[];
  responseHeadersToAdd: HeaderValueOption[];
  responseHeadersToRemove: string[];
}

export interface RouteConfiguration extends HeaderMutations {
  name: string;
  virtualHosts: VirtualHost[];
}

export interface VirtualHost extends HeaderMutations {
  name: string;
  /** Host names; `*` alone matches anything, `*.example.com` and `example.*` wildcards, optional `:port`. */
  domains: string[];
  routes: Route[];
  retryPolicy?: RetryPolicy;
}

export interface RouteMatch {
  /** Exactly one of prefix, path, safeRegex, pathSeparatedPrefix. */
  prefix?: string;
  path?: string;
  safeRegex?: string;
  pathSeparatedPrefix?: string;
  caseSensitive: boolean;
  headers: HeaderMatcher[];
  queryParameters: QueryParameterMatcher[];
  /** Only gRPC requests (content-type application/grpc*). */
  grpc?: boolean;
}

export interface WeightedCluster extends HeaderMutations {
  name: string;
  weight: number;
}

export interface RetryPolicy {
  /** Envoy retry_on conditions: 5xx, gateway-error, reset, connect-failure, refused-stream,
   * retriable-status-codes, retriable-4xx, and gRPC: cancelled, deadline-exceeded, internal,
   * resource-exhausted, unavailable. */
  retryOn: string[];
  numRetries: number; // Envoy default 1
  perTryTimeout?: Millis;
  perTryIdleTimeout?: Millis;
  retriableStatusCodes: number[];
  retryBackOff: { baseInterval: Millis; maxInterval: Millis }; // 25ms, 10× base
  /** Prefer an endpoint not tried before (Envoy's previous_hosts predicate). */
  retryOtherHosts: boolean;
  hostSelectionRetryMaxAttempts: number;
}

export interface RequestMirrorPolicy {
  cluster: string;
  /** Share of requests mirrored, 0–100. */
  percent: number;
}

export type HashPolicy =
  | { header: { headerName: string }; terminal?: boolean }
  | { cookie: { name: string; ttl?: Millis; path?: string }; terminal?: boolean }
  | { queryParameter: { name: string }; terminal?: boolean }
  | { connectionProperties: { sourceIp: true }; terminal?: boolean };

export interface RouteAction {
  /** Exactly one of cluster and weightedClusters. */
  cluster?: string;
  weightedClusters?: WeightedCluster[];
  /** Whole-request timeout; Envoy default 15s; 0 disables. */
  timeout: Millis;
  idleTimeout?: Millis;
  retryPolicy?: RetryPolicy;
  requestMirrorPolicies: RequestMirrorPolicy[];
  prefixRewrite?: string;
  /** Every match of pattern is replaced; substitution in RE2's syntax (`\1` = capture group 1), as Envoy. */
  regexRewrite?: { pattern: string; substitution: string };
  hostRewriteLiteral?: string;
  hashPolicy: HashPolicy[];
}

export interface FaultPolicy {
  delay?: { fixedDelay: Millis; percent: number };
  abort?: { httpStatus?: number; grpcStatus?: number; percent: number };
  /** Only requests carrying all of these headers are faulted. */
  headers: HeaderMatcher[];
}

export interface LocalRateLimitPolicy {
  tokenBucket: { maxTokens: number; tokensPerFill: number; fillInterval: Millis };
  statPrefix: string;
}

/** HTTP status codes of Envoy's RedirectResponseCode (MOVED_PERMANENTLY … PERMANENT_REDIRECT). */
export const REDIRECT_CODES = [301, 302, 303, 307, 308] as const;
export type RedirectCode = (typeof REDIRECT_CODES)[number];

/**
 * Envoy's RedirectAction: answer with a redirect instead of forwarding. Unset parts keep the request's:
 * scheme (x-forwarded-proto, else the connection's), host, port (dropped when the port is redirected, or when
 * the scheme changes and it was the old scheme's default), path and query.
 */
export interface RedirectAction {
  /** http or https (Envoy's https_redirect is schemeRedirect: https). */
  schemeRedirect?: string;
  hostRedirect?: string;
  portRedirect?: number;
  /** At most one of pathRedirect, prefixRewrite and regexRewrite. A '?' in pathRedirect replaces the query. */
  pathRedirect?: string;
  prefixRewrite?: string;
  regexRewrite?: { pattern: string; substitution: string };
  responseCode: RedirectCode; // Envoy default 301
  stripQuery: boolean;
}

export interface Route extends HeaderMutations {
  name: string;
  match: RouteMatch;
  /** Exactly one of route, redirect and directResponse. */
  route?: RouteAction;
  redirect?: RedirectAction;
  directResponse?: { status: number; body?: string };
  fault?: FaultPolicy;
  rateLimit?: LocalRateLimitPolicy;
}

// ---------------------------------------------------------------- clusters & endpoints

/** CLUSTER_PROVIDED: the cluster picks its own host (Envoy requires it of ORIGINAL_DST clusters). */
export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH' | 'MAGLEV' | 'PEAK_EWMA' | 'CLUSTER_PROVIDED';

export interface CircuitBreakerThresholds {
  maxConnections: number; // Envoy defaults: 1024
  maxPendingRequests: number; // 1024
  maxRequests: number; // 1024
  maxRetries: number; // 3
  /** Retries may use budgetPercent of active requests, but at least minRetryConcurrency. */
  retryBudget?: { budgetPercent: number; minRetryConcurrency: number };
}

export interface OutlierDetection {
  consecutive5xx: number; // 5
  consecutiveGatewayFailure: number; // 5
  consecutiveLocalOriginFailure: number; // 5
  interval: Millis; // 10s
  baseEjectionTime: Millis; // 30s
  maxEjectionTime: Millis; // 300s
  maxEjectionPercent: number; // 10
  enforcingConsecutive5xx: number; // 100 (percent)
  enforcingConsecutiveGatewayFailure: number; // 0 in Envoy; tsmesh's control plane sets 100
  splitExternalLocalOriginErrors: boolean;
}

export interface Cluster {
  name: string;
  /**
   * EDS: endpoints come from a ClusterLoadAssignment named edsServiceName (default: the cluster name).
   * ORIGINAL_DST: no endpoints; a TCP proxy connects each connection to its original destination (a
   * useOriginalDst listener's): Istio's InboundPassthroughCluster for pod ports no Service names.
   * STRICT_DNS: loadAssignment's endpoints are host names, each resolved (and re-resolved) to one host
   * per address. LOGICAL_DNS: one endpoint whose host is the first address of its latest resolution
   * (a large web service behind many rotating addresses). Both: Istio's ServiceEntry with resolution
   * DNS and DNS_ROUND_ROBIN.
   */
  type: 'STATIC' | 'EDS' | 'ORIGINAL_DST' | 'STRICT_DNS' | 'LOGICAL_DNS';
  edsServiceName?: string;
  /** For STATIC and DNS clusters. */
  loadAssignment?: ClusterLoadAssignment;
  /** For DNS clusters (defaults in config/defaults.ts: Envoy's). */
  dns?: DnsSettings;
  connectTimeout: Millis; // Envoy default 5s
  lbPolicy: LbPolicy;
  ringHash?: { minimumRingSize: number; maximumRingSize: number };
  leastRequest?: { choiceCount: number };
  circuitBreakers: CircuitBreakerThresholds;
  outlierDetection?: OutlierDetection;
  /** Below this share of healthy endpoints, load is spread over all of them (Envoy: 50%). */
  healthyPanicThreshold: number;
  /** Upstream HTTP protocol: http1, http2 (h2c or ALPN h2 over TLS), or that of the downstream request. */
  upstreamProtocol: 'http1' | 'http2' | 'downstream';
  transportSocket?: UpstreamTlsContext;
  /** Idle keep-alive upstream connections are closed after this long (Envoy default 1h). */
  idleTimeout: Millis;
  maxRequestsPerConnection?: number;
  /** Envoy's upstream_bind_config: the local address upstream connections are made from (Istio's inbound
   * passthrough binds 127.0.0.6, which the redirect rules let through un-redirected). */
  upstreamBindConfig?: { sourceAddress: SocketAddress };
  /** Free-form labels, e.g. { service: 'reviews.default', version: 'v2' }, used in telemetry. */
  metadata: Record<string, string>;
}

/** STRICT_DNS and LOGICAL_DNS: hosts come from resolving the endpoints' names (upstream/dns-clusters.ts). */
export const isDnsCluster = (type: Cluster['type']): type is 'STRICT_DNS' | 'LOGICAL_DNS' => type === 'STRICT_DNS' || type === 'LOGICAL_DNS';

export type DnsLookupFamily = 'AUTO' | 'V4_ONLY' | 'V6_ONLY' | 'V4_PREFERRED' | 'ALL';

export interface DnsSettings {
  /** How often names are resolved again (Envoy: dns_refresh_rate, 5 s). */
  refreshRate: Millis;
  /** AUTO prefers IPv6 and falls back to IPv4; V4_PREFERRED the other way round; ALL keeps both. */
  lookupFamily: DnsLookupFamily;
  /** Resolve again when the answer's TTL runs out instead of at refreshRate (needs `resolvers`: the
   * system resolver reports no TTL). */
  respectTtl: boolean;
  /** DNS servers to ask (Envoy's c-ares resolver config). Absent: the system resolver (getaddrinfo:
   * /etc/hosts, then resolv.conf), as Envoy's getaddrinfo resolver. */
  resolvers?: SocketAddress[];
}

export type HealthStatus = 'UNKNOWN' | 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'TIMEOUT' | 'DEGRADED';

export interface LbEndpoint {
  address: SocketAddress;
  weight: number; // ≥ 1
  healthStatus: HealthStatus;
  priority: number;
  locality?: { region?: string; zone?: string; subZone?: string };
  /** e.g. { version: 'v2', identity: 'spiffe://…', workload: 'reviews-v2-1' } */
  metadata: Record<string, string>;
}

export interface ClusterLoadAssignment {
  clusterName: string;
  endpoints: LbEndpoint[];
}

// ---------------------------------------------------------------- snapshot

export const TYPE_URLS = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  routeConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  clusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

export type ResourceKind = keyof typeof TYPE_URLS;

export interface ResourceMaps {
  listener: ReadonlyMap<string, Listener>;
  routeConfiguration: ReadonlyMap<string, RouteConfiguration>;
  cluster: ReadonlyMap<string, Cluster>;
  clusterLoadAssignment: ReadonlyMap<string, ClusterLoadAssignment>;
  secret: ReadonlyMap<string, Secret>;
}

/** Everything a proxy runs, with one version string per resource type. Never mutated: a change builds a new one. */
export interface ConfigSnapshot {
  resources: ResourceMaps;
  versions: Record<ResourceKind, string>;
}

/** Identity of the workload this proxy serves (Envoy's Node plus the labels telemetry needs). */
export interface NodeInfo {
  id: string;
  cluster: string; // the service name, e.g. reviews
  namespace: string;
  serviceAccount: string;
  workload: string; // e.g. reviews-v2
  version?: string;
  labels: Record<string, string>;
  trustDomain: string;
}
