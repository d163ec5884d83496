// Envoy's consecutive-failure outlier detection for one cluster. The request
// path reports every attempt's result; a host reaching consecutive5xx,
// consecutiveGatewayFailure (502/503/504 and, unless split, connect failures
// and timeouts) or — with splitExternalLocalOriginErrors — consecutive
// local-origin failures is ejected (with probability enforcing…%) for
// baseEjectionTime × times ejected, capped at max(baseEjectionTime,
// maxEjectionTime). Ejections stop at maxEjectionPercent of the hosts, but one
// host may always be ejected when the percentage is above 0. Every `interval`
// the detector returns hosts whose time is up and decays the multiplier of
// hosts that stayed healthy, as Envoy does on its interval timer.

import type { Clock, Timer } from '../../common/clock.js';
import type { OutlierDetection } from '../config/resources.js';
import { DEFAULT_OUTLIER_DETECTION } from '../config/defaults.js';
import type { HostState } from '../lb/types.js';
import { isPanic } from './panic.js';

/** Envoy's defaults (one definition, in proxy/config/defaults.ts). */
export const OUTLIER_DEFAULTS: OutlierDetection = DEFAULT_OUTLIER_DETECTION;

const MIN_INTERVAL_MS = 10;

/** A failure detected by the proxy itself, not answered by the upstream. */
export type LocalOriginFailure = 'connect-failure' | 'timeout' | 'reset';

type Reason = 'consecutive5xx' | 'consecutiveGatewayFailure' | 'consecutiveLocalOriginFailure';

class HostOutlier {
  consecutive5xx = 0;
  consecutiveGateway = 0;
  consecutiveLocal = 0;
  ejected = false;
  ejectedAt = 0;
  /** Envoy's num_ejections: grows per ejection, decays per healthy interval. */
  multiplier = 0;
  timesEjected = 0;
}

export interface OutlierDetectorOptions {
  hosts: readonly HostState[];
  config: OutlierDetection;
  clock: Clock;
  /** Cluster.healthyPanicThreshold (percent); passed to onHealthChanged. */
  healthyPanicThreshold?: number;
  /** Called after hosts were ejected or returned; wire to LoadBalancer.onHealthChanged. */
  onHealthChanged?: (panic: boolean) => void;
  random?: () => number;
}

export class OutlierDetector {
  readonly ejectionsEnforced: Record<Reason, number> = {
    consecutive5xx: 0,
    consecutiveGatewayFailure: 0,
    consecutiveLocalOriginFailure: 0,
  };
  ejectionsOverflow = 0;
  private readonly state = new Map<HostState, HostOutlier>();
  private readonly cfg: OutlierDetection;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly hosts: readonly HostState[];
  private ejectedCount = 0;
  private timer: Timer | undefined;

  constructor(private readonly opts: OutlierDetectorOptions) {
    this.cfg = opts.config;
    this.clock = opts.clock;
    this.random = opts.random ?? Math.random;
    this.hosts = opts.hosts;
    for (const h of opts.hosts) this.state.set(h, new HostOutlier());
    this.schedule();
  }

  get ejected(): number {
    return this.ejectedCount;
  }

  /** An upstream answered with `status` (call when response headers arrive). */
  reportResponse(host: HostState, status: number): void {
    const s = this.state.get(host);
    if (s === undefined) return;
    if (status >= 500 && status < 600) {
      if (status === 502 || status === 503 || status === 504) {
        if (++s.consecutiveGateway === this.cfg.consecutiveGatewayFailure)
          this.maybeEject(host, s, 'consecutiveGatewayFailure', this.cfg.enforcingConsecutiveGatewayFailure);
      } else s.consecutiveGateway = 0;
      if (++s.consecutive5xx === this.cfg.consecutive5xx)
        this.maybeEject(host, s, 'consecutive5xx', this.cfg.enforcingConsecutive5xx);
    } else {
      s.consecutive5xx = 0;
      s.consecutiveGateway = 0;
      if (!this.cfg.splitExternalLocalOriginErrors) s.consecutiveLocal = 0;
    }
  }

