// The translator's input: everything one proxy's config depends on, indexed
// once per translation. Pure data; the translator never mutates it.

import type { NodeRegistration } from '../registry/node-registration.js';
import type { AppProtocol, RegistryView, ServiceEndpoint, ServiceInfo, ServicePort } from '../registry/types.js';
import { exportedTo } from './external-services.js';
import type {
  AuthorizationPolicy,
  DestinationPolicy,
  FaultPolicy,
  PeerAuthentication,
  RateLimitPolicy,
  ServiceEntry,
  GRPCRoute,
  HTTPRoute,
  MeshConfigSpec,
  Policy,
} from '../policy/types.js';

export interface TranslateInput {
  policies: readonly Policy[];
  registry: RegistryView;
  mesh: MeshConfigSpec;
  /** The proxy being configured. */
  node: NodeRegistration;
  /** Service keys (`ns/name`) this proxy has asked for (on-demand) — see scope.ts. */
  dependencies: ReadonlySet<string>;
  /** PEM trust bundle pushed as the ROOTCA secret, when the CA provides one. */
  trustBundle?: string;
}

export interface PolicyIndex {
  httpRoutes: HTTPRoute[];
  grpcRoutes: GRPCRoute[];
  destinationPolicies: Map<string, DestinationPolicy>; // by service key, or `ServiceEntry/<ns>/<name>`
  authorizationPolicies: AuthorizationPolicy[];
  peerAuthentications: PeerAuthentication[];
  faultPolicies: FaultPolicy[];
  rateLimitPolicies: Map<string, RateLimitPolicy>; // by service key
  serviceEntries: ServiceEntry[];
}

export function indexPolicies(policies: readonly Policy[]): PolicyIndex {
  const idx: PolicyIndex = { httpRoutes: [], grpcRoutes: [], destinationPolicies: new Map(), authorizationPolicies: [], peerAuthentications: [], faultPolicies: [], rateLimitPolicies: new Map(), serviceEntries: [] };
  for (const p of policies) {
    if (p.kind === 'HTTPRoute') idx.httpRoutes.push(p);
    else if (p.kind === 'GRPCRoute') idx.grpcRoutes.push(p);
    else if (p.kind === 'AuthorizationPolicy') idx.authorizationPolicies.push(p);
    else if (p.kind === 'FaultPolicy') idx.faultPolicies.push(p);
    else if (p.kind === 'PeerAuthentication') idx.peerAuthentications.push(p);
    else if (p.kind === 'ServiceEntry') idx.serviceEntries.push(p);
    else if (p.kind === 'RateLimitPolicy') {
      const key = `${p.metadata.namespace}/${p.spec.targetRef.name}`;
      const prev = idx.rateLimitPolicies.get(key);
      if (!prev || p.metadata.name < prev.metadata.name) idx.rateLimitPolicies.set(key, p);
    }
    else if (p.kind === 'DestinationPolicy') {
      const target = `${p.spec.targetRef.namespace ?? p.metadata.namespace}/${p.spec.targetRef.name}`;
      const key = p.spec.targetRef.kind === 'ServiceEntry' ? `ServiceEntry/${target}` : target;
      const prev = idx.destinationPolicies.get(key);
      // Two policies for one service: the alphabetically first name wins (deterministic).
      if (!prev || p.metadata.name < prev.metadata.name) idx.destinationPolicies.set(key, p);
    }
  }
  return idx;
}

export const serviceKey = (namespace: string, name: string) => `${namespace}/${name}`;

/** A backend as the proxy sees it: a service port, optionally narrowed to one version (subset). */
export interface ResolvedBackend {
  service: ServiceInfo;
  port: ServicePort;
  subset?: string;
}

/**
 * Resolve a backendRef. A name that is a Service resolves to it. Otherwise
 * `<service>-<version>` resolves to the subset of `<service>` whose endpoints
 * carry that version label (so `reviews-v2` works without declaring a
 * separate Service, as self-registered sidecars of one service do).
 */
export function resolveBackend(
  registry: RegistryView,
  namespace: string,
  name: string,
  port?: number,
  opts: { requireEndpoints?: boolean } = {},
): ResolvedBackend | undefined {
  const pick = (svc: ServiceInfo) => (port === undefined ? svc.ports[0] : svc.ports.find((p) => p.port === port));
  const svc = registry.service(namespace, name);
  if (svc) {
    const p = pick(svc);
    return p ? { service: svc, port: p } : undefined;
  }
  const dash = name.lastIndexOf('-');
  if (dash <= 0) return undefined;
  const base = registry.service(namespace, name.slice(0, dash));
  const version = name.slice(dash + 1);
  if (!base) return undefined;
  // Validation insists the version exists; translation keeps a subset whose endpoints
  // all left, so its share fails (503) instead of silently moving to another version.
  if (opts.requireEndpoints && !registry.endpoints(namespace, base.name).some((e) => e.version === version)) return undefined;
  const p = pick(base);
  return p ? { service: base, port: p, subset: version } : undefined;
}

/** What a backendRef or a parentRef names: a Service (the default), or Istio's Hostname / ServiceEntry. */
export interface ServiceRef {
  kind?: string;
  name: string;
  namespace?: string;
}

