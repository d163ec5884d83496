// What the admin listener needs from a running sidecar. The sidecar
// (proxy/sidecar.ts) implements it; proxy/admin/ only reads through it.

import type { ConfigSnapshot, NodeInfo } from '../config/resources.js';
import type { HttpRequestRecord } from '../telemetry/types.js';

export interface EndpointStatus {
  address: string; // ip:port
  weight: number;
  healthStatus: string;
  ejected: boolean;
  activeRequests: number;
  metadata: Record<string, string>;
  /** Extra per-endpoint figures (e.g. ewmaLatencyMs, consecutive5xx, ejections). */
  stats?: Record<string, number>;
}

export interface ClusterStatus {
  name: string;
  lbPolicy: string;
  endpoints: EndpointStatus[];
  /** Circuit-breaker gauges and limits, e.g. { activeRequests, maxRequests, pendingRequests }. */
  circuitBreakers?: Record<string, number>;
}

export interface AdminSource {
  node(): NodeInfo;
  /** The active configuration (all resources and their versions). */
  snapshot(): ConfigSnapshot;
  clusters(): ClusterStatus[];
  /** True once listeners are bound and a configuration is active, false while draining. */
  ready(): boolean;
  /** Begin a graceful drain (as on SIGTERM); resolves when in-flight requests finished or the drain timeout passed. */
  drain(): Promise<void>;
  /** Envoy's server state for /ready; when absent, ready() gives LIVE or NOT_READY. */
  state?(): 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING';
  /** /quitquitquit: drain, then exit the process. When absent, /quitquitquit only drains. */
  quit?(): Promise<void>;
  /** Live request stream for `meshctl tap`; returns an unsubscribe function. */
  tap?(listener: (record: HttpRequestRecord) => void): () => void;
  /** Extra status sections (e.g. identity/certificate, xDS connection) for /status. */
  extraStatus?(): Record<string, unknown>;
}
