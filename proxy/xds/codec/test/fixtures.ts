// Domain resources covering every field the codec maps, used by the golden tests
// and by the server/client tests.

import type {
  Cluster,
  ClusterLoadAssignment,
  HttpConnectionManager,
  Listener,
  RouteConfiguration,
  Secret,
} from '../../../config/resources.js';
import { DEFAULT_HTTP_LIMITS } from '../listener.js';

const noMut = { requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] };

export const hcm: HttpConnectionManager = {
  kind: 'http',
  statPrefix: 'outbound_http',
  rdsRouteConfigName: 'outbound|80',
  codecType: 'AUTO',
  httpFilters: [
    {
      name: 'envoy.filters.http.rbac',
      kind: 'rbac',
      rules: {
        action: 'ALLOW',
        policies: {
          'allow-frontend': {
            permissions: [{ andRules: [{ urlPath: { prefix: '/api/' } }, { header: { name: ':method', stringMatch: { exact: 'GET' } } }] }],
            principals: [{ orIds: [{ authenticated: { exact: 'spiffe://cluster.local/ns/default/sa/frontend' } }, { notId: { any: true } }] }],
          },
        },
      },
    },
    { name: 'envoy.filters.http.fault', kind: 'fault' },
    { name: 'envoy.filters.http.local_ratelimit', kind: 'localRateLimit' },
    { name: 'envoy.filters.http.router', kind: 'router' },
  ],
  limits: { ...DEFAULT_HTTP_LIMITS, requestTimeout: 30_000, maxRequestBodyBytes: 2_000_000 },
  useRemoteAddress: false,
  xffNumTrustedHops: 1,
  generateRequestId: true,
  tracing: { randomSamplingPercent: 12.5 },
  accessLog: [
    { path: '/dev/stdout', format: { text: '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%" %RESPONSE_CODE%\n' } },
    { path: '/dev/stderr', format: { json: { code: '%RESPONSE_CODE%', peer: { san: '%DOWNSTREAM_PEER_URI_SAN%', n: 2, ok: true } }, omitEmptyValues: true } },
  ],
};

export const listener: Listener = {
  name: 'virtualInbound',
  address: { address: '0.0.0.0', port: 15006 },
  trafficDirection: 'INBOUND',
  protocolDetectionTimeout: 100,
  filterChains: [
    {
      name: 'inbound-mtls-http',
      filterChainMatch: { transportProtocol: 'tls', applicationProtocols: ['istio-http/1.1', 'h2'] },
      transportSocket: {
        certificateSecret: 'default',
        validationSecret: 'ROOTCA',
        requireClientCertificate: true,
        matchSubjectAltNames: [{ prefix: 'spiffe://cluster.local/' }],
        alpnProtocols: ['h2', 'http/1.1'],
        params: { minVersion: 'TLSv1.3' },
      },
      filter: hcm,
    },
    {
      name: 'inbound-tcp',
      filter: { kind: 'tcp', statPrefix: 'inbound_tcp', weightedClusters: [{ name: 'outbound|80|v2|reviews', weight: 90, ...noMut }, { name: 'outbound|80||ratings', weight: 10, ...noMut }], idleTimeout: 600_000, accessLog: [{ path: '/dev/stderr' }] },
    },
  ],
};

export const apiListener: Listener = {
  name: 'greeter.default.svc',
  address: { address: '0.0.0.0', port: 0 },
  trafficDirection: 'UNSPECIFIED',
  filterChains: [],
  protocolDetectionTimeout: 15_000,
  apiListener: {
    ...hcm,
    statPrefix: 'greeter',
    rdsRouteConfigName: 'greeter-routes',
    httpFilters: [{ name: 'router', kind: 'router' }],
    limits: { ...DEFAULT_HTTP_LIMITS },
    tracing: undefined,
    xffNumTrustedHops: 0,
  },
};
delete (apiListener.apiListener as Partial<HttpConnectionManager>).tracing;

