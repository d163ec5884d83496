// Listener (LDS) with its filter chains: HTTP connection manager or TCP proxy,
// optional downstream TLS. Also api_listener (HCM only) for gRPC proxyless clients.

import type { Reader } from '../../../common/reader.js';
import { ACCESS_LOG_PATHS, type AccessLogFormat, type AccessLogSink } from '../../config/resources.js';
import { logFormatProblem } from '../../telemetry/log-format.js';
import type {
  FilterChain,
  CidrRange,
  FilterChainMatch,
  HttpConnectionManager,
  HttpLimits,
  Listener,
  TcpProxy,
  TrafficDirection,
  WeightedCluster,
} from '../../config/resources.js';
import { DEFAULT_HTTP_LIMITS } from '../../config/defaults.js';
import { cidrProblem, MAX_PREFIX_RANGES } from '../../config/cidr.js';
import { decodeHttpFilters, encodeHttpFilter } from './http-filters.js';
import { decodeRouteConfiguration, encodeRouteConfiguration } from './route.js';
import { decodeDownstreamTls, encodeDownstreamTls } from './tls.js';
import { ADS_SOURCE, NAMES, T, anyType, duration, readAddress, readBoolValue, readPercent, readStructObject, readU32, socketAddress, structOf, tsmeshMetadata, u32, type PObj } from './wire.js';

const HOUR = 3_600_000;
/** filter_metadata.tsmesh key of an HTTP chain's outboundTrafficPolicy. */
const TRAFFIC_POLICY_KEY = 'outbound_traffic_policy';
const MAX_CHAINS = 1000;
/** Envoy's listener_filters_timeout default, for listeners from other control planes (tsmesh always sets it). */
const ENVOY_LISTENER_FILTERS_TIMEOUT = 15_000;

export { DEFAULT_HTTP_LIMITS };

// ------------------------------------------------------------- HCM

export function encodeHcm(h: HttpConnectionManager): PObj {
  const o: PObj = { '@type': T.hcm, stat_prefix: h.statPrefix };
  if (h.codecType !== 'AUTO') o.codec_type = h.codecType;
  if (h.rdsRouteConfigName !== undefined) o.rds = { config_source: ADS_SOURCE, route_config_name: h.rdsRouteConfigName };
  else if (h.routeConfig) o.route_config = encodeRouteConfiguration(h.routeConfig);
  o.http_filters = h.httpFilters.map(encodeHttpFilter);
  const l = h.limits;
  o.common_http_protocol_options = { idle_timeout: duration(l.idleTimeout), max_headers_count: u32(l.maxHeadersCount) };
  o.http2_protocol_options = { max_concurrent_streams: u32(l.http2MaxConcurrentStreams) };
  o.max_request_headers_kb = u32(l.maxRequestHeadersKb);
  o.stream_idle_timeout = duration(l.streamIdleTimeout);
  o.request_timeout = duration(l.requestTimeout);
  o.request_headers_timeout = duration(l.requestHeadersTimeout);
  o.use_remote_address = { value: h.useRemoteAddress };
  if (h.xffNumTrustedHops) o.xff_num_trusted_hops = h.xffNumTrustedHops;
  o.generate_request_id = { value: h.generateRequestId };
  if (h.tracing) o.tracing = { random_sampling: { value: h.tracing.randomSamplingPercent } };
  if (h.accessLog?.length) o.access_log = encodeAccessLogs(h.accessLog);
  return o;
}

// ------------------------------------------------------------- access logs

function encodeAccessLogs(list: readonly AccessLogSink[]): PObj[] {
  return list.map((a) => {
    const cfg: PObj = { '@type': T.fileAccessLog, path: a.path };
    const f = a.format;
    if (f !== undefined) {
      cfg.log_format =
        'text' in f
          ? { text_format_source: { inline_string: f.text } }
          : { json_format: structOf(f.json), ...(f.omitEmptyValues ? { omit_empty_values: true } : {}) };
    }
    return { name: NAMES.fileAccessLog, typed_config: cfg };
  });
}

