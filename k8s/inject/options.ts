// Injection settings: mesh-wide defaults (flags of `meshctl inject`, or the
// webhook's configuration) overridden per workload by pod annotations.

import { ValidationError, type ValidationIssue } from '../../common/errors.js';
import { parseSamplingPercent, tracingEndpointProblem } from '../../common/tracing-settings.js';

export const ANNOTATION_PREFIX = 'sidecar.tsmesh.io/';
/** Opt-out (`"false"`) — as an annotation or a label on the pod (template). */
export const INJECT_ANNOTATION = `${ANNOTATION_PREFIX}inject`;
/** Set on injected pods; its presence makes injection a no-op. */
export const STATUS_ANNOTATION = `${ANNOTATION_PREFIX}status`;
export const PROXY_CONTAINER = 'tsmesh-proxy';
export const INIT_CONTAINER = 'tsmesh-init';
export const PROXY_UID = 1337;
export const OUTBOUND_PORT = 15001;
export const INBOUND_PORT = 15006;
export const ADMIN_PORT = 15000;
/** The proxy's readiness endpoint for kubelet probes (bound on the pod IP, unlike admin). */
export const HEALTH_PORT = 15021;
export const METRICS_PORT = 15090;

export interface InjectOptions {
  /** Proxy (and init) image. */
  image: string;
  /** gRPC address of the control plane's xDS + CA service. */
  controlPlaneAddress: string;
  trustDomain: string;
  /** Audience of the projected service-account token the CA checks with TokenReview. */
  tokenAudience: string;
  /** ConfigMap (in the pod's namespace) holding the mesh's trust bundle under `root-cert.pem`. */
  trustBundleConfigMap: string;
  /** Kubernetes ≥ 1.29 native sidecars; false puts the proxy first in `containers` and holds the app until it is ready. */
  nativeSidecars: boolean;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  resources: { cpuRequest: string; memoryRequest: string; cpuLimit?: string; memoryLimit?: string };
  excludeInboundPorts: number[];
  excludeOutboundPorts: number[];
  excludeOutboundCidrs: string[];
  /** Only these CIDRs are redirected outbound; `*` (default) means all. */
  includeOutboundCidrs: string[];
  /** Point the app's httpGet/tcpSocket probes at the sidecar, which probes the app from inside the pod (Istio's rewriteAppHTTPProbers). */
  rewriteAppProbes: boolean;
  /** OTLP/HTTP traces URL the sidecar exports spans to; unset = no tracing (context is still forwarded). */
  tracingEndpoint?: string;
  /** Percent of requests without a caller decision that start a trace (the sidecar's default: 1, as Istio). */
  tracingSampling?: number;
}

export const defaultInjectOptions: InjectOptions = {
  image: 'ghcr.io/tsmesh/tsmesh:0.1.0',
  controlPlaneAddress: 'tsmesh-control-plane.tsmesh-system.svc:15012',
  trustDomain: 'cluster.local',
  tokenAudience: 'tsmesh-ca',
  trustBundleConfigMap: 'tsmesh-ca-root',
  nativeSidecars: true,
  logLevel: 'info',
  resources: { cpuRequest: '100m', memoryRequest: '128Mi', memoryLimit: '512Mi' },
  excludeInboundPorts: [],
  excludeOutboundPorts: [],
  excludeOutboundCidrs: [],
  includeOutboundCidrs: ['*'],
  rewriteAppProbes: true,
};

const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/;
const CIDR = /^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3}|\*)$/;
const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

function ports(v: string, key: string, issues: ValidationIssue[]): number[] {
  if (v.trim() === '') return [];
  return v.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1 || n > 65535) issues.push({ path: `metadata.annotations["${key}"]`, message: `"${s.trim()}" is not a port (1-65535)` });
    return n;
  });
}

function cidrs(v: string, key: string, issues: ValidationIssue[]): string[] {
  if (v.trim() === '') return [];
  return v.split(',').map((s) => {
    const c = s.trim();
    if (!CIDR.test(c)) issues.push({ path: `metadata.annotations["${key}"]`, message: `"${c}" is not a CIDR` });
    return c;
  });
}

