// The two listeners every sidecar gets (Istio's conventions):
// - `virtualOutbound` on 127.0.0.1:<outboundPort>: HTTP, routed by Host over
//   the `outbound` route configuration (RDS). With iptables interception
//   (node INTERCEPTION_MODE=REDIRECT) it reads each connection's original
//   destination and passes non-HTTP traffic through to it; HTTP to a host
//   outside the registry follows MeshConfig.outboundTrafficPolicy
//   (ALLOW_ANY: to the original destination; REGISTRY_ONLY: 502). Opaque-TCP
//   service ports get their own chains, matched by destination port and IP
//   (the ClusterIPs; the pod IPs of a headless service), carried over mTLS.
// - `virtualInbound` on <inboundAddress>:<inboundPort>: mTLS per MeshConfig,
//   or the workload's PeerAuthentication (also per app port) —
//   STRICT: one TLS chain that requires a client certificate; PERMISSIVE: that
//   chain plus a plaintext chain — with the RBAC filters from
//   AuthorizationPolicy, routing everything to the local app cluster. With
//   interception each app port (the Services selecting the pod) gets its own
//   chains (destination_port) and inbound cluster, and a redirected port no
//   Service names is passed through to itself (InboundPassthroughClusterIpv4).

import type { AccessLogFormat, CidrRange, FilterChain, HttpConnectionManager, HttpLimits, Listener, LocalRateLimitPolicy, TcpProxy } from '../../proxy/config/resources.js';
import { ISTIO_JSON_FORMAT, ISTIO_TEXT_FORMAT } from '../../proxy/telemetry/log-format.js';
import type { AppProtocol } from '../registry/types.js';
import type { MtlsMode } from '../policy/types.js';
import type { NodeRegistration } from '../registry/node-registration.js';
import { inboundClusterName, type PolicyIndex, type TranslateInput } from './context.js';
import { inboundHttpFilters } from './authz.js';
import { CERTIFICATE_SECRET, INBOUND_PASSTHROUGH_CLUSTER, VALIDATION_SECRET } from './clusters.js';
import { OUTBOUND_ROUTE_CONFIG } from './routes.js';
import { selectsLabels } from '../policy/selector.js';

export const OUTBOUND_LISTENER = 'virtualOutbound';
export const INBOUND_LISTENER = 'virtualInbound';

/** Envoy's defaults, plus a 1 MiB bound on bodies buffered for retries. */
const LIMITS: HttpLimits = {
  maxRequestHeadersKb: 60,
  maxHeadersCount: 100,
  http2MaxConcurrentStreams: 100,
  requestHeadersTimeout: 0,
  idleTimeout: 3_600_000,
  streamIdleTimeout: 300_000,
  requestTimeout: 0,
  maxRequestBodyBytes: 1024 * 1024,
};

/** An opaque-TCP service port as the outbound listener matches it. */
export interface TcpServiceChain {
  /** Service host and port, for the chain's name. */
  name: string;
  /** The port the app dials: the service port for ClusterIPs, the target port for pod IPs. */
  port: number;
  ranges: CidrRange[];
  /** TLS the app originates, to these SNI names (a ServiceEntry's HTTPS/TLS port): matched instead of ranges. */
  serverNames?: string[];
  cluster: string;
}

/**
 * MeshConfig.accessLogFile as every connection manager and TCP proxy carries it (Envoy's file access log),
 * in MeshConfig's encoding and format: Istio's default TEXT line or JSON fields unless a format is given.
 */
function meshAccessLog(input: TranslateInput): Pick<HttpConnectionManager, 'accessLog'> {
  const m = input.mesh;
  const path = m.accessLogFile;
  if (!path) return {};
  const format: AccessLogFormat =
    m.accessLogEncoding === 'JSON'
      ? { json: m.accessLogFormat ? (JSON.parse(m.accessLogFormat) as Record<string, unknown>) : { ...ISTIO_JSON_FORMAT } }
      : { text: m.accessLogFormat || ISTIO_TEXT_FORMAT };
  return { accessLog: [{ path, format }] };
}

