// Builds the load balancer a cluster's lbPolicy asks for. PEAK_EWMA
// (latency-aware P2C) is tsmesh's default when no policy is named.

import type { Clock } from '../../common/clock.js';
import type { Cluster } from '../config/resources.js';
import { LeastRequestBalancer } from './least-request.js';
import { MaglevBalancer } from './maglev.js';
import { PeakEwmaBalancer, type PeakEwmaOptions } from './peak-ewma.js';
import { RandomBalancer } from './random.js';
import { RingHashBalancer } from './ring-hash.js';
import { RoundRobinBalancer } from './round-robin.js';
import type { HostState, LoadBalancer } from './types.js';

export type { HostState, LoadBalancer, PickContext } from './types.js';
export { computeHashKey, affinityCookie, type HashKeySource } from './hash-key.js';
export { PeakEwmaBalancer } from './peak-ewma.js';

export interface BalancerOptions {
  clock?: Clock;
  random?: () => number;
  peakEwma?: Omit<PeakEwmaOptions, 'clock' | 'random'>;
}

export function createLoadBalancer(
  cluster: Partial<Pick<Cluster, 'lbPolicy' | 'ringHash' | 'leastRequest'>>,
  hosts: readonly HostState[],
  opts: BalancerOptions = {},
): LoadBalancer {
  const random = opts.random ?? Math.random;
  switch (cluster.lbPolicy) {
    case 'ROUND_ROBIN':
      return new RoundRobinBalancer(hosts);
    case 'RANDOM':
      return new RandomBalancer(hosts, random);
    case 'LEAST_REQUEST':
      return new LeastRequestBalancer(hosts, cluster.leastRequest?.choiceCount ?? 2, random);
    case 'RING_HASH':
      return new RingHashBalancer(hosts, { ...cluster.ringHash, random });
    case 'MAGLEV':
      return new MaglevBalancer(hosts, undefined, random);
    case 'PEAK_EWMA':
    default:
      return new PeakEwmaBalancer(hosts, { ...opts.peakEwma, clock: opts.clock, random });
  }
}