  /** The proxy failed to reach the host (no response). Without the split it counts as 503/504, as in Envoy. */
  reportLocalFailure(host: HostState, failure: LocalOriginFailure): void {
    if (!this.cfg.splitExternalLocalOriginErrors) {
      this.reportResponse(host, failure === 'timeout' ? 504 : 503);
      return;
    }
    const s = this.state.get(host);
    if (s === undefined) return;
    if (++s.consecutiveLocal === this.cfg.consecutiveLocalOriginFailure)
      this.maybeEject(host, s, 'consecutiveLocalOriginFailure', 100);
  }

  /** A connection to the host succeeded (resets local-origin failures when split). */
  reportLocalSuccess(host: HostState): void {
    const s = this.state.get(host);
    if (s !== undefined) s.consecutiveLocal = 0;
  }

  /** Per-host figures for /clusters. */
  hostStats(host: HostState): Record<string, number> | undefined {
    const s = this.state.get(host);
    if (s === undefined) return undefined;
    return {
      consecutive5xx: s.consecutive5xx,
      consecutiveGatewayFailure: s.consecutiveGateway,
      consecutiveLocalOriginFailure: s.consecutiveLocal,
      timesEjected: s.timesEjected,
    };
  }

  /**
   * Carry per-host state (counters, ejections, multiplier) over from the detector this one
   * replaces on a config change, matched by host key, so an ejected host still returns on time
   * and counts are not reset by unrelated updates. Call right after construction; closes `prev`.
   */
  adopt(prev: OutlierDetector): void {
    const byKey = new Map<string, HostOutlier>();
    for (const [h, s] of prev.state) byKey.set(h.key, s);
    let changed = false;
    for (const [h, cur] of this.state) {
      const old = byKey.get(h.key);
      if (old === undefined) continue;
      Object.assign(cur, old);
      if (cur.ejected) {
        this.ejectedCount++;
        if (!h.ejected) changed = true;
        h.ejected = true;
      }
    }
    for (const k of Object.keys(this.ejectionsEnforced) as Reason[]) this.ejectionsEnforced[k] += prev.ejectionsEnforced[k];
    this.ejectionsOverflow += prev.ejectionsOverflow;
    prev.close();
    if (changed) this.changed();
  }

  /** Stop the interval timer (cluster removed or replaced). */
  close(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private maybeEject(host: HostState, s: HostOutlier, reason: Reason, enforcingPercent: number): void {
    if (s.ejected) return;
    if (!(this.random() * 100 < enforcingPercent)) return;
    const n = this.hosts.length;
    const max = this.cfg.maxEjectionPercent;
    if (max <= 0 || (this.ejectedCount > 0 && ((this.ejectedCount + 1) * 100) / n > max)) {
      this.ejectionsOverflow++;
      return;
    }
    s.ejected = true;
    s.ejectedAt = this.clock.monotonic();
    s.multiplier++;
    s.timesEjected++;
    s.consecutive5xx = 0;
    s.consecutiveGateway = 0;
    s.consecutiveLocal = 0;
    this.ejectedCount++;
    this.ejectionsEnforced[reason]++;
    host.ejected = true;
    this.changed();
  }

  private schedule(): void {
    // A zero or tiny interval from a bad config must not turn the tick into a busy loop.
    this.timer = this.clock.setTimeout(() => this.tick(), Math.max(this.cfg.interval, MIN_INTERVAL_MS));
  }

  private tick(): void {
    const now = this.clock.monotonic();
    const base = this.cfg.baseEjectionTime;
    const cap = Math.max(base, this.cfg.maxEjectionTime);
    let changed = false;
    for (const [host, s] of this.state) {
      if (s.ejected) {
        if (now - s.ejectedAt >= Math.min(base * s.multiplier, cap)) {
          s.ejected = false;
          this.ejectedCount--;
          host.ejected = edsUnhealthy(host);
          changed = true;
        }
      } else if (s.multiplier > 0) {
        s.multiplier--;
      }
    }
    if (changed) this.changed();
    this.schedule();
  }

  private changed(): void {
    const cb = this.opts.onHealthChanged;
    if (cb !== undefined) cb(isPanic(this.hosts, this.opts.healthyPanicThreshold ?? 50));
  }
}

function edsUnhealthy(h: HostState): boolean {
  const s = h.endpoint.healthStatus;
  return s === 'UNHEALTHY' || s === 'TIMEOUT' || s === 'DRAINING';
}
