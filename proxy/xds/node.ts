// The DiscoveryRequest.node a tsmesh sidecar sends: Envoy's Node with the
// workload identity in metadata (Istio-style upper-case keys), which the
// control plane uses to register the workload and to authorize the stream.

import type { NodeInfo } from '../config/resources.js';
import type { NodeMsg, StructValueMsg } from './ads-wire.js';

export interface NodeExtras {
  /** Addresses the workload serves on, e.g. ['10.0.0.5:8080']. */
  inboundAddresses?: string[];
  /** Where the sidecar accepts outbound traffic, e.g. ['127.0.0.1:15001']. */
  outboundAddresses?: string[];
  /** Any further string metadata. */
  metadata?: Record<string, string>;
}

const str = (v: string): StructValueMsg => ({ stringValue: v });

export function buildNode(info: NodeInfo, extras: NodeExtras = {}, version = '0.1.0'): NodeMsg {
  const fields: Record<string, StructValueMsg> = {
    NAMESPACE: str(info.namespace),
    SERVICE_ACCOUNT: str(info.serviceAccount),
    WORKLOAD_NAME: str(info.workload),
    TRUST_DOMAIN: str(info.trustDomain),
    IDENTITY: str(`spiffe://${info.trustDomain}/ns/${info.namespace}/sa/${info.serviceAccount}`),
  };
  if (info.version) fields.VERSION = str(info.version);
  const labels: Record<string, StructValueMsg> = {};
  for (const [k, v] of Object.entries(info.labels)) labels[k] = str(v);
  fields.LABELS = { structValue: { fields: labels } };
  if (extras.inboundAddresses?.length) fields.INBOUND_ADDRESSES = str(extras.inboundAddresses.join(','));
  if (extras.outboundAddresses?.length) fields.OUTBOUND_ADDRESSES = str(extras.outboundAddresses.join(','));
  for (const [k, v] of Object.entries(extras.metadata ?? {})) fields[k] = str(v);
  return {
    id: info.id,
    cluster: info.cluster,
    metadata: { fields },
    user_agent_name: 'tsmesh',
    user_agent_version: version,
    client_features: ['envoy.lb.does_not_support_overprovisioning'],
  };
}
