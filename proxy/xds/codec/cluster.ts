// Cluster (CDS). Envoy defaults are filled in on decode where the proto leaves a
// field unset. PEAK_EWMA has no Envoy enum value: it travels as
// load_balancing_policy with tsmesh's own typed extension (tsmesh.lb.v1.PeakEwma).

import type { Reader } from '../../../common/reader.js';
import type { CircuitBreakerThresholds, Cluster, DnsLookupFamily, DnsSettings, LbPolicy, OutlierDetection, SocketAddress } from '../../config/resources.js';
import { isDnsCluster } from '../../config/resources.js';
import { DNS_LOOKUP_FAMILIES } from '../../config/read-cluster.js';
import {
  DEFAULT_CIRCUIT_BREAKERS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_DNS,
  DEFAULT_HEALTHY_PANIC_THRESHOLD,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_OUTLIER_DETECTION,
} from '../../config/defaults.js';
import { decodeClusterLoadAssignment, encodeClusterLoadAssignment } from './endpoint.js';
import { decodeUpstreamTls, encodeUpstreamTls } from './tls.js';
import {
  ADS_SOURCE,
  NAMES,
  T,
  anyType,
  duration,
  readPercent,
  readTsmeshMetadata,
  readU32,
  socketAddress,
  tsmeshMetadata,
  u32,
  type PObj,
} from './wire.js';




function encodeOutlier(o: OutlierDetection): PObj {
  return {
    consecutive_5xx: u32(o.consecutive5xx),
    consecutive_gateway_failure: u32(o.consecutiveGatewayFailure),
    consecutive_local_origin_failure: u32(o.consecutiveLocalOriginFailure),
    interval: duration(o.interval),
    base_ejection_time: duration(o.baseEjectionTime),
    max_ejection_time: duration(o.maxEjectionTime),
    max_ejection_percent: u32(o.maxEjectionPercent),
    enforcing_consecutive_5xx: u32(o.enforcingConsecutive5xx),
    enforcing_consecutive_gateway_failure: u32(o.enforcingConsecutiveGatewayFailure),
    split_external_local_origin_errors: o.splitExternalLocalOriginErrors || undefined,
  };
}

function decodeOutlier(r: Reader): OutlierDetection {
  const d = DEFAULT_OUTLIER_DETECTION;
  const pct = { max: 100 };
  return {
    consecutive5xx: readU32(r.field('consecutive_5xx')) ?? d.consecutive5xx,
    consecutiveGatewayFailure: readU32(r.field('consecutive_gateway_failure')) ?? d.consecutiveGatewayFailure,
    consecutiveLocalOriginFailure: readU32(r.field('consecutive_local_origin_failure')) ?? d.consecutiveLocalOriginFailure,
    interval: r.field('interval').duration({ min: 1 }) ?? d.interval,
    baseEjectionTime: r.field('base_ejection_time').duration({ min: 1 }) ?? d.baseEjectionTime,
    maxEjectionTime: r.field('max_ejection_time').duration({ min: 1 }) ?? d.maxEjectionTime,
    maxEjectionPercent: readU32(r.field('max_ejection_percent'), pct) ?? d.maxEjectionPercent,
    enforcingConsecutive5xx: readU32(r.field('enforcing_consecutive_5xx'), pct) ?? d.enforcingConsecutive5xx,
    enforcingConsecutiveGatewayFailure:
      readU32(r.field('enforcing_consecutive_gateway_failure'), pct) ?? d.enforcingConsecutiveGatewayFailure,
    splitExternalLocalOriginErrors: r.field('split_external_local_origin_errors').boolean() ?? false,
  };
}

function encodeThresholds(t: CircuitBreakerThresholds): PObj {
  const o: PObj = {
    priority: 'DEFAULT',
    max_connections: u32(t.maxConnections),
    max_pending_requests: u32(t.maxPendingRequests),
    max_requests: u32(t.maxRequests),
    max_retries: u32(t.maxRetries),
  };
  if (t.retryBudget) {
    o.retry_budget = {
      budget_percent: { value: t.retryBudget.budgetPercent },
      min_retry_concurrency: u32(t.retryBudget.minRetryConcurrency),
    };
  }
  return o;
}

