// The only module of the proxy that reads process.env.

export interface ProxyEnv {
  /** Log level: debug | info | warn | error (TSMESH_LOG_LEVEL). */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Default bootstrap path when --config is not given (TSMESH_BOOTSTRAP). */
  bootstrap: string | undefined;
  /** The injected sidecar's variables (k8s/inject/sidecar.ts) when TSMESH_CONTROL_PLANE_ADDRESS is set: bootstrapFromEnv's input. */
  sidecar: Record<string, string | undefined> | undefined;
}

const SIDECAR_VARS = [
  'TSMESH_CONTROL_PLANE_ADDRESS', 'TSMESH_TRUST_DOMAIN', 'TSMESH_TOKEN_PATH', 'TSMESH_TRUST_BUNDLE_PATH',
  'TSMESH_OUTBOUND_PORT', 'TSMESH_INBOUND_PORT', 'TSMESH_ADMIN_PORT', 'TSMESH_HEALTH_PORT', 'TSMESH_METRICS_PORT', 'TSMESH_APP_PORT',
  'TSMESH_APP_CONTAINERS', 'TSMESH_SERVICE_NAME', 'TSMESH_WORKLOAD', 'TSMESH_INTERCEPTION_MODE', 'TSMESH_KUBE_APP_PROBERS',
  'TSMESH_TRACING_ENDPOINT', 'TSMESH_TRACING_SAMPLING', 'TSMESH_TRACING_PROTOCOL',
  'POD_NAME', 'POD_NAMESPACE', 'POD_UID', 'POD_LABELS', 'INSTANCE_IP', 'SERVICE_ACCOUNT', 'NODE_NAME',
] as const;

export function readProxyEnv(env: NodeJS.ProcessEnv = process.env): ProxyEnv {
  const lvl = env.TSMESH_LOG_LEVEL;
  return {
    logLevel: lvl === 'debug' || lvl === 'warn' || lvl === 'error' ? lvl : 'info',
    bootstrap: env.TSMESH_BOOTSTRAP || undefined,
    sidecar: env.TSMESH_CONTROL_PLANE_ADDRESS ? Object.fromEntries(SIDECAR_VARS.map((k) => [k, env[k]])) : undefined,
  };
}
