// Small conversions between domain values and the protobuf object form
// (snake_case fields, Any as { '@type': url, ...fields }, Duration as
// { seconds, nanos }, wrappers as { value }). Shared by every resource codec.

import type { Reader } from '../../../common/reader.js';
import type {
  HeaderMatcher,
  HeaderMutations,
  HeaderValueOption,
  SocketAddress,
  StringMatcher,
} from '../../config/resources.js';

export type PObj = Record<string, unknown>;

/** Envoy type URLs of the typed_config payloads tsmesh reads and writes. */
export const T = {
  hcm: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  tcpProxy: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  rbac: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  fault: 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
  localRateLimit: 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
  downstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  upstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  httpProtocolOptions: 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  tlsInspector: 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  httpInspector: 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector',
  previousHosts: 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate',
  peakEwma: 'type.googleapis.com/tsmesh.lb.v1.PeakEwma',
  fileAccessLog: 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
  caresDnsResolver: 'type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig',
  getaddrinfoDnsResolver: 'type.googleapis.com/envoy.extensions.network.dns_resolver.getaddrinfo.v3.GetAddrInfoDnsResolverConfig',
} as const;

/** Envoy's well-known extension names. */
export const NAMES = {
  hcm: 'envoy.filters.network.http_connection_manager',
  tcpProxy: 'envoy.filters.network.tcp_proxy',
  tls: 'envoy.transport_sockets.tls',
  tlsInspector: 'envoy.filters.listener.tls_inspector',
  httpInspector: 'envoy.filters.listener.http_inspector',
  fault: 'envoy.filters.http.fault',
  fileAccessLog: 'envoy.access_loggers.file',
  localRateLimit: 'envoy.filters.http.local_ratelimit',
  httpProtocolOptions: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  previousHosts: 'envoy.retry_host_predicates.previous_hosts',
  peakEwma: 'tsmesh.lb.peak_ewma',
  caresDnsResolver: 'envoy.network.dns_resolver.cares',
  /** filter_metadata namespace for tsmesh-only values. */
  metadata: 'tsmesh',
} as const;

/** Config sources always point back at the ADS stream. */
export const ADS_SOURCE: PObj = { ads: {}, resource_api_version: 'V3' };

export function duration(ms: number): PObj {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return nanos ? { seconds, nanos } : { seconds };
}

export function u32(value: number | undefined): PObj | undefined {
  return value === undefined ? undefined : { value };
}

/** 0–100 percent (fractions allowed) → FractionalPercent with the coarsest exact denominator. */
export function fractionalPercent(percent: number): PObj {
  if (Number.isInteger(percent)) return { numerator: percent, denominator: 'HUNDRED' };
  if (Number.isInteger(percent * 100)) return { numerator: Math.round(percent * 100), denominator: 'TEN_THOUSAND' };
  return { numerator: Math.round(percent * 10_000), denominator: 'MILLION' };
}

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

export function readFractionalPercent(r: Reader): number | undefined {
  if (!r.object()) return undefined;
  const num = r.field('numerator').number({ integer: true, min: 0 }) ?? 0;
  const den = r.field('denominator').string({ enum: Object.keys(DENOMINATORS) }) ?? 'HUNDRED';
  const pct = (num * 100) / DENOMINATORS[den]!;
  return Math.min(100, Math.round(pct * 1e6) / 1e6);
}

export function readU32(r: Reader, opts: { min?: number; max?: number } = {}): number | undefined {
  if (!r.object()) return undefined;
  return r.field('value').number({ integer: true, min: opts.min ?? 0, max: opts.max ?? 0xffffffff }) ?? 0;
}

export function readBoolValue(r: Reader): boolean | undefined {
  if (!r.object()) return undefined;
  return r.field('value').boolean() ?? false;
}

export function readPercent(r: Reader): number | undefined {
  if (!r.object()) return undefined;
  return r.field('value').number({ min: 0, max: 100 }) ?? 0;
}

/** The `@type` of an expanded Any, or an issue when absent or of a type we did not load. */
export function anyType(r: Reader, required = true): string | undefined {
  if (!r.object(required)) return undefined;
  const t = r.field('@type').string();
  if (t === undefined) {
    const raw = r.field('type_url').string();
    return r.fail(raw ? `unsupported typed_config type ${raw}` : 'typed_config has no type');
  }
  return t;
}

// ------------------------------------------------------------- addresses

export function socketAddress(a: SocketAddress): PObj {
  return { socket_address: { address: a.address, port_value: a.port } };
}

