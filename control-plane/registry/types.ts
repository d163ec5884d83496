// The service registry contract: which services exist and which workload
// instances (endpoints) back them. The embedded registry (sidecars register
// themselves, plus an optional watched YAML file) and a Kubernetes registry
// (Services/EndpointSlices/Pods) both implement `ServiceRegistry`; the
// translator only ever sees a `RegistryView`.

export type AppProtocol = 'http' | 'http2' | 'grpc' | 'tcp';

export interface ServicePort {
  name?: string;
  /** The port clients address (`reviews:9080`). */
  port: number;
  protocol: AppProtocol;
  /** The app speaks TLS itself on this port (a ServiceEntry's HTTPS and TLS ports): claimed by SNI, passed through. */
  tls?: boolean;
}

/** A host outside the mesh, from a ServiceEntry (control-plane/translate/external-services.ts). */
export interface ExternalServiceInfo {
  /** The ServiceEntry: `<namespace>/<name>`. */
  entry: string;
  resolution: 'DNS' | 'DNS_ROUND_ROBIN' | 'STATIC';
  /** Where the host is reached: its own name unless the entry lists endpoints. */
  endpoints: { address: string; weight: number; ports: Readonly<Record<number, number>> }[];
  /** Service port → the port endpoints are dialled on (targetPort), when it differs. */
  targetPorts: Readonly<Record<number, number>>;
  exportTo: readonly string[];
}

export interface ServiceInfo {
  name: string;
  namespace: string;
  /** Fully-qualified host: `<name>.<namespace>.svc.cluster.local`. */
  hostname: string;
  ports: ServicePort[];
  labels: Record<string, string>;
  /** Virtual IPs clients may dial instead of the name (Kubernetes ClusterIPs; a ServiceEntry's addresses, CIDRs too). */
  addresses?: string[];
  /** Set for hosts outside the mesh: no sidecar, no mTLS, resolved by the calling sidecar. */
  external?: ExternalServiceInfo;
}

/** One workload instance of a service, reached through its sidecar's inbound listener. */
export interface ServiceEndpoint {
  /** Stable id: the xDS node id for self-registered sidecars, `file:<…>` for file entries, the pod uid on Kubernetes. */
  id: string;
  service: string;
  namespace: string;
  /** The sidecar's inbound address (what other sidecars connect to, over mTLS). */
  address: string;
  inboundPort: number;
  /** The local application's port behind the sidecar. */
  appPort?: number;
  /**
   * Service port → the port this endpoint serves it on, for services with
   * several ports (Kubernetes: the EndpointSlice port of the same name).
   * Absent: `inboundPort` serves every port of the service.
   */
  targetPorts?: Readonly<Record<number, number>>;
  labels: Record<string, string>;
  /** Usually labels.version; used for subsets (`outbound|9080|v2|reviews…`). */
  version?: string;
  serviceAccount: string;
  /** SPIFFE ID: spiffe://<trust domain>/ns/<namespace>/sa/<serviceAccount>. */
  identity: string;
  healthy: boolean;
}

export interface RegistryView {
  services(): readonly ServiceInfo[];
  service(namespace: string, name: string): ServiceInfo | undefined;
  endpoints(namespace: string, name: string): readonly ServiceEndpoint[];
}

export type RegistryEvent =
  | { type: 'service'; namespace: string; name: string }
  | { type: 'endpoints'; namespace: string; name: string }
  /** Many services may have changed at once (e.g. a Kubernetes relist): re-read the whole view. */
  | { type: 'resync' };

export interface ServiceRegistry extends RegistryView {
  /** Called after every change; returns an unsubscribe function. Listeners must not throw. */
  onChange(listener: (ev: RegistryEvent) => void): () => void;
  close?(): Promise<void> | void;
}

export function serviceHostname(name: string, namespace: string, clusterDomain = 'cluster.local'): string {
  return `${name}.${namespace}.svc.${clusterDomain}`;
}

export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}
