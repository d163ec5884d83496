// Reads Listener resources (filter chains with HTTP connection managers or
// TCP proxies, downstream TLS) from untrusted input.

import type { Reader } from '../../common/reader.js';
import { DEFAULT_HTTP_LIMITS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_PROTOCOL_DETECTION_TIMEOUT_MS, DEFAULT_TLS_PARAMS } from './defaults.js';
import { socketAddress, strict, stringList, stringMatcher } from './read-common.js';
import { readRouteConfiguration } from './read-route.js';
import { cidrProblem, MAX_PREFIX_RANGES } from './cidr.js';
import type {
  CidrRange,
  DownstreamTlsContext,
  FilterChain,
  FilterChainMatch,
  HttpConnectionManager,
  HttpFilter,
  HttpLimits,
  Listener,
  TcpProxy,
  TlsParams,
  TrafficDirection,
} from './resources.js';
import { ACCESS_LOG_PATHS, type AccessLogSink } from './resources.js';
import { LOG_FORMAT_KEYS, readLogFormat } from './read-log-format.js';

export function readListener(r: Reader): Listener {
  strict(r, ['name', 'address', 'trafficDirection', 'filterChains', 'protocolDetectionTimeout', 'apiListener', 'useOriginalDst'], true);
  const l: Listener = {
    name: r.field('name').string({ required: true }) ?? '',
    address: socketAddress(r.field('address'), !r.field('apiListener').present),
    trafficDirection: (r.field('trafficDirection').string({ enum: ['INBOUND', 'OUTBOUND', 'UNSPECIFIED'] }) as TrafficDirection) ?? 'UNSPECIFIED',
    filterChains: r.field('filterChains').array(!r.field('apiListener').present).map(readFilterChain),
    protocolDetectionTimeout: r.field('protocolDetectionTimeout').duration({ min: 0, max: 60_000 }) ?? DEFAULT_PROTOCOL_DETECTION_TIMEOUT_MS,
  };
  if (r.field('apiListener').present) l.apiListener = readHcm(r.field('apiListener'));
  if (r.field('useOriginalDst').boolean()) l.useOriginalDst = true;
  return l;
}

function readFilterChain(r: Reader, i: number): FilterChain {
  strict(r, ['name', 'filterChainMatch', 'transportSocket', 'filter'], true);
  const f = r.field('filter');
  f.object(true);
  const kind = f.field('kind').string({ required: true, enum: ['http', 'tcp'] });
  const fc: FilterChain = {
    name: r.field('name').string() ?? `chain-${i}`,
    filter: kind === 'tcp' ? readTcpProxy(f) : readHcm(f),
  };
  const m = r.field('filterChainMatch');
  if (strict(m, ['transportProtocol', 'applicationProtocols', 'serverNames', 'destinationPort', 'prefixRanges'])) {
    const match: FilterChainMatch = {};
    const tp = m.field('transportProtocol').string({ enum: ['tls', 'raw_buffer'] });
    if (tp) match.transportProtocol = tp as 'tls' | 'raw_buffer';
    if (m.field('applicationProtocols').present) match.applicationProtocols = stringList(m.field('applicationProtocols'));
    if (m.field('serverNames').present) match.serverNames = stringList(m.field('serverNames')).map((s) => s.toLowerCase());
    const port = m.field('destinationPort').number({ integer: true, min: 1, max: 65535 });
    if (port !== undefined) match.destinationPort = port;
    const ranges = m.field('prefixRanges').array();
    if (ranges.length > MAX_PREFIX_RANGES) m.field('prefixRanges').fail(`more than ${MAX_PREFIX_RANGES} ranges`);
    const prefixRanges: CidrRange[] = [];
    for (const c of ranges.slice(0, MAX_PREFIX_RANGES)) {
      if (!strict(c, ['addressPrefix', 'prefixLen'], true)) continue;
      const range = { addressPrefix: c.field('addressPrefix').string({ required: true }) ?? '', prefixLen: c.field('prefixLen').number({ required: true, integer: true, min: 0, max: 128 }) ?? 0 };
      const problem = cidrProblem(range);
      if (problem) c.fail(problem);
      else prefixRanges.push(range);
    }
    if (prefixRanges.length) match.prefixRanges = prefixRanges;
    fc.filterChainMatch = match;
  }
  if (r.field('transportSocket').present) fc.transportSocket = readDownstreamTls(r.field('transportSocket'));
  return fc;
}

