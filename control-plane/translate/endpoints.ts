// ClusterLoadAssignments (EDS): a cluster's endpoints are the destination
// sidecars' inbound addresses, narrowed to one version for subset clusters.

import type { ClusterLoadAssignment } from '../../proxy/config/resources.js';
import { endpointsOf, outboundClusterName, type ResolvedBackend, type TranslateInput } from './context.js';

export function loadAssignment(input: TranslateInput, b: ResolvedBackend): ClusterLoadAssignment {
  const eps = [...endpointsOf(input.registry, b)].sort((x, y) => x.id.localeCompare(y.id));
  return {
    clusterName: outboundClusterName(b),
    endpoints: eps.map((e) => ({
      address: { address: e.address, port: e.inboundPort },
      weight: 1,
      healthStatus: e.healthy ? 'HEALTHY' : 'UNHEALTHY',
      priority: 0,
      metadata: { identity: e.identity, workload: e.id, ...(e.version ? { version: e.version } : {}) },
    })),
  };
}
