// How a request's host names a mesh service, Kubernetes DNS style: `name`
// (the caller's namespace), `name.ns`, `name.ns.svc[.<cluster domain>]`, or a
// virtual IP. Shared by the control plane (resolving on-demand requests) and
// the proxy (not waiting for config for a host no service can have).

export type MeshHost = { kind: 'ip'; address: string } | { kind: 'name'; name: string; namespace: string };

/** The service a host (optionally `:port`, IPv6 in brackets) could be, or undefined when it cannot be one. */
export function parseMeshHost(host: string, callerNamespace: string): MeshHost | undefined {
  if (host.length === 0 || host.length > 260) return undefined;
  let h = host.toLowerCase();
  const colon = h.lastIndexOf(':');
  if (colon > 0 && /^\d+$/.test(h.slice(colon + 1)) && (h.startsWith('[') ? h[colon - 1] === ']' : h.indexOf(':') === colon)) h = h.slice(0, colon);
  const bare = h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
  if (/^[0-9.]+$/.test(bare) || bare.includes(':')) return { kind: 'ip', address: bare };
  const parts = h.split('.');
  if (parts.some((p) => p === '')) return undefined;
  if (parts.length > 2 && parts[2] !== 'svc') return undefined; // name.ns.svc[.cluster domain]: anything else is outside
  return parts.length === 1 ? { kind: 'name', name: parts[0]!, namespace: callerNamespace } : { kind: 'name', name: parts[0]!, namespace: parts[1]! };
}
