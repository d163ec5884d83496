// Weighted round robin (Envoy's ROUND_ROBIN): hosts repeat in a schedule in
// proportion to their weights; ejected hosts and hosts to exclude are skipped.

import type { HostState, LoadBalancer, PickContext } from './types.js';

export class RoundRobinBalancer implements LoadBalancer {
  private readonly schedule: HostState[];
  private next = 0;
  private panic = false;

  constructor(hosts: readonly HostState[]) {
    // Interleave by weight (smooth weighted round robin, as nginx does), so a
    // 3:1 weighting yields a b a a, not a a a b.
    const current = hosts.map(() => 0);
    const total = hosts.reduce((s, h) => s + h.endpoint.weight, 0);
    const schedule: HostState[] = [];
    const length = Math.min(total, 10_000);
    for (let n = 0; n < length; n++) {
      let best = 0;
      for (let i = 0; i < hosts.length; i++) {
        current[i]! += hosts[i]!.endpoint.weight;
        if (current[i]! > current[best]!) best = i;
      }
      current[best]! -= total;
      schedule.push(hosts[best]!);
    }
    this.schedule = schedule;
    this.next = hosts.length ? Math.floor(Math.random() * schedule.length) : 0;
  }

  pick(ctx: PickContext): HostState | undefined {
    const s = this.schedule;
    const n = s.length;
    if (n === 0) return undefined;
    let fallback: HostState | undefined;
    for (let i = 0; i < n; i++) {
      const h = s[this.next]!;
      this.next = this.next + 1 === n ? 0 : this.next + 1;
      if (h.ejected && !this.panic) continue;
      if (ctx.exclude?.has(h)) {
        fallback ??= h;
        continue;
      }
      return h;
    }
    // Every healthy host was tried already: reuse one rather than fail.
    return fallback;
  }

  onHealthChanged(panic: boolean): void {
    this.panic = panic;
  }
}
