// Istio's metric labels: which side of a request is the proxy's own workload,
// how missing peer values are filled, and how the destination service splits
// into name and namespace. Runs only when a new label combination appears.

import type { NodeInfo } from '../config/resources.js';
import type { WorkloadLabels } from './types.js';

/** A side of a request; a host outside the mesh (ServiceEntry) also carries its entry's namespace. */
type Peer = (Partial<WorkloadLabels> & { serviceNamespace?: string }) | undefined;

/** The full Istio label set of one series; runs once per new label combination. */
export function istioLabels(
  self: Required<WorkloadLabels>,
  direction: 'inbound' | 'outbound',
  source: Peer,
  destination: Peer,
  clusterName: string | undefined,
  mtls: boolean,
  flags: string,
  extra: Record<string, string>,
): Readonly<Record<string, string>> {
  // The proxy's own workload fills the side it stands on: source for outbound, destination for inbound.
  const src = resolve(source, direction === 'outbound' ? self : undefined);
  const dst = resolve(destination, direction === 'inbound' ? self : undefined);
  const dstService = dst.service !== 'unknown' ? dst.service : serviceFromCluster(clusterName) ?? 'unknown';
  // A ServiceEntry host is named whole (api.example.com is not name `api` in namespace `example`), as Istio does.
  const [svcName, svcNamespace] = destination?.serviceNamespace ? [dstService, destination.serviceNamespace] : splitService(dstService, dst.namespace);
  const labels: Record<string, string> = {
    reporter: direction === 'outbound' ? 'source' : 'destination',
    source_workload: src.workload,
    source_workload_namespace: src.namespace,
    source_principal: src.principal,
    source_app: src.app,
    source_version: src.version,
    source_canonical_service: src.canonicalService,
    source_cluster: src.cluster,
    destination_workload: dst.workload,
    destination_workload_namespace: dst.namespace,
    destination_principal: dst.principal,
    destination_app: dst.app,
    destination_version: dst.version,
    destination_service: dstService,
    destination_service_name: svcName,
    destination_service_namespace: svcNamespace,
    destination_canonical_service: dst.canonicalService,
    destination_cluster: dst.cluster,
    request_protocol: extra.request_protocol!,
    ...(extra.response_code !== undefined
      ? { response_code: extra.response_code, grpc_response_status: extra.grpc_response_status! }
      : {}),
    response_flags: flags,
    // Istio's rule: only the destination knows the policy it enforced; the source reports `unknown`.
    connection_security_policy: direction === 'outbound' ? 'unknown' : mtls ? 'mutual_tls' : 'none',
  };
  return Object.freeze(labels);
}

export function selfLabels(node: NodeInfo): Required<WorkloadLabels> {
  const app = node.labels['app'] ?? node.cluster;
  return {
    workload: node.workload,
    namespace: node.namespace,
    service: `${node.cluster}.${node.namespace}.svc.cluster.local`,
    version: node.version ?? node.labels['version'] ?? 'unknown',
    principal: `spiffe://${node.trustDomain}/ns/${node.namespace}/sa/${node.serviceAccount}`,
    app,
    canonicalService: node.labels['service.istio.io/canonical-name'] ?? app,
    cluster: node.labels['topology.istio.io/cluster'] ?? 'Kubernetes',
  };
}

/** Fills every label, the record's values first, then (for the proxy's own side) the node's, else 'unknown'. */
function resolve(p: Peer, self: Required<WorkloadLabels> | undefined): Required<WorkloadLabels> {
  const pick = (k: keyof WorkloadLabels): string => {
    const v = p?.[k];
    return v !== undefined && v !== '' ? v : self?.[k] ?? 'unknown';
  };
  const service = pick('service');
  // No app behind a host outside the mesh (Istio reports unknown); a mesh service's is its short name.
  const app = p?.app || self?.app || (service !== 'unknown' && !p?.serviceNamespace ? service.split('.')[0]! : 'unknown');
  return {
    workload: pick('workload'),
    namespace: pick('namespace'),
    service,
    version: pick('version'),
    principal: pick('principal'),
    app,
    canonicalService: p?.canonicalService || self?.canonicalService || app,
    cluster: pick('cluster'),
  };
}

/** Istio-style cluster names: outbound|9080|v2|reviews.default.svc.cluster.local → the host. */
function serviceFromCluster(cluster: string | undefined): string | undefined {
  if (!cluster) return undefined;
  const parts = cluster.split('|');
  return parts.length === 4 && parts[3] ? parts[3] : cluster;
}

function splitService(service: string, namespace: string): [string, string] {
  if (service === 'unknown') return ['unknown', namespace];
  const dot = service.indexOf('.');
  if (dot < 0) return [service, namespace];
  const rest = service.slice(dot + 1);
  const dot2 = rest.indexOf('.');
  return [service.slice(0, dot), dot2 < 0 ? rest : rest.slice(0, dot2)];
}
