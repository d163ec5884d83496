// translate(): (policies, registry, mesh config, proxy node) → that proxy's
// ResourceMaps. Pure: same input, same output, no I/O.

import type { Cluster, ClusterLoadAssignment, Listener, ResourceMaps, RouteConfiguration, Secret } from '../../proxy/config/resources.js';
import { indexPolicies, localApps, type TranslateInput } from './context.js';
import { servicesInScope } from './scope.js';
import { outboundRouteConfiguration, type UsedClusters } from './routes.js';
import { inboundCluster, outboundCluster } from './clusters.js';
import { loadAssignment } from './endpoints.js';
import { inboundListener, outboundListener } from './listeners.js';
import { secrets } from './secrets.js';

export type { TranslateInput } from './context.js';

const byName = <T extends { name: string }>(list: T[]) => new Map(list.sort((a, b) => a.name.localeCompare(b.name)).map((x) => [x.name, x]));

export function translate(input: TranslateInput): ResourceMaps {
  const idx = indexPolicies(input.policies);
  const services = servicesInScope(input, idx);
  const used: UsedClusters = new Map();
  const routes: RouteConfiguration[] = [outboundRouteConfiguration(input, idx, services, used)];
  const apps = localApps(input);
  const clusters: Cluster[] = apps.map((a) => inboundCluster(input.node, a));
  const assignments: ClusterLoadAssignment[] = [];
  for (const b of used.values()) {
    clusters.push(outboundCluster(input, idx, b));
    assignments.push(loadAssignment(input, b));
  }
  const listeners: Listener[] = [outboundListener(input), inboundListener(input, idx, apps)];
  const secretList: Secret[] = secrets(input);
  return {
    listener: byName(listeners),
    routeConfiguration: byName(routes),
    cluster: byName(clusters),
    clusterLoadAssignment: new Map(assignments.sort((a, b) => a.clusterName.localeCompare(b.clusterName)).map((a) => [a.clusterName, a])),
    secret: byName(secretList),
  };
}

/** ResourceMaps as plain JSON (maps → objects), for admin output and golden files. */
export function resourceMapsToJson(r: ResourceMaps): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [kind, map] of Object.entries(r) as [string, ReadonlyMap<string, unknown>][]) out[kind] = Object.fromEntries(map);
  return out;
}