function readTlsParams(r: Reader): TlsParams {
  if (!strict(r, ['minVersion'])) return { ...DEFAULT_TLS_PARAMS };
  return { minVersion: (r.field('minVersion').string({ enum: ['TLSv1.2', 'TLSv1.3'] }) as TlsParams['minVersion']) ?? 'TLSv1.2' };
}

function readDownstreamTls(r: Reader): DownstreamTlsContext {
  strict(r, ['certificateSecret', 'validationSecret', 'requireClientCertificate', 'matchSubjectAltNames', 'alpnProtocols', 'params'], true);
  const t: DownstreamTlsContext = {
    certificateSecret: r.field('certificateSecret').string({ required: true }) ?? '',
    requireClientCertificate: r.field('requireClientCertificate').boolean() ?? false,
    matchSubjectAltNames: r.field('matchSubjectAltNames').array().map(stringMatcher),
    alpnProtocols: r.field('alpnProtocols').present ? stringList(r.field('alpnProtocols')) : ['h2', 'http/1.1'],
    params: readTlsParams(r.field('params')),
  };
  const vs = r.field('validationSecret').string();
  if (vs !== undefined) t.validationSecret = vs;
  if (t.requireClientCertificate && vs === undefined) r.field('validationSecret').fail('is required when requireClientCertificate is true');
  return t;
}

const HCM_KEYS = ['kind', 'statPrefix', 'rdsRouteConfigName', 'routeConfig', 'codecType', 'httpFilters', 'limits', 'useRemoteAddress', 'xffNumTrustedHops', 'generateRequestId', 'tracing', 'outboundTrafficPolicy', 'accessLog'];

function readHcm(r: Reader): HttpConnectionManager {
  strict(r, HCM_KEYS, true);
  const h: HttpConnectionManager = {
    kind: 'http',
    statPrefix: r.field('statPrefix').string() ?? 'http',
    codecType: (r.field('codecType').string({ enum: ['AUTO', 'HTTP1', 'HTTP2'] }) as HttpConnectionManager['codecType']) ?? 'AUTO',
    httpFilters: r.field('httpFilters').array().map(readHttpFilter),
    limits: readLimits(r.field('limits')),
    useRemoteAddress: r.field('useRemoteAddress').boolean() ?? false,
    xffNumTrustedHops: r.field('xffNumTrustedHops').number({ integer: true, min: 0 }) ?? 0,
    generateRequestId: r.field('generateRequestId').boolean() ?? true,
  };
  const rds = r.field('rdsRouteConfigName').string();
  if (rds !== undefined) h.rdsRouteConfigName = rds;
  if (r.field('routeConfig').present) h.routeConfig = readRouteConfiguration(r.field('routeConfig'));
  if ((h.rdsRouteConfigName === undefined) === (h.routeConfig === undefined)) r.fail('exactly one of rdsRouteConfigName and routeConfig must be set');
  const policy = r.field('outboundTrafficPolicy').string({ enum: ['ALLOW_ANY', 'REGISTRY_ONLY'] });
  if (policy !== undefined) h.outboundTrafficPolicy = policy as NonNullable<HttpConnectionManager['outboundTrafficPolicy']>;
  const tr = r.field('tracing');
  // This listener's sampling, overriding the bootstrap's tracing.samplingPercent; Envoy's default when the block has none: 100 %.
  if (strict(tr, ['randomSamplingPercent'])) h.tracing = { randomSamplingPercent: tr.field('randomSamplingPercent').number({ min: 0, max: 100 }) ?? 100 };
  const logs = readAccessLogs(r.field('accessLog'));
  if (logs) h.accessLog = logs;
  return h;
}

