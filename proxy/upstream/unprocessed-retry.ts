// Envoy's transparent retry of a request the upstream never processed: an
// HTTP/2 stream refused (RST_STREAM REFUSED_STREAM, or above the last-stream-id
// of a GOAWAY, e.g. a peer sidecar closing an idle session as the request
// went out) is sent once more, on a new connection when the old one is going
// away, with or without a retry policy — as long as nothing of the response
// went downstream and the request body can be sent again (none, a string or
// Buffer, or the retry policy's complete copy). Counted per cluster.

import type { Exchange } from '../http/exchange.js';

export function retryUnprocessed(ex: Exchange): boolean {
  if (ex.unprocessedRetried) return false;
  const r = ex.replay;
  const body = ex.opts?.body;
  const replayable = r !== undefined ? r.complete && r.chunks !== undefined : body == null || typeof body === 'string' || Buffer.isBuffer(body);
  if (!replayable) return false;
  ex.unprocessedRetried = true;
  if (ex.breaker !== undefined) ex.breaker.rqUnprocessedRetry++;
  ex.startAttempt();
  return true;
}