const MAX_ACCESS_LOGS = 4;

function decodeAccessLogs(r: Reader): AccessLogSink[] | undefined {
  const list = r.array();
  if (list.length > MAX_ACCESS_LOGS) r.fail(`at most ${MAX_ACCESS_LOGS} access logs`);
  const out: AccessLogSink[] = [];
  const seen = new Set<string>();
  for (const a of list) {
    const cfg = a.field('typed_config');
    if (anyType(cfg) !== T.fileAccessLog) {
      cfg.fail(`unsupported access logger ${anyType(cfg) ?? '(none)'} (tsmesh writes envoy.access_loggers.file)`);
      continue;
    }
    const path = cfg.field('path').string({ required: true, maxLength: 256 });
    if (path !== undefined && !(ACCESS_LOG_PATHS as readonly string[]).includes(path)) {
      cfg.field('path').fail(`must be ${ACCESS_LOG_PATHS.join(' or ')}: a control plane does not choose files on the workload`);
      continue;
    }
    const format = decodeLogFormat(cfg);
    const sink: AccessLogSink = { path: path as AccessLogSink['path'], ...(format !== undefined ? { format } : {}) };
    const key = JSON.stringify(sink);
    if (path !== undefined && !seen.has(key)) {
      seen.add(key);
      out.push(sink);
    }
  }
  return out.length ? out : undefined;
}

/** FileAccessLog's format: log_format (SubstitutionFormatString) or the deprecated format / json_format; compiled here so a bad one NACKs. */
function decodeLogFormat(cfg: Reader): AccessLogFormat | undefined {
  let text: Reader | undefined;
  let json: Reader | undefined;
  let omitEmpty = false;
  const lf = cfg.field('log_format');
  if (lf.present && lf.object()) {
    const source = lf.field('text_format_source');
    if (source.present) {
      if (!source.field('inline_string').present) return void source.fail('only inline_string is supported (a control plane does not read files on the workload)');
      text = source.field('inline_string');
    } else if (lf.field('text_format').present) text = lf.field('text_format');
    else if (lf.field('json_format').present) json = lf.field('json_format');
    omitEmpty = lf.field('omit_empty_values').boolean() ?? false;
  } else if (cfg.field('format').present) text = cfg.field('format');
  else if (cfg.field('json_format').present) json = cfg.field('json_format');
  if (text !== undefined) {
    const t = text.string({ maxLength: 16 * 1024 });
    if (t === undefined) return undefined;
    const problem = logFormatProblem({ text: t });
    return problem ? text.fail(problem.reason) : { text: t };
  }
  if (json !== undefined) {
    const obj = readStructObject(json);
    const problem = logFormatProblem({ json: obj });
    if (problem) return json.fail(`${problem.path}: ${problem.reason}`);
    return omitEmpty ? { json: obj, omitEmptyValues: true } : { json: obj };
  }
  return undefined;
}

