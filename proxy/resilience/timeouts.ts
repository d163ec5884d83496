// Timeouts of one request on the Clock: the route timeout (whole request,
// Envoy default 15 s, 0 = none), the per-try timeout (capped by what is left
// of the route timeout) and the per-try idle / stream idle timeouts. Idle
// timers are not re-armed per chunk: activity() only records a time stamp and
// a firing timer re-arms itself for the rest of the window, so streaming a
// body costs no timer churn. One RequestTimeouts per request (reusable via
// finish() + start()); callbacks are bound once in the constructor.

import type { Clock, Timer } from '../../common/clock.js';
import { UpstreamTimeoutError, type TimeoutKind } from './errors.js';

export class RequestTimeouts {
  private routeTimer: Timer | undefined;
  private tryTimer: Timer | undefined;
  private idleTimer: Timer | undefined;
  private tryIdleTimer: Timer | undefined;
  private deadline = Infinity;
  private routeMs = 0;
  private tryMs = 0;
  private idleMs = 0;
  private tryIdleMs = 0;
  private lastActivity = 0;
  private readonly onRoute = () => this.fire('route');
  private readonly onTry = () => this.fire('perTry');
  private readonly onIdle = () => this.checkIdle(false);
  private readonly onTryIdle = () => this.checkIdle(true);

  constructor(
    private readonly clock: Clock,
    /** Called once per timeout that fires; map with errorFor(kind). */
    private readonly onTimeout: (kind: TimeoutKind) => void,
  ) {}

  /** Request start: route timeout (RouteAction.timeout) and stream idle timeout (RouteAction.idleTimeout / HCM streamIdleTimeout). */
  start(routeTimeoutMs: number, idleTimeoutMs = 0): void {
    const now = this.clock.monotonic();
    this.lastActivity = now;
    this.routeMs = routeTimeoutMs;
    this.deadline = routeTimeoutMs > 0 ? now + routeTimeoutMs : Infinity;
    if (routeTimeoutMs > 0) this.routeTimer = this.clock.setTimeout(this.onRoute, routeTimeoutMs);
    this.idleMs = idleTimeoutMs;
    if (idleTimeoutMs > 0) this.idleTimer = this.clock.setTimeout(this.onIdle, idleTimeoutMs);
  }

  /** Attempt start: arms the per-try timeout (≤ time left); returns the ms armed (0 = none). */
  startAttempt(perTryTimeoutMs: number, perTryIdleTimeoutMs = 0): number {
    this.endAttempt();
    this.lastActivity = this.clock.monotonic();
    let ms = perTryTimeoutMs;
    const left = this.remaining();
    if (ms > 0 && left < ms) ms = left;
    if (ms > 0 && ms !== Infinity) this.tryTimer = this.clock.setTimeout(this.onTry, ms);
    this.tryMs = ms;
    this.tryIdleMs = perTryIdleTimeoutMs;
    if (perTryIdleTimeoutMs > 0) this.tryIdleTimer = this.clock.setTimeout(this.onTryIdle, perTryIdleTimeoutMs);
    return ms;
  }

  /** Bytes moved (either direction): resets the idle windows. O(1), no timer work. */
  activity(): void {
    this.lastActivity = this.clock.monotonic();
  }

  /** Attempt over (response complete, failed, or being retried): cancels the per-try timers. */
  endAttempt(): void {
    this.tryTimer?.cancel();
    this.tryTimer = undefined;
    this.tryIdleTimer?.cancel();
    this.tryIdleTimer = undefined;
  }

  /** Request over: cancels everything. */
  finish(): void {
    this.endAttempt();
    this.routeTimer?.cancel();
    this.routeTimer = undefined;
    this.idleTimer?.cancel();
    this.idleTimer = undefined;
    this.deadline = Infinity;
  }

  /** ms left before the route timeout (Infinity when none); also the value for grpc-timeout upstream. */
  remaining(): number {
    return this.deadline === Infinity ? Infinity : Math.max(0, this.deadline - this.clock.monotonic());
  }

  errorFor(kind: TimeoutKind): UpstreamTimeoutError {
    const ms = kind === 'route' ? this.routeMs : kind === 'perTry' ? this.tryMs : kind === 'idle' ? this.idleMs : this.tryIdleMs;
    return new UpstreamTimeoutError(kind, ms);
  }

  private fire(kind: 'route' | 'perTry'): void {
    if (kind === 'route') {
      this.routeTimer = undefined;
      this.finish();
    } else this.tryTimer = undefined;
    this.onTimeout(kind);
  }

  private checkIdle(perTry: boolean): void {
    const window = perTry ? this.tryIdleMs : this.idleMs;
    const quiet = this.clock.monotonic() - this.lastActivity;
    if (quiet < window) {
      const t = this.clock.setTimeout(perTry ? this.onTryIdle : this.onIdle, window - quiet);
      if (perTry) this.tryIdleTimer = t;
      else this.idleTimer = t;
      return;
    }
    if (perTry) {
      this.tryIdleTimer = undefined;
      this.onTimeout('perTryIdle');
    } else {
      this.idleTimer = undefined;
      this.finish();
      this.onTimeout('idle');
    }
  }
}
