// Istio's PassthroughCluster (an Envoy ORIGINAL_DST cluster with one host per
// connection): a redirected connection no filter chain claims is piped to the
// destination the app asked for. The proxy's own connections are not
// redirected again because the redirect rules exclude its UID.

import { connect, type Socket } from 'node:net';
import type { OriginalDst } from '../listener/original-dst.js';

export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
/** Envoy's default cluster connect_timeout. */
export const PASSTHROUGH_CONNECT_TIMEOUT_MS = 5_000;

/** Pipes `downstream` (paused, possibly holding unshifted first bytes) to `dst`, with half-close and back-pressure. */
export function passThrough(downstream: Socket, dst: OriginalDst, connectTimeoutMs = PASSTHROUGH_CONNECT_TIMEOUT_MS): void {
  const up = connect({ host: dst.address, port: dst.port, noDelay: true });
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    downstream.destroy();
    up.destroy();
  };
  const timer = setTimeout(finish, connectTimeoutMs);
  downstream.on('error', finish);
  downstream.on('close', finish);
  up.on('error', finish);
  up.once('connect', () => {
    clearTimeout(timer);
    downstream.pipe(up);
    up.pipe(downstream);
    downstream.resume();
  });
  // Either side's FIN is forwarded by pipe(); close once both directions are finished.
  up.on('close', () => (downstream.writableEnded ? finish() : downstream.end()));
}