export function decodeHcm(r: Reader, bufferLimit: number): HttpConnectionManager | undefined {
  const d = DEFAULT_HTTP_LIMITS;
  const common = r.field('common_http_protocol_options');
  const limits: HttpLimits = {
    maxRequestHeadersKb: readU32(r.field('max_request_headers_kb'), { min: 1, max: 8192 }) ?? d.maxRequestHeadersKb,
    maxHeadersCount: readU32(common.field('max_headers_count'), { min: 1 }) ?? d.maxHeadersCount,
    http2MaxConcurrentStreams: readU32(r.field('http2_protocol_options').field('max_concurrent_streams'), { min: 1 }) ?? d.http2MaxConcurrentStreams,
    requestHeadersTimeout: r.field('request_headers_timeout').duration({ min: 0 }) ?? d.requestHeadersTimeout,
    idleTimeout: common.field('idle_timeout').duration({ min: 0 }) ?? d.idleTimeout,
    streamIdleTimeout: r.field('stream_idle_timeout').duration({ min: 0 }) ?? d.streamIdleTimeout,
    requestTimeout: r.field('request_timeout').duration({ min: 0 }) ?? d.requestTimeout,
    maxRequestBodyBytes: bufferLimit,
  };
  const codec = r.field('codec_type').string({ enum: ['AUTO', 'HTTP1', 'HTTP2'] }) ?? 'AUTO';
  const h: HttpConnectionManager = {
    kind: 'http',
    statPrefix: r.field('stat_prefix').string({ required: true, maxLength: 256 }) ?? '',
    codecType: codec as HttpConnectionManager['codecType'],
    httpFilters: decodeHttpFilters(r.field('http_filters')),
    limits,
    useRemoteAddress: readBoolValue(r.field('use_remote_address')) ?? false,
    xffNumTrustedHops: r.field('xff_num_trusted_hops').number({ integer: true, min: 0, max: 64 }) ?? 0,
    generateRequestId: readBoolValue(r.field('generate_request_id')) ?? true,
  };
  const rds = r.field('rds');
  if (rds.object()) {
    const src = rds.field('config_source');
    if (src.present && !src.field('ads').present) src.fail('only ADS config sources are supported');
    h.rdsRouteConfigName = rds.field('route_config_name').string({ required: true, maxLength: 256 });
  } else if (r.field('route_config').object()) {
    h.routeConfig = decodeRouteConfiguration(r.field('route_config'));
  } else r.fail('one of rds or route_config is required');
  const sampling = readPercent(r.field('tracing').field('random_sampling'));
  if (r.field('tracing').object()) h.tracing = { randomSamplingPercent: sampling ?? 100 };
  const logs = decodeAccessLogs(r.field('access_log'));
  if (logs) h.accessLog = logs;
  return h;
}

// ------------------------------------------------------------- TCP proxy

function encodeTcpProxy(t: TcpProxy): PObj {
  const o: PObj = { '@type': T.tcpProxy, stat_prefix: t.statPrefix, idle_timeout: duration(t.idleTimeout) };
  if (t.cluster !== undefined) o.cluster = t.cluster;
  else if (t.weightedClusters) o.weighted_clusters = { clusters: t.weightedClusters.map((w) => ({ name: w.name, weight: w.weight })) };
  if (t.accessLog?.length) o.access_log = encodeAccessLogs(t.accessLog);
  return o;
}

function decodeTcpProxy(r: Reader): TcpProxy {
  const t: TcpProxy = {
    kind: 'tcp',
    statPrefix: r.field('stat_prefix').string({ required: true, maxLength: 256 }) ?? '',
    idleTimeout: r.field('idle_timeout').duration({ min: 0 }) ?? HOUR,
  };
  if (r.field('cluster').present) t.cluster = r.field('cluster').string({ required: true, maxLength: 256 });
  else if (r.field('weighted_clusters').object()) {
    t.weightedClusters = r
      .field('weighted_clusters')
      .field('clusters')
      .array(true)
      .map((c): WeightedCluster => ({
        name: c.field('name').string({ required: true, maxLength: 256 }) ?? '',
        weight: c.field('weight').number({ integer: true, min: 1 }) ?? 1,
        requestHeadersToAdd: [],
        requestHeadersToRemove: [],
        responseHeadersToAdd: [],
        responseHeadersToRemove: [],
      }));
  } else r.fail('one of cluster or weighted_clusters is required');
  const logs = decodeAccessLogs(r.field('access_log'));
  if (logs) t.accessLog = logs;
  return t;
}

// ------------------------------------------------------------- filter chains

function encodeChainMatch(m: FilterChainMatch): PObj {
  const o: PObj = {};
  if (m.transportProtocol) o.transport_protocol = m.transportProtocol;
  if (m.applicationProtocols?.length) o.application_protocols = [...m.applicationProtocols];
  if (m.serverNames?.length) o.server_names = [...m.serverNames];
  if (m.destinationPort !== undefined) o.destination_port = u32(m.destinationPort);
  if (m.prefixRanges?.length) o.prefix_ranges = m.prefixRanges.map((c) => ({ address_prefix: c.addressPrefix, prefix_len: u32(c.prefixLen) }));
  return o;
}

