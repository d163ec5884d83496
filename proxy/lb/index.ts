// Builds the load balancer a cluster's lbPolicy asks for.

import type { Cluster } from '../config/resources.js';
import { RoundRobinBalancer } from './round-robin.js';
import type { HostState, LoadBalancer } from './types.js';

export type { HostState, LoadBalancer, PickContext } from './types.js';

export function createLoadBalancer(cluster: Pick<Cluster, 'lbPolicy'>, hosts: readonly HostState[]): LoadBalancer {
  switch (cluster.lbPolicy) {
    default:
      return new RoundRobinBalancer(hosts);
  }
}
