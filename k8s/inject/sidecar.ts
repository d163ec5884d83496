// The containers and volumes injection adds to a pod spec.

import { redirectArgs } from '../iptables/rules.js';
import { SIDECAR_NODE_FLAGS } from '../../proxy/node-flags.js';
import {
  ADMIN_PORT, HEALTH_PORT, INBOUND_PORT, INIT_CONTAINER, METRICS_PORT, OUTBOUND_PORT, PROXY_CONTAINER, PROXY_UID,
  type InjectOptions,
} from './options.js';
import { APP_PROBERS_ENV, type AppProber } from './probes.js';

type Obj = Record<string, unknown>;

/** Where the image keeps the built tsmesh (see k8s/README.md, "Image"). */
export const IMAGE_APP_DIR = '/app';
export const TOKEN_VOLUME = 'tsmesh-token';
export const TRUST_BUNDLE_VOLUME = 'tsmesh-ca-root';
export const WORK_VOLUME = 'tsmesh-data';
export const TOKEN_PATH = '/var/run/secrets/tsmesh/tokens/tsmesh-token';
export const TRUST_BUNDLE_PATH = '/var/run/secrets/tsmesh/ca/root-cert.pem';

export function initContainer(o: InjectOptions): Obj {
  return {
    name: INIT_CONTAINER,
    image: o.image,
    command: ['node', `${IMAGE_APP_DIR}/dist/k8s/iptables/cli.js`],
    args: redirectArgs({
      proxyUid: PROXY_UID,
      proxyGid: PROXY_UID,
      outboundPort: OUTBOUND_PORT,
      inboundPort: INBOUND_PORT,
      includeInboundPorts: '*',
      excludeInboundPorts: [...new Set([ADMIN_PORT, HEALTH_PORT, METRICS_PORT, ...o.excludeInboundPorts])],
      excludeOutboundPorts: o.excludeOutboundPorts,
      includeOutboundCidrs: o.includeOutboundCidrs,
      excludeOutboundCidrs: o.excludeOutboundCidrs,
    }),
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
  };
}

function fieldEnv(name: string, fieldPath: string): Obj {
  return { name, valueFrom: { fieldRef: { fieldPath } } };
}

/** What the proxy's environment needs to know about the pod it joins (k8s/inject/inject.ts reads it off the template). */
export interface PodFacts {
  /** Names of the app containers. */
  appContainers: string[];
  /** The app containers' TCP containerPorts, in declaration order: the first is the inbound listener's app port. */
  appPorts: number[];
  /** The pod (template)'s labels: service name (`app`) and `version` for the node's registration. */
  labels: Record<string, string>;
  /** The app's original probes, keyed by the health-port path they were rewritten to (k8s/inject/probes.ts). */
  appProbers?: Record<string, AppProber>;
}

/** At most this many labels go into POD_LABELS (proxy/config/env-bootstrap.ts refuses more). */
const MAX_POD_LABELS = 64;