/** MeshConfig's tracing sampling as each HTTP connection manager carries it (Envoy's tracing.random_sampling). */
function meshTracing(input: TranslateInput): Pick<HttpConnectionManager, 'tracing'> {
  const t = input.mesh.tracing;
  return t ? { tracing: { randomSamplingPercent: t.randomSamplingPercentage } } : {};
}

export function outboundListener(input: TranslateInput, tcpServices: readonly TcpServiceChain[] = []): Listener {
  const hcm: HttpConnectionManager = {
    kind: 'http',
    statPrefix: 'outbound',
    rdsRouteConfigName: OUTBOUND_ROUTE_CONFIG,
    codecType: 'AUTO',
    // The fault filter is always in the chain (as in Istio's sidecars): FaultPolicies configure it per route over RDS.
    httpFilters: [
      { name: 'envoy.filters.http.fault', kind: 'fault' },
      { name: 'envoy.filters.http.router', kind: 'router' },
    ],
    limits: LIMITS,
    useRemoteAddress: false,
    xffNumTrustedHops: 0,
    generateRequestId: true,
    ...meshTracing(input),
    ...meshAccessLog(input),
  };
  if (input.node.interceptionMode === 'REDIRECT') {
    // iptables sends the app's every outbound TCP connection here. HTTP is routed by Host (then by the
    // original ip:port); anything else — TLS the app originates, databases, opaque TCP — matches no chain
    // and goes to its original destination (Istio's outboundTrafficPolicy ALLOW_ANY, PassthroughCluster).
    return {
      name: OUTBOUND_LISTENER,
      address: { address: '127.0.0.1', port: input.node.outboundPort },
      trafficDirection: 'OUTBOUND',
      useOriginalDst: true,
      // A Host matching no service (nor on-demand config): Istio's outboundTrafficPolicy, ALLOW_ANY unless the mesh says otherwise.
      filterChains: [
        {
          name: 'outbound-http',
          filterChainMatch: { transportProtocol: 'raw_buffer', applicationProtocols: HTTP_PROTOCOLS },
          filter: { ...hcm, outboundTrafficPolicy: input.mesh.outboundTrafficPolicy?.mode ?? 'ALLOW_ANY' },
        },
        ...tcpChains(tcpServices, { ...hcm, outboundTrafficPolicy: input.mesh.outboundTrafficPolicy?.mode ?? 'ALLOW_ANY' }),
      ],
      protocolDetectionTimeout: 100,
    };
  }
  return {
    name: OUTBOUND_LISTENER,
    address: { address: '127.0.0.1', port: input.node.outboundPort },
    trafficDirection: 'OUTBOUND',
    filterChains: [{ name: 'outbound-http', filter: hcm }],
    protocolDetectionTimeout: 100,
  };
}

/**
 * The TCP services' chains, and per port they claim a copy of the HTTP chain: a port named by some
 * chain shadows the port-less ones (Envoy's destination_port rule), so HTTP to any other address on
 * that port still needs a chain of its own there (the one without prefix ranges wins when no range does).
 */
function tcpChains(services: readonly TcpServiceChain[], http: HttpConnectionManager): FilterChain[] {
  const accessLog = http.accessLog ? { accessLog: http.accessLog } : {};
  const out: FilterChain[] = [];
  const ports = [...new Set(services.map((s) => s.port))].sort((a, b) => a - b);
  for (const port of ports) {
    for (const s of services.filter((x) => x.port === port)) {
      out.push({
        name: `outbound-tcp-${port}-${s.name}`,
        filterChainMatch: s.serverNames
          ? { destinationPort: port, transportProtocol: 'tls', serverNames: s.serverNames }
          : { destinationPort: port, prefixRanges: s.ranges },
        filter: { kind: 'tcp', statPrefix: s.cluster, cluster: s.cluster, idleTimeout: 3_600_000, ...accessLog },
      });
    }
    out.push({ name: `outbound-http-${port}`, filterChainMatch: { destinationPort: port, transportProtocol: 'raw_buffer', applicationProtocols: HTTP_PROTOCOLS }, filter: http });
  }
  return out;
}

