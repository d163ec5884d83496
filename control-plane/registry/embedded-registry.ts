// The embedded service registry (no cluster needed): sidecars register when
// they connect over xDS and unregister when their stream ends, and an optional
// YAML file (see file-source.ts) adds services and endpoints that have no
// sidecar registering for them. A service exists while either source lists it.
// Changes are applied per service, so a reconnect storm of N sidecars costs
// O(N × endpoints of their own service), not O(N²).

import { serviceHostname, spiffeId, type RegistryEvent, type ServiceEndpoint, type ServiceInfo, type ServicePort, type ServiceRegistry } from './types.js';
import { readNodeRegistration, type NodeLike, type NodeRegistration } from './node-registration.js';

/** Services and endpoints from a static source (the watched file). */
export interface StaticEntries {
  services: ServiceInfo[];
  endpoints: ServiceEndpoint[];
}

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;

export class EmbeddedRegistry implements ServiceRegistry {
  private nodes = new Map<string, NodeRegistration>();
  private nodesByKey = new Map<string, Map<string, NodeRegistration>>();
  private fileServices = new Map<string, ServiceInfo>();
  private fileEndpoints = new Map<string, ServiceEndpoint[]>();
  private servicesByKey = new Map<string, ServiceInfo>();
  private endpointsByKey = new Map<string, ServiceEndpoint[]>();
  private listeners = new Set<(ev: RegistryEvent) => void>();
  private trustDomain: string;
  private readonly clusterDomain?: string;

  constructor(opts: { trustDomain?: string; clusterDomain?: string } = {}) {
    this.trustDomain = opts.trustDomain ?? 'cluster.local';
    this.clusterDomain = opts.clusterDomain;
  }

  /** Register (or refresh) a sidecar from its xDS node; throws ValidationError on bad metadata. */
  registerFromNode(node: NodeLike): NodeRegistration {
    const reg = readNodeRegistration(node);
    const prev = this.nodes.get(reg.nodeId);
    const changed = [keyOf(reg.namespace, reg.service)];
    if (prev) {
      this.nodesByKey.get(keyOf(prev.namespace, prev.service))?.delete(prev.nodeId);
      changed.push(keyOf(prev.namespace, prev.service));
    }
    this.nodes.set(reg.nodeId, reg);
    let m = this.nodesByKey.get(changed[0]!);
    if (!m) this.nodesByKey.set(changed[0]!, (m = new Map()));
    m.set(reg.nodeId, reg);
    this.rebuild(changed);
    return reg;
  }

  unregister(nodeId: string): void {
    const reg = this.nodes.get(nodeId);
    if (!reg) return;
    this.nodes.delete(nodeId);
    const key = keyOf(reg.namespace, reg.service);
    const m = this.nodesByKey.get(key);
    m?.delete(nodeId);
    if (m && !m.size) this.nodesByKey.delete(key);
    this.rebuild([key]);
  }

  registration(nodeId: string): NodeRegistration | undefined {
    return this.nodes.get(nodeId);
  }

  /** Every self-registered sidecar (for persisting across restarts). */
  registrations(): NodeRegistration[] {
    return [...this.nodes.values()];
  }

  /** Replace everything the static file contributed. */
  setStaticEntries(entries: StaticEntries): void {
    const keys = new Set([...this.fileServices.keys(), ...this.fileEndpoints.keys()]);
    this.fileServices = new Map(entries.services.map((s) => [keyOf(s.namespace, s.name), s]));
    this.fileEndpoints = new Map();
    for (const e of entries.endpoints) {
      const k = keyOf(e.namespace, e.service);
      const list = this.fileEndpoints.get(k);
      if (list) list.push(e);
      else this.fileEndpoints.set(k, [e]);
    }
    for (const k of [...this.fileServices.keys(), ...this.fileEndpoints.keys()]) keys.add(k);
    this.rebuild(keys);
  }

  /** Endpoint identities (SPIFFE IDs) are derived from the mesh's trust domain; a change re-derives them. */
  setTrustDomain(td: string): void {
    if (td === this.trustDomain) return;
    this.trustDomain = td;
    this.rebuild(new Set([...this.servicesByKey.keys(), ...this.endpointsByKey.keys()]));
  }

  services(): readonly ServiceInfo[] {
    return [...this.servicesByKey.values()];
  }
  service(namespace: string, name: string): ServiceInfo | undefined {
    return this.servicesByKey.get(keyOf(namespace, name));
  }
  endpoints(namespace: string, name: string): readonly ServiceEndpoint[] {
    return this.endpointsByKey.get(keyOf(namespace, name)) ?? [];
  }

  onChange(listener: (ev: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Recompute the given services from both sources; emit an event for each that changed. */
  private rebuild(keys: Iterable<string>): void {
    const events: RegistryEvent[] = [];
    for (const key of new Set(keys)) {
      const [namespace, name] = key.split('/') as [string, string];
      const nodes = [...(this.nodesByKey.get(key)?.values() ?? [])].sort((a, b) => a.nodeId.localeCompare(b.nodeId));
      let svc = this.fileServices.get(key);
      for (const n of nodes) {
        const port: ServicePort = { port: n.servicePort, protocol: n.protocol };
        if (!svc) svc = { name, namespace, hostname: serviceHostname(name, namespace, this.clusterDomain), ports: [port], labels: {} };
        else if (!svc.ports.some((p) => p.port === port.port)) svc = { ...svc, ports: [...svc.ports, port] };
      }
      const eps: ServiceEndpoint[] = (this.fileEndpoints.get(key) ?? []).map((e) => ({ ...e, identity: spiffeId(this.trustDomain, e.namespace, e.serviceAccount) }));
      for (const n of nodes) eps.push(this.endpointOf(n));
      if (!sameJson(svc, this.servicesByKey.get(key))) events.push({ type: 'service', namespace, name });
      if (!sameJson(eps.length ? eps : undefined, this.endpointsByKey.get(key))) events.push({ type: 'endpoints', namespace, name });
      if (svc) this.servicesByKey.set(key, svc);
      else this.servicesByKey.delete(key);
      if (eps.length) this.endpointsByKey.set(key, eps);
      else this.endpointsByKey.delete(key);
    }
    for (const ev of events) for (const l of this.listeners) l(ev);
  }

  private endpointOf(n: NodeRegistration): ServiceEndpoint {
    return {
      id: n.nodeId,
      service: n.service,
      namespace: n.namespace,
      address: n.inboundAddress,
      inboundPort: n.inboundPort,
      appPort: n.appPort,
      labels: n.labels,
      version: n.version,
      serviceAccount: n.serviceAccount,
      identity: spiffeId(this.trustDomain, n.namespace, n.serviceAccount),
      healthy: true,
    };
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
