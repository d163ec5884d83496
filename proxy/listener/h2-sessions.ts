// Closing downstream HTTP/2 sessions without failing the peer's requests
// (the peer is usually another sidecar multiplexing many requests on one
// session). A session closes in Envoy's two steps: first a GOAWAY naming the
// last stream this side accepted — the peer stops opening streams here and
// refuses, on its side, any stream it sent meanwhile (never processed, so it
// is sent again on a new session) — and only after a grace period the
// session itself closes (accepted streams finish first). Closing at once
// raced the peer: a stream in flight met a closed socket, and the peer saw a
// reset (503 UR). Idle sessions (HCM idle_timeout) are the ones with no open
// stream; a timeout that found open streams is re-armed when the last closes.

import type * as http2 from 'node:http2';
import { pingWithDeadline } from '../h2-ping.js';
import { H2_NO_ERROR } from '../lazy-builtins.js';
import type { Socket } from 'node:net';

/** Time between the GOAWAY and closing the session: a round trip for the peer to see it, with room. */
export const GOAWAY_GRACE_MS = 1000;

/**
 * Liveness of quiet sessions: a session that read nothing for `intervalMs` gets a PING, and one that
 * does not answer it within `pingTimeoutMs` is destroyed. node:http2 stops reading a session nghttp2
 * has ended over the client's protocol error (DATA on a stream never opened, …) and never sees the
 * client's FIN: without this, such a connection held its fd and memory until the idle timeout (1 h
 * by default). A live client answers the PING (Envoy's downstream connection_keepalive does the same).
 * Mutable for tests.
 */
export const QUIET_SESSION_PROBE = { intervalMs: 30_000, pingTimeoutMs: 5_000 };

const kOpen = Symbol('tsmesh.openStreams');
const kLast = Symbol('tsmesh.lastStream');
const kIdle = Symbol('tsmesh.idleTimeout');
const kIdleSkipped = Symbol('tsmesh.idleSkipped');
const kClosing = Symbol('tsmesh.goawayTimer');
const kSocket = Symbol('tsmesh.sessionSocket');
const kProbe = Symbol('tsmesh.quietProbe');
const kLastRead = Symbol('tsmesh.lastRead');
const kPing = Symbol('tsmesh.pingOut');

type Session = http2.ServerHttp2Session & {
  [kOpen]: number;
  [kLast]: number;
  [kIdle]: number;
  [kIdleSkipped]: boolean;
  [kClosing]: NodeJS.Timeout | undefined;
  [kSocket]: Socket;
  [kProbe]: NodeJS.Timeout;
  [kLastRead]: number;
  /** A probe PING is out. */
  [kPing]: boolean;
};

/**
 * Tracks a new server session: its last stream, and with `idleTimeout` > 0 its open streams and idle
 * close. `socket` is the connection it was created on (default: Node's socket proxy of the session).
 */
export function manageSession(session: http2.ServerHttp2Session, idleTimeout: number, socket?: Socket): void {
  const s = session as Session;
  s[kSocket] = socket ?? (session.socket as Socket);
  s[kOpen] = 0;
  s[kLast] = 0;
  s[kIdle] = idleTimeout;
  s[kIdleSkipped] = false;
  s[kClosing] = undefined;
  s[kLastRead] = s[kSocket].bytesRead;
  s[kPing] = false;
  s[kProbe] = setInterval(probeQuiet, QUIET_SESSION_PROBE.intervalMs, s);
  s[kProbe].unref();
  s.on('stream', onStream);
  s.once('close', onSessionClose);
  if (idleTimeout > 0) {
    s.on('timeout', onIdle); // not setTimeout's callback: Node adds that with once()
    s.setTimeout(idleTimeout);
  }
}

/** The connection's socket of a managed session (requests' `socket`: address, original destination). */
export function sessionSocket(session: http2.ServerHttp2Session): Socket {
  return (session as Session)[kSocket] ?? (session.socket as Socket);
}

/** GOAWAY with the last accepted stream now, close after GOAWAY_GRACE_MS (open streams finish). */
export function closeGracefully(session: http2.ServerHttp2Session): void {
  const s = session as Session;
  if (s.closed || s.destroyed || s[kClosing] !== undefined) return;
  if (s[kLast] === undefined) return void s.close(); // not managed here
  try {
    s.goaway(H2_NO_ERROR, s[kLast]);
  } catch {
    return void s.close();
  }
  s[kClosing] = setTimeout(closeNow, GOAWAY_GRACE_MS, s);
  s[kClosing].unref();
}

function closeNow(s: Session): void {
  if (!s.closed && !s.destroyed) s.close();
}

function onStream(this: Session, stream: http2.ServerHttp2Stream): void {
  // Reset before 'stream' was emitted (destroyed, or closed by a RST_STREAM(NO_ERROR) and left to end):
  // not served (chain-runtime's onStream skips it), so never counted closed either.
  if (stream.destroyed || stream.closed) return;
  const id = stream.id ?? 0;
  if (id > this[kLast]) this[kLast] = id;
  this[kOpen]++;
}

/**
 * A stream of `session` closed. Called by the stream's own 'close' listener (serveStream's), which
 * every stream of a managed session has: a second 'close' listener per stream only for this count
 * cost a listener registration (and node:http2's 'newListener' hook) per request.
 */
export function sessionStreamClosed(session: http2.ServerHttp2Session): void {
  const s = session as Session;
  if (s[kOpen] === undefined) return; // not managed here
  if (--s[kOpen] === 0 && s[kIdleSkipped] && !s.destroyed) {
    s[kIdleSkipped] = false;
    s.setTimeout(s[kIdle]);
  }
}

function onIdle(this: Session): void {
  if (this.closed || this[kClosing] !== undefined) return;
  if (this[kOpen] === 0) closeGracefully(this);
  else this[kIdleSkipped] = true;
}

function onSessionClose(this: Session): void {
  if (this[kClosing] !== undefined) clearTimeout(this[kClosing]);
  clearInterval(this[kProbe]);
}

/** Every probe interval: a session that read nothing since the last one is asked for a PING answer. */
function probeQuiet(s: Session): void {
  if (s.destroyed) return void clearInterval(s[kProbe]);
  const read = s[kSocket].bytesRead;
  if (read !== s[kLastRead] || s[kPing]) {
    s[kLastRead] = read;
    return;
  }
  s[kPing] = pingWithDeadline(s, QUIET_SESSION_PROBE.pingTimeoutMs, onPingSettled);
}

function onPingSettled(s: Session, answered: boolean): void {
  s[kPing] = false;
  if (!answered && !s.destroyed) s.destroy();
}