/** What the listener's protocol detection reports for plaintext HTTP (Envoy's http_inspector names). */
const HTTP_PROTOCOLS = ['http/1.1', 'h2c'];

export function inboundListener(input: TranslateInput, idx: PolicyIndex, apps: { port: number; protocol: AppProtocol }[]): Listener {
  return inboundListenerWith(input.node, inboundFilterChains(input, idx, apps));
}

/**
 * The inbound listener's chains. They depend on the node only through its interception mode, its app
 * ports and the AuthorizationPolicies that apply to it (translate()'s round memo shares them on that key).
 */
export function inboundFilterChains(input: TranslateInput, idx: PolicyIndex, apps: { port: number; protocol: AppProtocol }[]): FilterChain[] {
  const { node } = input;
  const mtls = inboundMtls(input, idx);
  const rateLimit = inboundRateLimit(idx, node);
  const httpFilters = inboundHttpFilters(input, idx);
  // Envoy's local rate limit filter, before the router, when a RateLimitPolicy names this workload's Service.
  if (rateLimit) httpFilters.splice(httpFilters.length - 1, 0, { name: 'envoy.filters.http.local_ratelimit', kind: 'localRateLimit' });
  const telemetry = { ...meshTracing(input), ...meshAccessLog(input) };
  // Without interception every connection is for the (first) app: port-less chains deliver to it.
  if (node.interceptionMode !== 'REDIRECT') return inboundChains(input, appFilter(httpFilters, telemetry, apps[0]!, rateLimit), undefined, mtls.ports.get(apps[0]!.port) ?? mtls.mode);
  // With interception each app port gets its own chains, matched on the original destination's port
  // (Envoy destination_port); any other redirected port is passed through to itself (Istio's
  // InboundPassthroughCluster), under the same mTLS mode.
  const chains = [...apps].sort((a, b) => a.port - b.port).flatMap((a) => inboundChains(input, appFilter(httpFilters, telemetry, a, rateLimit), a.port, mtls.ports.get(a.port) ?? mtls.mode));
  chains.push(...inboundChains(input, (statPrefix) => ({ kind: 'tcp', statPrefix, cluster: INBOUND_PASSTHROUGH_CLUSTER, idleTimeout: 3_600_000, ...meshAccessLog(input) }), 'passthrough', mtls.mode));
  return chains;
}

/** A workload's inbound mTLS: its mode, and per app port where PeerAuthentication sets one. */
export interface InboundMtls {
  mode: MtlsMode;
  ports: ReadonlyMap<number, MtlsMode>;
}

/**
 * Istio's PeerAuthentication precedence: a policy selecting this workload (first by name) over its
 * namespace's policy without selector, over MeshConfig. Port-level modes come from the policy that won.
 */
export function inboundMtls(input: TranslateInput, idx: PolicyIndex): InboundMtls {
  const { node } = input;
  const inNs = idx.peerAuthentications.filter((p) => p.metadata.namespace === node.namespace).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  const own = inNs.find((p) => p.spec.selector && selectsLabels(p.spec.selector.matchLabels, node.labels));
  const nsWide = inNs.find((p) => !p.spec.selector);
  const mode = own?.spec.mtls?.mode ?? nsWide?.spec.mtls?.mode ?? input.mesh.mtls.mode;
  return { mode, ports: new Map(Object.entries(own?.spec.portLevelMtls ?? {}).map(([port, m]) => [Number(port), m.mode])) };
}

const UNIT_MS = { Second: 1000, Minute: 60_000, Hour: 3_600_000 } as const;

/**
 * The token bucket of the RateLimitPolicy naming this workload's Service: `requests` tokens every unit,
 * at most `burst` held (Envoy Gateway's local rate limit shape). Each sidecar has its own bucket.
 */
export function inboundRateLimit(idx: PolicyIndex, node: NodeRegistration): LocalRateLimitPolicy | undefined {
  const p = idx.rateLimitPolicies.get(`${node.namespace}/${node.service}`);
  if (!p) return undefined;
  const { requests, unit, burst } = p.spec.local;
  return { statPrefix: `${p.metadata.namespace}.${p.metadata.name}`, tokenBucket: { maxTokens: burst ?? requests, tokensPerFill: requests, fillInterval: UNIT_MS[unit] } };
}