function decodeChainMatch(r: Reader): FilterChainMatch | undefined {
  if (!r.object()) return undefined;
  const m: FilterChainMatch = {};
  const tp = r.field('transport_protocol').string({ enum: ['tls', 'raw_buffer', ''] });
  if (tp) m.transportProtocol = tp as FilterChainMatch['transportProtocol'];
  const ap = r.field('application_protocols').array().map((a) => a.string({ required: true, maxLength: 64 }) ?? '');
  if (ap.length) m.applicationProtocols = ap;
  const sn = r.field('server_names').array().map((a) => a.string({ required: true, maxLength: 253 }) ?? '');
  if (sn.length) m.serverNames = sn;
  const port = readU32(r.field('destination_port'), { min: 1, max: 65535 });
  if (port !== undefined) m.destinationPort = port;
  const ranges = r.field('prefix_ranges').array();
  if (ranges.length > MAX_PREFIX_RANGES) r.field('prefix_ranges').fail(`more than ${MAX_PREFIX_RANGES} ranges`);
  const prefixRanges: CidrRange[] = [];
  for (const c of ranges.slice(0, MAX_PREFIX_RANGES)) {
    const range = { addressPrefix: c.field('address_prefix').string({ required: true, maxLength: 64 }) ?? '', prefixLen: readU32(c.field('prefix_len'), { min: 0, max: 128 }) ?? 0 };
    const problem = cidrProblem(range);
    if (problem) c.fail(problem);
    else prefixRanges.push(range);
  }
  if (prefixRanges.length) m.prefixRanges = prefixRanges;
  return m;
}

function encodeChain(c: FilterChain): PObj {
  const filter =
    c.filter.kind === 'http'
      ? { name: NAMES.hcm, typed_config: encodeHcm(c.filter) }
      : { name: NAMES.tcpProxy, typed_config: encodeTcpProxy(c.filter) };
  const o: PObj = { name: c.name, filters: [filter] };
  if (c.filterChainMatch) o.filter_chain_match = encodeChainMatch(c.filterChainMatch);
  // Envoy's HCM has no such field; Istio expresses it as catch-all virtual hosts. tsmesh keeps it on the chain.
  if (c.filter.kind === 'http' && c.filter.outboundTrafficPolicy) o.metadata = tsmeshMetadata({ [TRAFFIC_POLICY_KEY]: c.filter.outboundTrafficPolicy });
  if (c.transportSocket) o.transport_socket = encodeDownstreamTls(c.transportSocket);
  return o;
}

function decodeChain(r: Reader, bufferLimit: number): FilterChain | undefined {
  if (!r.object(true)) return undefined;
  const filters = r.field('filters').array(true);
  if (filters.length !== 1) {
    r.field('filters').fail('exactly one network filter (http_connection_manager or tcp_proxy) is supported');
    if (!filters.length) return undefined;
  }
  const f = filters[0]!.field('typed_config');
  const t = anyType(f);
  let filter: HttpConnectionManager | TcpProxy | undefined;
  if (t === T.hcm) filter = decodeHcm(f, bufferLimit);
  else if (t === T.tcpProxy) filter = decodeTcpProxy(f);
  else if (t) f.fail(`unsupported network filter ${t}`);
  if (!filter) return undefined;
  const policy = r.field('metadata').field('filter_metadata').field(NAMES.metadata).field('fields').field(TRAFFIC_POLICY_KEY);
  if (policy.object()) {
    const v = policy.field('stringValue').string({ enum: ['ALLOW_ANY', 'REGISTRY_ONLY'] });
    if (v !== undefined && filter.kind === 'http') filter.outboundTrafficPolicy = v as NonNullable<HttpConnectionManager['outboundTrafficPolicy']>;
  }
  const c: FilterChain = { name: r.field('name').string({ maxLength: 256 }) ?? '', filter };
  const m = decodeChainMatch(r.field('filter_chain_match'));
  if (m) c.filterChainMatch = m;
  if (r.field('transport_socket').object()) c.transportSocket = decodeDownstreamTls(r.field('transport_socket'));
  return c;
}

