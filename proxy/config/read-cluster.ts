// Reads Cluster, ClusterLoadAssignment and Secret resources from untrusted input.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Reader } from '../../common/reader.js';
import {
  DEFAULT_CIRCUIT_BREAKERS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_DNS,
  DEFAULT_HEALTHY_PANIC_THRESHOLD,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_TLS_PARAMS,
} from './defaults.js';
import { metadataMap, socketAddress, strict, stringList, stringMatcher } from './read-common.js';
import type {
  CircuitBreakerThresholds,
  Cluster,
  ClusterLoadAssignment,
  DnsLookupFamily,
  DnsSettings,
  HealthStatus,
  LbEndpoint,
  LbPolicy,
  OutlierDetection,
  Secret,
  UpstreamTlsContext,
} from './resources.js';
import { isDnsCluster } from './resources.js';

const LB_POLICIES = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'MAGLEV', 'PEAK_EWMA', 'CLUSTER_PROVIDED'];
const HEALTH = ['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED'];

export function readCluster(r: Reader): Cluster {
  strict(r, [
    'name', 'type', 'edsServiceName', 'loadAssignment', 'connectTimeout', 'lbPolicy', 'ringHash', 'leastRequest',
    'circuitBreakers', 'outlierDetection', 'healthyPanicThreshold', 'upstreamProtocol', 'transportSocket',
    'idleTimeout', 'maxRequestsPerConnection', 'upstreamBindConfig', 'metadata', 'dns',
  ], true);
  const name = r.field('name').string({ required: true }) ?? '';
  const c: Cluster = {
    name,
    type: (r.field('type').string({ enum: ['STATIC', 'EDS', 'ORIGINAL_DST', 'STRICT_DNS', 'LOGICAL_DNS'] }) as Cluster['type']) ?? 'STATIC',
    connectTimeout: r.field('connectTimeout').duration({ min: 1 }) ?? DEFAULT_CONNECT_TIMEOUT_MS,
    lbPolicy: (r.field('lbPolicy').string({ enum: LB_POLICIES }) as LbPolicy) ?? (r.field('type').value === 'ORIGINAL_DST' ? 'CLUSTER_PROVIDED' : 'PEAK_EWMA'), // tsmesh default: latency-aware P2C (Linkerd's approach)
    circuitBreakers: readCircuitBreakers(r.field('circuitBreakers')),
    healthyPanicThreshold: r.field('healthyPanicThreshold').number({ min: 0, max: 100 }) ?? DEFAULT_HEALTHY_PANIC_THRESHOLD,
    upstreamProtocol: (r.field('upstreamProtocol').string({ enum: ['http1', 'http2', 'downstream'] }) as Cluster['upstreamProtocol']) ?? 'http1',
    idleTimeout: r.field('idleTimeout').duration({ min: 0 }) ?? DEFAULT_IDLE_TIMEOUT_MS,
    metadata: metadataMap(r.field('metadata')),
  };
  const eds = r.field('edsServiceName').string();
  if (eds !== undefined) c.edsServiceName = eds;
  if (r.field('loadAssignment').present) c.loadAssignment = readLoadAssignment(r.field('loadAssignment'), name);
  if (c.type === 'STATIC' && !c.loadAssignment) r.field('loadAssignment').fail('is required for a STATIC cluster');
  if (isDnsCluster(c.type)) {
    if (!c.loadAssignment) r.field('loadAssignment').fail(`is required for a ${c.type} cluster (the host names to resolve)`);
    c.dns = readDns(r.field('dns'));
  } else if (r.field('dns').present) r.field('dns').fail('is only for STRICT_DNS and LOGICAL_DNS clusters');
  if (c.type === 'ORIGINAL_DST' && c.loadAssignment) r.field('loadAssignment').fail('an ORIGINAL_DST cluster has no endpoints (each connection goes to its original destination)');
  // Envoy's rule: ORIGINAL_DST picks its own host, and only it may.
  if ((c.type === 'ORIGINAL_DST') !== (c.lbPolicy === 'CLUSTER_PROVIDED')) {
    r.field('lbPolicy').fail(c.type === 'ORIGINAL_DST' ? 'must be CLUSTER_PROVIDED for an ORIGINAL_DST cluster' : 'CLUSTER_PROVIDED is only for an ORIGINAL_DST cluster');
  }
  const bind = r.field('upstreamBindConfig');
  if (strict(bind, ['sourceAddress'])) c.upstreamBindConfig = { sourceAddress: socketAddress(bind.field('sourceAddress')) };
  const rh = r.field('ringHash');
  if (strict(rh, ['minimumRingSize', 'maximumRingSize'])) {
    c.ringHash = {
      minimumRingSize: rh.field('minimumRingSize').number({ integer: true, min: 1 }) ?? 1024,
      maximumRingSize: rh.field('maximumRingSize').number({ integer: true, min: 1 }) ?? 8_388_608,
    };
  }
  const lr = r.field('leastRequest');
  if (strict(lr, ['choiceCount'])) c.leastRequest = { choiceCount: lr.field('choiceCount').number({ integer: true, min: 2 }) ?? 2 };
  if (r.field('outlierDetection').present) c.outlierDetection = readOutlier(r.field('outlierDetection'));
  if (r.field('transportSocket').present) c.transportSocket = readUpstreamTls(r.field('transportSocket'));
  const mrpc = r.field('maxRequestsPerConnection').number({ integer: true, min: 1 });
  if (mrpc !== undefined) c.maxRequestsPerConnection = mrpc;
  return c;
}