/**
 * This listener's own access logs ({ path: /dev/stdout | /dev/stderr, textFormat | jsonFormat }), besides
 * the bootstrap's accessLog; without a format, Envoy's default line.
 */
function readAccessLogs(r: Reader): AccessLogSink[] | undefined {
  if (!r.present) return undefined;
  const out: AccessLogSink[] = [];
  for (const a of r.array()) {
    strict(a, ['path', ...LOG_FORMAT_KEYS], true);
    const path = a.field('path').string({ required: true, enum: ACCESS_LOG_PATHS });
    const format = readLogFormat(a);
    if (path !== undefined) out.push({ path: path as AccessLogSink['path'], ...(format !== undefined ? { format } : {}) });
  }
  return out.length ? out : undefined;
}

function readHttpFilter(r: Reader, i: number): HttpFilter {
  strict(r, ['name', 'kind', 'rules'], true);
  const kind = r.field('kind').string({ required: true, enum: ['rbac', 'fault', 'localRateLimit', 'router'] }) ?? 'router';
  const name = r.field('name').string() ?? `${kind}-${i}`;
  if (kind !== 'rbac' && r.field('rules').present) r.field('rules').fail('only rbac filters take rules');
  // RBAC rule parsing belongs to the identity engineer's authz module; the bootstrap keeps rules as given.
  if (kind === 'rbac') return { name, kind, ...(r.field('rules').present ? { rules: r.field('rules').value as never } : {}) };
  return { name, kind } as HttpFilter;
}

function readLimits(r: Reader): HttpLimits {
  const d = DEFAULT_HTTP_LIMITS;
  if (!strict(r, Object.keys(d))) return { ...d };
  return {
    maxRequestHeadersKb: r.field('maxRequestHeadersKb').number({ integer: true, min: 1, max: 8192 }) ?? d.maxRequestHeadersKb,
    maxHeadersCount: r.field('maxHeadersCount').number({ integer: true, min: 1, max: 10_000 }) ?? d.maxHeadersCount,
    http2MaxConcurrentStreams: r.field('http2MaxConcurrentStreams').number({ integer: true, min: 1, max: 2_147_483_647 }) ?? d.http2MaxConcurrentStreams,
    requestHeadersTimeout: r.field('requestHeadersTimeout').duration({ min: 0 }) ?? d.requestHeadersTimeout,
    idleTimeout: r.field('idleTimeout').duration({ min: 0 }) ?? d.idleTimeout,
    streamIdleTimeout: r.field('streamIdleTimeout').duration({ min: 0 }) ?? d.streamIdleTimeout,
    requestTimeout: r.field('requestTimeout').duration({ min: 0 }) ?? d.requestTimeout,
    maxRequestBodyBytes: r.field('maxRequestBodyBytes').number({ integer: true, min: 0 }) ?? d.maxRequestBodyBytes,
  };
}

function readTcpProxy(r: Reader): TcpProxy {
  strict(r, ['kind', 'statPrefix', 'cluster', 'weightedClusters', 'idleTimeout', 'accessLog'], true);
  const logs = readAccessLogs(r.field('accessLog'));
  const t: TcpProxy = {
    kind: 'tcp',
    statPrefix: r.field('statPrefix').string() ?? 'tcp',
    idleTimeout: r.field('idleTimeout').duration({ min: 0 }) ?? DEFAULT_IDLE_TIMEOUT_MS,
  };
  const c = r.field('cluster').string();
  if (c !== undefined) t.cluster = c;
  if (r.field('weightedClusters').present) {
    t.weightedClusters = r.field('weightedClusters').array().map((w) => {
      strict(w, ['name', 'weight'], true);
      return {
        name: w.field('name').string({ required: true }) ?? '',
        weight: w.field('weight').number({ required: true, integer: true, min: 0 }) ?? 0,
        requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [],
      };
    });
  }
  if ((t.cluster === undefined) === (t.weightedClusters === undefined)) r.fail('exactly one of cluster and weightedClusters must be set');
  if (logs) t.accessLog = logs;
  return t;
}
