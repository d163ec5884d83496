// App probe rewriting (Istio's rewriteAppHTTPProbers). Under STRICT mTLS the
// kubelet's plaintext probe to an app port is redirected into the inbound
// listener and refused, so the pod never turns ready. The injector points each
// httpGet / tcpSocket probe at the sidecar's health port instead
// (/app-health/<container>/livez|readyz|startupz) and hands the original
// probes to the sidecar in TSMESH_KUBE_APP_PROBERS, which probes the app from
// inside the pod (proxy/admin/app-probes.ts). grpc probes are rewritten the
// same way (the sidecar calls grpc.health.v1.Health/Check); exec probes run
// inside the container and stay as they are.

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The env var carrying the original probes to the sidecar. */
export const APP_PROBERS_ENV = 'TSMESH_KUBE_APP_PROBERS';

/** What the sidecar needs to run one original probe (the shape of Istio's ISTIO_KUBE_APP_PROBERS). */
export interface AppProber {
  httpGet?: { path: string; port: number; scheme: 'HTTP' | 'HTTPS'; host?: string; httpHeaders?: { name: string; value: string }[] };
  tcpSocket?: { port: number; host?: string };
  grpc?: { port: number; service?: string };
  /** The original probe's timeout (Kubernetes' default: 1 s). */
  timeoutSeconds: number;
}

const KINDS = [
  ['livenessProbe', 'livez'],
  ['readinessProbe', 'readyz'],
  ['startupProbe', 'startupz'],
] as const;

/** A probe's port (number or the name of one of the container's ports), or undefined when it cannot be resolved. */
function resolvePort(port: unknown, container: Obj): number | undefined {
  if (typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536) return port;
  if (typeof port === 'string') {
    if (/^[0-9]+$/.test(port)) return resolvePort(Number(port), container);
    for (const p of Array.isArray(container.ports) ? container.ports.filter(isObj) : []) {
      if (p.name === port) return resolvePort(p.containerPort, container);
    }
  }
  return undefined;
}

function proberOf(probe: Obj, container: Obj): AppProber | undefined {
  const timeoutSeconds = typeof probe.timeoutSeconds === 'number' && probe.timeoutSeconds > 0 ? probe.timeoutSeconds : 1;
  if (isObj(probe.httpGet)) {
    const h = probe.httpGet;
    const port = resolvePort(h.port, container);
    if (port === undefined) return undefined;
    const headers = Array.isArray(h.httpHeaders)
      ? h.httpHeaders.filter(isObj).filter((x) => typeof x.name === 'string' && typeof x.value === 'string').map((x) => ({ name: x.name as string, value: x.value as string }))
      : [];
    return {
      httpGet: {
        path: typeof h.path === 'string' && h.path !== '' ? h.path : '/',
        port,
        scheme: h.scheme === 'HTTPS' ? 'HTTPS' : 'HTTP',
        ...(typeof h.host === 'string' && h.host !== '' ? { host: h.host } : {}),
        ...(headers.length ? { httpHeaders: headers } : {}),
      },
      timeoutSeconds,
    };
  }
  if (isObj(probe.tcpSocket)) {
    const t = probe.tcpSocket;
    const port = resolvePort(t.port, container);
    if (port === undefined) return undefined;
    return { tcpSocket: { port, ...(typeof t.host === 'string' && t.host !== '' ? { host: t.host } : {}) }, timeoutSeconds };
  }
  if (isObj(probe.grpc)) {
    const g = probe.grpc;
    // Kubernetes gRPC probes take a port number only (no named ports).
    const port = typeof g.port === 'number' ? resolvePort(g.port, container) : undefined;
    if (port === undefined) return undefined;
    return { grpc: { port, ...(typeof g.service === 'string' && g.service !== '' ? { service: g.service } : {}) }, timeoutSeconds };
  }
  return undefined;
}

/**
 * Rewrite the app containers' httpGet, tcpSocket and grpc probes to the sidecar's
 * health port. Returns new container objects (the input is not modified) and
 * the original probes keyed by their new path. A probe whose port cannot be
 * resolved is left alone.
 */
export function rewriteAppProbes(containers: unknown[], healthPort: number): { containers: unknown[]; probers: Record<string, AppProber> } {
  const probers: Record<string, AppProber> = {};
  const out = containers.map((c) => {
    if (!isObj(c) || typeof c.name !== 'string') return c;
    let next: Obj | undefined;
    for (const [field, suffix] of KINDS) {
      const probe = c[field];
      if (!isObj(probe)) continue;
      const prober = proberOf(probe, c);
      if (!prober) continue;
      const path = `/app-health/${c.name}/${suffix}`;
      probers[path] = prober;
      const { httpGet: _h, tcpSocket: _t, grpc: _g, ...timing } = probe;
      next ??= { ...c };
      next[field] = { ...timing, httpGet: { path, port: healthPort, scheme: 'HTTP' } };
    }
    return next ?? c;
  });
  return { containers: out, probers };
}
