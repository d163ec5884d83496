// Where each connected sidecar's metrics are (TSMESH_METRICS in its xDS node
// metadata — the pod-facing Prometheus port an injected sidecar serves on its
// pod IP — else TSMESH_ADMIN, its admin listener): the canary analysis reads
// their `/stats/prometheus`. An
// unspecified host (0.0.0.0, ::) is replaced by the sidecar's own address;
// a loopback one on a sidecar elsewhere is unreachable from here and skipped.

const MAX_SIDECARS = 100_000;

export class SidecarAdmins {
  private readonly byNode = new Map<string, { url: string; service: string; app?: string }>();

  /** Records (or forgets, without a usable TSMESH_METRICS or TSMESH_ADMIN) the metrics URL of a connected node of `service`. */
  connected(nodeId: string, metadata: Record<string, unknown>, peerHost?: string, service = ''): void {
    const url = adminUrl(metadata.TSMESH_METRICS, peerHost) ?? adminUrl(metadata.TSMESH_ADMIN, peerHost);
    // The analysis matches metrics on destination_service_name (the node's cluster) or destination_app (its app label).
    if (url && (this.byNode.size < MAX_SIDECARS || this.byNode.has(nodeId))) this.byNode.set(nodeId, { url, service, ...appLabel(metadata.LABELS) });
    else this.byNode.delete(nodeId);
  }

  disconnected(nodeId: string): void {
    this.byNode.delete(nodeId);
  }

  /** Every sidecar's metrics base URL, or only those of `service`'s sidecars. */
  urls(service?: string): string[] {
    const out = new Set<string>();
    for (const n of this.byNode.values()) if (service === undefined || n.service === service || n.app === service) out.add(n.url);
    return [...out];
  }
}

/** `127.0.0.1:15000` → `http://127.0.0.1:15000`; undefined when not host:port or not reachable from here. */
export function adminUrl(v: unknown, peerHost?: string): string | undefined {
  if (typeof v !== 'string' || v.length > 300) return undefined;
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return undefined;
  let host = m[1]!;
  if (peerHost && isLoopback(host) && !isLoopback(peerHost)) return undefined;
  if (host === '0.0.0.0' || host === '[::]') {
    if (!peerHost) host = '127.0.0.1';
    else host = peerHost.includes(':') ? `[${peerHost}]` : peerHost;
  }
  return `http://${host}:${m[2]}`;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]' || host === '::1';
}

/** `app` from the node's LABELS (a JSON object, as nodeMetadata flattens the struct). */
function appLabel(labels: unknown): { app?: string } {
  if (typeof labels !== 'string' || labels.length > 64 * 1024) return {};
  try {
    const app = (JSON.parse(labels) as { app?: unknown }).app;
    return typeof app === 'string' ? { app } : {};
  } catch {
    return {};
  }
}
