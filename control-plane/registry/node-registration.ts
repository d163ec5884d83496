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
//   interceptionMode REDIRECT (iptables nat redirects the app's traffic; the listeners
//                   read SO_ORIGINAL_DST) or NONE (apps address the outbound port)
//
// The Istio-style upper-case keys tsmesh's xDS client sends (proxy/xds/node.ts)
// are read too: SERVICE, NAMESPACE, SERVICE_ACCOUNT, VERSION, LABELS (a struct
// or its JSON), INBOUND_ADDRESSES ("host:port,…": the first is the inbound
// listener), OUTBOUND_ADDRESSES, APP_PORT, SERVICE_PORT, PROTOCOL, INTERCEPTION_MODE.

import { Reader } from '../../common/reader.js';
import { ValidationError, type ValidationIssue } from '../../common/errors.js';
import type { AppProtocol } from './types.js';

const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
/** IPv4, IPv6 (no brackets) or a DNS host name. */
const HOST = /^([0-9a-fA-F:.]+|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?)$/;

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
  /** Istio's INTERCEPTION_MODE: REDIRECT when the pod's traffic is redirected by iptables (injected sidecars). */
  interceptionMode?: 'REDIRECT' | 'NONE';
}

/** Read a node's registration; throws ValidationError (MESH_INVALID_CONFIG) naming each bad field. */
export function readNodeRegistration(node: NodeLike): NodeRegistration {
  const issues: ValidationIssue[] = [];
  const r = new Reader(normalizeMetadata(node.metadata ?? {}, issues), ['metadata'], { issues });
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
    inboundAddress: r.field('inboundAddress').string({ required: true, maxLength: 253, pattern: HOST, patternHint: 'an IP address or host name' }) ?? '',
    inboundPort,
    appPort,
    servicePort: r.field('servicePort').number({ integer: true, min: 1, max: 65535 }) ?? appPort ?? inboundPort,
    protocol: (r.field('protocol').string({ enum: ['http', 'http2', 'grpc', 'tcp'] }) ?? 'http') as AppProtocol,
    outboundPort: r.field('outboundPort').number({ integer: true, min: 1, max: 65535 }) ?? 15001,
  };
  const interception = r.field('interceptionMode').string({ enum: ['REDIRECT', 'NONE'] });
  if (interception) reg.interceptionMode = interception as 'REDIRECT' | 'NONE';
  if (!node.id || node.id.length > 512) issues.push({ path: 'id', message: 'node id is required (at most 512 characters)' });
  if (issues.length) throw new ValidationError(issues, `node metadata of "${node.id}"`);
  return reg;
}

const UPPER_KEYS: Record<string, string> = {
  SERVICE: 'service',
  NAMESPACE: 'namespace',
  SERVICE_ACCOUNT: 'serviceAccount',
  VERSION: 'version',
  APP_PORT: 'appPort',
  SERVICE_PORT: 'servicePort',
  PROTOCOL: 'protocol',
  INTERCEPTION_MODE: 'interceptionMode',
};

function hostPort(s: string): [string, number] | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(s.trim());
  return m ? [m[1]!, Number(m[2])] : undefined;
}

/** Map the upper-case (Istio-style) keys onto tsmesh's own; explicit camelCase keys win. */
function normalizeMetadata(md: unknown, issues: ValidationIssue[]): unknown {
  if (typeof md !== 'object' || md === null || Array.isArray(md)) return md;
  const src = md as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(src)) {
    const key = UPPER_KEYS[k];
    if (key) out[key] = v;
  }
  if (typeof src.LABELS === 'string') {
    try {
      out.labels = JSON.parse(src.LABELS);
    } catch {
      issues.push({ path: 'metadata.LABELS', message: 'must be a map of labels (or its JSON)' });
    }
  } else if (src.LABELS !== undefined) out.labels = src.LABELS;
  if (typeof src.INBOUND_ADDRESSES === 'string' && src.INBOUND_ADDRESSES) {
    const hp = hostPort(src.INBOUND_ADDRESSES.split(',')[0]!);
    if (hp) [out.inboundAddress, out.inboundPort] = hp;
    else issues.push({ path: 'metadata.INBOUND_ADDRESSES', message: `"${src.INBOUND_ADDRESSES}" is not host:port[,host:port…]` });
  }
  if (typeof src.OUTBOUND_ADDRESSES === 'string' && src.OUTBOUND_ADDRESSES) {
    const hp = hostPort(src.OUTBOUND_ADDRESSES.split(',')[0]!);
    if (hp) out.outboundPort = hp[1];
    else issues.push({ path: 'metadata.OUTBOUND_ADDRESSES', message: `"${src.OUTBOUND_ADDRESSES}" is not host:port[,host:port…]` });
  }
  for (const [k, v] of Object.entries(src)) if (!(k in UPPER_KEYS) && !/^[A-Z_]+$/.test(k)) out[k] = v;
  return out;
}
