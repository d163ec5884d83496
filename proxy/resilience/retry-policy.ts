// Envoy's retry policy compiled once per route: retry_on conditions parsed
// into a bitmask (entries may also be comma-separated, as in Envoy's YAML and
// the x-envoy-retry-on header), retriable status codes into a lookup table.
// Validation collects every problem with its field path; the config readers
// call validateRetryPolicy(), the request path uses compileRetryPolicy().

import { ValidationError, type ValidationIssue } from '../../common/errors.js';
import type { RetryPolicy } from '../config/resources.js';

export const RETRY_ON = {
  '5xx': 1 << 0,
  'gateway-error': 1 << 1,
  reset: 1 << 2,
  'connect-failure': 1 << 3,
  'refused-stream': 1 << 4,
  'retriable-status-codes': 1 << 5,
  'retriable-4xx': 1 << 6,
  cancelled: 1 << 7,
  'deadline-exceeded': 1 << 8,
  internal: 1 << 9,
  'resource-exhausted': 1 << 10,
  unavailable: 1 << 11,
} as const;

export type RetryOnName = keyof typeof RETRY_ON;

/** gRPC status code for each gRPC retry_on condition. */
export const GRPC_RETRY_STATUS: ReadonlyArray<readonly [number, number]> = [
  [1, RETRY_ON.cancelled],
  [4, RETRY_ON['deadline-exceeded']],
  [13, RETRY_ON.internal],
  [8, RETRY_ON['resource-exhausted']],
  [14, RETRY_ON.unavailable],
];

/** Envoy defaults. */
export const RETRY_DEFAULTS = { numRetries: 1, baseIntervalMs: 25, maxIntervalFactor: 10 } as const;
/** Upper bounds that keep a policy from multiplying load without end. */
export const RETRY_LIMITS = { maxNumRetries: 100, maxRetryOnEntries: 64, maxEntryLength: 256 } as const;

export interface CompiledRetryPolicy {
  readonly retryOn: number;
  readonly numRetries: number;
  readonly perTryTimeout: number; // 0 = none
  readonly perTryIdleTimeout: number; // 0 = none
  /** retriable[status] = 1 when retriable-status-codes lists it. */
  readonly retriableStatus: Uint8Array;
  readonly baseInterval: number;
  readonly maxInterval: number;
  readonly retryOtherHosts: boolean;
  /** Request bodies up to this many bytes are buffered for replay; larger ones are not retried. */
  readonly maxBufferBytes: number;
}

/** Parse retry_on entries; unknown or empty conditions become issues (path `<path>[i]`). */
export function parseRetryOn(entries: readonly string[], path = 'retryOn'): { mask: number; issues: ValidationIssue[] } {
  const issues: ValidationIssue[] = [];
  let mask = 0;
  if (entries.length > RETRY_LIMITS.maxRetryOnEntries) {
    issues.push({ path, message: `at most ${RETRY_LIMITS.maxRetryOnEntries} entries` });
    return { mask, issues };
  }
  entries.forEach((entry, i) => {
    if (typeof entry !== 'string' || entry.length > RETRY_LIMITS.maxEntryLength) {
      issues.push({ path: `${path}[${i}]`, message: `must be a string of at most ${RETRY_LIMITS.maxEntryLength} characters` });
      return;
    }
    for (const raw of entry.split(',')) {
      const name = raw.trim();
      const bit = Object.prototype.hasOwnProperty.call(RETRY_ON, name) ? RETRY_ON[name as RetryOnName] : undefined;
      if (bit === undefined) {
        issues.push({
          path: `${path}[${i}]`,
          message: `unknown retry condition ${JSON.stringify(name)} (expected one of ${Object.keys(RETRY_ON).join(', ')})`,
        });
      } else mask |= bit;
    }
  });
  return { mask, issues };
}

/** Every problem in a retry policy, with field paths under `path`. */
export function validateRetryPolicy(p: RetryPolicy, path = 'retryPolicy'): ValidationIssue[] {
  const issues = parseRetryOn(p.retryOn, `${path}.retryOn`).issues;
  const intIn = (v: number | undefined, field: string, min: number, max: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max))
      issues.push({ path: `${path}.${field}`, message: `must be an integer in [${min}, ${max}]` });
  };
  intIn(p.numRetries, 'numRetries', 0, RETRY_LIMITS.maxNumRetries);
  intIn(p.perTryTimeout, 'perTryTimeout', 0, 2 ** 31 - 1);
  intIn(p.perTryIdleTimeout, 'perTryIdleTimeout', 0, 2 ** 31 - 1);
  p.retriableStatusCodes.forEach((c, i) => intIn(c, `retriableStatusCodes[${i}]`, 100, 599));
  const { baseInterval, maxInterval } = p.retryBackOff;
  if (!(baseInterval > 0)) issues.push({ path: `${path}.retryBackOff.baseInterval`, message: 'must be greater than 0' });
  if (!(maxInterval >= baseInterval))
    issues.push({ path: `${path}.retryBackOff.maxInterval`, message: 'must be at least baseInterval' });
  return issues;
}

/** Compile a validated policy; throws ValidationError listing every problem otherwise. */
export function compileRetryPolicy(p: RetryPolicy, opts: { maxBufferBytes?: number } = {}): CompiledRetryPolicy {
  const issues = validateRetryPolicy(p);
  if (issues.length) throw new ValidationError(issues, 'retry policy');
  const retriableStatus = new Uint8Array(600);
  for (const c of p.retriableStatusCodes) retriableStatus[c] = 1;
  return {
    retryOn: parseRetryOn(p.retryOn).mask,
    numRetries: p.numRetries,
    perTryTimeout: p.perTryTimeout ?? 0,
    perTryIdleTimeout: p.perTryIdleTimeout ?? 0,
    retriableStatus,
    baseInterval: p.retryBackOff.baseInterval,
    maxInterval: p.retryBackOff.maxInterval,
    retryOtherHosts: p.retryOtherHosts,
    maxBufferBytes: opts.maxBufferBytes ?? 64 * 1024,
  };
}
