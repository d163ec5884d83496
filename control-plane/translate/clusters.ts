// Clusters: `outbound|<port>|<subset>|<host>` (EDS, mTLS to the destination
// sidecars' SPIFFE IDs, DestinationPolicy's load balancer, connection pool =
// circuit breakers, outlier detection and retry budget) and the inbound
// `inbound|<port>||` cluster to the local application.

import type { Cluster, CircuitBreakerThresholds, HashPolicy, LbPolicy, OutlierDetection, StringMatcher } from '../../proxy/config/resources.js';
import type { DestinationPolicy, DestinationPolicySpec } from '../policy/types.js';
import { DEFAULT_OUTLIER_DETECTION } from '../../proxy/config/defaults.js';
import { FILE_ROOT_PREFIX, SYSTEM_ROOTS } from '../../proxy/tls/file-roots.js';
import { externalEndpoints } from './external-services.js';
import type { NodeRegistration } from '../registry/node-registration.js';
import type { AppProtocol, ServiceInfo } from '../registry/types.js';
import { endpointsOf, inboundClusterName, outboundClusterName, serviceKey, type PolicyIndex, type ResolvedBackend, type TranslateInput } from './context.js';

type ConnectionPool = NonNullable<DestinationPolicySpec['connectionPool']>;

export const CERTIFICATE_SECRET = 'default';
export const VALIDATION_SECRET = 'ROOTCA';

/** Envoy's defaults. */
const DEFAULT_BREAKERS: CircuitBreakerThresholds = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 };
// The mesh enforces gateway-failure ejection (Envoy leaves it off by default).
const DEFAULT_OUTLIER: OutlierDetection = { ...DEFAULT_OUTLIER_DETECTION, enforcingConsecutiveGatewayFailure: 100 };

function policyFor(idx: PolicyIndex, svc: ServiceInfo): DestinationPolicy | undefined {
  // A host outside the mesh takes the policy of its ServiceEntry.
  return idx.destinationPolicies.get(svc.external ? `ServiceEntry/${svc.external.entry}` : serviceKey(svc.namespace, svc.name));
}

/** RING_HASH needs the route to say what to hash. */
export function hashPolicyFor(idx: PolicyIndex, svc: ServiceInfo): HashPolicy[] {
  const k = policyFor(idx, svc)?.spec.loadBalancer?.hashKey;
  if (!k) return [];
  if (k.header) return [{ header: { headerName: k.header } }];
  if (k.cookie) return [{ cookie: { name: k.cookie } }];
  if (k.queryParam) return [{ queryParameter: { name: k.queryParam } }];
  return [{ connectionProperties: { sourceIp: true } }];
}

function circuitBreakers(dp: DestinationPolicy | undefined): CircuitBreakerThresholds {
  const cp = dp?.spec.connectionPool;
  const rb = dp?.spec.retryBudget;
  return {
    maxConnections: cp?.maxConnections ?? DEFAULT_BREAKERS.maxConnections,
    maxPendingRequests: cp?.maxPendingRequests ?? DEFAULT_BREAKERS.maxPendingRequests,
    maxRequests: cp?.maxRequests ?? DEFAULT_BREAKERS.maxRequests,
    maxRetries: cp?.maxRetries ?? DEFAULT_BREAKERS.maxRetries,
    // GEP-3388's minRetryRate (count per interval) maps onto Envoy's floor of concurrent retries.
    ...(rb ? { retryBudget: { budgetPercent: rb.percent, minRetryConcurrency: rb.minRetryRate?.count ?? 3 } } : {}),
  };
}

function outlier(dp: DestinationPolicy | undefined): OutlierDetection | undefined {
  const od = dp?.spec.outlierDetection;
  if (!od) return undefined;
  return {
    ...DEFAULT_OUTLIER,
    consecutive5xx: od.consecutive5xxErrors ?? DEFAULT_OUTLIER.consecutive5xx,
    consecutiveGatewayFailure: od.consecutiveGatewayErrors ?? DEFAULT_OUTLIER.consecutiveGatewayFailure,
    interval: od.interval ?? DEFAULT_OUTLIER.interval,
    baseEjectionTime: od.baseEjectionTime ?? DEFAULT_OUTLIER.baseEjectionTime,
    maxEjectionTime: od.maxEjectionTime ?? DEFAULT_OUTLIER.maxEjectionTime,
    maxEjectionPercent: od.maxEjectionPercent ?? DEFAULT_OUTLIER.maxEjectionPercent,
  };
}