export function readAddress(r: Reader): SocketAddress | undefined {
  if (!r.object(true)) return undefined;
  const sa = r.field('socket_address');
  if (!sa.object(true)) return undefined;
  const address = sa.field('address').string({ required: true, maxLength: 253 });
  const port = sa.field('port_value').number({ integer: true, min: 0, max: 65535 }) ?? 0;
  if (sa.field('protocol').present && sa.field('protocol').value !== 'TCP') sa.field('protocol').fail('only TCP is supported');
  return address === undefined ? undefined : { address, port };
}

// ------------------------------------------------------------- matchers

export function stringMatcher(m: StringMatcher): PObj {
  const o: PObj = {};
  if (m.exact !== undefined) o.exact = m.exact;
  else if (m.prefix !== undefined) o.prefix = m.prefix;
  else if (m.suffix !== undefined) o.suffix = m.suffix;
  else if (m.contains !== undefined) o.contains = m.contains;
  else if (m.safeRegex !== undefined) o.safe_regex = { regex: m.safeRegex };
  if (m.ignoreCase) o.ignore_case = true;
  return o;
}

export function readStringMatcher(r: Reader): StringMatcher | undefined {
  if (!r.object(true)) return undefined;
  const m: StringMatcher = {};
  const set = ['exact', 'prefix', 'suffix', 'contains', 'safe_regex'].filter((k) => r.field(k).present);
  if (set.length !== 1) return r.fail(`exactly one of exact, prefix, suffix, contains, safe_regex must be set (got ${set.length})`);
  if (r.field('exact').present) m.exact = r.field('exact').string();
  if (r.field('prefix').present) m.prefix = r.field('prefix').string();
  if (r.field('suffix').present) m.suffix = r.field('suffix').string();
  if (r.field('contains').present) m.contains = r.field('contains').string();
  if (r.field('safe_regex').present) m.safeRegex = readRegex(r.field('safe_regex'));
  if (r.field('ignore_case').boolean()) m.ignoreCase = true;
  return m;
}

/** RegexMatcher → pattern, checked to compile (JavaScript syntax is close to RE2 for the patterns meshes use). */
export function readRegex(r: Reader): string | undefined {
  if (!r.object(true)) return undefined;
  const re = r.field('regex').string({ required: true, maxLength: 1024 });
  if (re === undefined) return undefined;
  try {
    new RegExp(re);
  } catch (err) {
    return r.field('regex').fail(`invalid regular expression: ${(err as Error).message}`);
  }
  return re;
}

export function headerMatcher(h: HeaderMatcher): PObj {
  const o: PObj = { name: h.name };
  if (h.stringMatch) o.string_match = stringMatcher(h.stringMatch);
  else o.present_match = h.presentMatch ?? true;
  if (h.invertMatch) o.invert_match = true;
  return o;
}

const LEGACY_HEADER_MATCH: Record<string, keyof StringMatcher> = {
  exact_match: 'exact',
  prefix_match: 'prefix',
  suffix_match: 'suffix',
  contains_match: 'contains',
};

export function readHeaderMatcher(r: Reader): HeaderMatcher | undefined {
  if (!r.object(true)) return undefined;
  const name = r.field('name').string({ required: true, maxLength: 256 });
  const h: HeaderMatcher = { name: name?.toLowerCase() ?? '' };
  if (r.field('string_match').present) h.stringMatch = readStringMatcher(r.field('string_match'));
  else if (r.field('safe_regex_match').present) h.stringMatch = { safeRegex: readRegex(r.field('safe_regex_match')) };
  else {
    const legacy = Object.keys(LEGACY_HEADER_MATCH).find((k) => r.field(k).present);
    if (legacy) h.stringMatch = { [LEGACY_HEADER_MATCH[legacy]!]: r.field(legacy).string() ?? '' };
    else h.presentMatch = r.field('present_match').boolean() ?? true;
  }
  if (r.field('invert_match').boolean()) h.invertMatch = true;
  return h;
}

// ------------------------------------------------------------- header mutations

export function headerValueOptions(list: readonly HeaderValueOption[]): PObj[] {
  return list.map((h) => ({
    header: { key: h.header.key, value: h.header.value },
    ...(h.appendAction !== 'APPEND_IF_EXISTS_OR_ADD' ? { append_action: h.appendAction } : {}),
  }));
}

const APPEND_ACTIONS = ['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD'] as const;

