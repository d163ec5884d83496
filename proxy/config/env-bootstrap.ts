// The bootstrap of an injected Kubernetes sidecar (k8s/inject/sidecar.ts): no
// file, only environment variables set by the injector plus the downward API.
// Pure: the caller passes the environment (proxy/env.ts is the only reader).

import { ValidationError, type ValidationIssue } from '../../common/errors.js';
import type { Bootstrap } from './bootstrap.js';
import type { SocketAddress } from './resources.js';
import { DEFAULT_DRAIN_TIMEOUT_MS } from './defaults.js';
import type { TracingOptions } from '../telemetry/tracing.js';
import { OTLP_PROTOCOLS, type OtlpProtocol } from '../telemetry/otel-sdk.js';
import { parseSamplingPercent, tracingEndpointProblem } from '../../common/tracing-settings.js';

/** Istio's INTERCEPTION_MODE values tsmesh knows: REDIRECT (iptables nat, SO_ORIGINAL_DST) or NONE (explicit ports only). */
const INTERCEPTION_MODES = ['REDIRECT', 'NONE'];
const MAX_APP_PORTS = 32;

export type EnvMap = Readonly<Record<string, string | undefined>>;

/** True when the environment describes an injected sidecar (the control-plane address is set). */
export function hasSidecarEnv(env: EnvMap): boolean {
  return !!env.TSMESH_CONTROL_PLANE_ADDRESS;
}

export function bootstrapFromEnv(env: EnvMap): Bootstrap {
  const issues: ValidationIssue[] = [];
  const fail = (name: string, message: string) => issues.push({ path: name, message });
  const required = (name: string): string => {
    const v = env[name];
    if (!v) fail(name, 'is required');
    return v ?? '';
  };
  /** `9080` or `9080,9090` (the app's container ports; the first is the one the inbound listener forwards to). */
  const portList = (name: string): number[] => {
    const v = env[name];
    if (!v) return [];
    const parts = v.split(',');
    if (parts.length > MAX_APP_PORTS) fail(name, `more than ${MAX_APP_PORTS} ports`);
    const out: number[] = [];
    for (const p of parts.slice(0, MAX_APP_PORTS)) {
      const n = /^\d{1,5}$/.test(p.trim()) ? Number(p.trim()) : NaN;
      if (!(n >= 1 && n <= 65535)) fail(name, `"${p.trim()}" is not a port (1-65535)`);
      else if (!out.includes(n)) out.push(n);
    }
    return out;
  };
  const port = (name: string, optional = false): number | undefined => {
    const v = env[name];
    if (!v) {
      if (!optional) fail(name, 'is required');
      return undefined;
    }
    const n = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
    if (!(n >= 0 && n <= 65535)) fail(name, `"${v}" is not a port (0-65535)`);
    return n;
  };

  const cp = parseHostPort(required('TSMESH_CONTROL_PLANE_ADDRESS'));
  if (env.TSMESH_CONTROL_PLANE_ADDRESS && !cp) fail('TSMESH_CONTROL_PLANE_ADDRESS', `"${env.TSMESH_CONTROL_PLANE_ADDRESS}" is not host:port`);
  const outbound = port('TSMESH_OUTBOUND_PORT');
  const inbound = port('TSMESH_INBOUND_PORT');
  const admin = port('TSMESH_ADMIN_PORT');
  port('TSMESH_HEALTH_PORT');
  const metricsPort = port('TSMESH_METRICS_PORT', true);
  const appPorts = portList('TSMESH_APP_PORT');
  const interception = env.TSMESH_INTERCEPTION_MODE || undefined;
  if (interception !== undefined && !INTERCEPTION_MODES.includes(interception)) fail('TSMESH_INTERCEPTION_MODE', `"${interception}" is not one of ${INTERCEPTION_MODES.join(', ')}`);
  const podName = required('POD_NAME');
  const namespace = env.POD_NAMESPACE || 'default';
  const tokenFile = env.TSMESH_TOKEN_PATH || undefined;
  const caRootFile = env.TSMESH_TRUST_BUNDLE_PATH || undefined;
  if (tokenFile && !caRootFile) fail('TSMESH_TOKEN_PATH', 'needs TSMESH_TRUST_BUNDLE_PATH: a token is never sent over plaintext');
  const labels = parseLabels(env.POD_LABELS, (m) => fail('POD_LABELS', m));
  const tracing = tracingFromEnv(env, fail);
  if (issues.length) throw new ValidationError(issues, 'sidecar environment');

  const ip = env.INSTANCE_IP || '127.0.0.1';
  // A Deployment's pod is <deployment>-<replicaset hash>-<pod hash>: the workload is the deployment.
  const workload = env.TSMESH_WORKLOAD || podName.replace(/-[a-z0-9]{5,10}-[a-z0-9]{5}$/, '');
  const service = env.TSMESH_SERVICE_NAME || labels.app || labels['app.kubernetes.io/name'] || workload;
  const nodeMetadata: Record<string, string> = {
    INBOUND_ADDRESSES: `${ip}:${inbound}`,
    OUTBOUND_ADDRESSES: `127.0.0.1:${outbound}`,
  };
  if (appPorts.length) {
    nodeMetadata.APP_PORT = String(appPorts[0]);
    // Istio's POD_PORTS: every port the app listens on.
    if (appPorts.length > 1) nodeMetadata.APP_PORTS = appPorts.join(',');
  }
  if (interception) nodeMetadata.INTERCEPTION_MODE = interception;
  // Where the control plane (canary analysis) scrapes this sidecar: the pod's IP, not the loopback admin address.
  if (metricsPort && env.INSTANCE_IP) nodeMetadata.TSMESH_METRICS = `${hostForUrl(env.INSTANCE_IP)}:${metricsPort}`;
  if (env.NODE_NAME) nodeMetadata.NODE_NAME = env.NODE_NAME;
  if (env.POD_UID) nodeMetadata.POD_UID = env.POD_UID;
  const version = labels.version || labels['app.kubernetes.io/version'];
  return {
    node: {
      id: `sidecar~${ip}~${podName}.${namespace}~${namespace}.svc.cluster.local`,
      cluster: service,
      namespace,
      serviceAccount: env.SERVICE_ACCOUNT || 'default',
      workload,
      labels,
      trustDomain: env.TSMESH_TRUST_DOMAIN || 'cluster.local',
      ...(version ? { version } : {}),
    },
    admin: { address: { address: '127.0.0.1', port: admin! } },
    ...(metricsPort !== undefined ? { metrics: { address: { address: '0.0.0.0', port: metricsPort } } } : {}),
    snapshot: {
      resources: { listener: new Map(), routeConfiguration: new Map(), cluster: new Map(), clusterLoadAssignment: new Map(), secret: new Map() },
      versions: { listener: '', routeConfiguration: '', cluster: '', clusterLoadAssignment: '', secret: '' },
    },
    dynamicResources: {
      ads: {
        address: cp!,
        initialBackoff: 500,
        maxBackoff: 30_000,
        ...(caRootFile ? { caRootFile } : {}),
        ...(tokenFile ? { tokenFile } : {}),
        nodeMetadata,
      },
    },
    drainTimeout: DEFAULT_DRAIN_TIMEOUT_MS,
    ...(tracing ? { tracing } : {}),
  };
}

