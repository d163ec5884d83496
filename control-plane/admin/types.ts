// What the admin API needs from the xDS server: the connected proxies and the
// versions they ACKed or NACKed. The xDS server's snapshot cache implements it.

import type { ResourceKind, ResourceMaps } from '../../proxy/config/resources.js';

export interface ProxyTypeStatus {
  /** Version last sent for this type. */
  sentVersion?: string;
  /** Version the proxy ACKed last. */
  ackedVersion?: string;
  ackedAt?: number; // epoch ms
  /** Set when the proxy rejected the last push of this type. */
  nack?: { version: string; error: string; at: number };
}

export interface ProxyStatus {
  nodeId: string;
  service: string;
  namespace: string;
  identity?: string;
  address?: string;
  /** The sidecar's admin listener (http://host:port), from TSMESH_ADMIN in its node metadata; meshctl top/tap find sidecars by it. */
  admin?: string;
  connectedAt: number;
  types: Partial<Record<ResourceKind, ProxyTypeStatus>>;
}

/** Who has (not) reached one config version. */
export interface PropagationReceipt {
  version: string;
  appliedAt: number;
  total: number;
  acked: { nodeId: string; at: number }[];
  nacked: { nodeId: string; error: string; at: number }[];
  pending: string[];
}

export interface ProxyStatusSource {
  proxies(): ProxyStatus[];
  /** The resources currently published for one node, if any. */
  config(nodeId: string): ResourceMaps | undefined;
  /**
   * Receipt for a policy store version (the decimal `version` an apply returns).
   * A proxy has "reached" it once it ACKed a snapshot whose
   * PublishMeta.storeVersion (control-plane/controller.ts) is ≥ that version.
   */
  receipt(version: string): PropagationReceipt | undefined;
}
