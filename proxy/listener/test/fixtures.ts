// Shared pieces of the listener tests: chain dependencies around a real
// ClusterManager, and STATIC clusters to loopback upstreams.
import type { Cluster } from '../../config/resources.js';
import { DEFAULT_CIRCUIT_BREAKERS } from '../../config/defaults.js';
import type { ClusterManager } from '../../upstream/cluster-manager.js';
import { TlsStore } from '../../tls/tls-store.js';
import type { Telemetry } from '../../telemetry/types.js';
import type { ChainDeps } from '../chain-runtime.js';

const telemetry: Telemetry = { startSpan: () => undefined, httpRequestDone() {}, tcpConnectionOpened() {}, tcpConnectionClosed() {} };

/** What an inbound chain needs, with `clusters` as its upstreams and telemetry that records nothing. */
export function chainDeps(clusters: ClusterManager): () => ChainDeps {
  return () => ({
    clusters,
    telemetry,
    node: { id: 'n', cluster: 'web', namespace: 'default', serviceAccount: 'default', workload: 'web', labels: {}, trustDomain: 'cluster.local' },
    direction: 'inbound',
    routeTable: () => undefined,
    draining: () => false,
    tls: new TlsStore(),
  });
}

export function staticCluster(name: string, port: number): Cluster {
  return {
    name,
    type: 'STATIC',
    loadAssignment: { clusterName: name, endpoints: [{ address: { address: '127.0.0.1', port }, weight: 1, healthStatus: 'HEALTHY', priority: 0, metadata: {} }] },
    connectTimeout: 1000,
    lbPolicy: 'ROUND_ROBIN',
    circuitBreakers: { ...DEFAULT_CIRCUIT_BREAKERS },
    healthyPanicThreshold: 50,
    upstreamProtocol: 'http1',
    idleTimeout: 60_000,
    metadata: {},
  };
}

/** Applies a snapshot holding only `list` (no listeners, routes or secrets). */
export function applyClusters(clusters: ClusterManager, list: Cluster[]): void {
  const empty = new Map();
  clusters.apply({
    resources: { listener: empty, routeConfiguration: empty, cluster: new Map(list.map((c) => [c.name, c])), clusterLoadAssignment: empty, secret: empty },
    versions: { listener: '1', routeConfiguration: '1', cluster: '1', clusterLoadAssignment: '1', secret: '1' },
  });
}
