// The policy model users write (YAML), after validation: Gateway API for mesh
// (GAMMA) HTTPRoute/GRPCRoute with Gateway API's own field names, and tsmesh's
// resources for what Gateway API lacks. Durations are milliseconds here
// (YAML takes "250ms", "1.5s"). These objects are immutable once validated.

export const GATEWAY_API_VERSION = 'gateway.networking.k8s.io/v1';
export const TSMESH_API_VERSION = 'tsmesh.io/v1alpha1';
/** Istio's ServiceEntry, taken as Istio users write it (v1beta1 and v1alpha3 are the same schema). */
export const ISTIO_NETWORKING_VERSION = 'networking.istio.io/v1';

export type PolicyKind =
  | 'HTTPRoute'
  | 'GRPCRoute'
  | 'DestinationPolicy'
  | 'AuthorizationPolicy'
  | 'PeerAuthentication'
  | 'FaultPolicy'
  | 'RateLimitPolicy'
  | 'ServiceEntry'
  | 'MeshConfig'
  | 'Canary';

export const POLICY_KINDS: readonly PolicyKind[] = [
  'HTTPRoute',
  'GRPCRoute',
  'DestinationPolicy',
  'AuthorizationPolicy',
  'PeerAuthentication',
  'FaultPolicy',
  'RateLimitPolicy',
  'ServiceEntry',
  'MeshConfig',
  'Canary',
];

export interface ObjectMeta {
  name: string;
  namespace: string; // defaults to "default"
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

interface Resource<K extends PolicyKind, S> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
}

// ------------------------------------------------------------- Gateway API

export interface ParentRef {
  group: string; // "" or "core" for a Service
  kind: string; // "Service"
  name: string;
  namespace?: string;
  port?: number;
}

export interface BackendRef {
  group: string;
  kind: string;
  name: string;
  namespace?: string;
  port?: number;
  weight: number; // default 1
  filters: HttpRouteFilter[];
}

export type StringMatchType = 'Exact' | 'PathPrefix' | 'RegularExpression';

export interface HttpPathMatch {
  type: 'Exact' | 'PathPrefix' | 'RegularExpression';
  value: string;
}
export interface NameValueMatch {
  type: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}

export interface HttpRouteMatch {
  path?: HttpPathMatch;
  headers: NameValueMatch[];
  queryParams: NameValueMatch[];
  method?: string;
}

export interface HeaderModifier {
  set: { name: string; value: string }[];
  add: { name: string; value: string }[];
  remove: string[];
}

export interface RequestMirror {
  backendRef: { group: string; kind: string; name: string; namespace?: string; port?: number };
  /** Share of requests mirrored, 0–100 (from `percent` or `fraction`); default 100. */
  percent: number;
}