// ------------------------------------------------------------- listener

const INSPECTORS: PObj[] = [
  { name: NAMES.tlsInspector, typed_config: { '@type': T.tlsInspector } },
  { name: NAMES.httpInspector, typed_config: { '@type': T.httpInspector } },
];

export function encodeListener(l: Listener): PObj {
  if (l.apiListener) return { name: l.name, api_listener: { api_listener: encodeHcm(l.apiListener) } };
  const firstHttp = l.filterChains.find((c) => c.filter.kind === 'http')?.filter as HttpConnectionManager | undefined;
  const o: PObj = {
    name: l.name,
    address: socketAddress(l.address),
    filter_chains: l.filterChains.map(encodeChain),
    listener_filters: INSPECTORS,
    listener_filters_timeout: duration(l.protocolDetectionTimeout),
    // Envoy treats a connection that sends nothing within the timeout as opaque TCP only with this set.
    continue_on_listener_filters_timeout: true,
  };
  if (l.trafficDirection !== 'UNSPECIFIED') o.traffic_direction = l.trafficDirection;
  if (l.useOriginalDst) o.use_original_dst = { value: true };
  if (firstHttp) o.per_connection_buffer_limit_bytes = u32(firstHttp.limits.maxRequestBodyBytes);
  return o;
}

export function decodeListener(r: Reader): Listener | undefined {
  const name = r.field('name').string({ required: true, maxLength: 256 });
  const bufferLimit = readU32(r.field('per_connection_buffer_limit_bytes'), { min: 1 }) ?? DEFAULT_HTTP_LIMITS.maxRequestBodyBytes;
  const trafficDirection = (r.field('traffic_direction').string({ enum: ['UNSPECIFIED', 'INBOUND', 'OUTBOUND'] }) ??
    'UNSPECIFIED') as TrafficDirection;
  const protocolDetectionTimeout = r.field('listener_filters_timeout').duration({ min: 0 }) ?? ENVOY_LISTENER_FILTERS_TIMEOUT;
  const api = r.field('api_listener');
  if (api.object()) {
    const hcm = api.field('api_listener');
    if (anyType(hcm) !== T.hcm) return hcm.fail(`api_listener must be ${T.hcm}`);
    const apiListener = decodeHcm(hcm, bufferLimit);
    if (!apiListener || name === undefined) return undefined;
    return { name, address: { address: '0.0.0.0', port: 0 }, trafficDirection, filterChains: [], protocolDetectionTimeout, apiListener };
  }
  const address = readAddress(r.field('address'));
  const chains = r.field('filter_chains').array(true);
  if (chains.length > MAX_CHAINS) r.field('filter_chains').fail(`more than ${MAX_CHAINS} filter chains`);
  const filterChains = chains.slice(0, MAX_CHAINS).map((c) => decodeChain(c, bufferLimit)).filter((c): c is FilterChain => !!c);
  // Envoy's use_original_dst, or Istio's way of asking for the same: the original_dst listener filter.
  let useOriginalDst = r.field('use_original_dst').field('value').boolean() ?? false;
  for (const lf of r.field('listener_filters').array()) {
    const n = lf.field('name').string();
    if (n === 'envoy.filters.listener.original_dst') useOriginalDst = true;
    if (n !== NAMES.tlsInspector && n !== NAMES.httpInspector && n !== 'envoy.filters.listener.original_dst') {
      lf.field('name').fail(`unsupported listener filter ${n ?? ''} (tsmesh always detects TLS and HTTP)`);
    }
  }
  if (name === undefined || !address) return undefined;
  const l: Listener = { name, address, trafficDirection, filterChains, protocolDetectionTimeout };
  if (useOriginalDst) l.useOriginalDst = true;
  return l;
}