export const DNS_LOOKUP_FAMILIES: readonly DnsLookupFamily[] = ['AUTO', 'V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'ALL'];

function readDns(r: Reader): DnsSettings {
  if (!strict(r, ['refreshRate', 'lookupFamily', 'respectTtl', 'resolvers'])) return { ...DEFAULT_DNS };
  const d: DnsSettings = {
    refreshRate: r.field('refreshRate').duration({ min: 1 }) ?? DEFAULT_DNS.refreshRate,
    lookupFamily: (r.field('lookupFamily').string({ enum: DNS_LOOKUP_FAMILIES }) as DnsLookupFamily) ?? DEFAULT_DNS.lookupFamily,
    respectTtl: r.field('respectTtl').boolean() ?? DEFAULT_DNS.respectTtl,
  };
  if (r.field('resolvers').present) {
    const list = r.field('resolvers').array();
    if (list.length === 0) r.field('resolvers').fail('must list at least one DNS server (or be left out for the system resolver)');
    d.resolvers = list.map((x) => socketAddress(x));
  }
  return d;
}

function readCircuitBreakers(r: Reader): CircuitBreakerThresholds {
  const d = DEFAULT_CIRCUIT_BREAKERS;
  if (!strict(r, ['maxConnections', 'maxPendingRequests', 'maxRequests', 'maxRetries', 'retryBudget'])) return { ...d };
  const cb: CircuitBreakerThresholds = {
    maxConnections: r.field('maxConnections').number({ integer: true, min: 1 }) ?? d.maxConnections,
    maxPendingRequests: r.field('maxPendingRequests').number({ integer: true, min: 0 }) ?? d.maxPendingRequests,
    maxRequests: r.field('maxRequests').number({ integer: true, min: 1 }) ?? d.maxRequests,
    maxRetries: r.field('maxRetries').number({ integer: true, min: 0 }) ?? d.maxRetries,
  };
  const rb = r.field('retryBudget');
  if (strict(rb, ['budgetPercent', 'minRetryConcurrency'])) {
    cb.retryBudget = {
      budgetPercent: rb.field('budgetPercent').number({ min: 0, max: 100 }) ?? 20,
      minRetryConcurrency: rb.field('minRetryConcurrency').number({ integer: true, min: 0 }) ?? 3,
    };
  }
  return cb;
}

function readOutlier(r: Reader): OutlierDetection {
  const keys = ['consecutive5xx', 'consecutiveGatewayFailure', 'consecutiveLocalOriginFailure', 'interval', 'baseEjectionTime', 'maxEjectionTime', 'maxEjectionPercent', 'enforcingConsecutive5xx', 'enforcingConsecutiveGatewayFailure', 'splitExternalLocalOriginErrors'];
  strict(r, keys, true);
  const n = (k: string, def: number, max?: number) => r.field(k).number({ integer: true, min: 0, ...(max !== undefined ? { max } : {}) }) ?? def;
  return {
    consecutive5xx: n('consecutive5xx', 5),
    consecutiveGatewayFailure: n('consecutiveGatewayFailure', 5),
    consecutiveLocalOriginFailure: n('consecutiveLocalOriginFailure', 5),
    interval: r.field('interval').duration({ min: 1 }) ?? 10_000,
    baseEjectionTime: r.field('baseEjectionTime').duration({ min: 1 }) ?? 30_000,
    maxEjectionTime: r.field('maxEjectionTime').duration({ min: 1 }) ?? 300_000,
    maxEjectionPercent: n('maxEjectionPercent', 10, 100),
    enforcingConsecutive5xx: n('enforcingConsecutive5xx', 100, 100),
    enforcingConsecutiveGatewayFailure: n('enforcingConsecutiveGatewayFailure', 0, 100),
    splitExternalLocalOriginErrors: r.field('splitExternalLocalOriginErrors').boolean() ?? false,
  };
}

function readUpstreamTls(r: Reader): UpstreamTlsContext {
  strict(r, ['certificateSecret', 'validationSecret', 'matchSubjectAltNames', 'matchDnsSubjectAltNames', 'sni', 'alpnProtocols', 'params'], true);
  const t: UpstreamTlsContext = {
    validationSecret: r.field('validationSecret').string({ required: true }) ?? '',
    matchSubjectAltNames: r.field('matchSubjectAltNames').array().map(stringMatcher),
    alpnProtocols: stringList(r.field('alpnProtocols')),
    params: strict(r.field('params'), ['minVersion'])
      ? { minVersion: (r.field('params').field('minVersion').string({ enum: ['TLSv1.2', 'TLSv1.3'] }) as 'TLSv1.2') ?? 'TLSv1.2' }
      : { ...DEFAULT_TLS_PARAMS },
  };
  const cs = r.field('certificateSecret').string();
  if (cs !== undefined) t.certificateSecret = cs;
  const sni = r.field('sni').string();
  if (sni !== undefined) t.sni = sni;
  if (r.field('matchDnsSubjectAltNames').present) {
    t.matchDnsSubjectAltNames = stringList(r.field('matchDnsSubjectAltNames'));
    if (t.matchSubjectAltNames.length) r.field('matchDnsSubjectAltNames').fail('a server is identified by SPIFFE ID (matchSubjectAltNames) or by DNS name, not both');
  }
  return t;
}

export function readLoadAssignment(r: Reader, defaultName = ''): ClusterLoadAssignment {
  strict(r, ['clusterName', 'endpoints'], true);
  return {
    clusterName: r.field('clusterName').string() ?? defaultName,
    endpoints: r.field('endpoints').array().map(readEndpoint),
  };
}

function readEndpoint(r: Reader): LbEndpoint {
  strict(r, ['address', 'weight', 'healthStatus', 'priority', 'locality', 'metadata'], true);
  const e: LbEndpoint = {
    address: socketAddress(r.field('address')),
    weight: r.field('weight').number({ integer: true, min: 1, max: 10_000 }) ?? 1,
    healthStatus: (r.field('healthStatus').string({ enum: HEALTH }) as HealthStatus) ?? 'UNKNOWN',
    priority: r.field('priority').number({ integer: true, min: 0 }) ?? 0,
    metadata: metadataMap(r.field('metadata')),
  };
  if (e.address.port === 0 && r.field('address').present) r.field('address').field('port').fail('must be 1–65535 for an endpoint');
  const loc = r.field('locality');
  if (strict(loc, ['region', 'zone', 'subZone'])) {
    e.locality = {};
    for (const k of ['region', 'zone', 'subZone'] as const) {
      const v = loc.field(k).string();
      if (v !== undefined) e.locality[k] = v;
    }
  }
  return e;
}

/** A PEM given inline, or Envoy-style `{ filename }` read from disk (relative to the bootstrap's folder). */
function pem(r: Reader, baseDir: string | undefined): string {
  if (typeof r.value === 'string' || !r.present) return r.string({ required: true }) ?? '';
  strict(r, ['filename'], true);
  const file = r.field('filename').string({ required: true });
  if (!file) return '';
  try {
    return readFileSync(resolve(baseDir ?? '.', file), 'utf8');
  } catch (e) {
    r.field('filename').fail(`cannot read ${file}: ${(e as Error).message}`);
    return '';
  }
}

export function readSecret(r: Reader, baseDir?: string): Secret {
  strict(r, ['name', 'tlsCertificate', 'validationContext'], true);
  const s: Secret = { name: r.field('name').string({ required: true }) ?? '' };
  const tc = r.field('tlsCertificate');
  if (strict(tc, ['certificateChain', 'privateKey'])) {
    s.tlsCertificate = {
      certificateChain: pem(tc.field('certificateChain'), baseDir),
      privateKey: pem(tc.field('privateKey'), baseDir),
    };
  }
  const vc = r.field('validationContext');
  if (strict(vc, ['trustedCa'])) s.validationContext = { trustedCa: pem(vc.field('trustedCa'), baseDir) };
  if (!s.tlsCertificate && !s.validationContext) r.fail('one of tlsCertificate and validationContext must be set');
  return s;
}
