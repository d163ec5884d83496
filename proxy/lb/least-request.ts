// Envoy's LEAST_REQUEST: choiceCount hosts sampled (default 2, "power of two
// choices"), the one with the fewest active requests wins. With unequal
// weights the candidates are sampled ∝ weight and compared by
// activeRequests/weight, so a host's share follows its weight at equal load
// and falls as its queue grows (Envoy's weight/(active+1) with bias 1).

import { HostView } from './host-view.js';
import type { HostState, LoadBalancer, PickContext } from './types.js';

export class LeastRequestBalancer implements LoadBalancer {
  private readonly view: HostView;
  private readonly choices: number;

  constructor(hosts: readonly HostState[], choiceCount = 2, random: () => number = Math.random) {
    this.view = new HostView(hosts, random);
    this.choices = Math.max(2, Math.floor(choiceCount));
  }

  pick(ctx: PickContext): HostState | undefined {
    const view = this.view;
    let best = view.sampleUsable(ctx);
    if (best < 0) return undefined;
    const hosts = view.hosts;
    let bestLoad = load(hosts[best]!);
    for (let c = 1; c < this.choices; c++) {
      const i = view.sampleUsable(ctx, best);
      if (i < 0) break;
      const l = load(hosts[i]!);
      if (l < bestLoad) {
        best = i;
        bestLoad = l;
      }
    }
    return hosts[best];
  }

  onHealthChanged(panic: boolean): void {
    this.view.refresh(panic);
  }
}

function load(h: HostState): number {
  return (h.activeRequests + 1) / h.endpoint.weight;
}