/** The inbound listener around `chains`: the node's address is its only other input. */
export function inboundListenerWith(node: NodeRegistration, chains: FilterChain[]): Listener {
  return {
    name: INBOUND_LISTENER,
    address: { address: node.inboundAddress, port: node.inboundPort },
    trafficDirection: 'INBOUND',
    // Redirected inbound connections keep their original destination (never passed through on INBOUND).
    ...(node.interceptionMode === 'REDIRECT' ? { useOriginalDst: true } : {}),
    filterChains: chains,
    protocolDetectionTimeout: 100,
  };
}

/** The filter delivering to one app port: an HTTP connection manager, or a TCP proxy for an opaque-TCP app. */
function appFilter(
  httpFilters: HttpConnectionManager['httpFilters'],
  telemetry: Pick<HttpConnectionManager, 'tracing' | 'accessLog'>,
  app: { port: number; protocol: AppProtocol },
  rateLimit: LocalRateLimitPolicy | undefined,
): (statPrefix: string) => HttpConnectionManager | TcpProxy {
  const cluster = inboundClusterName(app.port);
  const hcm = (statPrefix: string): HttpConnectionManager => ({
    kind: 'http',
    statPrefix,
    routeConfig: {
      name: cluster,
      virtualHosts: [{
        name: 'inbound',
        domains: ['*'],
        routes: [{
          name: 'default',
          match: { prefix: '/', caseSensitive: true, headers: [], queryParameters: [] },
          route: { cluster, timeout: 0, requestMirrorPolicies: [], hashPolicy: [] },
          ...(rateLimit ? { rateLimit } : {}),
          requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [],
        }],
        requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [],
      }],
      requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [],
    },
    codecType: 'AUTO',
    httpFilters,
    limits: LIMITS,
    useRemoteAddress: false, // keep the caller's x-forwarded-for, as Istio's sidecars do
    xffNumTrustedHops: 0,
    generateRequestId: true,
    ...telemetry,
  });
  // An opaque-TCP workload gets a TCP proxy (no RBAC on paths/methods: only the mTLS identity check applies).
  const accessLog = telemetry.accessLog ? { accessLog: telemetry.accessLog } : {};
  return (statPrefix) => (app.protocol === 'tcp' ? { kind: 'tcp', statPrefix, cluster, idleTimeout: 3_600_000, ...accessLog } : hcm(statPrefix));
}

/**
 * The mTLS chain (and the plaintext one under PERMISSIVE) around `filter`: `port` set, only connections
 * to that port; 'passthrough', the chains after every port's (names suffixed -passthrough).
 */
function inboundChains(
  input: TranslateInput,
  filter: (statPrefix: string) => HttpConnectionManager | TcpProxy,
  port: number | 'passthrough' | undefined,
  mode: MtlsMode,
): FilterChain[] {
  const suffix = port === undefined ? '' : `-${port}`;
  const dst = typeof port === 'number' ? { destinationPort: port } : {};
  const chains: FilterChain[] = [{
    name: `inbound-mtls${suffix}`,
    filterChainMatch: { transportProtocol: 'tls', ...dst },
    transportSocket: {
      certificateSecret: CERTIFICATE_SECRET,
      validationSecret: VALIDATION_SECRET,
      requireClientCertificate: true,
      matchSubjectAltNames: [{ prefix: `spiffe://${input.mesh.trustDomain}/` }],
      alpnProtocols: ['h2', 'http/1.1'],
      params: { minVersion: 'TLSv1.2' },
    },
    filter: filter(`inbound_mtls${suffix.replace('-', '_')}`),
  }];
  if (mode === 'PERMISSIVE') {
    chains.push({ name: `inbound-plaintext${suffix}`, filterChainMatch: { transportProtocol: 'raw_buffer', ...dst }, filter: filter(`inbound_plaintext${suffix.replace('-', '_')}`) });
  }
  return chains;
}
