// ServiceEntries as services of the registry view the translator reads: one
// ServiceInfo per host (Istio treats each host of an entry as a service of its
// own), marked `external`, so routes, scoping and TCP chains see them as they
// see Kubernetes Services and only clusters and endpoints differ (DNS or
// static addresses, no mesh mTLS). Pure.

import type { ServiceEntry, ServiceEntryProtocol } from '../policy/types.js';
import type { LbEndpoint } from '../../proxy/config/resources.js';
import type { AppProtocol, RegistryView, ServiceInfo, ServicePort } from '../registry/types.js';

const APP_PROTOCOL: Record<ServiceEntryProtocol, AppProtocol> = { HTTP: 'http', HTTP2: 'http2', GRPC: 'grpc', HTTPS: 'tcp', TLS: 'tcp', TCP: 'tcp' };

export function externalServices(entries: readonly ServiceEntry[]): ServiceInfo[] {
  const out: ServiceInfo[] = [];
  const taken = new Set<string>();
  // The same host in two entries of one namespace: the entry first by name wins (deterministic).
  for (const se of [...entries].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const { spec, metadata } = se;
    const ports: ServicePort[] = spec.ports.map((p) => ({
      name: p.name,
      port: p.number,
      protocol: APP_PROTOCOL[p.protocol],
      ...(p.protocol === 'HTTPS' || p.protocol === 'TLS' ? { tls: true } : {}),
    }));
    const targetPorts: Record<number, number> = {};
    for (const p of spec.ports) if (p.targetPort !== undefined && p.targetPort !== p.number) targetPorts[p.number] = p.targetPort;
    const endpoints = spec.endpoints.map((e) => {
      const byNumber: Record<number, number> = {};
      for (const p of spec.ports) if (e.ports[p.name] !== undefined) byNumber[p.number] = e.ports[p.name]!;
      return { address: e.address, weight: e.weight ?? 1, ports: byNumber };
    });
    for (const host of spec.hosts) {
      const key = `${metadata.namespace}/${host}`;
      if (taken.has(key)) continue;
      taken.add(key);
      out.push({
        name: host,
        namespace: metadata.namespace,
        hostname: host,
        ports,
        labels: metadata.labels,
        ...(spec.addresses.length ? { addresses: spec.addresses } : {}),
        external: { entry: `${metadata.namespace}/${metadata.name}`, resolution: spec.resolution, endpoints, targetPorts, exportTo: spec.exportTo },
      });
    }
  }
  return out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

/**
 * The registry plus external services (a Kubernetes Service of the same namespace and name wins). For
 * one translation round: the registry does not change under it, so the merged list is built once.
 */
export function withExternalServices(registry: RegistryView, external: readonly ServiceInfo[]): RegistryView {
  if (!external.length) return registry;
  const byKey = new Map(external.map((s) => [`${s.namespace}/${s.name}`, s]));
  let merged: readonly ServiceInfo[] | undefined;
  return {
    services: () => {
      if (merged) return merged;
      const own = registry.services();
      const ownKeys = new Set(own.map((s) => `${s.namespace}/${s.name}`));
      merged = [...own, ...external.filter((s) => !ownKeys.has(`${s.namespace}/${s.name}`))];
      return merged;
    },
    service: (namespace, name) => registry.service(namespace, name) ?? byKey.get(`${namespace}/${name}`),
    endpoints: (namespace, name) => registry.endpoints(namespace, name),
  };
}

/** Istio's exportTo: `*` every namespace, `.` the entry's own, else the namespaces named. */
export function exportedTo(svc: ServiceInfo, namespace: string): boolean {
  const ext = svc.external;
  if (!ext) return true;
  return ext.exportTo.some((x) => x === '*' || x === namespace || (x === '.' && svc.namespace === namespace));
}

/**
 * Where a sidecar sends an entry host's port: each endpoint (a name for DNS, an address for STATIC)
 * on its own port for it, else the port's targetPort, else the port; DNS with no endpoints: the host.
 */
export function externalEndpoints(b: { service: ServiceInfo; port: ServicePort }): LbEndpoint[] {
  const ext = b.service.external!;
  const port = ext.targetPorts[b.port.port] ?? b.port.port;
  const eps = ext.endpoints.length ? ext.endpoints : [{ address: b.service.hostname, weight: 1, ports: {} as Readonly<Record<number, number>> }];
  return eps.map((e) => ({ address: { address: e.address, port: e.ports[b.port.port] ?? port }, weight: e.weight, healthStatus: 'UNKNOWN', priority: 0, metadata: {} }));
}
