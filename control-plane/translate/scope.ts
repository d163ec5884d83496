// Scoping: which services one proxy gets config for. Config grows with a
// proxy's dependencies, not with the size of the mesh. A service S is in
// scope for proxy P when
//   1. P asked for it: a request to a host P had no config for made the xDS
//      server call noteDependency(P, host) (on-demand), or
//   2. an ALLOW AuthorizationPolicy protecting S names P explicitly — by its
//      principal (exact or prefix/suffix wildcard, not a bare "*") or by P's
//      namespace — i.e. S's owners declared P a caller, or
//   3. it is a backend or mirror target of an HTTPRoute/GRPCRoute attached to
//      a service already in scope (closure), so a canary split works at once.
//   4. P's traffic is intercepted (REDIRECT) and S has an opaque-TCP port: no
//      request names a TCP destination, so on-demand discovery cannot find it,
//      and a connection passed through in plaintext would be refused by S's
//      STRICT inbound. Each such port costs P one filter chain and one cluster.
//   5. S is a host outside the mesh (a ServiceEntry) exported to P's namespace,
//      as Istio pushes every visible ServiceEntry: P cannot ask for it on
//      demand (a name like api.example.com is not a mesh host). One service per
//      host: the entry in P's namespace first, and never one shadowing a mesh
//      Service's name.
// P's own service is not in scope unless one of these rules puts it there.

import { parseMeshHost } from '../../common/mesh-host.js';
import { spiffeId, type RegistryView, type ServiceInfo } from '../registry/types.js';
import type { AuthorizationPolicy } from '../policy/types.js';
import { namespaceMatcher, principalMatcher, stringMatches } from './authz.js';
import { parentNames, resolveBackendRef, serviceKey, type PolicyIndex, type TranslateInput } from './context.js';
import { selectsLabels } from '../policy/selector.js';
import { exportedTo } from './external-services.js';

/** Resolve a host the proxy asked for (`reviews`, `reviews:9080`, `reviews.prod`, FQDN, a ClusterIP) to a service key. */
export function hostToServiceKey(registry: RegistryView, host: string, nodeNamespace: string): string | undefined {
  const h = parseMeshHost(host, nodeNamespace);
  if (!h) return undefined;
  if (h.kind === 'ip') {
    // A virtual IP (Kubernetes ClusterIP): the app dialled the service by address.
    const svc = registry.services().find((s) => s.addresses?.includes(h.address));
    return svc ? serviceKey(svc.namespace, svc.name) : undefined;
  }
  return registry.service(h.namespace, h.name) ? serviceKey(h.namespace, h.name) : undefined;
}

function principalNames(pattern: string, id: string): boolean {
  if (pattern === '*') return false; // everyone: not a declaration about this proxy
  const m = principalMatcher(pattern);
  return m !== undefined && stringMatches(m, id);
}


/** Services an ALLOW policy protects. */
function protectedServices(p: AuthorizationPolicy, registry: RegistryView): ServiceInfo[] {
  const ns = p.metadata.namespace;
  if (p.spec.targetRef) {
    const s = registry.service(ns, p.spec.targetRef.name);
    return s ? [s] : [];
  }
  const inNs = registry.services().filter((s) => s.namespace === ns);
  const sel = p.spec.selector?.matchLabels;
  if (!sel) return inNs;
  return inNs.filter((s) =>
    registry.endpoints(ns, s.name).some((e) => selectsLabels(sel, e.labels)),
  );
}

/** Rule 5: the external hosts a proxy in `namespace` sees, one service per host name. */
export function visibleExternalServices(registry: RegistryView, namespace: string): ServiceInfo[] {
  const byHost = new Map<string, ServiceInfo>();
  for (const s of registry.services()) {
    if (!s.external || !exportedTo(s, namespace)) continue;
    const mesh = hostToServiceKey(registry, s.hostname, namespace);
    if (mesh !== undefined && !registry.service(...(mesh.split('/') as [string, string]))?.external) continue;
    const prev = byHost.get(s.hostname);
    if (!prev || (s.namespace === namespace && prev.namespace !== namespace)) byHost.set(s.hostname, s);
  }
  return [...byHost.values()];
}

export function servicesInScope(input: TranslateInput, idx: PolicyIndex): ServiceInfo[] {
  const { registry, node, mesh } = input;
  const me = spiffeId(mesh.trustDomain, node.namespace, node.serviceAccount);
  const inMyNamespace = (pattern: string) => stringMatches(namespaceMatcher(pattern, mesh.trustDomain), me);
  const keys = new Set<string>();
  for (const k of input.dependencies) if (registry.service(...(k.split('/') as [string, string]))) keys.add(k);
  if (node.interceptionMode === 'REDIRECT') {
    for (const s of registry.services()) if (!s.external && s.ports.some((p) => p.protocol === 'tcp')) keys.add(serviceKey(s.namespace, s.name));
  }
  for (const s of visibleExternalServices(registry, node.namespace)) keys.add(serviceKey(s.namespace, s.name));

  for (const p of idx.authorizationPolicies) {
    if (p.spec.action !== 'ALLOW') continue;
    const namesMe = p.spec.rules.some((r) =>
      r.from.some(({ source: f }) => {
        // The fields are ANDed, as in the RBAC rule; a bare "*" (or only not* fields) names nobody in particular.
        const byPrincipal = f.principals.some((pr) => principalNames(pr, me));
        const byNamespace = f.namespaces.some((n) => n !== '*' && inMyNamespace(n));
        const excluded = f.notPrincipals.some((pr) => pr === '*' || principalNames(pr, me)) || f.notNamespaces.some((n) => inMyNamespace(n));
        return (
          !excluded &&
          (byPrincipal || byNamespace) &&
          (!f.principals.length || byPrincipal) &&
          (!f.namespaces.length || f.namespaces.some((n) => inMyNamespace(n)))
        );
      }),
    );
    if (!namesMe) continue;
    for (const s of protectedServices(p, registry)) keys.add(serviceKey(s.namespace, s.name));
  }

  // Closure over route backends and mirrors.
  const queue = [...keys];
  while (queue.length) {
    const key = queue.pop()!;
    const parent = registry.service(...(key.split('/') as [string, string]));
    if (!parent) continue;
    for (const route of [...idx.httpRoutes, ...idx.grpcRoutes]) {
      if (!route.spec.parentRefs.some((pr) => parentNames(route.metadata.namespace, pr, parent))) continue;
      for (const rule of route.spec.rules) {
        const refs = [...rule.backendRefs, ...rule.filters.flatMap((f) => (f.type === 'RequestMirror' ? [f.requestMirror.backendRef] : []))];
        for (const b of refs) {
          const r = resolveBackendRef(registry, route.metadata.namespace, b);
          if (!r) continue;
          const k = serviceKey(r.service.namespace, r.service.name);
          if (!keys.has(k)) {
            keys.add(k);
            queue.push(k);
          }
        }
      }
    }
  }
  return [...keys]
    .sort()
    .map((k) => registry.service(...(k.split('/') as [string, string])))
    .filter((s): s is ServiceInfo => s !== undefined);
}
