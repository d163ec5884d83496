// The embedded service registry (no cluster needed): sidecars register when
// they connect over xDS and unregister when their stream ends, and an optional
// YAML file (see file-source.ts) adds services and endpoints that have no
// sidecar registering for them. A service exists while either source lists it.

import { serviceHostname, spiffeId, type RegistryEvent, type ServiceEndpoint, type ServiceInfo, type ServicePort, type ServiceRegistry } from './types.js';
import { readNodeRegistration, type NodeLike, type NodeRegistration } from './node-registration.js';

/** Services and endpoints from a static source (the watched file). */
export interface StaticEntries {
  services: ServiceInfo[];
  endpoints: ServiceEndpoint[];
}

export class EmbeddedRegistry implements ServiceRegistry {
  private nodes = new Map<string, NodeRegistration>();
  private fileEntries: StaticEntries = { services: [], endpoints: [] };
  private servicesByKey = new Map<string, ServiceInfo>();
  private endpointsByKey = new Map<string, ServiceEndpoint[]>();
  private listeners = new Set<(ev: RegistryEvent) => void>();

  private trustDomain: string;

  constructor(opts: { trustDomain?: string; clusterDomain?: string } = {}) {
    this.trustDomain = opts.trustDomain ?? 'cluster.local';
    this.clusterDomain = opts.clusterDomain;
  }
  private readonly clusterDomain?: string;

  /** Register (or refresh) a sidecar from its xDS node; throws ValidationError on bad metadata. */
  registerFromNode(node: NodeLike): NodeRegistration {
    const reg = readNodeRegistration(node);
    this.nodes.set(reg.nodeId, reg);
    this.rebuild();
    return reg;
  }

  unregister(nodeId: string): void {
    if (this.nodes.delete(nodeId)) this.rebuild();
  }

  registration(nodeId: string): NodeRegistration | undefined {
    return this.nodes.get(nodeId);
  }

  /** Replace everything the static file contributed. */
  setStaticEntries(entries: StaticEntries): void {
    this.fileEntries = entries;
    this.rebuild();
  }

  /** Endpoint identities (SPIFFE IDs) are derived from the mesh's trust domain; a change re-derives them. */
  setTrustDomain(td: string): void {
    if (td === this.trustDomain) return;
    this.trustDomain = td;
    this.rebuild();
  }

  services(): readonly ServiceInfo[] {
    return [...this.servicesByKey.values()];
  }
  service(namespace: string, name: string): ServiceInfo | undefined {
    return this.servicesByKey.get(`${namespace}/${name}`);
  }
  endpoints(namespace: string, name: string): readonly ServiceEndpoint[] {
    return this.endpointsByKey.get(`${namespace}/${name}`) ?? [];
  }

  onChange(listener: (ev: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  private rebuild(): void {
    const td = this.trustDomain;
    const services = new Map<string, ServiceInfo>();
    const endpoints = new Map<string, ServiceEndpoint[]>();
    for (const s of this.fileEntries.services) services.set(`${s.namespace}/${s.name}`, s);
    for (const e of this.fileEntries.endpoints) push(endpoints, `${e.namespace}/${e.service}`, { ...e, identity: spiffeId(td, e.namespace, e.serviceAccount) });
    for (const n of [...this.nodes.values()].sort((a, b) => a.nodeId.localeCompare(b.nodeId))) {
      const key = `${n.namespace}/${n.service}`;
      const port: ServicePort = { port: n.servicePort, protocol: n.protocol };
      const svc = services.get(key);
      if (!svc) {
        services.set(key, { name: n.service, namespace: n.namespace, hostname: serviceHostname(n.service, n.namespace, this.clusterDomain), ports: [port], labels: {} });
      } else if (!svc.ports.some((p) => p.port === port.port)) {
        services.set(key, { ...svc, ports: [...svc.ports, port] });
      }
      push(endpoints, key, {
        id: n.nodeId,
        service: n.service,
        namespace: n.namespace,
        address: n.inboundAddress,
        inboundPort: n.inboundPort,
        appPort: n.appPort,
        labels: n.labels,
        version: n.version,
        serviceAccount: n.serviceAccount,
        identity: spiffeId(td, n.namespace, n.serviceAccount),
        healthy: true,
      });
    }
    const events: RegistryEvent[] = [];
    for (const key of new Set([...services.keys(), ...this.servicesByKey.keys()])) {
      const [namespace, name] = key.split('/') as [string, string];
      if (JSON.stringify(services.get(key)) !== JSON.stringify(this.servicesByKey.get(key))) events.push({ type: 'service', namespace, name });
    }
    for (const key of new Set([...endpoints.keys(), ...this.endpointsByKey.keys()])) {
      const [namespace, name] = key.split('/') as [string, string];
      if (JSON.stringify(endpoints.get(key)) !== JSON.stringify(this.endpointsByKey.get(key))) events.push({ type: 'endpoints', namespace, name });
    }
    this.servicesByKey = services;
    this.endpointsByKey = endpoints;
    for (const ev of events) for (const l of this.listeners) l(ev);
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}
