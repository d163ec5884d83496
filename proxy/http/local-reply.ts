// The one place that turns a failure into the response a client sees:
// status, `x-tsmesh-error` code, Envoy response flag, and for gRPC requests
// a trailers-only response with the matching grpc-status.

import type { ResponseFlag } from '../telemetry/types.js';
import type { AttemptFailure } from '../resilience/retry-state.js';

export type LocalReplyKind = 'NO_ROUTE' | 'NO_HEALTHY_UPSTREAM' | 'NO_CLUSTER' | 'CONNECT_FAILURE' | 'UPSTREAM_RESET' | 'TIMEOUT' | 'OVERFLOW' | 'BAD_REQUEST' | 'HEADERS_TOO_LARGE' | 'DRAINING' | 'RATE_LIMITED' | 'FAULT_ABORT' | 'RBAC_DENIED' | 'REGISTRY_ONLY';

export interface LocalReply {
  readonly status: number;
  readonly code: string; // MESH_* error code
  readonly flag: ResponseFlag;
  readonly grpcStatus: number;
  readonly message: string;
  /** Envoy's response code details for it (%RESPONSE_CODE_DETAILS% in access logs). */
  readonly details: string;
}

// gRPC status codes (grpc/status.proto).
const UNAVAILABLE = 14;
const DEADLINE_EXCEEDED = 4;
const UNIMPLEMENTED = 12;
const INTERNAL = 13;
const PERMISSION_DENIED = 7;

export const LOCAL_REPLIES: Readonly<Record<LocalReplyKind, LocalReply>> = {
  NO_ROUTE: { status: 404, code: 'MESH_NO_ROUTE', flag: 'NR', grpcStatus: UNIMPLEMENTED, message: 'no route matched the request', details: 'route_not_found' },
  NO_CLUSTER: { status: 503, code: 'MESH_NO_CLUSTER', flag: 'NR', grpcStatus: UNAVAILABLE, message: 'the route names a cluster that does not exist', details: 'cluster_not_found' },
  NO_HEALTHY_UPSTREAM: { status: 503, code: 'MESH_NO_HEALTHY_UPSTREAM', flag: 'UH', grpcStatus: UNAVAILABLE, message: 'no healthy upstream', details: 'no_healthy_upstream' },
  CONNECT_FAILURE: { status: 503, code: 'MESH_UPSTREAM_CONNECT_FAILURE', flag: 'UF', grpcStatus: UNAVAILABLE, message: 'upstream connect error', details: 'upstream_reset_before_response_started{connection_failure}' },
  UPSTREAM_RESET: { status: 503, code: 'MESH_UPSTREAM_RESET', flag: 'UR', grpcStatus: UNAVAILABLE, message: 'upstream reset before response started', details: 'upstream_reset_before_response_started{remote_reset}' },
  TIMEOUT: { status: 504, code: 'MESH_UPSTREAM_TIMEOUT', flag: 'UT', grpcStatus: DEADLINE_EXCEEDED, message: 'upstream request timeout', details: 'upstream_response_timeout' },
  OVERFLOW: { status: 503, code: 'MESH_UPSTREAM_OVERFLOW', flag: 'UO', grpcStatus: UNAVAILABLE, message: 'upstream overflow', details: 'upstream_reset_before_response_started{overflow}' },
  BAD_REQUEST: { status: 400, code: 'MESH_BAD_REQUEST', flag: 'DPE', grpcStatus: INTERNAL, message: 'bad request', details: 'path_normalization_failed' },
  HEADERS_TOO_LARGE: { status: 431, code: 'MESH_HEADERS_TOO_LARGE', flag: 'DPE', grpcStatus: INTERNAL, message: 'request header fields too large', details: 'request_headers_too_large' },
  RBAC_DENIED: { status: 403, code: 'MESH_RBAC_DENIED', flag: 'UAEX', grpcStatus: PERMISSION_DENIED, message: 'RBAC: access denied', details: 'rbac_access_denied_matched_policy[none]' },
  DRAINING: { status: 503, code: 'MESH_DRAINING', flag: 'LR', grpcStatus: UNAVAILABLE, message: 'the proxy is draining', details: 'proxy_draining' },
  // Envoy's local rate limit filter: 429 with body local_rate_limited (gRPC: UNAVAILABLE).
  RATE_LIMITED: { status: 429, code: 'MESH_RATE_LIMITED', flag: 'RL', grpcStatus: UNAVAILABLE, message: 'local_rate_limited', details: 'local_rate_limited' },
  FAULT_ABORT: { status: 503, code: 'MESH_FAULT_ABORT', flag: 'FI', grpcStatus: UNAVAILABLE, message: 'fault filter abort', details: 'fault_filter_abort' },
  // Istio's block_all: a host outside the registry under outboundTrafficPolicy REGISTRY_ONLY.
  REGISTRY_ONLY: { status: 502, code: 'MESH_REGISTRY_ONLY', flag: 'NR', grpcStatus: UNAVAILABLE, message: 'the destination is not in the service registry (outboundTrafficPolicy REGISTRY_ONLY)', details: 'direct_response' },
};

