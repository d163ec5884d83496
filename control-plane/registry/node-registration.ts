// What a sidecar tells the control plane about itself when it connects: the
// xDS Node (id, cluster) and its metadata Struct. Untrusted input, validated
// with field paths. The metadata keys tsmesh reads:
//
//   service         service name (default: node.cluster)
//   namespace       default "default"
//   serviceAccount  default "default"
//   version         version label (also read from labels.version)
//   labels          map of workload labels
//   inboundAddress  address other sidecars reach this one at (required)
//   inboundPort     the sidecar's inbound listener port (required)
//   appPort         the local application's port
//   servicePort     the port clients address the service on (default: appPort or inboundPort)
//   protocol        http | http2 | grpc | tcp (default http)
//   outboundPort    the sidecar's outbound listener port on 127.0.0.1 (default 15001)

import { Reader } from '../../common/reader.js';
import { ValidationError, type ValidationIssue } from '../../common/errors.js';
import type { AppProtocol } from './types.js';

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export interface NodeLike {
  id: string;
  cluster?: string;
  metadata?: unknown;
}

export interface NodeRegistration {
  nodeId: string;
  service: string;
  namespace: string;
  serviceAccount: string;
  version?: string;
  labels: Record<string, string>;
  inboundAddress: string;
  inboundPort: number;
  appPort?: number;
  servicePort: number;
  protocol: AppProtocol;
  outboundPort: number;
}

/** Read a node's registration; throws ValidationError (MESH_INVALID_CONFIG) naming each bad field. */
export function readNodeRegistration(node: NodeLike): NodeRegistration {
  const issues: ValidationIssue[] = [];
  const r = new Reader(node.metadata ?? {}, ['metadata'], { issues });
  r.object(true);
  const name = (f: string, dflt?: string) => r.field(f).string({ required: dflt === undefined, pattern: NAME, patternHint: 'a DNS-1123 name', maxLength: 253 }) ?? dflt ?? '';
  const labels: Record<string, string> = {};
  const lr = r.field('labels');
  if (lr.object()) {
    for (const [k, v] of lr.entries().slice(0, 64)) {
      const s = v.string({ maxLength: 256 });
      if (s !== undefined) labels[k] = s;
    }
  }
  const service = r.field('service').present ? name('service') : (node.cluster ?? '');
  if (!service || !NAME.test(service)) r.field('service').fail('is required (metadata.service or node.cluster must name the service)');
  const inboundPort = r.field('inboundPort').number({ required: true, integer: true, min: 1, max: 65535 }) ?? 0;
  const appPort = r.field('appPort').number({ integer: true, min: 1, max: 65535 });
  const version = r.field('version').string({ maxLength: 63 }) ?? labels['version'];
  const reg: NodeRegistration = {
    nodeId: node.id,
    service,
    namespace: name('namespace', 'default'),
    serviceAccount: name('serviceAccount', 'default'),
    version,
    labels: version && !labels['version'] ? { ...labels, version } : labels,
    inboundAddress: r.field('inboundAddress').string({ required: true, maxLength: 255 }) ?? '',
    inboundPort,
    appPort,
    servicePort: r.field('servicePort').number({ integer: true, min: 1, max: 65535 }) ?? appPort ?? inboundPort,
    protocol: (r.field('protocol').string({ enum: ['http', 'http2', 'grpc', 'tcp'] }) ?? 'http') as AppProtocol,
    outboundPort: r.field('outboundPort').number({ integer: true, min: 1, max: 65535 }) ?? 15001,
  };
  if (!node.id || node.id.length > 512) issues.push({ path: 'id', message: 'node id is required (at most 512 characters)' });
  if (issues.length) throw new ValidationError(issues, `node metadata of "${node.id}"`);
  return reg;
}
