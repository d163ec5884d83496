// Traffic mirroring (Envoy request_mirror_policies): a copy of the request
// goes to a shadow cluster, fire-and-forget. The shadow never slows the
// primary: its body copy is a bounded buffer, dropped when the shadow falls
// behind; its response is discarded; its errors are ignored.

import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ClusterManager, UpstreamHost } from '../upstream/cluster-manager.js';
import type { DownstreamRequest } from './exchange.js';

/** Bytes a mirror may lag behind the primary before it is abandoned. */
const MAX_MIRROR_BUFFER = 256 * 1024;

class DiscardHandler implements Dispatcher.DispatchHandler {
  constructor(private readonly host: UpstreamHost) {}
  onConnect(): void {}
  onHeaders(): boolean {
    return true;
  }
  onData(): boolean {
    return true;
  }
  onComplete(): void {
    this.host.activeRequests--;
  }
  onError(): void {
    this.host.activeRequests--;
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
): void {
  const cluster = clusters.get(clusterName);
  if (!cluster) return;
  const host = cluster.lb.pick({}) as UpstreamHost | undefined;
  const dispatcher = host?.h1 ?? host?.h2;
  if (!host || !dispatcher) return;
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
      new DiscardHandler(host),
    );
  } catch {
    host.activeRequests--;
  }
}

function withShadowSuffix(authority: string): string {
  const colon = authority.lastIndexOf(':');
  if (colon > 0 && authority.indexOf(']') < colon) return `${authority.slice(0, colon)}-shadow${authority.slice(colon)}`;
  return `${authority}-shadow`;
}