function decodeThresholds(r: Reader): CircuitBreakerThresholds {
  const list = r.field('thresholds').array();
  const t = list.find((x) => (x.field('priority').value ?? 'DEFAULT') === 'DEFAULT');
  if (!t) return { ...DEFAULT_CIRCUIT_BREAKERS };
  const d = DEFAULT_CIRCUIT_BREAKERS;
  const out: CircuitBreakerThresholds = {
    maxConnections: readU32(t.field('max_connections')) ?? d.maxConnections,
    maxPendingRequests: readU32(t.field('max_pending_requests')) ?? d.maxPendingRequests,
    maxRequests: readU32(t.field('max_requests')) ?? d.maxRequests,
    maxRetries: readU32(t.field('max_retries')) ?? d.maxRetries,
  };
  const rb = t.field('retry_budget');
  if (rb.object()) {
    // Envoy defaults: 20% of active requests, at least 3 concurrent retries.
    out.retryBudget = {
      budgetPercent: readPercent(rb.field('budget_percent')) ?? 20,
      minRetryConcurrency: readU32(rb.field('min_retry_concurrency')) ?? 3,
    };
  }
  return out;
}

const LB_ENUM: Record<string, LbPolicy> = {
  ROUND_ROBIN: 'ROUND_ROBIN',
  LEAST_REQUEST: 'LEAST_REQUEST',
  RANDOM: 'RANDOM',
  RING_HASH: 'RING_HASH',
  MAGLEV: 'MAGLEV',
  CLUSTER_PROVIDED: 'CLUSTER_PROVIDED',
};

function encodeProtocolOptions(c: Cluster): PObj {
  const common: PObj = { idle_timeout: duration(c.idleTimeout) };
  if (c.maxRequestsPerConnection !== undefined) common.max_requests_per_connection = u32(c.maxRequestsPerConnection);
  const o: PObj = { '@type': T.httpProtocolOptions, common_http_protocol_options: common };
  if (c.upstreamProtocol === 'http2') o.explicit_http_config = { http2_protocol_options: {} };
  else if (c.upstreamProtocol === 'http1') o.explicit_http_config = { http_protocol_options: {} };
  else o.use_downstream_protocol_config = { http_protocol_options: {}, http2_protocol_options: {} };
  return o;
}

export function encodeCluster(c: Cluster): PObj {
  const o: PObj = { name: c.name, type: c.type, connect_timeout: duration(c.connectTimeout) };
  if (c.type === 'EDS') {
    const eds: PObj = { eds_config: ADS_SOURCE };
    if (c.edsServiceName) eds.service_name = c.edsServiceName;
    o.eds_cluster_config = eds;
  } else if (c.loadAssignment) {
    o.load_assignment = encodeClusterLoadAssignment(c.loadAssignment);
  }
  if (c.dns) encodeDns(o, c.dns);
  if (c.lbPolicy === 'PEAK_EWMA') {
    o.load_balancing_policy = {
      policies: [{ typed_extension_config: { name: NAMES.peakEwma, typed_config: { '@type': T.peakEwma } } }],
    };
  } else if (c.lbPolicy !== 'ROUND_ROBIN') o.lb_policy = c.lbPolicy;
  if (c.ringHash) {
    o.ring_hash_lb_config = {
      minimum_ring_size: { value: c.ringHash.minimumRingSize },
      maximum_ring_size: { value: c.ringHash.maximumRingSize },
    };
  }
  if (c.leastRequest) o.least_request_lb_config = { choice_count: u32(c.leastRequest.choiceCount) };
  o.circuit_breakers = { thresholds: [encodeThresholds(c.circuitBreakers)] };
  if (c.outlierDetection) o.outlier_detection = encodeOutlier(c.outlierDetection);
  o.common_lb_config = { healthy_panic_threshold: { value: c.healthyPanicThreshold } };
  o.typed_extension_protocol_options = { [NAMES.httpProtocolOptions]: encodeProtocolOptions(c) };
  if (c.transportSocket) o.transport_socket = encodeUpstreamTls(c.transportSocket);
  if (c.upstreamBindConfig) {
    const a = c.upstreamBindConfig.sourceAddress;
    o.upstream_bind_config = { source_address: { address: a.address, port_value: a.port } };
  }
  const md = tsmeshMetadata(c.metadata);
  if (md) o.metadata = md;
  return o;
}

