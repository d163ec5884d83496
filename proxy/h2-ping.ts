// A PING with a deadline on an HTTP/2 session: how a live peer is told from a
// dead or wedged connection. node:http2 gives no other sign when nghttp2 has
// ended a session over a protocol error (it just stops reading). Used by the
// listener's quiet-session probe and the upstream client's timeout probe.

import type { Http2Session } from 'node:http2';

/**
 * Sends a PING on `s`; `settled(s, answered)` runs once: with true when the peer answered, with
 * false when it did not within `timeoutMs` (or the PING failed). Returns false, and never calls
 * `settled`, when no PING could be sent (the session is going away).
 */
export function pingWithDeadline<S extends Http2Session>(s: S, timeoutMs: number, settled: (s: S, answered: boolean) => void): boolean {
  let done = false;
  const finish = (answered: boolean): void => {
    if (done) return;
    done = true;
    clearTimeout(deadline);
    settled(s, answered);
  };
  const deadline = setTimeout(finish, timeoutMs, false);
  deadline.unref();
  let sent = false;
  try {
    sent = s.ping((err) => finish(err === null));
  } catch {
    // the session went away meanwhile
  }
  if (!sent) {
    done = true;
    clearTimeout(deadline);
  }
  return sent;
}
