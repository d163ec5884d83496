// translate(): (policies, registry, mesh config, proxy node) → that proxy's
// ResourceMaps. Pure: same input, same output, no I/O.

import type { Cluster, ClusterLoadAssignment, Listener, ResourceMaps, RouteConfiguration, Secret } from '../../proxy/config/resources.js';
import { indexPolicies, localApps, type ResolvedBackend, type TranslateInput } from './context.js';
import { externalServices, withExternalServices } from './external-services.js';
import { servicesInScope } from './scope.js';
import { outboundRouteConfiguration, type UsedClusters } from './routes.js';
import { INBOUND_PASSTHROUGH, inboundCluster, outboundCluster } from './clusters.js';
import { loadAssignment } from './endpoints.js';
import { INBOUND_LISTENER, inboundListener, outboundListener } from './listeners.js';
import { tcpServices } from './tcp-services.js';
import { secrets } from './secrets.js';
import type { TranslateMemo } from './memo.js';
import { sharedInboundListener } from './inbound-shared.js';

export type { TranslateInput } from './context.js';
export { TranslateMemo } from './memo.js';

const byName = <T extends { name: string }>(list: T[]) => new Map([...list].sort((a, b) => a.name.localeCompare(b.name)).map((x) => [x.name, x]));

/**
 * `memo` (one per controller round: same policies, registry, mesh and trust bundle for every call)
 * shares what does not depend on the proxy — outbound clusters, their endpoints, the route table
 * of a namespace + scope, secrets, the outbound listener, a service's inbound cluster and inbound
 * chains — as the same objects across proxies. With a memo, `previous` (this proxy's last config)
 * lets an unchanged inbound listener keep its object (see inbound-shared.ts).
 */
export function translate(given: TranslateInput, memo?: TranslateMemo, previous?: ResourceMaps): ResourceMaps {
  const idx = memo ? memo.get('idx', () => indexPolicies(given.policies)) : indexPolicies(given.policies);
  // ServiceEntries join the registry as external services (one per host).
  const withExternal = () => withExternalServices(given.registry, externalServices(idx.serviceEntries));
  const input: TranslateInput = idx.serviceEntries.length ? { ...given, registry: memo ? memo.get('registry', withExternal) : withExternal() } : given;
  const services = servicesInScope(input, idx);
  let used: UsedClusters = new Map();
  let routes: RouteConfiguration[];
  if (memo) {
    // The route table depends on the proxy only through its namespace (short host names) and its scope.
    const key = `routes\0${input.node.namespace}\0${services.map((s) => `${s.namespace}/${s.name}`).join('\0')}`;
    const shared = memo.get(key, () => {
      const u: UsedClusters = new Map();
      return { rc: outboundRouteConfiguration(input, idx, services, u), used: u };
    });
    routes = [shared.rc];
    used = shared.used;
  } else routes = [outboundRouteConfiguration(input, idx, services, used)];
  const apps = localApps(input);
  // The inbound cluster depends on the node only through its service, namespace and version: shared by replicas.
  const me = input.node;
  const clusters: Cluster[] = apps.map((a) =>
    memo ? memo.get(`inboundCluster\0${me.service}\0${me.namespace}\0${me.version ?? ''}\0${a.port}\0${a.protocol}`, () => inboundCluster(me, a)) : inboundCluster(me, a),
  );
  if (input.node.interceptionMode === 'REDIRECT') clusters.push(INBOUND_PASSTHROUGH);
  const assignments: ClusterLoadAssignment[] = [];
  const addCluster = (name: string, b: ResolvedBackend) => {
    const c = memo ? memo.get(`cluster\0${name}`, () => outboundCluster(input, idx, b)) : outboundCluster(input, idx, b);
    clusters.push(c);
    // DNS clusters carry their names inline; only EDS clusters get an assignment.
    if (c.type === 'EDS') assignments.push(memo ? memo.get(`cla\0${name}`, () => loadAssignment(input, b)) : loadAssignment(input, b));
  };
  for (const [name, b] of used) addCluster(name, b);
  const { node } = input;
  // Opaque-TCP service ports: with interception, matched by destination IP and port, over mTLS.
  const scopeKey = services.map((s) => `${s.namespace}/${s.name}`).join('\0');
  const tcp = node.interceptionMode === 'REDIRECT' ? (memo ? memo.get(`tcp\0${scopeKey}`, () => tcpServices(input, services)) : tcpServices(input, services)) : [];
  for (const t of tcp) {
    if (used.has(t.cluster)) continue;
    addCluster(t.cluster, t.backend);
  }
  const buildOutbound = () => outboundListener(input, tcp.flatMap((t) => t.chains));
  const outbound = memo ? memo.get(`outboundListener\0${node.interceptionMode ?? ''}\0${node.outboundPort}\0${tcp.length ? scopeKey : ''}`, buildOutbound) : buildOutbound();
  const inbound = memo ? sharedInboundListener(input, idx, apps, memo, previous?.listener.get(INBOUND_LISTENER)) : inboundListener(input, idx, apps);
  const listeners: Listener[] = [outbound, inbound];
  const secretList: Secret[] = memo ? memo.get('secrets', () => secrets(input)) : secrets(input);
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