function encodeDns(o: PObj, d: DnsSettings): void {
  o.dns_refresh_rate = duration(d.refreshRate);
  if (d.lookupFamily !== 'AUTO') o.dns_lookup_family = d.lookupFamily;
  if (d.respectTtl) o.respect_dns_ttl = true;
  if (d.resolvers) {
    o.typed_dns_resolver_config = {
      name: NAMES.caresDnsResolver,
      typed_config: { '@type': T.caresDnsResolver, resolvers: d.resolvers.map(socketAddress) },
    };
  }
}

function decodeDns(r: Reader): DnsSettings {
  const d: DnsSettings = {
    refreshRate: r.field('dns_refresh_rate').duration({ min: 1 }) ?? DEFAULT_DNS.refreshRate,
    lookupFamily: (r.field('dns_lookup_family').string({ enum: DNS_LOOKUP_FAMILIES }) as DnsLookupFamily) ?? DEFAULT_DNS.lookupFamily,
    respectTtl: r.field('respect_dns_ttl').boolean() ?? DEFAULT_DNS.respectTtl,
  };
  const cfg = r.field('typed_dns_resolver_config').field('typed_config');
  const t = cfg.present ? anyType(cfg) : undefined;
  if (t === T.caresDnsResolver) {
    // Envoy's c-ares resolvers are usually written with protocol UDP; both are the same DNS servers here.
    const servers = cfg.field('resolvers').array().map((a) => readResolver(a)).filter((a): a is SocketAddress => a !== undefined);
    if (servers.length === 0) cfg.field('resolvers').fail('must list at least one DNS server');
    else d.resolvers = servers;
  } else if (t !== undefined && t !== T.getaddrinfoDnsResolver) cfg.fail(`unsupported DNS resolver ${t} (c-ares with resolvers, or getaddrinfo)`);
  return d;
}

function readResolver(r: Reader): SocketAddress | undefined {
  const sa = r.field('socket_address');
  if (!sa.object(true)) return undefined;
  const address = sa.field('address').string({ required: true, maxLength: 253 });
  const port = sa.field('port_value').number({ integer: true, min: 1, max: 65535 }) ?? 53;
  return address === undefined ? undefined : { address, port };
}

function decodeLbPolicy(r: Reader): LbPolicy {
  const lbp = r.field('load_balancing_policy');
  if (lbp.object()) {
    for (const p of lbp.field('policies').array()) {
      const t = p.field('typed_extension_config').field('typed_config').field('@type').value;
      if (t === T.peakEwma) return 'PEAK_EWMA';
    }
    lbp.field('policies').fail(`no supported policy (tsmesh supports ${T.peakEwma} here; otherwise use lb_policy)`);
    return 'ROUND_ROBIN';
  }
  const e = r.field('lb_policy').string() ?? 'ROUND_ROBIN';
  const p = LB_ENUM[e];
  if (!p) r.field('lb_policy').fail(`unsupported lb_policy ${e}`);
  return p ?? 'ROUND_ROBIN';
}

function decodeProtocolOptions(r: Reader, c: Cluster): void {
  const opts = r.field('typed_extension_protocol_options');
  for (const [key, v] of opts.entries()) {
    const t = anyType(v);
    if (t !== T.httpProtocolOptions) {
      if (t) v.fail(`unsupported protocol options ${t} (key ${key})`);
      continue;
    }
    const common = v.field('common_http_protocol_options');
    c.idleTimeout = common.field('idle_timeout').duration({ min: 0 }) ?? c.idleTimeout;
    const mrpc = readU32(common.field('max_requests_per_connection'), { min: 1 });
    if (mrpc !== undefined) c.maxRequestsPerConnection = mrpc;
    const explicit = v.field('explicit_http_config');
    if (explicit.object()) c.upstreamProtocol = explicit.field('http2_protocol_options').present ? 'http2' : 'http1';
    else if (v.field('use_downstream_protocol_config').present) c.upstreamProtocol = 'downstream';
    else if (v.field('auto_config').present) v.field('auto_config').fail('auto_config is not supported');
  }
}

