// Envoy's access log format strings (SubstitutionFormatString): a text line
// such as `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"`
// or a JSON object whose values are such strings. A format is compiled once
// (when its config arrives: an unknown command operator refuses the config,
// as Envoy does) into a list of literal and value segments; each log line
// then only reads the request or connection record.
//
// Values that are not known for a record print as `-` in text and `null` in
// JSON, as Envoy's do; a JSON value that is a single operator keeps its type
// (numbers stay numbers).

import { hostname } from 'node:os';
import { MeshError } from '../../common/errors.js';
import type { AccessLogFormat } from '../config/resources.js';
import type { HttpRequestRecord, TcpConnectionRecord } from './types.js';
import { responseFlagsText } from './response-flags.js';

/** What a log line is built from: one HTTP request (or gRPC call) or one TCP connection. */
export type LogRecord = HttpRequestRecord | TcpConnectionRecord;
type Value = string | number | undefined;
type Getter = (r: LogRecord) => Value;

interface Operator {
  get: Getter;
  /** `:N` after the operator: the value is cut to N characters. */
  maxLength?: number;
}
type Segment = string | Operator;

/** A bad format string: `column` is 1-based in the format text. */
export class LogFormatError extends MeshError {
  constructor(
    readonly reason: string,
    readonly column: number,
  ) {
    super('MESH_INVALID_CONFIG', `${reason} (column ${column})`);
  }
}

export interface CompiledLogFormat {
  /** One line, without its newline. */
  render(r: LogRecord): string;
}

/** Envoy's line when a file access log names no format. */
export const ENVOY_DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" ' +
  '"%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/**
 * Istio's default TEXT access log (MeshConfig accessLogEncoding TEXT with no accessLogFormat), the same
 * fields kubectl logs shows for an istio-proxy container.
 */
export const ISTIO_TEXT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% ' +
  '%BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% ' +
  '%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n';

/** Istio's default JSON access log (accessLogEncoding JSON with no accessLogFormat). */
export const ISTIO_JSON_FORMAT: Readonly<Record<string, string>> = {
  start_time: '%START_TIME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER_RAW%',
  upstream_local_address: '%UPSTREAM_LOCAL_ADDRESS%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  route_name: '%ROUTE_NAME%',
};

/**
 * A sidecar's own JSON log when its bootstrap names no format: Istio's JSON fields plus the trace, the
 * attempts, the gRPC status and the downstream peer's SPIFFE ID.
 */
export const DEFAULT_JSON_FORMAT: Readonly<Record<string, string>> = {
  ...ISTIO_JSON_FORMAT,
  upstream_request_attempt_count: '%UPSTREAM_REQUEST_ATTEMPT_COUNT%',
  grpc_status: '%GRPC_STATUS_NUMBER%',
  downstream_peer_uri_san: '%DOWNSTREAM_PEER_URI_SAN%',
  trace_id: '%TRACE_ID%',
};

// ------------------------------------------------------------- operators

const isHttp = (r: LogRecord): r is HttpRequestRecord => (r as HttpRequestRecord).method !== undefined;
const http =
  (f: (r: HttpRequestRecord) => Value): Getter =>
  (r) =>
    isHttp(r) ? f(r) : undefined;
const withoutPort = (a: string | undefined): string | undefined => {
  if (a === undefined) return undefined;
  if (a.startsWith('[')) return a.slice(1, a.indexOf(']'));
  const i = a.lastIndexOf(':');
  return i > 0 && a.indexOf(':') === i ? a.slice(0, i) : a;
};
const remoteAddress = (r: LogRecord): string | undefined => {
  const ip = r.downstreamRemoteAddress;
  if (!ip) return undefined;
  const port = r.downstreamRemotePort;
  if (port === undefined) return ip;
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
};
/** The peer that presented a certificate to this proxy: the client on inbound, the server on outbound. */
const downstreamPeer = (r: LogRecord): string | undefined => (r.direction === 'inbound' ? r.source.principal : undefined) || undefined;
const upstreamPeer = (r: LogRecord): string | undefined => (r.mtls && r.direction === 'outbound' ? r.destination.principal : undefined) || undefined;

// grpc/status.proto names, as Envoy's GRPC_STATUS prints them (CAMEL_STRING, the default, and SNAKE_STRING).
const GRPC_SNAKE = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];
const GRPC_CAMEL = ['OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated'];

let host: string | undefined;

