// PEAK_EWMA, tsmesh's default: Linkerd's latency-aware power of two choices.
// Each host keeps a peak-sensitive moving average of its latency: a slower
// response than the estimate replaces it at once (peak), a faster one is
// blended in with weight 1 − e^(−Δt/τ). Between responses the estimate decays
// toward zero with the same τ (default 10 s), so a host that was slow is probed
// again later. Cost = estimate × (active requests + 1); two hosts are sampled
// (∝ weight) and the cheaper one wins. Unmeasured hosts start at defaultRttMs
// so they are tried early; a failed attempt counts as at least
// failurePenaltyMs, so endpoints that fail fast do not attract traffic.

import type { Clock } from '../../common/clock.js';
import { systemClock } from '../../common/clock.js';
import { HostView } from './host-view.js';
import type { HostState, LoadBalancer, PickContext } from './types.js';

export interface PeakEwmaOptions {
  /** Decay time constant τ in ms (Linkerd: 10 s). */
  decayMs?: number;
  /** Estimate for a host with no response yet (Linkerd: 30 ms). */
  defaultRttMs?: number;
  /** A failed attempt is recorded as at least this latency. */
  failurePenaltyMs?: number;
  clock?: Clock;
  random?: () => number;
}

export const PEAK_EWMA_DEFAULTS = { decayMs: 10_000, defaultRttMs: 30, failurePenaltyMs: 1_000 } as const;

export class PeakEwmaBalancer implements LoadBalancer {
  private readonly view: HostView;
  private readonly clock: Clock;
  private readonly tau: number;
  private readonly failurePenalty: number;
  /** Per host (same index as view.hosts): latency estimate in ms and when it was last updated. */
  private readonly estimate: Float64Array;
  private readonly stamp: Float64Array;
  private readonly index = new Map<HostState, number>();

  constructor(hosts: readonly HostState[], opts: PeakEwmaOptions = {}) {
    this.view = new HostView(hosts, opts.random ?? Math.random);
    this.clock = opts.clock ?? systemClock;
    this.tau = opts.decayMs ?? PEAK_EWMA_DEFAULTS.decayMs;
    this.failurePenalty = opts.failurePenaltyMs ?? PEAK_EWMA_DEFAULTS.failurePenaltyMs;
    this.estimate = new Float64Array(hosts.length).fill(opts.defaultRttMs ?? PEAK_EWMA_DEFAULTS.defaultRttMs);
    this.stamp = new Float64Array(hosts.length).fill(this.clock.monotonic());
    hosts.forEach((h, i) => this.index.set(h, i));
  }

  pick(ctx: PickContext): HostState | undefined {
    const view = this.view;
    const a = view.sampleUsable(ctx);
    if (a < 0) return undefined;
    const b = view.sampleUsable(ctx, a);
    if (b < 0) return view.hosts[a];
    const now = this.clock.monotonic();
    return this.cost(b, now) < this.cost(a, now) ? view.hosts[b] : view.hosts[a];
  }

  onResult(host: HostState, latencyMs: number, failed: boolean): void {
    const i = this.index.get(host);
    if (i === undefined) return;
    const rtt = failed && latencyMs < this.failurePenalty ? this.failurePenalty : latencyMs;
    const now = this.clock.monotonic();
    const current = this.decayed(i, now);
    if (rtt > current) {
      this.estimate[i] = rtt;
    } else {
      const elapsed = now - this.stamp[i]!;
      const w = Math.exp(-elapsed / this.tau);
      this.estimate[i] = current * w + rtt * (1 - w);
    }
    this.stamp[i] = now;
  }

  onHealthChanged(panic: boolean): void {
    this.view.refresh(panic);
  }

  /** Carry latency estimates over from the balancer this one replaces (matched by host key). */
  adopt(prev: PeakEwmaBalancer): void {
    const byKey = new Map<string, number>();
    for (const [h, i] of prev.index) byKey.set(h.key, i);
    for (const [h, i] of this.index) {
      const j = byKey.get(h.key);
      if (j === undefined) continue;
      this.estimate[i] = prev.estimate[j]!;
      this.stamp[i] = prev.stamp[j]!;
    }
  }

  /** Current latency estimate of a host in ms (for /clusters stats), or undefined for a foreign host. */
  latencyEstimate(host: HostState): number | undefined {
    const i = this.index.get(host);
    return i === undefined ? undefined : this.decayed(i, this.clock.monotonic());
  }

  private decayed(i: number, now: number): number {
    const elapsed = now - this.stamp[i]!;
    return elapsed > 0 ? this.estimate[i]! * Math.exp(-elapsed / this.tau) : this.estimate[i]!;
  }

  private cost(i: number, now: number): number {
    return this.decayed(i, now) * (this.view.hosts[i]!.activeRequests + 1);
  }
}