/**
 * Per-workload settings from annotations on the pod (template):
 * proxyImage, proxyCPU, proxyMemory, proxyCPULimit, proxyMemoryLimit, logLevel,
 * excludeInboundPorts, excludeOutboundPorts, excludeOutboundIPRanges,
 * includeOutboundIPRanges, nativeSidecar, rewriteAppHTTPProbers, tracingEndpoint, tracingSampling —
 * all under `sidecar.tsmesh.io/`.
 */
export function applyAnnotations(base: InjectOptions, ann: Record<string, string>, where = 'pod template'): InjectOptions {
  const o: InjectOptions = { ...base, resources: { ...base.resources } };
  const issues: ValidationIssue[] = [];
  const get = (k: string) => ann[ANNOTATION_PREFIX + k];
  const qty = (k: string): string | undefined => {
    const v = get(k);
    if (v !== undefined && !QUANTITY.test(v)) issues.push({ path: `metadata.annotations["${ANNOTATION_PREFIX + k}"]`, message: `"${v}" is not a resource quantity` });
    return v;
  };
  o.image = get('proxyImage') ?? o.image;
  o.resources.cpuRequest = qty('proxyCPU') ?? o.resources.cpuRequest;
  o.resources.memoryRequest = qty('proxyMemory') ?? o.resources.memoryRequest;
  o.resources.cpuLimit = qty('proxyCPULimit') ?? o.resources.cpuLimit;
  o.resources.memoryLimit = qty('proxyMemoryLimit') ?? o.resources.memoryLimit;
  const level = get('logLevel');
  if (level !== undefined) {
    if ((LEVELS as readonly string[]).includes(level)) o.logLevel = level as InjectOptions['logLevel'];
    else issues.push({ path: `metadata.annotations["${ANNOTATION_PREFIX}logLevel"]`, message: `must be one of ${LEVELS.join(', ')}` });
  }
  const p = (k: string) => (get(k) === undefined ? undefined : ports(get(k)!, ANNOTATION_PREFIX + k, issues));
  const c = (k: string) => (get(k) === undefined ? undefined : cidrs(get(k)!, ANNOTATION_PREFIX + k, issues));
  o.excludeInboundPorts = p('excludeInboundPorts') ?? o.excludeInboundPorts;
  o.excludeOutboundPorts = p('excludeOutboundPorts') ?? o.excludeOutboundPorts;
  o.excludeOutboundCidrs = c('excludeOutboundIPRanges') ?? o.excludeOutboundCidrs;
  o.includeOutboundCidrs = c('includeOutboundIPRanges') ?? o.includeOutboundCidrs;
  const native = get('nativeSidecar');
  if (native === 'true' || native === 'false') o.nativeSidecars = native === 'true';
  else if (native !== undefined) issues.push({ path: `metadata.annotations["${ANNOTATION_PREFIX}nativeSidecar"]`, message: 'must be "true" or "false"' });
  const rewrite = get('rewriteAppHTTPProbers');
  if (rewrite === 'true' || rewrite === 'false') o.rewriteAppProbes = rewrite === 'true';
  else if (rewrite !== undefined) issues.push({ path: `metadata.annotations["${ANNOTATION_PREFIX}rewriteAppHTTPProbers"]`, message: 'must be "true" or "false"' });
  const endpoint = get('tracingEndpoint');
  if (endpoint !== undefined) {
    const bad = tracingEndpointProblem(endpoint);
    if (bad) issues.push({ path: `metadata.annotations["${ANNOTATION_PREFIX}tracingEndpoint"]`, message: bad });
    else o.tracingEndpoint = endpoint;
  }
  const sampling = get('tracingSampling');
  if (sampling !== undefined) {
    const n = parseSamplingPercent(sampling);
    if (n !== undefined) o.tracingSampling = n;
    else issues.push({ path: `metadata.annotations["${ANNOTATION_PREFIX}tracingSampling"]`, message: `"${sampling}" is not a percentage (0-100)` });
  }
  if (o.tracingSampling !== undefined && o.tracingEndpoint === undefined) {
    issues.push({ path: `metadata.annotations["${ANNOTATION_PREFIX}tracingSampling"]`, message: 'needs a tracing endpoint (the tracingEndpoint annotation or the mesh-wide setting)' });
  }
  if (issues.length) throw new ValidationError(issues, `sidecar annotations on ${where}`);
  return o;
}
