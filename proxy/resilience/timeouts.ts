// Timeouts of one request on the Clock: the route timeout (whole request,
// Envoy default 15 s, 0 = none), the per-try timeout (capped by what is left
// of the route timeout) and the per-try idle / stream idle timeouts. Idle
// timers are not re-armed per chunk: activity() only records a time stamp and
// a firing timer re-arms itself for the rest of the window, so streaming a
// body costs no timer churn. One RequestTimeouts per request (reusable via
// finish() + start()); callbacks are bound once in the constructor.
//
// The route, per-try and stream idle timers are not cancelled when a request
// (or an attempt) finishes in time — nearly every one: they stay armed and a reused RequestTimeouts
// (timeout-slots.ts pools them) keeps a timer that falls due no later than its
// new request's deadline. A timer that fires finds the current deadline (or
// none) and re-arms for what is left, or lapses. So a request pays no
// setTimeout/clearTimeout at all in the common case, where per-request timers
// cost two or three of each plus their Timeout objects; a slot carries at most
// three pending timers (four with a per-try idle timeout), whichever request it serves.

import type { Clock, Timer } from '../../common/clock.js';
import { UpstreamTimeoutError, type TimeoutKind } from './errors.js';

export class RequestTimeouts {
  private routeTimer: Timer | undefined;
  /** clock.monotonic() at which routeTimer fires (it may outlive the request that armed it). */
  private routeTimerAt = Infinity;
  private tryTimer: Timer | undefined;
  /** clock.monotonic() at which tryTimer fires (it may outlive the attempt that armed it). */
  private tryTimerAt = Infinity;
  /** The current attempt's per-try deadline (Infinity: none, or no attempt). */
  private tryDeadline = Infinity;
  private idleTimer: Timer | undefined;
  /** clock.monotonic() at which idleTimer fires (it may outlive the request that armed it). */
  private idleTimerAt = Infinity;
  private tryIdleTimer: Timer | undefined;
  /** Between start() and finish() (or a route / idle timeout): timers that fire otherwise lapse. */
  private active = false;
  private deadline = Infinity;
  private routeMs = 0;
  private tryMs = 0;
  private idleMs = 0;
  private tryIdleMs = 0;
  private lastActivity = 0;
  private readonly onRoute = () => this.checkRoute();
  private readonly onTry = () => this.checkTry();
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
    this.active = true;
    this.lastActivity = now;
    this.routeMs = routeTimeoutMs;
    this.deadline = routeTimeoutMs > 0 ? now + routeTimeoutMs : Infinity;
    // A timer still armed from an earlier request is kept when it falls due no later (it re-checks then).
    if (routeTimeoutMs > 0 && this.routeTimerAt > this.deadline) this.armRoute(now, routeTimeoutMs);
    this.idleMs = idleTimeoutMs;
    if (idleTimeoutMs > 0 && this.idleTimerAt > now + idleTimeoutMs) this.armIdle(now, idleTimeoutMs);
  }

  private armRoute(now: number, ms: number): void {
    this.routeTimer?.cancel();
    this.routeTimer = this.clock.setTimeout(this.onRoute, ms);
    this.routeTimerAt = now + ms;
  }

  private armIdle(now: number, ms: number): void {
    this.idleTimer?.cancel();
    this.idleTimer = this.clock.setTimeout(this.onIdle, ms);
    this.idleTimerAt = now + ms;
  }

  /** Attempt start: arms the per-try timeout (≤ time left); returns the ms armed (0 = none). */
  startAttempt(perTryTimeoutMs: number, perTryIdleTimeoutMs = 0): number {
    this.endAttempt();
    const now = this.clock.monotonic();
    this.lastActivity = now;
    let ms = perTryTimeoutMs;
    const left = this.deadline === Infinity ? Infinity : Math.max(0, this.deadline - now);
    if (ms > 0 && left < ms) ms = left;
    if (ms > 0 && ms !== Infinity) {
      this.tryDeadline = now + ms;
      if (this.tryTimerAt > this.tryDeadline) this.armTry(now, ms);
    }
    this.tryMs = ms;
    this.tryIdleMs = perTryIdleTimeoutMs;
    if (perTryIdleTimeoutMs > 0) this.tryIdleTimer = this.clock.setTimeout(this.onTryIdle, perTryIdleTimeoutMs);
    return ms;
  }

  /** Bytes moved (either direction): resets the idle windows. O(1), no timer work. */
  activity(): void {
    this.lastActivity = this.clock.monotonic();
  }

  private armTry(now: number, ms: number): void {
    this.tryTimer?.cancel();
    this.tryTimer = this.clock.setTimeout(this.onTry, ms);
    this.tryTimerAt = now + ms;
  }

  /** Attempt over (response complete, failed, or being retried): its per-try timeout fires no more. */
  endAttempt(): void {
    this.tryDeadline = Infinity; // the per-try timer lapses (or serves the next attempt)
    this.tryIdleTimer?.cancel();
    this.tryIdleTimer = undefined;
  }

  /** Request over: nothing fires for it any more (the per-try timers are cancelled; route and idle timers lapse or serve the next start()). */
  finish(): void {
    this.endAttempt();
    this.active = false;
    this.deadline = Infinity;
  }

  /** Cancels every timer (a RequestTimeouts that will not be started again). */
  dispose(): void {
    this.finish();
    this.tryTimer?.cancel();
    this.tryTimer = undefined;
    this.tryTimerAt = Infinity;
    this.routeTimer?.cancel();
    this.routeTimer = undefined;
    this.routeTimerAt = Infinity;
    this.idleTimer?.cancel();
    this.idleTimer = undefined;
    this.idleTimerAt = Infinity;
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
    if (kind === 'route') this.finish();
    this.onTimeout(kind);
  }

  /** The per-try timer fired: the current attempt's deadline (if any) may still be ahead. */
  private checkTry(): void {
    this.tryTimer = undefined;
    this.tryTimerAt = Infinity;
    if (this.tryDeadline === Infinity) return; // armed for an attempt that ended: lapses
    const now = this.clock.monotonic();
    if (now < this.tryDeadline) return this.armTry(now, this.tryDeadline - now);
    this.tryDeadline = Infinity;
    this.fire('perTry');
  }

  /** The route timer fired: the current request's deadline (if any) may still be ahead. */
  private checkRoute(): void {
    this.routeTimer = undefined;
    this.routeTimerAt = Infinity;
    if (!this.active || this.deadline === Infinity) return; // armed for a request that finished: lapses
    const now = this.clock.monotonic();
    if (now < this.deadline) return this.armRoute(now, this.deadline - now);
    this.fire('route');
  }

  private checkIdle(perTry: boolean): void {
    if (!perTry) {
      this.idleTimer = undefined;
      this.idleTimerAt = Infinity;
      if (!this.active || this.idleMs <= 0) return; // armed for a request that finished: lapses
    }
    const window = perTry ? this.tryIdleMs : this.idleMs;
    const now = this.clock.monotonic();
    const quiet = now - this.lastActivity;
    if (quiet < window) {
      if (perTry) this.tryIdleTimer = this.clock.setTimeout(this.onTryIdle, window - quiet);
      else this.armIdle(now, window - quiet);
      return;
    }
    if (perTry) {
      this.tryIdleTimer = undefined;
      this.onTimeout('perTryIdle');
    } else {
      this.finish();
      this.onTimeout('idle');
    }
  }
}