/**
 * The external service a Hostname or ServiceEntry ref names, for a route in `routeNamespace`: a
 * ServiceEntry by namespace/name (its first host), a Hostname by host among the entries exported to
 * the route's namespace (its own namespace's first).
 */
export function externalService(registry: RegistryView, routeNamespace: string, ref: ServiceRef): ServiceInfo | undefined {
  const external = registry.services().filter((s) => s.external);
  if (ref.kind === 'ServiceEntry') return external.find((s) => s.external!.entry === `${ref.namespace ?? routeNamespace}/${ref.name}`);
  const named = external.filter((s) => s.hostname === ref.name && exportedTo(s, routeNamespace));
  return named.find((s) => s.namespace === routeNamespace) ?? named[0];
}

/** resolveBackend for any backendRef kind (Service, or Istio's Hostname and ServiceEntry). */
export function resolveBackendRef(registry: RegistryView, routeNamespace: string, ref: ServiceRef, port?: number, opts: { requireEndpoints?: boolean } = {}): ResolvedBackend | undefined {
  if (ref.kind !== 'Hostname' && ref.kind !== 'ServiceEntry') return resolveBackend(registry, ref.namespace ?? routeNamespace, ref.name, port, opts);
  const svc = externalService(registry, routeNamespace, ref);
  const p = svc && (port === undefined ? svc.ports[0] : svc.ports.find((x) => x.port === port));
  return svc && p ? { service: svc, port: p } : undefined;
}

/** Whether a route's parentRef names `svc`: a Service by namespace/name, a ServiceEntry by the entry a host came from. */
export function parentNames(routeNamespace: string, pr: ServiceRef, svc: ServiceInfo): boolean {
  const ns = pr.namespace ?? routeNamespace;
  if (pr.kind === 'ServiceEntry') return svc.external?.entry === `${ns}/${pr.name}`;
  return !svc.external && svc.name === pr.name && svc.namespace === ns;
}

export function outboundClusterName(b: { service: ServiceInfo; port: ServicePort; subset?: string }): string {
  return `outbound|${b.port.port}|${b.subset ?? ''}|${b.service.hostname}`;
}

export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

export function endpointsOf(registry: RegistryView, b: { service: ServiceInfo; subset?: string }): ServiceEndpoint[] {
  return registry.endpoints(b.service.namespace, b.service.name).filter((e) => b.subset === undefined || e.version === b.subset);
}

/**
 * The application behind this sidecar: the port the inbound listener delivers
 * to and its protocol. A sidecar's own report (APP_PORT, PROTOCOL) is all there
 * is for self-registered sidecars. On Kubernetes (INTERCEPTION_MODE=REDIRECT)
 * the Service selecting the pod knows better: the target port its endpoint is
 * dialled on (containerPorts are optional in a pod spec) and that port's
 * protocol (appProtocol or port name — a gRPC app needs HTTP/2 to it).
 */
export function localApp(input: TranslateInput): { port: number; protocol: AppProtocol } {
  const { node, registry } = input;
  const own = { port: node.appPort ?? node.servicePort, protocol: node.protocol };
  if (node.interceptionMode !== 'REDIRECT') return own;
  const mine = registry.service(node.namespace, node.service);
  const candidates = mine ? [mine, ...registry.services().filter((s) => s !== mine && s.namespace === node.namespace)] : registry.services().filter((s) => s.namespace === node.namespace);
  for (const svc of candidates) {
    const ep = registry.endpoints(svc.namespace, svc.name).find((e) => e.address === node.inboundAddress);
    if (!ep) continue;
    const targetOf = (sp: ServicePort) => ep.targetPorts?.[sp.port] ?? ep.appPort ?? ep.inboundPort;
    const port = node.appPort ?? targetOf(svc.ports[0]!);
    const sp = svc.ports.find((p) => targetOf(p) === port);
    if (sp) return { port, protocol: sp.protocol };
  }
  return own;
}

/**
 * Every application port behind a REDIRECT sidecar (Istio builds one inbound chain per port of the
 * Services selecting the pod): the target port each selecting Service's port is dialled on, with its
 * protocol. The first is `localApp`'s (the port-less fallback chains deliver there). Other nodes: just that one.
 */
/** Inbound chains per pod at most (the injector's TSMESH_APP_PORT bound). */
const MAX_APP_PORTS = 32;

export function localApps(input: TranslateInput): { port: number; protocol: AppProtocol }[] {
  const first = localApp(input);
  const { node, registry } = input;
  if (node.interceptionMode !== 'REDIRECT') return [first];
  const out = [first];
  for (const svc of registry.services()) {
    if (out.length >= MAX_APP_PORTS) break;
    if (svc.namespace !== node.namespace) continue;
    const ep = registry.endpoints(svc.namespace, svc.name).find((e) => e.address === node.inboundAddress);
    if (!ep) continue;
    for (const sp of svc.ports) {
      const port = ep.targetPorts?.[sp.port] ?? ep.appPort ?? ep.inboundPort;
      if (port !== node.inboundPort && !out.some((a) => a.port === port)) out.push({ port, protocol: sp.protocol });
    }
  }
  // Deterministic output whatever order the registry lists Services in.
  return [first, ...out.slice(1, MAX_APP_PORTS).sort((a, b) => a.port - b.port)];
}
