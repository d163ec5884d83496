// ClusterLoadAssignments (EDS): a cluster's endpoints are the destination
// sidecars' inbound addresses (per service port when the registry maps
// ports), narrowed to one version for subset clusters.

import type { ClusterLoadAssignment } from '../../proxy/config/resources.js';
import { externalEndpoints } from './external-services.js';
import { endpointsOf, outboundClusterName, type ResolvedBackend, type TranslateInput } from './context.js';

export function loadAssignment(input: TranslateInput, b: ResolvedBackend): ClusterLoadAssignment {
  // A ServiceEntry with resolution STATIC: the addresses it lists.
  if (b.service.external) return { clusterName: outboundClusterName(b), endpoints: externalEndpoints(b) };
  // A multi-port service's endpoint is dialled on the port that serves this service port; one that
  // does not serve it (its pod lacks the named port) is left out, as kube-proxy does.
  const eps = [...endpointsOf(input.registry, b)]
    .filter((e) => e.targetPorts === undefined || e.targetPorts[b.port.port] !== undefined)
    .sort((x, y) => x.id.localeCompare(y.id));
  return {
    clusterName: outboundClusterName(b),
    endpoints: eps.map((e) => ({
      address: { address: e.address, port: e.targetPorts?.[b.port.port] ?? e.inboundPort },
      weight: 1,
      healthStatus: e.healthy ? 'HEALTHY' : 'UNHEALTHY',
      priority: 0,
      metadata: { identity: e.identity, workload: e.id, ...(e.version ? { version: e.version } : {}) },
    })),
  };
}