/** Gateway API's HTTPPathModifier. */
export interface PathModifier {
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

export interface UrlRewrite {
  hostname?: string;
  path?: PathModifier;
}

export const REDIRECT_STATUS_CODES = [301, 302, 303, 307, 308] as const;

/** Gateway API's HTTPRequestRedirectFilter: the mesh answers with a redirect; unset parts keep the request's. */
export interface RequestRedirect {
  scheme?: 'http' | 'https';
  hostname?: string;
  path?: PathModifier;
  port?: number;
  statusCode: (typeof REDIRECT_STATUS_CODES)[number]; // default 302
}

export type HttpRouteFilter =
  | { type: 'RequestHeaderModifier'; requestHeaderModifier: HeaderModifier }
  | { type: 'ResponseHeaderModifier'; responseHeaderModifier: HeaderModifier }
  | { type: 'RequestMirror'; requestMirror: RequestMirror }
  | { type: 'URLRewrite'; urlRewrite: UrlRewrite }
  | { type: 'RequestRedirect'; requestRedirect: RequestRedirect };

/** GEP-1731. */
export interface HttpRouteRetry {
  codes: number[];
  attempts?: number;
  backoff?: number; // ms
}

export interface HttpRouteRule {
  name?: string;
  matches: HttpRouteMatch[];
  filters: HttpRouteFilter[];
  backendRefs: BackendRef[];
  timeouts?: { request?: number; backendRequest?: number };
  retry?: HttpRouteRetry;
}

export interface HttpRouteSpec {
  parentRefs: ParentRef[];
  hostnames: string[];
  rules: HttpRouteRule[];
}

export interface GrpcMethodMatch {
  type: 'Exact' | 'RegularExpression';
  service?: string;
  method?: string;
}
export interface GrpcRouteMatch {
  method?: GrpcMethodMatch;
  headers: NameValueMatch[];
}
export interface GrpcRouteRule {
  name?: string;
  matches: GrpcRouteMatch[];
  filters: HttpRouteFilter[]; // URLRewrite is not allowed on GRPCRoute
  backendRefs: BackendRef[];
}
export interface GrpcRouteSpec {
  parentRefs: ParentRef[];
  hostnames: string[];
  rules: GrpcRouteRule[];
}

// ------------------------------------------------------------- tsmesh

export type LoadBalancerKind = 'PEAK_EWMA' | 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH';

export interface RetryBudgetSpec {
  /** GEP-3388: retries may be at most this percent of active requests. */
  percent: number;
  interval: number; // ms
  minRetryRate?: { count: number; interval: number };
}

export type H2UpgradePolicy = 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE';

export interface DestinationPolicySpec {
  targetRef: { group: string; kind: string; name: string; namespace?: string };
  loadBalancer?: {
    type: LoadBalancerKind;
    /** RING_HASH: what to hash. */
    hashKey?: { header?: string; cookie?: string; queryParam?: string; sourceIp?: boolean };
    choiceCount?: number; // LEAST_REQUEST
  };
  connectionPool?: {
    maxConnections?: number;
    maxPendingRequests?: number;
    maxRequests?: number;
    maxRetries?: number;
    connectTimeout?: number;
    idleTimeout?: number;
    maxRequestsPerConnection?: number;
    /**
     * Istio's names, for HTTP/1.1 services (translate/clusters.ts hopProtocol): DEFAULT keeps the caller's
     * protocol (Istio's DEFAULT is HTTP/1.1; not here yet, see hopProtocol), DO_NOT_UPGRADE speaks
     * HTTP/1.1, UPGRADE HTTP/2. useClientProtocol keeps the caller's protocol and wins over both.
     */
    h2UpgradePolicy?: H2UpgradePolicy;
    useClientProtocol?: boolean;
  };
  outlierDetection?: {
    consecutive5xxErrors?: number;
    consecutiveGatewayErrors?: number;
    interval?: number;
    baseEjectionTime?: number;
    maxEjectionTime?: number;
    maxEjectionPercent?: number;
  };
  retryBudget?: RetryBudgetSpec;
  /**
   * ISTIO_MUTUAL (mesh mTLS, the default) or DISABLE for mesh Services; SIMPLE for a ServiceEntry target:
   * the sidecar originates TLS to the hosts outside the mesh (Istio's DestinationRule tls SIMPLE), verifying
   * the server against `caCertificates` (a PEM file on the sidecar) or the system roots, by `subjectAltNames`
   * (default: the SNI), sending `sni` (default: the host).
   */
  tls?: { mode: 'ISTIO_MUTUAL' | 'DISABLE' | 'SIMPLE'; sni?: string; caCertificates?: string; subjectAltNames?: string[] };
}

/** Istio's Source: every field set must match (AND); within a field any value (OR); `not*` none of them. */
export interface AuthorizationSource {
  principals: string[];
  notPrincipals: string[];
  namespaces: string[];
  notNamespaces: string[];
}

/** Istio's Operation, the same way. Paths and hosts take exact, `prefix*`, `*suffix` and `*` (present). */
export interface AuthorizationOperation {
  hosts: string[];
  notHosts: string[];
  methods: string[];
  notMethods: string[];
  paths: string[];
  notPaths: string[];
}

/** Istio's Condition: `key` is request.headers[<name>], source.principal or source.namespace. */
export interface AuthorizationCondition {
  key: string;
  values: string[];
  notValues: string[];
}

/** A rule matches when one of `from`, one of `to` and every `when` condition match (empty lists match all). */
export interface AuthorizationRule {
  from: { source: AuthorizationSource }[];
  to: { operation: AuthorizationOperation }[];
  when: AuthorizationCondition[];
}

export interface AuthorizationPolicySpec {
  /** Workloads this applies to: by labels (selector) or by Service (targetRef); neither = whole namespace. */
  selector?: { matchLabels: Record<string, string> };
  targetRef?: { group: string; kind: string; name: string };
  action: 'ALLOW' | 'DENY';
  rules: AuthorizationRule[];
}

export type MtlsMode = 'STRICT' | 'PERMISSIVE';

/**
 * Istio's PeerAuthentication: the inbound mTLS mode of the workloads it selects (selector), or of its whole
 * namespace (no selector), over MeshConfig's; `portLevelMtls` per app port. A workload's own policy wins over
 * its namespace's. DISABLE is not offered: callers always use mTLS, so PERMISSIVE is the way to also take
 * plaintext.
 */
export interface PeerAuthenticationSpec {
  selector?: { matchLabels: Record<string, string> };
  mtls?: { mode: MtlsMode };
  portLevelMtls: Record<number, { mode: MtlsMode }>;
}

/**
 * Fault injection (Istio's VirtualService fault) attached to an HTTPRoute or GRPCRoute (one rule with
 * sectionName, the rule's name) or to every route of a Service; applied by the calling sidecars.
 */
export interface FaultPolicySpec {
  targetRef: { group: string; kind: 'HTTPRoute' | 'GRPCRoute' | 'Service'; name: string; sectionName?: string };
  /** fixedDelay in ms; percentage 0–100 of the requests (default 100). */
  delay?: { fixedDelay: number; percentage: number };
  /** An HTTP status, or a gRPC status for gRPC requests (plain HTTP ones then get 503). */
  abort?: { httpStatus?: number; grpcStatus?: number; percentage: number };
  /** Only requests carrying all of these headers are faulted. */
  headers: NameValueMatch[];
}

/**
 * A local rate limit (token bucket) on a Service's workloads, enforced by each of its sidecars on inbound
 * requests, as Linkerd's HTTPLocalRateLimitPolicy and Kuma's MeshRateLimit: requests per unit, with a
 * burst of at most `burst` (default: requests). Over the limit: 429 with retry-after.
 */
export interface RateLimitPolicySpec {
  targetRef: { group: string; kind: 'Service'; name: string };
  local: { requests: number; unit: 'Second' | 'Minute' | 'Hour'; burst?: number };
}

export interface MeshConfigSpec {
  trustDomain: string; // default cluster.local
  certificateTtl: number; // ms, default 24h
  mtls: { mode: MtlsMode }; // default PERMISSIVE
  /** With no ALLOW policy for a workload: deny everything (true) or allow everything (false, default). */
  defaultDeny: boolean;
  /** Istio's outboundTrafficPolicy for hosts outside the registry on intercepted (REDIRECT) pods; absent = ALLOW_ANY. */
  outboundTrafficPolicy?: { mode: 'ALLOW_ANY' | 'REGISTRY_ONLY' };
  /**
   * Tracing's sampling for every sidecar, pushed live over xDS (each HTTP listener's tracing
   * random_sampling), as Istio's Telemetry API randomSamplingPercentage; absent = each sidecar's own
   * default. Where spans go stays the sidecar's (its tracing endpoint): without one nothing is exported.
   */
  tracing?: { randomSamplingPercentage: number };
  /**
   * Istio's MeshConfig.accessLogFile: every sidecar writes an access log line per request and per TCP
   * connection to this stream of its own process ('/dev/stdout' or '/dev/stderr'), pushed over xDS as each
   * listener's file access log; absent or '' = none (each sidecar's bootstrap may still log).
   */
  accessLogFile?: '/dev/stdout' | '/dev/stderr';
  /** Istio's MeshConfig.accessLogEncoding: TEXT (the default) or JSON lines. */
  accessLogEncoding?: 'TEXT' | 'JSON';
  /**
   * Istio's MeshConfig.accessLogFormat in Envoy's command operators: a line for TEXT, a JSON object of
   * field names to format strings for JSON (as text); absent = Istio's default line or fields.
   */
  accessLogFormat?: string;
  /** Istio's MeshConfig.dnsRefreshRate: how often sidecars resolve ServiceEntry hosts again (ms; absent = 60 s). */
  dnsRefreshRate?: number;
}

export interface CanarySpec {
  targetRef: { group: string; kind: string; name: string }; // the HTTPRoute or GRPCRoute whose weights it drives
  service: string;
  stableBackend: { name: string; port?: number };
  canaryBackend: { name: string; port?: number };
  steps?: number[];
  stepWeight?: number;
  maxWeight?: number;
  interval: number;
  analysis: { successRate?: number; p99?: number; failureLimit: number; mismatchRate?: number };
  mirror?: { duration: number; compareBody: boolean };
  match?: NameValueMatch[];
}

/** The protocols a ServiceEntry port may declare (Istio's names, upper-cased). */
export type ServiceEntryProtocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'HTTPS' | 'TLS' | 'TCP';

export interface ServiceEntryPort {
  number: number;
  protocol: ServiceEntryProtocol;
  name: string;
  /** The port the endpoints are dialled on (default: number). */
  targetPort?: number;
}

export interface ServiceEntryEndpoint {
  /** An IP (STATIC, DNS) or a DNS name (DNS, DNS_ROUND_ROBIN). */
  address: string;
  /** Port name → the port this endpoint serves it on. */
  ports: Record<string, number>;
  labels: Record<string, string>;
  weight?: number;
}

/**
 * Istio's ServiceEntry for hosts outside the mesh (location MESH_EXTERNAL): the sidecars route to
 * them by name (HTTP by Host, TLS by SNI, TCP by `addresses`), resolve them (resolution DNS: every
 * address a host; DNS_ROUND_ROBIN: the first one; STATIC: `endpoints`), and under outboundTrafficPolicy
 * REGISTRY_ONLY they are what may be reached.
 */
export interface ServiceEntrySpec {
  hosts: string[];
  addresses: string[];
  ports: ServiceEntryPort[];
  location: 'MESH_EXTERNAL';
  resolution: 'DNS' | 'DNS_ROUND_ROBIN' | 'STATIC';
  endpoints: ServiceEntryEndpoint[];
  /** Namespaces whose sidecars get it: `*` (default) every one, `.` its own. */
  exportTo: string[];
}

export type HTTPRoute = Resource<'HTTPRoute', HttpRouteSpec>;
export type GRPCRoute = Resource<'GRPCRoute', GrpcRouteSpec>;
export type DestinationPolicy = Resource<'DestinationPolicy', DestinationPolicySpec>;
export type AuthorizationPolicy = Resource<'AuthorizationPolicy', AuthorizationPolicySpec>;
export type PeerAuthentication = Resource<'PeerAuthentication', PeerAuthenticationSpec>;
export type FaultPolicy = Resource<'FaultPolicy', FaultPolicySpec>;
export type RateLimitPolicy = Resource<'RateLimitPolicy', RateLimitPolicySpec>;
export type ServiceEntry = Resource<'ServiceEntry', ServiceEntrySpec>;
export type MeshConfig = Resource<'MeshConfig', MeshConfigSpec>;
export type Canary = Resource<'Canary', CanarySpec>;

export type Policy = HTTPRoute | GRPCRoute | DestinationPolicy | AuthorizationPolicy | PeerAuthentication | FaultPolicy | RateLimitPolicy | ServiceEntry | MeshConfig | Canary;

/** Identifies one policy: kind/namespace/name. */
export interface PolicyRef {
  kind: PolicyKind;
  namespace: string;
  name: string;
}

export function policyKey(r: PolicyRef): string {
  return `${r.kind}/${r.namespace}/${r.name}`;
}

export function refOf(p: Policy): PolicyRef {
  return { kind: p.kind, namespace: p.metadata.namespace, name: p.metadata.name };
}

export const DEFAULT_MESH_CONFIG: MeshConfigSpec = {
  trustDomain: 'cluster.local',
  certificateTtl: 24 * 3_600_000,
  mtls: { mode: 'PERMISSIVE' },
  defaultDeny: false,
};