/** Operators without an argument (a value the record has, or `-`). */
const PLAIN: Readonly<Record<string, Getter>> = {
  DURATION: (r) => Math.round(r.durationMs),
  BYTES_RECEIVED: (r) => (isHttp(r) ? r.requestBytes : r.bytesReceived),
  BYTES_SENT: (r) => (isHttp(r) ? r.responseBytes : r.bytesSent),
  PROTOCOL: http((r) => r.httpVersion),
  RESPONSE_CODE: (r) => (isHttp(r) ? r.responseCode : 0),
  RESPONSE_CODE_DETAILS: http((r) => r.responseCodeDetails),
  RESPONSE_FLAGS: (r) => responseFlagsText(r.responseFlags),
  CONNECTION_TERMINATION_DETAILS: (r) => r.connectionTerminationDetails,
  UPSTREAM_TRANSPORT_FAILURE_REASON: (r) => r.upstreamTransportFailureReason,
  UPSTREAM_HOST: (r) => r.upstreamHost,
  UPSTREAM_CLUSTER: (r) => r.clusterName,
  UPSTREAM_CLUSTER_RAW: (r) => r.clusterName,
  UPSTREAM_LOCAL_ADDRESS: (r) => r.upstreamLocalAddress,
  DOWNSTREAM_LOCAL_ADDRESS: (r) => r.downstreamLocalAddress,
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (r) => withoutPort(r.downstreamLocalAddress),
  DOWNSTREAM_REMOTE_ADDRESS: remoteAddress,
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (r) => r.downstreamRemoteAddress || undefined,
  DOWNSTREAM_PEER_URI_SAN: downstreamPeer,
  UPSTREAM_PEER_URI_SAN: upstreamPeer,
  REQUESTED_SERVER_NAME: (r) => r.requestedServerName,
  ROUTE_NAME: http((r) => r.routeName),
  UPSTREAM_REQUEST_ATTEMPT_COUNT: (r) => (isHttp(r) ? r.attempts : r.upstreamHost !== undefined ? 1 : 0),
  GRPC_STATUS_NUMBER: http((r) => r.grpcStatus),
  TRACE_ID: http((r) => r.traceId),
  HOSTNAME: () => (host ??= hostname()),
};

/** Envoy's %REQ(…)% pseudo-headers, read from the record (HTTP/1.1 requests have no such fields). */
const PSEUDO: Readonly<Record<string, (r: HttpRequestRecord) => Value>> = {
  ':method': (r) => r.method,
  ':path': (r) => r.url ?? r.path,
  ':authority': (r) => r.authority || undefined,
  ':scheme': (r) => r.scheme,
};