/**
 * Spans to an OTLP/HTTP collector when TSMESH_TRACING_ENDPOINT is set (the injector's tracingEndpoint):
 * TSMESH_TRACING_SAMPLING is the share of requests without a caller decision that start a trace
 * (default 1 %, as Istio's), TSMESH_TRACING_PROTOCOL the encoding (default http/protobuf).
 */
function tracingFromEnv(env: EnvMap, fail: (name: string, message: string) => void): TracingOptions | undefined {
  const endpoint = env.TSMESH_TRACING_ENDPOINT || undefined;
  const sampling = env.TSMESH_TRACING_SAMPLING || undefined;
  const protocol = env.TSMESH_TRACING_PROTOCOL || undefined;
  if (endpoint === undefined) {
    if (sampling !== undefined) fail('TSMESH_TRACING_SAMPLING', 'needs TSMESH_TRACING_ENDPOINT (where the spans go)');
    if (protocol !== undefined) fail('TSMESH_TRACING_PROTOCOL', 'needs TSMESH_TRACING_ENDPOINT (where the spans go)');
    return undefined;
  }
  const bad = tracingEndpointProblem(endpoint);
  if (bad) fail('TSMESH_TRACING_ENDPOINT', bad);
  const t: TracingOptions = { exporter: 'otlp', endpoint };
  if (sampling !== undefined) {
    const n = parseSamplingPercent(sampling);
    if (n === undefined) fail('TSMESH_TRACING_SAMPLING', `"${sampling}" is not a percentage (0-100)`);
    else t.samplingPercent = n;
  }
  if (protocol !== undefined) {
    if (!(OTLP_PROTOCOLS as readonly string[]).includes(protocol)) fail('TSMESH_TRACING_PROTOCOL', `"${protocol}" is not one of ${OTLP_PROTOCOLS.join(', ')}`);
    else t.protocol = protocol as OtlpProtocol;
  }
  return t;
}

function hostForUrl(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}

function parseHostPort(v: string): SocketAddress | undefined {
  const m = /^\[?([^\]\s]+?)\]?:(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return undefined;
  return { address: m[1]!, port: Number(m[2]) };
}

/** POD_LABELS: `k=v,k2=v2` (optional; at most 64 labels). */
function parseLabels(v: string | undefined, fail: (m: string) => void): Record<string, string> {
  const out: Record<string, string> = {};
  if (!v) return out;
  const parts = v.split(',');
  if (parts.length > 64) fail('more than 64 labels');
  for (const p of parts.slice(0, 64)) {
    const eq = p.indexOf('=');
    if (eq <= 0) fail(`"${p}" is not key=value`);
    else out[p.slice(0, eq).trim()] = p.slice(eq + 1).trim();
  }
  return out;
}