/**
 * The protocol a sidecar speaks to another workload's sidecar: HTTP/2 for gRPC and HTTP/2 ports; for
 * HTTP/1.1 ones the client's own protocol unless the DestinationPolicy says otherwise
 * (`h2UpgradePolicy: DO_NOT_UPGRADE` → HTTP/1.1, `UPGRADE` → HTTP/2, `useClientProtocol` wins).
 * Istio's default for an HTTP/1.1 service is HTTP/1.1. Here that hop costs less CPU per request
 * (5–10 % for the pair of sidecars at 1,000 req/s with bodies, more for bodiless GETs), but every
 * HTTP/2 stream in flight needs an mTLS connection of its own, and a handshake costs ~2 ms of CPU
 * on each side in Node (proxy/listener/PERFORMANCE.md, session 11): a burst of streams pays for a
 * burst of handshakes. One multiplexed connection (Linkerd's choice between its proxies) is the
 * default; HTTP/1.1 is opt-in.
 */
export function hopProtocol(port: AppProtocol, cp: ConnectionPool | undefined): Cluster['upstreamProtocol'] {
  if (port === 'grpc' || port === 'http2') return 'http2';
  if (cp?.useClientProtocol) return 'downstream';
  if (cp?.h2UpgradePolicy === 'UPGRADE') return 'http2';
  return cp?.h2UpgradePolicy === 'DO_NOT_UPGRADE' ? 'http1' : 'downstream';
}

/** What the hop's TLS offers: exactly the protocols the cluster may speak. */
const ALPN: Record<Cluster['upstreamProtocol'], string[]> = { http1: ['http/1.1'], http2: ['h2'], downstream: ['h2', 'http/1.1'] };

/** Istio's default MeshConfig.dnsRefreshRate. */
export const DEFAULT_DNS_REFRESH_MS = 60_000;

/** What a DestinationPolicy sets on any outbound cluster: timeouts, balancer, breakers, outlier detection. */
function policyCluster(name: string, dp: DestinationPolicy | undefined, protocol: Cluster['upstreamProtocol'], metadata: Record<string, string>): Cluster {
  const lb: LbPolicy = dp?.spec.loadBalancer?.type ?? 'PEAK_EWMA';
  const cluster: Cluster = {
    name,
    type: 'EDS',
    edsServiceName: name,
    connectTimeout: dp?.spec.connectionPool?.connectTimeout ?? 5_000,
    lbPolicy: lb,
    circuitBreakers: circuitBreakers(dp),
    healthyPanicThreshold: 50,
    upstreamProtocol: protocol,
    idleTimeout: dp?.spec.connectionPool?.idleTimeout ?? 3_600_000,
    metadata,
  };
  if (lb === 'RING_HASH') cluster.ringHash = { minimumRingSize: 1024, maximumRingSize: 8_388_608 };
  if (lb === 'LEAST_REQUEST') cluster.leastRequest = { choiceCount: dp?.spec.loadBalancer?.choiceCount ?? 2 };
  const od = outlier(dp);
  if (od) cluster.outlierDetection = od;
  const mrpc = dp?.spec.connectionPool?.maxRequestsPerConnection;
  if (mrpc) cluster.maxRequestsPerConnection = mrpc;
  return cluster;
}

/**
 * A host outside the mesh (ServiceEntry): resolved by the calling sidecar — every address a host
 * (DNS → STRICT_DNS), the first one (DNS_ROUND_ROBIN → LOGICAL_DNS) — or the entry's addresses
 * (STATIC → EDS). No mesh mTLS: there is no sidecar there; TLS the app originates passes through.
 * HTTP/1.1 stays HTTP/1.1 (an outside server need not speak h2c), as Istio does for such hosts.
 */