function header(r: HttpRequestRecord, name: string): string | undefined {
  const v = r.requestHeaders?.[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function headerGetter(kind: 'REQ' | 'RESP', arg: string, column: number): Getter {
  const names = arg.split('?');
  if (names.length > 2 || names.some((n) => !/^:?[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(n))) {
    throw new LogFormatError(`%${kind}(…)% takes a header name, or two as NAME?ALTERNATIVE, got "${arg}"`, column);
  }
  const lower = names.map((n) => n.toLowerCase());
  const one = (name: string): ((r: HttpRequestRecord) => Value) => {
    if (kind === 'REQ') {
      const pseudo = PSEUDO[name];
      if (name.startsWith(':')) {
        if (pseudo === undefined) throw new LogFormatError(`unknown pseudo-header ${name} (known: ${Object.keys(PSEUDO).join(', ')})`, column);
        return pseudo;
      }
      // The request id the proxy generated is the request's header from then on, as in Envoy.
      if (name === 'x-request-id') return (r) => header(r, name) ?? r.requestId;
      return (r) => header(r, name);
    }
    if (name.startsWith(':')) {
      if (name !== ':status') throw new LogFormatError(`unknown response pseudo-header ${name}`, column);
      return (r) => (r.responseCode === 0 ? undefined : r.responseCode);
    }
    return (r) => {
      const h = r.responseHeaders;
      if (h === undefined) return undefined;
      for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
      return undefined;
    };
  };
  const first = one(lower[0]!);
  const alt = lower[1] !== undefined ? one(lower[1]) : undefined;
  return http(alt === undefined ? first : (r) => first(r) ?? alt(r));
}

function grpcStatusGetter(arg: string | undefined, column: number): Getter {
  const fmt = arg ?? 'CAMEL_STRING';
  if (fmt === 'NUMBER') return PLAIN.GRPC_STATUS_NUMBER!;
  if (fmt !== 'CAMEL_STRING' && fmt !== 'SNAKE_STRING') throw new LogFormatError(`%GRPC_STATUS(…)% takes CAMEL_STRING, SNAKE_STRING or NUMBER, got "${fmt}"`, column);
  const names = fmt === 'CAMEL_STRING' ? GRPC_CAMEL : GRPC_SNAKE;
  return http((r) => (r.grpcStatus === undefined ? undefined : (names[r.grpcStatus] ?? r.grpcStatus)));
}

// ------------------------------------------------------------- START_TIME

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Envoy's START_TIME(…) takes strftime; these are the specifiers a log line needs (always UTC, as Envoy). */
function startTimeGetter(arg: string | undefined, column: number): Getter {
  if (arg === undefined || arg === '') return (r) => new Date(r.startTime).toISOString();
  const parts: ((d: Date, ms: number) => string)[] = [];
  for (let i = 0; i < arg.length; i++) {
    const c = arg[i]!;
    if (c !== '%') {
      parts.push(() => c);
      continue;
    }
    let spec = arg[++i];
    let digits = 9;
    if (spec !== undefined && spec >= '1' && spec <= '9' && arg[i + 1] === 'f') {
      digits = Number(spec);
      spec = arg[++i];
    }
    switch (spec) {
      case 'Y': parts.push((d) => String(d.getUTCFullYear())); break;
      case 'm': parts.push((d) => pad(d.getUTCMonth() + 1)); break;
      case 'd': parts.push((d) => pad(d.getUTCDate())); break;
      case 'H': parts.push((d) => pad(d.getUTCHours())); break;
      case 'M': parts.push((d) => pad(d.getUTCMinutes())); break;
      case 'S': parts.push((d) => pad(d.getUTCSeconds())); break;
      case 'z': parts.push(() => '+0000'); break;
      case 'Z': parts.push(() => 'UTC'); break;
      case 's': parts.push((_d, ms) => String(Math.floor(ms / 1000))); break;
      case 'f': {
        const w = digits;
        // Milliseconds are what the record has; finer digits are zeros.
        parts.push((_d, ms) => pad(((ms % 1000) + 1000) % 1000, 3).padEnd(9, '0').slice(0, w));
        break;
      }
      case '%': parts.push(() => '%'); break;
      default:
        throw new LogFormatError(`START_TIME: unsupported strftime specifier %${spec ?? ''} (supported: %Y %m %d %H %M %S %z %Z %s %f %1f…%9f %%)`, column);
    }
  }
  return (r) => {
    const d = new Date(r.startTime);
    let out = '';
    for (const p of parts) out += p(d, r.startTime);
    return out;
  };
}

// ------------------------------------------------------------- parsing

const OPERATOR = /^([A-Z][A-Z0-9_]*)(?:\(([^)]*)\))?(?::(\d+))?%/;

/** One operator at `text[at]` (just after its opening '%'); returns it and where the text goes on. */
function parseOperator(text: string, at: number, column: number): { op: Operator; next: number } {
  const m = OPERATOR.exec(text.slice(at));
  if (m === null) throw new LogFormatError(`a command operator must look like %NAME%, %NAME(ARG)% or %NAME(ARG):LENGTH% (a literal % is written %%)`, column);
  const [all, name, arg, len] = m as unknown as [string, string, string | undefined, string | undefined];
  let get: Getter;
  if (name === 'REQ' || name === 'RESP') {
    if (arg === undefined || arg === '') throw new LogFormatError(`%${name}(HEADER)% needs a header name`, column);
    get = headerGetter(name, arg, column);
  } else if (name === 'START_TIME') get = startTimeGetter(arg, column);
  else if (name === 'GRPC_STATUS') get = grpcStatusGetter(arg, column);
  else {
    const plain = PLAIN[name];
    if (plain === undefined) throw new LogFormatError(`unknown or unsupported command operator %${name}% (supported: ${[...Object.keys(PLAIN), 'START_TIME', 'REQ', 'RESP', 'GRPC_STATUS'].sort().join(', ')})`, column);
    if (arg !== undefined) throw new LogFormatError(`%${name}% takes no argument`, column);
    get = plain;
  }
  const op: Operator = { get };
  if (len !== undefined) {
    const n = Number(len);
    if (n < 1) throw new LogFormatError(`%${name}%: the length after ':' must be at least 1`, column);
    op.maxLength = n;
  }
  return { op, next: at + all.length };
}

/** A format string as literal text and operators; `base` is the column of text[0] (for nested JSON values). */
function parseSegments(text: string, base = 1): Segment[] {
  const out: Segment[] = [];
  let lit = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '%') {
      lit += c;
      i++;
      continue;
    }
    if (text[i + 1] === '%') {
      lit += '%';
      i += 2;
      continue;
    }
    const { op, next } = parseOperator(text, i + 1, base + i);
    if (lit) out.push(lit);
    lit = '';
    out.push(op);
    i = next;
  }
  if (lit) out.push(lit);
  return out;
}

function valueOf(op: Operator, r: LogRecord): Value {
  const v = op.get(r);
  if (v === undefined || v === '' || op.maxLength === undefined) return v === '' ? undefined : v;
  const s = String(v);
  return s.length > op.maxLength ? s.slice(0, op.maxLength) : v;
}

