// Typed errors of the resilience layer. Each carries what the one
// error-to-response mapper needs: HTTP status, gRPC status and Envoy's
// response flag. Created only when a limit is hit, never on the happy path.

import { MeshError } from '../../common/errors.js';
import type { ResponseFlag } from '../telemetry/types.js';

export type OverflowResource = 'connections' | 'pendingRequests' | 'requests' | 'retries';

/** A circuit-breaker limit was reached: answer 503 at once (flag UO), never queue. */
export class CircuitBreakerOverflowError extends MeshError {
  readonly status = 503;
  readonly grpcStatus = 14; // UNAVAILABLE
  readonly flag: ResponseFlag = 'UO';
  constructor(
    readonly cluster: string,
    readonly resource: OverflowResource,
    readonly limit: number,
  ) {
    super('MESH_UPSTREAM_OVERFLOW', `cluster ${cluster}: ${resource} limit ${limit} reached (circuit breaker)`);
  }
}

/** The local rate limit refused the request: 429 with retry-after (flag RL). */
export class RateLimitedError extends MeshError {
  readonly status = 429;
  readonly grpcStatus = 14; // Envoy maps 429 to UNAVAILABLE
  readonly flag: ResponseFlag = 'RL';
  constructor(readonly retryAfterSeconds: number) {
    super('MESH_RATE_LIMITED', `local rate limit exceeded; retry after ${retryAfterSeconds}s`);
  }
}

export type TimeoutKind = 'route' | 'perTry' | 'idle' | 'perTryIdle';

/** A request or attempt ran out of time: 504 / DEADLINE_EXCEEDED (flag UT). */
export class UpstreamTimeoutError extends MeshError {
  readonly status = 504;
  readonly grpcStatus = 4; // DEADLINE_EXCEEDED
  readonly flag: ResponseFlag = 'UT';
  constructor(readonly kind: TimeoutKind, readonly timeoutMs: number) {
    super('MESH_UPSTREAM_TIMEOUT', `upstream ${kind} timeout after ${timeoutMs} ms`);
  }
}