function externalCluster(input: TranslateInput, b: ResolvedBackend, dp: DestinationPolicy | undefined): Cluster {
  const ext = b.service.external!;
  const protocol = b.port.protocol === 'grpc' || b.port.protocol === 'http2' ? 'http2' : 'http1';
  const cluster = policyCluster(outboundClusterName(b), dp, protocol, { service: b.service.hostname, serviceNamespace: b.service.namespace });
  if (ext.resolution !== 'STATIC') {
    delete cluster.edsServiceName;
    cluster.type = ext.resolution === 'DNS' ? 'STRICT_DNS' : 'LOGICAL_DNS';
    cluster.loadAssignment = { clusterName: cluster.name, endpoints: externalEndpoints(b) };
    // Istio's settings for ServiceEntry clusters: IPv4, the answer's TTL when the resolver reports one.
    cluster.dns = { refreshRate: input.mesh.dnsRefreshRate ?? DEFAULT_DNS_REFRESH_MS, lookupFamily: 'V4_ONLY', respectTtl: true };
  }
  const tls = dp?.spec.tls;
  // TLS origination (Istio's DestinationRule tls SIMPLE): not on ports where the app speaks TLS itself.
  if (tls?.mode === 'SIMPLE' && !b.port.tls) {
    const sni = tls.sni ?? b.service.hostname;
    cluster.transportSocket = {
      validationSecret: tls.caCertificates ? `${FILE_ROOT_PREFIX}${tls.caCertificates}` : SYSTEM_ROOTS,
      matchSubjectAltNames: [],
      matchDnsSubjectAltNames: tls.subjectAltNames?.length ? [...tls.subjectAltNames] : [sni],
      sni,
      alpnProtocols: ALPN[cluster.upstreamProtocol],
      params: { minVersion: 'TLSv1.2' },
    };
  }
  return cluster;
}

export function outboundCluster(input: TranslateInput, idx: PolicyIndex, b: ResolvedBackend): Cluster {
  const dp = policyFor(idx, b.service);
  if (b.service.external) return externalCluster(input, b, dp);
  const sans: StringMatcher[] = [...new Set(endpointsOf(input.registry, b).map((e) => e.identity))].sort().map((exact) => ({ exact }));
  const protocol = hopProtocol(b.port.protocol, dp?.spec.connectionPool);
  const cluster = policyCluster(outboundClusterName(b), dp, protocol, { service: `${b.service.name}.${b.service.namespace}`, ...(b.subset ? { version: b.subset } : {}) });
  if (dp?.spec.tls?.mode !== 'DISABLE') {
    cluster.transportSocket = {
      certificateSecret: CERTIFICATE_SECRET,
      validationSecret: VALIDATION_SECRET,
      matchSubjectAltNames: sans,
      sni: b.service.hostname,
      alpnProtocols: ALPN[protocol],
      params: { minVersion: 'TLSv1.2' },
    };
  }
  return cluster;
}

/** Istio's name for the cluster a pod's un-serviced ports are passed through to. */
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughClusterIpv4';

/**
 * Istio's InboundPassthroughCluster: a redirected inbound connection to a pod port no Service names (a
 * metrics or debug port) goes to that port, from 127.0.0.6 so the redirect rules do not catch it again.
 */
export const INBOUND_PASSTHROUGH: Cluster = {
  name: INBOUND_PASSTHROUGH_CLUSTER,
  type: 'ORIGINAL_DST',
  connectTimeout: 10_000,
  lbPolicy: 'CLUSTER_PROVIDED',
  circuitBreakers: { ...DEFAULT_BREAKERS },
  healthyPanicThreshold: 50,
  upstreamProtocol: 'http1',
  idleTimeout: 3_600_000,
  upstreamBindConfig: { sourceAddress: { address: '127.0.0.6', port: 0 } },
  metadata: { service: INBOUND_PASSTHROUGH_CLUSTER },
};

/** The local application behind this sidecar (`localApp`: its port and protocol). */
export function inboundCluster(node: NodeRegistration, app: { port: number; protocol: AppProtocol }): Cluster {
  const port = app.port;
  const name = inboundClusterName(port);
  return {
    name,
    type: 'STATIC',
    loadAssignment: {
      clusterName: name,
      endpoints: [{ address: { address: '127.0.0.1', port }, weight: 1, healthStatus: 'HEALTHY', priority: 0, metadata: {} }],
    },
    connectTimeout: 5_000,
    lbPolicy: 'ROUND_ROBIN',
    circuitBreakers: { ...DEFAULT_BREAKERS },
    healthyPanicThreshold: 50,
    upstreamProtocol: app.protocol === 'grpc' || app.protocol === 'http2' ? 'http2' : 'http1',
    idleTimeout: 3_600_000,
    metadata: { service: `${node.service}.${node.namespace}`, ...(node.version ? { version: node.version } : {}) },
  };
}