function renderSegments(segs: readonly Segment[], r: LogRecord): string {
  let out = '';
  for (const s of segs) {
    if (typeof s === 'string') out += s;
    else {
      const v = valueOf(s, r);
      out += v === undefined ? '-' : v;
    }
  }
  return out;
}

/** Compiles Envoy's text format (text_format_source); the trailing newline is the log's, not the format's. */
export function compileTextFormat(format: string): CompiledLogFormat {
  if (format.length > 16 * 1024) throw new LogFormatError('the format is longer than 16 KiB', 1);
  const segs = parseSegments(format.endsWith('\n') ? format.slice(0, -1) : format);
  if (segs.some((s) => typeof s === 'string' && s.includes('\n'))) {
    throw new LogFormatError('a newline inside the format would split each entry over several lines', format.indexOf('\n') + 1);
  }
  return { render: (r) => renderSegments(segs, r) };
}

/** A JSON format value: literal, nested object, or a format string (a lone operator keeps its type). */
type JsonNode = { kind: 'lit'; value: unknown } | { kind: 'op'; op: Operator } | { kind: 'text'; segs: Segment[] } | { kind: 'obj'; keys: string[]; nodes: JsonNode[] };

/** A JSON format problem: `path` is the key path inside the format object. */
export class JsonLogFormatError extends MeshError {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super('MESH_INVALID_CONFIG', `${path}: ${reason}`);
  }
}

function compileJsonNode(v: unknown, path: string, depth: number): JsonNode {
  if (typeof v === 'string') {
    let segs: Segment[];
    try {
      segs = parseSegments(v);
    } catch (err) {
      throw err instanceof LogFormatError ? new JsonLogFormatError(path, err.message) : err;
    }
    if (segs.length === 1 && typeof segs[0] !== 'string') return { kind: 'op', op: segs[0]! };
    return segs.every((s) => typeof s === 'string') ? { kind: 'lit', value: segs.join('') } : { kind: 'text', segs };
  }
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return { kind: 'lit', value: v };
  if (typeof v === 'object' && !Array.isArray(v)) {
    if (depth >= 8) throw new JsonLogFormatError(path, 'nested deeper than 8 levels');
    const keys = Object.keys(v as object);
    if (keys.length > 256) throw new JsonLogFormatError(path, 'more than 256 keys');
    return { kind: 'obj', keys, nodes: keys.map((k) => compileJsonNode((v as Record<string, unknown>)[k], path ? `${path}.${k}` : k, depth + 1)) };
  }
  throw new JsonLogFormatError(path, `a JSON format value must be a string, number, boolean or object, got ${Array.isArray(v) ? 'a list' : typeof v}`);
}

function evalJsonNode(n: JsonNode, r: LogRecord, omitEmpty: boolean): unknown {
  switch (n.kind) {
    case 'lit':
      return n.value;
    case 'op':
      return valueOf(n.op, r) ?? null;
    case 'text':
      return renderSegments(n.segs, r);
    case 'obj': {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < n.keys.length; i++) {
        const v = evalJsonNode(n.nodes[i]!, r, omitEmpty);
        if (omitEmpty && (v === null || v === '')) continue;
        o[n.keys[i]!] = v;
      }
      return o;
    }
  }
}

/** Compiles Envoy's json_format (a Struct of format strings); `omitEmpty` is omit_empty_values. */
export function compileJsonFormat(format: Readonly<Record<string, unknown>>, omitEmpty = false): CompiledLogFormat {
  if (typeof format !== 'object' || format === null || Array.isArray(format)) throw new JsonLogFormatError('(format)', 'must be an object of field names to format strings');
  const root = compileJsonNode(format, '', 0);
  return { render: (r) => JSON.stringify(evalJsonNode(root, r, omitEmpty)) };
}

/** Compiles a sink's format (absent: Envoy's default line). */
export function compileLogFormat(f: AccessLogFormat | undefined): CompiledLogFormat {
  if (f === undefined) return compileTextFormat(ENVOY_DEFAULT_FORMAT);
  return 'text' in f ? compileTextFormat(f.text) : compileJsonFormat(f.json, f.omitEmptyValues);
}

/**
 * Why a format cannot be written, for config readers to report at their own field: the reason (with the
 * column for text) and, in a JSON format, the key path of the bad value ('' for text). Undefined: it compiles.
 */
export function logFormatProblem(f: AccessLogFormat): { path: string; reason: string } | undefined {
  try {
    compileLogFormat(f);
    return undefined;
  } catch (err) {
    if (err instanceof JsonLogFormatError) return { path: err.path, reason: err.reason };
    if (err instanceof LogFormatError) return { path: '', reason: err.message };
    throw err;
  }
}