export function proxyContainer(o: InjectOptions, pod: PodFacts): Obj {
  const requests: Obj = { cpu: o.resources.cpuRequest, memory: o.resources.memoryRequest };
  const limits: Obj = {};
  if (o.resources.cpuLimit) limits.cpu = o.resources.cpuLimit;
  if (o.resources.memoryLimit) limits.memory = o.resources.memoryLimit;
  const ready = { httpGet: { path: '/ready', port: HEALTH_PORT } };
  const c: Obj = {
    name: PROXY_CONTAINER,
    image: o.image,
    command: ['node', ...SIDECAR_NODE_FLAGS, `${IMAGE_APP_DIR}/dist/proxy/main.js`],
    args: ['sidecar'],
    ports: [
      { name: 'tsmesh-health', containerPort: HEALTH_PORT, protocol: 'TCP' },
      { name: 'http-envoy-prom', containerPort: METRICS_PORT, protocol: 'TCP' },
    ],
    env: [
      { name: 'TSMESH_CONTROL_PLANE_ADDRESS', value: o.controlPlaneAddress },
      { name: 'TSMESH_TRUST_DOMAIN', value: o.trustDomain },
      { name: 'TSMESH_LOG_LEVEL', value: o.logLevel },
      { name: 'TSMESH_TOKEN_PATH', value: TOKEN_PATH },
      { name: 'TSMESH_TRUST_BUNDLE_PATH', value: TRUST_BUNDLE_PATH },
      { name: 'TSMESH_OUTBOUND_PORT', value: String(OUTBOUND_PORT) },
      { name: 'TSMESH_INBOUND_PORT', value: String(INBOUND_PORT) },
      { name: 'TSMESH_ADMIN_PORT', value: String(ADMIN_PORT) },
      { name: 'TSMESH_HEALTH_PORT', value: String(HEALTH_PORT) },
      // Prometheus (and the control plane's canary analysis) scrape :15090/stats/prometheus on the pod IP.
      { name: 'TSMESH_METRICS_PORT', value: String(METRICS_PORT) },
      { name: 'TSMESH_APP_CONTAINERS', value: pod.appContainers.join(',') },
      ...(pod.appPorts.length ? [{ name: 'TSMESH_APP_PORT', value: pod.appPorts.join(',') }] : []),
      // The init container installs the iptables REDIRECT rules: the outbound listener reads SO_ORIGINAL_DST.
      { name: 'TSMESH_INTERCEPTION_MODE', value: 'REDIRECT' },
      ...(Object.keys(pod.labels).length ? [{ name: 'POD_LABELS', value: podLabels(pod.labels) }] : []),
      ...(o.tracingEndpoint ? [{ name: 'TSMESH_TRACING_ENDPOINT', value: o.tracingEndpoint }] : []),
      ...(o.tracingEndpoint && o.tracingSampling !== undefined ? [{ name: 'TSMESH_TRACING_SAMPLING', value: String(o.tracingSampling) }] : []),
      ...(pod.appProbers && Object.keys(pod.appProbers).length ? [{ name: APP_PROBERS_ENV, value: JSON.stringify(pod.appProbers) }] : []),
      fieldEnv('POD_NAME', 'metadata.name'),
      fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
      fieldEnv('POD_UID', 'metadata.uid'),
      fieldEnv('INSTANCE_IP', 'status.podIP'),
      fieldEnv('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
      fieldEnv('NODE_NAME', 'spec.nodeName'),
    ],
    resources: Object.keys(limits).length ? { requests, limits } : { requests },
    readinessProbe: { ...ready, periodSeconds: 2, failureThreshold: 3, timeoutSeconds: 2 },
    // Gates the app containers' start (native sidecars) until the proxy has its config.
    startupProbe: { ...ready, periodSeconds: 1, failureThreshold: 600, timeoutSeconds: 2 },
    securityContext: {
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: '/var/run/secrets/tsmesh/tokens', readOnly: true },
      { name: TRUST_BUNDLE_VOLUME, mountPath: '/var/run/secrets/tsmesh/ca', readOnly: true },
      { name: WORK_VOLUME, mountPath: '/var/lib/tsmesh' },
    ],
  };
  if (o.nativeSidecars) {
    c.restartPolicy = 'Always';
  } else {
    // Classic sidecar: kubelet starts containers in order and runs postStart
    // to completion before starting the next one, so the app waits for /ready.
    c.lifecycle = {
      postStart: {
        exec: {
          command: [
            'node',
            '-e',
            `const go=()=>fetch('http://127.0.0.1:${HEALTH_PORT}/ready').then(r=>{if(!r.ok)throw 0}).catch(()=>new Promise(s=>setTimeout(s,200)).then(go));go()`,
          ],
        },
      },
    };
  }
  return c;
}

export function sidecarVolumes(o: InjectOptions): Obj[] {
  return [
    {
      name: TOKEN_VOLUME,
      projected: {
        sources: [{ serviceAccountToken: { audience: o.tokenAudience, expirationSeconds: 43200, path: 'tsmesh-token' } }],
      },
    },
    { name: TRUST_BUNDLE_VOLUME, configMap: { name: o.trustBundleConfigMap } },
    { name: WORK_VOLUME, emptyDir: { medium: 'Memory' } },
  ];
}

/** `k=v,k2=v2`, sorted (label values cannot hold commas or `=`). */
function podLabels(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .slice(0, MAX_POD_LABELS)
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}
