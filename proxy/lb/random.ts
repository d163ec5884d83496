// Envoy's RANDOM: a host chosen at random with probability ∝ weight.

import { HostView } from './host-view.js';
import type { HostState, LoadBalancer, PickContext } from './types.js';

export class RandomBalancer implements LoadBalancer {
  private readonly view: HostView;

  constructor(hosts: readonly HostState[], random: () => number = Math.random) {
    this.view = new HostView(hosts, random);
  }

  pick(ctx: PickContext): HostState | undefined {
    const i = this.view.sampleUsable(ctx);
    return i < 0 ? undefined : this.view.hosts[i];
  }

  onHealthChanged(panic: boolean): void {
    this.view.refresh(panic);
  }
}
