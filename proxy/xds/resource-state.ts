// The xDS client's view of what it holds: domain resources and versions per
// type, which names each non-wildcard type must subscribe to (derived from the
// listeners and clusters held), and the assembled ConfigSnapshot.

import type { Cluster, ConfigSnapshot, Listener, ResourceKind, ResourceMaps, RouteConfiguration } from '../config/resources.js';
import { isRootsName } from '../tls/file-roots.js';
import type { DomainOf } from './codec/index.js';

export const KINDS: readonly ResourceKind[] = ['listener', 'cluster', 'routeConfiguration', 'clusterLoadAssignment', 'secret'];
export const WILDCARD: ReadonlySet<ResourceKind> = new Set(['listener', 'cluster']);

export type Maps = { [K in ResourceKind]: Map<string, DomainOf[K]> };

export function emptyMaps(): Maps {
  return { listener: new Map(), routeConfiguration: new Map(), cluster: new Map(), clusterLoadAssignment: new Map(), secret: new Map() };
}

export function copyMaps(m: Maps | ResourceMaps): Maps {
  return {
    listener: new Map(m.listener),
    routeConfiguration: new Map(m.routeConfiguration),
    cluster: new Map(m.cluster),
    clusterLoadAssignment: new Map(m.clusterLoadAssignment),
    secret: new Map(m.secret),
  };
}

function listenerRefs(l: Listener, rds: Set<string>, sds: Set<string>): void {
  if (l.apiListener?.rdsRouteConfigName) rds.add(l.apiListener.rdsRouteConfigName);
  for (const c of l.filterChains) {
    if (c.filter.kind === 'http' && c.filter.rdsRouteConfigName) rds.add(c.filter.rdsRouteConfigName);
    if (c.transportSocket?.certificateSecret) sds.add(c.transportSocket.certificateSecret);
    if (c.transportSocket?.validationSecret) sds.add(c.transportSocket.validationSecret);
  }
}

/** A cluster's secrets to ask for: not roots read on the sidecar itself (file-root:, system-roots). */
function clusterSecrets(c: Cluster, sds: Set<string>): void {
  if (c.transportSocket?.certificateSecret) sds.add(c.transportSocket.certificateSecret);
  const v = c.transportSocket?.validationSecret;
  if (v && !isRootsName(v)) sds.add(v);
}

/** Names the explicit-subscription types need, given the listeners and clusters held. */
export function referencedNames(m: Maps): Record<'routeConfiguration' | 'clusterLoadAssignment' | 'secret', Set<string>> {
  const rds = new Set<string>();
  const eds = new Set<string>();
  const sds = new Set<string>();
  for (const l of m.listener.values()) listenerRefs(l, rds, sds);
  for (const c of m.cluster.values()) {
    if (c.type === 'EDS') eds.add(c.edsServiceName ?? c.name);
    clusterSecrets(c, sds);
  }
  return { routeConfiguration: rds, clusterLoadAssignment: eds, secret: sds };
}

function routeClusters(rc: RouteConfiguration, out: Set<string>): void {
  for (const vh of rc.virtualHosts) {
    for (const r of vh.routes) {
      const a = r.route;
      if (!a) continue;
      if (a.cluster) out.add(a.cluster);
      for (const w of a.weightedClusters ?? []) out.add(w.name);
      for (const m of a.requestMirrorPolicies) out.add(m.cluster);
    }
  }
}

/** Clusters that routes and TCP proxies send traffic to (route configs held or inline in listeners). */
export function clustersInUse(m: Maps): Set<string> {
  const out = new Set<string>();
  for (const rc of m.routeConfiguration.values()) routeClusters(rc, out);
  for (const l of m.listener.values()) {
    if (l.apiListener?.routeConfig) routeClusters(l.apiListener.routeConfig, out);
    for (const c of l.filterChains) {
      if (c.filter.kind === 'http') {
        if (c.filter.routeConfig) routeClusters(c.filter.routeConfig, out);
      } else {
        if (c.filter.cluster) out.add(c.filter.cluster);
        for (const w of c.filter.weightedClusters ?? []) out.add(w.name);
      }
    }
  }
  return out;
}

export function toSnapshot(m: Maps, versions: Record<ResourceKind, string>): ConfigSnapshot {
  return { resources: copyMaps(m), versions: { ...versions } };
}

export function sameNames(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
