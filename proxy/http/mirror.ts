// Traffic mirroring (Envoy request_mirror_policies): a copy of the request
// goes to a shadow cluster, fire-and-forget. The shadow never slows the
// primary: its body copy is a bounded buffer, dropped when the shadow falls
// behind; its body is discarded; its errors never reach the client. Its
// status code is compared with the primary's once both are known
// (tsmesh_mirror_responses_total{outcome="match|mismatch|error"}), and when
// both statuses match, a SHA-256 of each body too
// (tsmesh_mirror_bodies_total{outcome}): the canary's mirror phase judges a
// new version on them before it takes traffic. Bodies are hashed as they
// stream (never buffered), and only on mirrored requests.

import { createHash, type Hash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ClusterManager, UpstreamHost } from '../upstream/cluster-manager.js';
import type { DownstreamRequest } from './exchange.js';
import type { Telemetry } from '../telemetry/types.js';

/** Bytes a mirror may lag behind the primary before it is abandoned. */
const MAX_MIRROR_BUFFER = 256 * 1024;

const PENDING = -1;
/** Status standing for "no response" (connect error, reset, timeout). */
const FAILED = 0;

/** One mirrored request: whichever of the primary and the shadow answers last reports the comparison. */
class MirrorComparison {
  private primary = PENDING;
  private shadow = PENDING;
  private primaryCluster = '';
  private primaryDigest: string | undefined = undefined;
  private shadowDigest: string | undefined = undefined;

  constructor(
    private readonly telemetry: Telemetry,
    private readonly mirrorCluster: string,
  ) {}

  primaryDone(cluster: string, status: number, digest: string | undefined): void {
    if (this.primary !== PENDING) return;
    this.primaryCluster = cluster;
    this.primary = status;
    this.primaryDigest = digest;
    if (this.shadow !== PENDING) this.report();
  }

  shadowDone(status: number, digest?: string): void {
    if (this.shadow !== PENDING) return;
    this.shadow = status;
    this.shadowDigest = digest;
    if (this.primary !== PENDING) this.report();
  }

  private report(): void {
    const failed = this.primary === FAILED || this.shadow === FAILED;
    const outcome = failed ? 'error' : this.primary === this.shadow ? 'match' : 'mismatch';
    this.telemetry.mirrorResponse?.(this.primaryCluster, this.mirrorCluster, outcome);
    // Bodies are compared only where the statuses agree (a status mismatch is already one).
    if (outcome === 'match') {
      const a = this.primaryDigest;
      const b = this.shadowDigest;
      const body = a === undefined || b === undefined ? 'error' : a === b ? 'match' : 'mismatch';
      this.telemetry.mirrorBody?.(this.primaryCluster, this.mirrorCluster, body);
    }
  }
}

/** The running hash of a mirrored request's primary response body (Exchange.mirrorHash). */
export function newBodyHash(): Hash {
  return createHash('sha256');
}

/** The comparisons waiting for their primary's status, by the exchange that sent them. */
const waiting = new WeakMap<object, MirrorComparison | MirrorComparison[]>();

function track(owner: object, c: MirrorComparison): void {
  const prev = waiting.get(owner);
  if (prev === undefined) waiting.set(owner, c);
  else if (Array.isArray(prev)) prev.push(c);
  else waiting.set(owner, [prev, c]);
}

/** The primary's response is known (status 0: it failed without one): settles the shadows `owner` sent. */
export function primaryResponded(owner: object, cluster: string | undefined, status: number, body?: Hash): void {
  const c = waiting.get(owner);
  if (c === undefined) return;
  waiting.delete(owner);
  // No digest for a primary that failed or was cut short: its body comparison counts as an error.
  const digest = body !== undefined && status ? body.digest('hex') : undefined;
  if (Array.isArray(c)) for (const x of c) x.primaryDone(cluster ?? '', status || FAILED, digest);
  else c.primaryDone(cluster ?? '', status || FAILED, digest);
}

class ShadowHandler implements Dispatcher.DispatchHandler {
  private status = FAILED;
  private readonly hash: Hash | undefined;
  constructor(
    private readonly host: UpstreamHost,
    private readonly comparison: MirrorComparison | undefined,
  ) {
    this.hash = comparison !== undefined ? createHash('sha256') : undefined;
  }
  onConnect(): void {}
  onHeaders(statusCode: number): boolean {
    if (statusCode >= 200) this.status = statusCode;
    return true;
  }
  onData(chunk: Buffer): boolean {
    this.hash?.update(chunk);
    return true;
  }
  onComplete(): void {
    this.host.activeRequests--;
    this.comparison?.shadowDone(this.status, this.hash?.digest('hex'));
  }
  onError(): void {
    this.host.activeRequests--;
    this.comparison?.shadowDone(FAILED);
  }
}

export function mirrorRequest(
  clusters: ClusterManager,
  clusterName: string,
  req: DownstreamRequest,
  method: string,
  path: string,
  headers: readonly string[],
  hasBody: boolean,
  timeout: number,
  /** With both: the shadow's status is compared with the one primaryResponded(owner, …) reports. */
  telemetry?: Telemetry,
  owner?: object,
): void {
  const cluster = clusters.get(clusterName);
  const comparison = telemetry?.mirrorResponse && owner ? new MirrorComparison(telemetry, clusterName) : undefined;
  if (comparison) track(owner!, comparison);
  const host = cluster?.lb.pick({}) as UpstreamHost | undefined;
  const dispatcher = host?.h1 ?? host?.h2;
  if (!host || !dispatcher) {
    comparison?.shadowDone(FAILED);
    return;
  }
  const shadowHeaders = headers.slice();
  for (let i = 0; i < shadowHeaders.length; i += 2) {
    // Envoy marks mirrored traffic by appending -shadow to the authority.
    if (shadowHeaders[i] === 'host') shadowHeaders[i + 1] = withShadowSuffix(shadowHeaders[i + 1]!);
  }
  let body: PassThrough | null = null;
  if (hasBody) {
    const copy = new PassThrough({ highWaterMark: MAX_MIRROR_BUFFER });
    body = copy;
    const onData = (chunk: Buffer) => {
      if (copy.destroyed) return;
      if (copy.writableLength + chunk.length > MAX_MIRROR_BUFFER) {
        copy.destroy(new Error('mirror fell behind'));
        detach();
        return;
      }
      copy.write(chunk);
    };
    const onEnd = () => {
      copy.end();
      detach();
    };
    const onAbort = () => {
      copy.destroy(new Error('downstream aborted'));
      detach();
    };
    const detach = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('aborted', onAbort);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('aborted', onAbort);
    copy.on('error', () => {});
  }
  host.activeRequests++;
  try {
    dispatcher.dispatch(
      { path, method, headers: shadowHeaders as unknown as string[], body, headersTimeout: timeout || 15_000, bodyTimeout: timeout || 15_000 },
      new ShadowHandler(host, comparison),
    );
  } catch {
    host.activeRequests--;
    comparison?.shadowDone(FAILED);
  }
}

function withShadowSuffix(authority: string): string {
  const colon = authority.lastIndexOf(':');
  if (colon > 0 && authority.indexOf(']') < colon) return `${authority.slice(0, colon)}-shadow${authority.slice(colon)}`;
  return `${authority}-shadow`;
}
