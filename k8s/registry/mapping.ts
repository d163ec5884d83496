// Pure conversions from Kubernetes objects to the registry's model:
// Service → ServiceInfo, EndpointSlices + Pods → ServiceEndpoints carrying
// the pod's SPIFFE identity (service account) and version label.

import { serviceHostname, spiffeId, type AppProtocol, type ServiceEndpoint, type ServiceInfo, type ServicePort } from '../../control-plane/registry/types.js';
import type { KubeObject } from '../client/list-watch.js';

export interface KubeService extends KubeObject {
  spec?: { type?: string; clusterIP?: string; clusterIPs?: string[]; ports?: { name?: string; port: number; targetPort?: number | string; protocol?: string; appProtocol?: string }[] };
}
export interface KubeEndpointSlice extends KubeObject {
  addressType?: string;
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean }; targetRef?: { kind?: string; name?: string; namespace?: string; uid?: string } }[];
  ports?: { name?: string; port?: number; protocol?: string; appProtocol?: string }[];
}
export interface KubePod extends KubeObject {
  spec?: { serviceAccountName?: string; containers?: { name: string }[]; initContainers?: { name: string }[] };
  status?: { podIP?: string };
}

/** Only what endpoints need from a pod: a cluster's full pod specs would dominate the control plane's memory. */
export function slimPod(pod: KubePod): KubePod {
  const m = pod.metadata;
  return {
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, labels: m.labels ?? {} },
    spec: { serviceAccountName: pod.spec?.serviceAccountName },
  };
}

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** Protocol from appProtocol, then Istio's port-name convention (`http-web`, `grpc`, …); TCP otherwise. */
export function portProtocol(p: { name?: string; appProtocol?: string; protocol?: string }): AppProtocol {
  if (p.protocol && p.protocol !== 'TCP') return 'tcp';
  const ap = (p.appProtocol ?? '').toLowerCase();
  if (ap === 'http' || ap === 'kubernetes.io/http') return 'http';
  if (ap === 'http2' || ap === 'kubernetes.io/h2c') return 'http2';
  if (ap === 'grpc') return 'grpc';
  if (ap) return 'tcp';
  const prefix = (p.name ?? '').toLowerCase().split('-')[0];
  if (prefix === 'http') return 'http';
  if (prefix === 'http2') return 'http2';
  if (prefix === 'grpc' || prefix === 'grpc-web') return 'grpc';
  return 'tcp';
}

export function toServiceInfo(svc: KubeService, clusterDomain: string): ServiceInfo | undefined {
  if (svc.spec?.type === 'ExternalName') return undefined;
  const namespace = svc.metadata.namespace ?? 'default';
  const ports: ServicePort[] = (svc.spec?.ports ?? [])
    .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
    .map((p) => ({ ...(p.name ? { name: p.name } : {}), port: p.port, protocol: portProtocol(p) }));
  // Headless services ("None") have no virtual IP: clients dial the pods, matched by their endpoints.
  const addresses = (svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : [])).filter((ip) => ip && ip !== 'None');
  return {
    name: svc.metadata.name,
    namespace,
    hostname: serviceHostname(svc.metadata.name, namespace, clusterDomain),
    ports,
    labels: { ...(svc.metadata.labels ?? {}) },
    ...(addresses.length ? { addresses } : {}),
  };
}

/**
 * Endpoints of one service from its slices. Traffic to a pod is intercepted
 * by its sidecar (iptables), so peers dial the pod IP and the target port.
 * A slice's ports carry the service ports' names, so each service port maps
 * to the target port of the same name (`targetPorts`); inboundPort = appPort
 * = the target of the first service port the pod serves.
 */
export function toEndpoints(
  svc: { name: string; namespace: string; ports?: readonly ServicePort[] },
  slices: readonly KubeEndpointSlice[],
  podByKey: (key: string) => KubePod | undefined,
  trustDomain: string,
): ServiceEndpoint[] {
  const out = new Map<string, ServiceEndpoint & { targetPorts: Record<number, number> }>();
  for (const slice of slices) {
    if (slice.addressType && slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    const tcp = (slice.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP' && p.port);
    const targets: Record<number, number> = {};
    for (const sp of svc.ports ?? []) {
      const p = tcp.find((x) => (x.name ?? '') === (sp.name ?? ''));
      if (p) targets[sp.port] = p.port!;
    }
    const first = svc.ports?.length ? svc.ports.map((sp) => targets[sp.port]).find((p) => p !== undefined) : tcp[0]?.port;
    if (!first) continue;
    for (const ep of slice.endpoints ?? []) {
      const address = ep.addresses?.[0];
      if (!address) continue;
      const known = out.get(address);
      if (known) {
        // Pods whose named ports differ land in different slices: one endpoint per pod, every port it serves.
        for (const [sp, tp] of Object.entries(targets)) known.targetPorts[Number(sp)] ??= tp;
        continue;
      }
      const ref = ep.targetRef?.kind === 'Pod' ? ep.targetRef : undefined;
      const pod = ref?.name ? podByKey(`${ref.namespace ?? svc.namespace}/${ref.name}`) : undefined;
      const labels = { ...(pod?.metadata.labels ?? {}) };
      const serviceAccount = pod?.spec?.serviceAccountName ?? 'default';
      const id = ref?.uid ?? pod?.metadata.uid ?? `${svc.namespace}/${address}`;
      // Ready is what kube-proxy uses; a terminating-but-serving pod still finishes its requests elsewhere.
      const healthy = ep.conditions?.ready !== false;
      out.set(address, {
        id,
        service: svc.name,
        namespace: svc.namespace,
        address,
        inboundPort: first,
        appPort: first,
        targetPorts: { ...targets },
        labels,
        ...(labels.version ? { version: labels.version } : {}),
        serviceAccount,
        identity: spiffeId(trustDomain, pod?.metadata.namespace ?? svc.namespace, serviceAccount),
        healthy,
      });
    }
  }
  return [...out.values()]
    .map(({ targetPorts, ...e }) => ((svc.ports?.length ?? 0) > 1 ? { ...e, targetPorts } : e))
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.inboundPort - b.inboundPort));
}