const faultReplies = new Map<number, LocalReply>();

/** The local reply of a fault abort with a configured HTTP status / gRPC status (cached per pair). */
export function faultAbortReply(httpStatus: number, grpcStatus: number): LocalReply {
  const key = httpStatus * 100 + (grpcStatus < 0 ? 99 : grpcStatus);
  let r = faultReplies.get(key);
  if (r === undefined) {
    const base = LOCAL_REPLIES.FAULT_ABORT;
    r = { ...base, status: httpStatus || base.status, grpcStatus: grpcStatus >= 0 ? grpcStatus : base.grpcStatus };
    if (faultReplies.size < 1024) faultReplies.set(key, r);
  }
  return r;
}

/** Maps an upstream error before response headers to the retry condition it meets. */
export function attemptFailureOf(err: unknown): AttemptFailure {
  const kind = classifyUpstreamError(err);
  if (kind === 'CONNECT_FAILURE') return 'connect-failure';
  if (kind === 'OVERFLOW') return 'overflow';
  const e = err as { code?: string; message?: string } | null;
  // HTTP/2 REFUSED_STREAM: the upstream never processed the stream — an RST_STREAM(REFUSED_STREAM),
  // or a stream above a GOAWAY's last-stream-id (the H2Client reports those so; undici's h2 client
  // is not used upstream because it reports streams it killed on GOAWAY with this code too).
  if (e?.code === 'ERR_HTTP2_STREAM_ERROR' && e.message?.includes('REFUSED_STREAM')) return 'refused-stream';
  return 'reset';
}

/** Maps an upstream error (undici's codes, Node's socket codes) to a local reply kind. */
export function classifyUpstreamError(err: unknown): LocalReplyKind {
  const code = (err as { code?: string } | null)?.code;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'CERT_HAS_EXPIRED':
    case 'MESH_UPSTREAM_IDENTITY':
      return 'CONNECT_FAILURE';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'MESH_UPSTREAM_TIMEOUT':
      return 'TIMEOUT';
    case 'MESH_UPSTREAM_OVERFLOW': // a circuit-breaker limit in the connection pools (connections, pending)
      return 'OVERFLOW';
    default:
      // Any failure while the connection was being set up (a reset during the TLS handshake, say) is a
      // connect failure (Envoy UF), not a reset of a request the upstream had (UR).
      return (err as { connectPhase?: boolean } | null)?.connectPhase === true ? 'CONNECT_FAILURE' : 'UPSTREAM_RESET';
  }
}

// Failures of the TLS layer (OpenSSL's verify codes, Node's TLS errors, the peer identity check).
const TLS_FAILURE = /^(ERR_(TLS|SSL|OSSL)_|MESH_UPSTREAM_IDENTITY$|[A-Z_]*(CERT|SIGNATURE|ISSUER)[A-Z_]*$)/;

/**
 * Envoy's %UPSTREAM_TRANSPORT_FAILURE_REASON%: why a connection failed in its TLS layer ("CODE: message"),
 * undefined for failures below it (refused, unreachable, timed out).
 */
export function transportFailureReason(err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown } | null;
  return typeof e?.code === 'string' && TLS_FAILURE.test(e.code) ? `${e.code}: ${String(e.message)}` : undefined;
}

/** Minimal surface shared by http.ServerResponse and http2's compat response. */
export interface ReplyTarget {
  headersSent: boolean;
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  end(body?: string): unknown;
  /** Present on HTTP/2 responses: lets a trailers-only reply go out as one HEADERS frame with END_STREAM. */
  stream?: { respond(headers: Record<string, string | number>, opts: { endStream: boolean }): void; headersSent: boolean; destroyed: boolean };
}

/** Writes a local reply. gRPC requests get HTTP 200 trailers-only with grpc-status, as Envoy does. */
export function sendLocalReply(res: ReplyTarget, reply: LocalReply, isGrpc: boolean, extra?: Record<string, string>): void {
  if (res.headersSent) return;
  if (isGrpc) {
    const headers = {
      'content-type': 'application/grpc',
      'grpc-status': reply.grpcStatus,
      'grpc-message': encodeURIComponent(reply.message),
      'x-tsmesh-error': reply.code,
      ...extra,
    };
    if (res.stream && !res.stream.destroyed) res.stream.respond({ ':status': 200, ...headers }, { endStream: true });
    else {
      res.writeHead(200, headers);
      res.end();
    }
    return;
  }
  const body = `${reply.message}\n`;
  res.writeHead(reply.status, {
    'content-type': 'text/plain',
    'content-length': Buffer.byteLength(body),
    'x-tsmesh-error': reply.code,
    ...extra,
  });
  res.end(body);
}
