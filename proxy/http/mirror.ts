// Traffic mirroring (Envoy request_mirror_policies): a copy of the request
// goes to a shadow cluster, fire-and-forget. The shadow never slows the
// primary: its body copy is a bounded buffer, dropped when the shadow falls
// behind; its body is discarded; its errors never reach the client. Its
// status code is compared with the primary's once both are known
// (tsmesh_mirror_responses_total{outcome="match|mismatch|error"}): the
// canary's mirror phase judges a new version on it before it takes traffic.

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

  constructor(
    private readonly telemetry: Telemetry,
    private readonly mirrorCluster: string,
  ) {}

  primaryDone(cluster: string, status: number): void {
    if (this.primary !== PENDING) return;
    this.primaryCluster = cluster;
    this.primary = status;
    if (this.shadow !== PENDING) this.report();
  }

  shadowDone(status: number): void {
    if (this.shadow !== PENDING) return;
    this.shadow = status;
    if (this.primary !== PENDING) this.report();
  }

  private report(): void {
    const outcome = this.primary === FAILED || this.shadow === FAILED ? 'error' : this.primary === this.shadow ? 'match' : 'mismatch';
    this.telemetry.mirrorResponse?.(this.primaryCluster, this.mirrorCluster, outcome);
  }
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
export function primaryResponded(owner: object, cluster: string | undefined, status: number): void {
  const c = waiting.get(owner);
  if (c === undefined) return;
  waiting.delete(owner);
  if (Array.isArray(c)) for (const x of c) x.primaryDone(cluster ?? '', status || FAILED);
  else c.primaryDone(cluster ?? '', status || FAILED);
}

class ShadowHandler implements Dispatcher.DispatchHandler {
  private status = FAILED;
  constructor(
    private readonly host: UpstreamHost,
    private readonly comparison: MirrorComparison | undefined,
  ) {}
  onConnect(): void {}
  onHeaders(statusCode: number): boolean {
    this.status = statusCode;
    return true;
  }
  onData(): boolean {
    return true;
  }
  onComplete(): void {
    this.host.activeRequests--;
    this.comparison?.shadowDone(this.status);
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
