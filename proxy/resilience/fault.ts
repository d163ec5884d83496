// Envoy's HTTP fault filter for one route: for a share of requests (optionally
// only those whose headers match) add a fixed delay (flag DI) and/or answer at
// once with an abort (flag FI): an HTTP status, or for gRPC requests a gRPC
// status in a trailers-only response. Decisions are prebuilt, immutable
// objects: deciding allocates nothing.

import type { FaultPolicy } from '../config/resources.js';
import type { ResponseFlag } from '../telemetry/types.js';
import { grpcStatusForHttp } from './grpc-status.js';
import { compileHeaderMatchers, type HeaderPredicate, type HeaderRecord } from './header-match.js';

export { grpcStatusForHttp };

export interface FaultDecision {
  /** Delay before proceeding, ms (0 = none). */
  readonly delayMs: number;
  /** Abort with this HTTP status (0 = no abort): 200 for gRPC requests (trailers-only with grpc-status),
   * 503 for a plain HTTP request when only a gRPC status is configured. */
  readonly abortStatus: number;
  /** grpc-status for an aborted gRPC request (-1 = no abort). */
  readonly grpcStatus: number;
  readonly flags: readonly ResponseFlag[];
}

export class FaultInjector {
  private readonly match: HeaderPredicate | undefined;
  private readonly delayPercent: number;
  private readonly abortPercent: number;
  private readonly decisions: FaultDecision[];

  constructor(
    policy: FaultPolicy,
    private readonly random: () => number = Math.random,
  ) {
    this.match = compileHeaderMatchers(policy.headers);
    this.delayPercent = policy.delay ? policy.delay.percent : 0;
    this.abortPercent = policy.abort ? policy.abort.percent : 0;
    const delayMs = policy.delay?.fixedDelay ?? 0;
    const grpc = policy.abort?.grpcStatus ?? (policy.abort?.httpStatus ? grpcStatusForHttp(policy.abort.httpStatus) : -1);
    const make = (delay: boolean, abort: boolean, isGrpc: boolean): FaultDecision =>
      Object.freeze({
        delayMs: delay ? delayMs : 0,
        abortStatus: abort ? (isGrpc ? 200 : policy.abort?.httpStatus ?? 503) : 0,
        grpcStatus: abort && isGrpc ? grpc : -1,
        flags: Object.freeze([...(delay ? (['DI'] as const) : []), ...(abort ? (['FI'] as const) : [])]),
      });
    // index: delay | abort << 1 | grpc << 2
    this.decisions = [];
    for (let i = 0; i < 8; i++) this.decisions.push(make((i & 1) !== 0, (i & 2) !== 0, (i & 4) !== 0));
  }

  /** The fault for this request, or undefined for none. */
  decide(headers: HeaderRecord, isGrpc: boolean): FaultDecision | undefined {
    if (this.match !== undefined && !this.match(headers)) return undefined;
    const delay = this.delayPercent > 0 && this.random() * 100 < this.delayPercent;
    const abort = this.abortPercent > 0 && this.random() * 100 < this.abortPercent;
    if (!delay && !abort) return undefined;
    return this.decisions[(delay ? 1 : 0) | (abort ? 2 : 0) | (isGrpc ? 4 : 0)];
  }
}