export function readHeaderValueOptions(r: Reader): HeaderValueOption[] {
  const out: HeaderValueOption[] = [];
  for (const e of r.array()) {
    if (!e.object(true)) continue;
    const key = e.field('header').field('key').string({ required: true, maxLength: 256 });
    const value = e.field('header').field('value').string() ?? '';
    let appendAction = (e.field('append_action').string({ enum: APPEND_ACTIONS }) ?? 'APPEND_IF_EXISTS_OR_ADD') as HeaderValueOption['appendAction'];
    // The deprecated `append: false` meant overwrite.
    if (!e.field('append_action').present && readBoolValue(e.field('append')) === false) appendAction = 'OVERWRITE_IF_EXISTS_OR_ADD';
    if (key !== undefined) out.push({ header: { key: key.toLowerCase(), value }, appendAction });
  }
  return out;
}

function stringList(r: Reader): string[] {
  return r.array().map((e) => e.string({ required: true, maxLength: 256 }) ?? '');
}

/** The four header-mutation lists, which route config, virtual host, route and weighted cluster share. */
export function headerMutations(m: HeaderMutations): PObj {
  const o: PObj = {};
  if (m.requestHeadersToAdd.length) o.request_headers_to_add = headerValueOptions(m.requestHeadersToAdd);
  if (m.requestHeadersToRemove.length) o.request_headers_to_remove = [...m.requestHeadersToRemove];
  if (m.responseHeadersToAdd.length) o.response_headers_to_add = headerValueOptions(m.responseHeadersToAdd);
  if (m.responseHeadersToRemove.length) o.response_headers_to_remove = [...m.responseHeadersToRemove];
  return o;
}

export function readHeaderMutations(r: Reader): HeaderMutations {
  return {
    requestHeadersToAdd: readHeaderValueOptions(r.field('request_headers_to_add')),
    requestHeadersToRemove: stringList(r.field('request_headers_to_remove')),
    responseHeadersToAdd: readHeaderValueOptions(r.field('response_headers_to_add')),
    responseHeadersToRemove: stringList(r.field('response_headers_to_remove')),
  };
}

// ------------------------------------------------------------- Struct metadata

/** Flat string labels → google.protobuf.Struct. */
export function struct(labels: Record<string, string>): PObj {
  const fields: PObj = {};
  for (const [k, v] of Object.entries(labels)) fields[k] = { stringValue: v }; // protobufjs's bundled struct.proto uses camelCase names
  return { fields };
}

/** google.protobuf.Struct → flat string labels (non-string values are stringified). */
export function readStruct(r: Reader): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of r.field('fields').entries()) {
    if (!v.object()) continue;
    const val = v.value as PObj;
    if (typeof val.stringValue === 'string') out[k] = val.stringValue;
    else if (val.numberValue !== undefined) out[k] = String(val.numberValue);
    else if (val.boolValue !== undefined) out[k] = String(val.boolValue);
  }
  return out;
}

/** A JSON object (strings, numbers, booleans, null, nested objects and lists) → google.protobuf.Struct. */
export function structOf(obj: Readonly<Record<string, unknown>>): PObj {
  const fields: PObj = {};
  for (const [k, v] of Object.entries(obj)) fields[k] = structValue(v);
  return { fields };
}

function structValue(v: unknown): PObj {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(structValue) } };
  if (v !== null && typeof v === 'object') return { structValue: structOf(v as Record<string, unknown>) };
  return { nullValue: 0 };
}

/** google.protobuf.Struct → a JSON object, nested values kept (depth-bounded). */
export function readStructObject(r: Reader, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (depth > 16) {
    r.fail('nested deeper than 16 levels');
    return out;
  }
  for (const [k, v] of r.field('fields').entries()) out[k] = readStructValue(v, depth);
  return out;
}

function readStructValue(v: Reader, depth: number): unknown {
  if (!v.object()) return null;
  const val = v.value as PObj;
  if (typeof val.stringValue === 'string') return val.stringValue;
  if (val.numberValue !== undefined) return Number(val.numberValue);
  if (val.boolValue !== undefined) return Boolean(val.boolValue);
  if (val.structValue !== undefined) return readStructObject(v.field('structValue'), depth + 1);
  if (val.listValue !== undefined) return v.field('listValue').field('values').array().map((x) => readStructValue(x, depth + 1));
  return null;
}

/** Metadata { filter_metadata: { tsmesh: Struct } } for tsmesh labels. */
export function tsmeshMetadata(labels: Record<string, string>): PObj | undefined {
  return Object.keys(labels).length ? { filter_metadata: { [NAMES.metadata]: struct(labels) } } : undefined;
}

export function readTsmeshMetadata(r: Reader): Record<string, string> {
  if (!r.object()) return {};
  const s = r.field('filter_metadata').field(NAMES.metadata);
  return s.object() ? readStruct(s) : {};
}
