// The only reader of process.env for mesh-control-plane: Kubernetes mode is
// chosen by the Deployment k8s/install/render.ts writes (TSMESH_REGISTRY=kubernetes).

import { ValidationError, type ValidationIssue } from '../common/errors.js';
import { parseSamplingPercent, tracingEndpointProblem } from '../common/tracing-settings.js';
import type { KubernetesModeOptions } from '../k8s/control-plane.js';

export type EnvMap = Readonly<Record<string, string | undefined>>;

/** Options for startKubernetesMode, or undefined when the embedded registry is wanted. */
export function kubernetesModeFromEnv(env: EnvMap, trustDomain: string): Omit<KubernetesModeOptions, 'logger'> | undefined {
  const mode = env.TSMESH_REGISTRY;
  if (!mode || mode === 'embedded') return undefined;
  if (mode !== 'kubernetes') throw new ValidationError([{ path: 'TSMESH_REGISTRY', message: `"${mode}" is not one of embedded, kubernetes` }], 'environment');
  const listen = env.TSMESH_WEBHOOK_LISTEN || '0.0.0.0:15017';
  const i = listen.lastIndexOf(':');
  const port = Number(listen.slice(i + 1));
  if (i < 0 || !/^\d{1,5}$/.test(listen.slice(i + 1)) || port > 65535) {
    throw new ValidationError([{ path: 'TSMESH_WEBHOOK_LISTEN', message: `"${listen}" is not host:port` }], 'environment');
  }
  const host = listen.slice(0, i).replace(/^\[|\]$/g, '');
  // What the installed Deployment tells the injector (k8s/install/render.ts).
  const inject = {
    ...(env.TSMESH_PROXY_IMAGE ? { image: env.TSMESH_PROXY_IMAGE } : {}),
    ...(env.TSMESH_CONTROL_PLANE_ADDRESS ? { controlPlaneAddress: env.TSMESH_CONTROL_PLANE_ADDRESS } : {}),
    ...injectTracing(env),
  };
  return {
    namespace: env.POD_NAMESPACE || 'tsmesh-system',
    trustDomain: env.TSMESH_TRUST_DOMAIN || trustDomain,
    ...(env.TSMESH_CA_SECRET ? { caSecretName: env.TSMESH_CA_SECRET } : {}),
    ...(env.TSMESH_TOKEN_AUDIENCE ? { tokenAudience: env.TSMESH_TOKEN_AUDIENCE } : {}),
    ...(Object.keys(inject).length ? { inject } : {}),
    webhook: {
      ...(host ? { host } : {}),
      port,
      ...(env.TSMESH_WEBHOOK_SERVICE ? { serviceName: env.TSMESH_WEBHOOK_SERVICE.split('.')[0]! } : {}),
      ...(env.TSMESH_WEBHOOK_CONFIG ? { configName: env.TSMESH_WEBHOOK_CONFIG } : {}),
    },
  };
}

/** The mesh-wide tracing settings the injector hands every sidecar, checked here so a typo fails the control plane's start, not each pod. */
function injectTracing(env: EnvMap): { tracingEndpoint?: string; tracingSampling?: number } {
  const endpoint = env.TSMESH_TRACING_ENDPOINT || undefined;
  const sampling = env.TSMESH_TRACING_SAMPLING || undefined;
  const issues: ValidationIssue[] = [];
  if (endpoint !== undefined) {
    const bad = tracingEndpointProblem(endpoint);
    if (bad) issues.push({ path: 'TSMESH_TRACING_ENDPOINT', message: bad });
  }
  const n = sampling === undefined ? undefined : parseSamplingPercent(sampling);
  if (sampling !== undefined && n === undefined) issues.push({ path: 'TSMESH_TRACING_SAMPLING', message: `"${sampling}" is not a percentage (0-100)` });
  if (sampling !== undefined && endpoint === undefined) issues.push({ path: 'TSMESH_TRACING_SAMPLING', message: 'needs TSMESH_TRACING_ENDPOINT (where the spans go)' });
  if (issues.length) throw new ValidationError(issues, 'environment');
  return { ...(endpoint ? { tracingEndpoint: endpoint } : {}), ...(n !== undefined ? { tracingSampling: n } : {}) };
}