export const routeConfiguration: RouteConfiguration = {
  name: 'outbound|80',
  ...noMut,
  responseHeadersToAdd: [{ header: { key: 'x-mesh', value: 'tsmesh' }, appendAction: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
  virtualHosts: [
    {
      name: 'reviews.default.svc:80',
      domains: ['reviews', 'reviews.default.svc.cluster.local', 'reviews:80'],
      ...noMut,
      retryPolicy: {
        retryOn: ['5xx', 'reset', 'retriable-status-codes'],
        numRetries: 2,
        perTryTimeout: 1500,
        retriableStatusCodes: [503],
        retryBackOff: { baseInterval: 25, maxInterval: 250 },
        retryOtherHosts: true,
        hostSelectionRetryMaxAttempts: 3,
      },
      routes: [
        {
          name: 'canary',
          match: {
            prefix: '/',
            caseSensitive: false,
            headers: [{ name: 'x-canary', presentMatch: true }, { name: 'user-agent', stringMatch: { safeRegex: '.*Mobile.*' }, invertMatch: true }],
            queryParameters: [{ name: 'debug', stringMatch: { exact: '1', ignoreCase: true } }, { name: 'trace', presentMatch: true }],
          },
          ...noMut,
          requestHeadersToRemove: ['x-internal'],
          route: {
            weightedClusters: [
              { name: 'outbound|80||ratings', weight: 90, ...noMut },
              { name: 'outbound|80|v2|reviews', weight: 10, ...noMut, requestHeadersToAdd: [{ header: { key: 'x-version', value: 'v2' }, appendAction: 'APPEND_IF_EXISTS_OR_ADD' }] },
            ],
            timeout: 2500,
            idleTimeout: 60_000,
            requestMirrorPolicies: [{ cluster: 'outbound|80||ratings', percent: 0.5 }],
            prefixRewrite: '/v2/',
            hostRewriteLiteral: 'reviews.internal',
            hashPolicy: [{ header: { headerName: 'x-user' }, terminal: true }, { cookie: { name: 'sid', ttl: 3_600_000, path: '/' } }, { queryParameter: { name: 'u' } }, { connectionProperties: { sourceIp: true } }],
          },
          fault: { delay: { fixedDelay: 200, percent: 5 }, abort: { httpStatus: 503, percent: 1.25 }, headers: [{ name: 'x-fault', stringMatch: { exact: 'yes' } }] },
          rateLimit: { statPrefix: 'reviews_rl', tokenBucket: { maxTokens: 100, tokensPerFill: 10, fillInterval: 1000 } },
        },
        {
          name: 'grpc',
          match: { pathSeparatedPrefix: '/pkg.Service', caseSensitive: true, headers: [], queryParameters: [], grpc: true },
          ...noMut,
          route: {
            cluster: 'outbound|80||ratings',
            timeout: 0,
            requestMirrorPolicies: [],
            regexRewrite: { pattern: '^/pkg\\.Service/(.*)$', substitution: '/\\1' },
            hashPolicy: [],
            retryPolicy: { retryOn: ['unavailable'], numRetries: 1, retriableStatusCodes: [], retryBackOff: { baseInterval: 25, maxInterval: 250 }, retryOtherHosts: false, hostSelectionRetryMaxAttempts: 1 },
          },
          fault: { abort: { grpcStatus: 14, percent: 100 }, headers: [] },
        },
        {
          name: 'moved',
          match: { pathSeparatedPrefix: '/old', caseSensitive: true, headers: [], queryParameters: [] },
          ...noMut,
          redirect: { schemeRedirect: 'https', hostRedirect: 'reviews.example.com', portRedirect: 8443, prefixRewrite: '/new', responseCode: 308, stripQuery: true },
        },
        {
          name: 'moved-regex',
          match: { prefix: '/legacy/', caseSensitive: true, headers: [], queryParameters: [] },
          ...noMut,
          redirect: { regexRewrite: { pattern: '^/legacy/(.*)$', substitution: '/\\1' }, responseCode: 301, stripQuery: false },
        },
        {
          name: 'healthz',
          match: { path: '/healthz', caseSensitive: true, headers: [], queryParameters: [] },
          ...noMut,
          directResponse: { status: 200, body: 'ok' },
        },
      ],
    },
  ],
};

export const cluster: Cluster = {
  name: 'outbound|80|v2|reviews',
  type: 'EDS',
  edsServiceName: 'outbound|80|v2|reviews.default',
  connectTimeout: 1000,
  lbPolicy: 'RING_HASH',
  ringHash: { minimumRingSize: 1024, maximumRingSize: 4096 },
  circuitBreakers: { maxConnections: 100, maxPendingRequests: 50, maxRequests: 200, maxRetries: 5, retryBudget: { budgetPercent: 25, minRetryConcurrency: 2 } },
  outlierDetection: {
    consecutive5xx: 3,
    consecutiveGatewayFailure: 3,
    consecutiveLocalOriginFailure: 5,
    interval: 5000,
    baseEjectionTime: 15_000,
    maxEjectionTime: 120_000,
    maxEjectionPercent: 50,
    enforcingConsecutive5xx: 100,
    enforcingConsecutiveGatewayFailure: 100,
    splitExternalLocalOriginErrors: true,
  },
  healthyPanicThreshold: 40,
  upstreamProtocol: 'http2',
  transportSocket: {
    certificateSecret: 'default',
    validationSecret: 'ROOTCA',
    matchSubjectAltNames: [{ exact: 'spiffe://cluster.local/ns/default/sa/reviews' }],
    sni: 'outbound_.80_.v2_.reviews.default.svc.cluster.local',
    alpnProtocols: ['istio', 'h2'],
    params: { minVersion: 'TLSv1.2' },
  },
  idleTimeout: 300_000,
  maxRequestsPerConnection: 1000,
  metadata: { service: 'reviews.default', version: 'v2' },
};

export const peakEwmaCluster: Cluster = {
  name: 'outbound|80||ratings',
  type: 'STATIC',
  loadAssignment: { clusterName: 'outbound|80||ratings', endpoints: [{ address: { address: '127.0.0.1', port: 9080 }, weight: 1, healthStatus: 'HEALTHY', priority: 0, metadata: {} }] },
  connectTimeout: 5000,
  lbPolicy: 'PEAK_EWMA',
  circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
  healthyPanicThreshold: 50,
  upstreamProtocol: 'downstream',
  idleTimeout: 3_600_000,
  metadata: {},
};

/** Istio's InboundPassthroughClusterIpv4: no endpoints, CLUSTER_PROVIDED, bound to 127.0.0.6. */
export const originalDstCluster: Cluster = {
  name: 'InboundPassthroughClusterIpv4',
  type: 'ORIGINAL_DST',
  connectTimeout: 10_000,
  lbPolicy: 'CLUSTER_PROVIDED',
  circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
  healthyPanicThreshold: 50,
  upstreamProtocol: 'http1',
  idleTimeout: 3_600_000,
  upstreamBindConfig: { sourceAddress: { address: '127.0.0.6', port: 0 } },
  metadata: { service: 'InboundPassthroughClusterIpv4' },
};

/** Istio's ServiceEntry with resolution DNS: names resolved by the sidecar, TTL-driven, against given DNS servers. */
export const strictDnsCluster: Cluster = {
  name: 'outbound|443||api.example.com',
  type: 'STRICT_DNS',
  loadAssignment: {
    clusterName: 'outbound|443||api.example.com',
    endpoints: [
      { address: { address: 'api.example.com', port: 443 }, weight: 1, healthStatus: 'UNKNOWN', priority: 0, metadata: {} },
      { address: { address: 'api-2.example.com', port: 8443 }, weight: 2, healthStatus: 'UNKNOWN', priority: 0, metadata: {} },
    ],
  },
  dns: { refreshRate: 60_000, lookupFamily: 'V4_ONLY', respectTtl: true, resolvers: [{ address: '10.96.0.10', port: 53 }] },
  // TLS origination (DestinationPolicy tls SIMPLE): Web PKI roots, the server known by its DNS name.
  transportSocket: {
    validationSecret: 'system-roots',
    matchSubjectAltNames: [],
    matchDnsSubjectAltNames: ['api.example.com'],
    sni: 'api.example.com',
    alpnProtocols: ['http/1.1'],
    params: { minVersion: 'TLSv1.2' },
  },
  connectTimeout: 10_000,
  lbPolicy: 'ROUND_ROBIN',
  circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
  healthyPanicThreshold: 50,
  upstreamProtocol: 'http1',
  idleTimeout: 3_600_000,
  metadata: { service: 'api.example.com' },
};

/** resolution DNS_ROUND_ROBIN: one logical host, the system resolver, Envoy's DNS defaults. */
export const logicalDnsCluster: Cluster = {
  name: 'outbound|80||www.example.org',
  type: 'LOGICAL_DNS',
  loadAssignment: {
    clusterName: 'outbound|80||www.example.org',
    endpoints: [{ address: { address: 'www.example.org', port: 80 }, weight: 1, healthStatus: 'UNKNOWN', priority: 0, metadata: {} }],
  },
  dns: { refreshRate: 5_000, lookupFamily: 'AUTO', respectTtl: false },
  connectTimeout: 5_000,
  lbPolicy: 'ROUND_ROBIN',
  circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
  healthyPanicThreshold: 50,
  upstreamProtocol: 'http1',
  idleTimeout: 3_600_000,
  metadata: {},
};

export const clusterLoadAssignment: ClusterLoadAssignment = {
  clusterName: 'outbound|80|v2|reviews.default',
  endpoints: [
    { address: { address: '10.0.0.1', port: 9080 }, weight: 1, healthStatus: 'HEALTHY', priority: 0, locality: { region: 'eu', zone: 'eu-1a' }, metadata: { version: 'v2', workload: 'reviews-v2-1' } },
    { address: { address: '10.0.0.2', port: 9080 }, weight: 3, healthStatus: 'DRAINING', priority: 0, locality: { region: 'eu', zone: 'eu-1a' }, metadata: {} },
    { address: { address: '10.0.1.1', port: 9080 }, weight: 1, healthStatus: 'UNKNOWN', priority: 1, locality: { region: 'eu', zone: 'eu-1b', subZone: 'rack7' }, metadata: {} },
    { address: { address: 'reviews-v2.local', port: 8080 }, weight: 2, healthStatus: 'UNHEALTHY', priority: 1, metadata: {} },
  ],
};

export const rootSecret: Secret = { name: 'ROOTCA', validationContext: { trustedCa: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' } };
export const certSecret: Secret = {
  name: 'default',
  tlsCertificate: { certificateChain: '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n', privateKey: '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n' },
};

/** An intercepted pod's listener: original destination, a chain per destination port, Istio's outboundTrafficPolicy on HTTP. */
export const redirectListener: Listener = {
  name: 'virtualOutbound',
  address: { address: '127.0.0.1', port: 15001 },
  trafficDirection: 'OUTBOUND',
  protocolDetectionTimeout: 100,
  useOriginalDst: true,
  filterChains: [
    {
      name: 'outbound-http-9090',
      filterChainMatch: { transportProtocol: 'raw_buffer', applicationProtocols: ['http/1.1', 'h2c'], destinationPort: 9090 },
      filter: { ...hcm, outboundTrafficPolicy: 'REGISTRY_ONLY' },
    },
    { name: 'outbound-http', filterChainMatch: { transportProtocol: 'raw_buffer' }, filter: { ...hcm, outboundTrafficPolicy: 'ALLOW_ANY' } },
    {
      name: 'outbound-tcp-5432-ratings-db',
      filterChainMatch: { destinationPort: 5432, prefixRanges: [{ addressPrefix: '10.96.0.9', prefixLen: 32 }, { addressPrefix: 'fd00:10:96::9', prefixLen: 128 }] },
      filter: { kind: 'tcp', statPrefix: 'outbound|5432||ratings-db.default.svc.cluster.local', cluster: 'outbound|5432||ratings-db.default.svc.cluster.local', idleTimeout: 3_600_000 },
    },
  ],
};
