// The eligible hosts of one balancer and weighted sampling over them, shared by
// RANDOM, LEAST_REQUEST and PEAK_EWMA. `eligible` holds indexes into `hosts`:
// the hosts not ejected, or every host in panic mode. It is rebuilt on
// onHealthChanged(); between rebuilds pick-time checks of `ejected` keep a
// stale view safe. Sampling is O(1) with equal weights, O(log n) otherwise.

import type { HostState, PickContext } from './types.js';

/** Resampling attempts before falling back to a scan when sampled hosts are unusable. */
const RESAMPLES = 4;

export class HostView {
  readonly hosts: readonly HostState[];
  private eligible: Int32Array;
  private count = 0;
  /** cumulative[i] = sum of weights of eligible[0..i]; empty when all weights are equal. */
  private cumulative: Float64Array;
  private total = 0;
  private uniform = true;
  panic = false;

  constructor(hosts: readonly HostState[], private readonly random: () => number = Math.random) {
    this.hosts = hosts;
    this.eligible = new Int32Array(hosts.length);
    this.cumulative = new Float64Array(hosts.length);
    this.refresh(false);
  }

  get size(): number {
    return this.count;
  }

  /** Rebuild the eligible set after health changed. */
  refresh(panic: boolean): void {
    this.panic = panic;
    const hosts = this.hosts;
    let n = 0;
    for (let i = 0; i < hosts.length; i++) if (panic || !hosts[i]!.ejected) this.eligible[n++] = i;
    this.count = n;
    let total = 0;
    let uniform = true;
    const w0 = n ? hosts[this.eligible[0]!]!.endpoint.weight : 0;
    for (let i = 0; i < n; i++) {
      const w = hosts[this.eligible[i]!]!.endpoint.weight;
      if (w !== w0) uniform = false;
      total += w;
      this.cumulative[i] = total;
    }
    this.total = total;
    this.uniform = uniform;
  }

  /** Index into `hosts` of one eligible host, chosen with probability ∝ weight; -1 when none. */
  sample(): number {
    const n = this.count;
    if (n === 0) return -1;
    if (this.uniform) return this.eligible[Math.floor(this.random() * n)]!;
    const target = this.random() * this.total;
    const c = this.cumulative;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c[mid]! > target) hi = mid;
      else lo = mid + 1;
    }
    return this.eligible[lo]!;
  }

  usable(i: number, ctx: PickContext): boolean {
    const h = this.hosts[i]!;
    return (this.panic || !h.ejected) && !(ctx.exclude !== undefined && ctx.exclude.has(h));
  }

  /**
   * A usable host index (not ejected unless in panic, not excluded), optionally different from
   * `other`. Falls back to a scan, then to an excluded-but-healthy host (retrying on a host tried
   * before beats failing the request). -1 when no host is eligible at all.
   */
  sampleUsable(ctx: PickContext, other = -1): number {
    for (let t = 0; t < RESAMPLES; t++) {
      const i = this.sample();
      if (i < 0) return -1;
      if (i !== other && this.usable(i, ctx)) return i;
    }
    const n = this.count;
    const start = Math.floor(this.random() * n);
    let fallback = -1;
    for (let k = 0; k < n; k++) {
      const i = this.eligible[(start + k) % n]!;
      if (i === other) continue;
      if (this.usable(i, ctx)) return i;
      if (fallback < 0 && (this.panic || !this.hosts[i]!.ejected)) fallback = i;
    }
    return other >= 0 ? -1 : fallback;
  }
}