export function decodeCluster(r: Reader): Cluster | undefined {
  const name = r.field('name').string({ required: true, maxLength: 256 });
  const type = r.field('type').string() ?? 'STATIC';
  const known = type === 'STATIC' || type === 'EDS' || type === 'ORIGINAL_DST' || type === 'STRICT_DNS' || type === 'LOGICAL_DNS';
  if (!known) r.field('type').fail(`unsupported discovery type ${type} (STATIC, STRICT_DNS, LOGICAL_DNS, EDS or ORIGINAL_DST)`);
  const c: Cluster = {
    name: name ?? '',
    type: known ? type : 'STATIC',
    connectTimeout: r.field('connect_timeout').duration({ min: 1 }) ?? DEFAULT_CONNECT_TIMEOUT_MS,
    lbPolicy: decodeLbPolicy(r),
    circuitBreakers: decodeThresholds(r.field('circuit_breakers')),
    healthyPanicThreshold: readPercent(r.field('common_lb_config').field('healthy_panic_threshold')) ?? DEFAULT_HEALTHY_PANIC_THRESHOLD,
    upstreamProtocol: 'http1',
    idleTimeout: DEFAULT_IDLE_TIMEOUT_MS,
    metadata: readTsmeshMetadata(r.field('metadata')),
  };
  if (c.type === 'EDS') {
    const eds = r.field('eds_cluster_config');
    if (!eds.object(true)) return undefined;
    const src = eds.field('eds_config');
    if (src.present && !src.field('ads').present) src.fail('only ADS config sources are supported');
    const svc = eds.field('service_name').string({ maxLength: 256 });
    if (svc) c.edsServiceName = svc;
  } else if (c.type === 'STATIC' || isDnsCluster(c.type)) {
    const la = r.field('load_assignment');
    if (la.object(true)) c.loadAssignment = decodeClusterLoadAssignment(la);
  }
  if (isDnsCluster(c.type)) c.dns = decodeDns(r);
  if ((c.type === 'ORIGINAL_DST') !== (c.lbPolicy === 'CLUSTER_PROVIDED')) {
    r.field('lb_policy').fail(c.type === 'ORIGINAL_DST' ? 'must be CLUSTER_PROVIDED for an ORIGINAL_DST cluster' : 'CLUSTER_PROVIDED is only for an ORIGINAL_DST cluster');
  }
  const bind = r.field('upstream_bind_config').field('source_address');
  if (bind.object()) {
    const address = bind.field('address').string({ required: true, maxLength: 253 });
    const port = bind.field('port_value').number({ integer: true, min: 0, max: 65535 }) ?? 0;
    if (address !== undefined) c.upstreamBindConfig = { sourceAddress: { address, port } };
  }
  const rh = r.field('ring_hash_lb_config');
  if (rh.object()) {
    // Envoy defaults: 1024 … 8M entries.
    const min = rh.field('minimum_ring_size').field('value').number({ integer: true, min: 1 }) ?? 1024;
    const max = rh.field('maximum_ring_size').field('value').number({ integer: true, min: 1, max: 8_388_608 }) ?? 8_388_608;
    if (min > max) rh.fail('minimum_ring_size must not exceed maximum_ring_size');
    c.ringHash = { minimumRingSize: min, maximumRingSize: max };
  }
  const lr = r.field('least_request_lb_config');
  if (lr.object()) c.leastRequest = { choiceCount: readU32(lr.field('choice_count'), { min: 2 }) ?? 2 };
  if (r.field('outlier_detection').object()) c.outlierDetection = decodeOutlier(r.field('outlier_detection'));
  decodeProtocolOptions(r, c);
  if (r.field('transport_socket').object()) c.transportSocket = decodeUpstreamTls(r.field('transport_socket'));
  return name === undefined ? undefined : c;
}
