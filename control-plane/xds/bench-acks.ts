// Bench: time from a snapshot change until N simulated proxies on real gRPC
// streams have ACKed it (p50/p99 from the propagation receipt), and
// control-plane heap per connected proxy. The proxies run in a worker thread
// (own V8 heap), each on its own channel/connection, subscribing CDS (wildcard)
// and EDS (named) and ACKing every response.
//
//   node dist/control-plane/xds/bench-acks.js [--clients 100,1000] [--clusters 20]

import { credentials, makeGenericClientConstructor, Server, ServerCredentials } from '@grpc/grpc-js';
import { getHeapStatistics } from 'node:v8';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { TYPE_URLS, type Cluster, type ClusterLoadAssignment, type ResourceMaps } from '../../proxy/config/resources.js';
import { adsServiceDefinition, type DiscoveryResponseMsg } from '../../proxy/xds/ads-wire.js';
import { MemorySnapshotCache } from './cache.js';
import { XdsServer } from './xds-server.js';

interface WorkerArgs {
  port: number;
  clients: number;
  edsNames: string[];
}

function runClients({ port, clients, edsNames }: WorkerArgs): void {
  const Ads = makeGenericClientConstructor(adsServiceDefinition(), 'AggregatedDiscoveryService');
  let ready = 0;
  for (let i = 0; i < clients; i++) {
    const c = new Ads(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    const call = c.StreamAggregatedResources();
    const seen = new Set<string>();
    call.on('data', (r: DiscoveryResponseMsg) => {
      const names = r.type_url === TYPE_URLS.clusterLoadAssignment ? edsNames : [];
      call.write({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names: names });
      if (!seen.has(r.type_url)) {
        seen.add(r.type_url);
        if (seen.size === 2 && ++ready === clients) parentPort!.postMessage('ready');
      }
    });
    call.on('error', () => {});
    call.write({ node: { id: `proxy-${i}`, cluster: 'bench' }, type_url: TYPE_URLS.cluster });
    call.write({ type_url: TYPE_URLS.clusterLoadAssignment, resource_names: edsNames });
  }
}

function config(clusters: number, gen: number): ResourceMaps {
  const cl = new Map<string, Cluster>();
  const eps = new Map<string, ClusterLoadAssignment>();
  for (let i = 0; i < clusters; i++) {
    const name = `outbound|80||svc-${i}.default`;
    cl.set(name, {
      name,
      type: 'EDS',
      connectTimeout: 1000,
      lbPolicy: 'LEAST_REQUEST',
      circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 },
      healthyPanicThreshold: 50,
      upstreamProtocol: 'http1',
      idleTimeout: 3_600_000,
      metadata: { service: `svc-${i}.default` },
    });
    eps.set(name, {
      clusterName: name,
      endpoints: [1, 2, 3].map((j) => ({ address: { address: `10.${i % 250}.${j}.${gen % 250}`, port: 8080 }, weight: 1, healthStatus: 'HEALTHY' as const, priority: 0, metadata: {} })),
    });
  }
  return { listener: new Map(), routeConfiguration: new Map(), cluster: cl, clusterLoadAssignment: eps, secret: new Map() };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function benchOne(clients: number, clusters: number): Promise<Record<string, number>> {
  const cache = new MemorySnapshotCache();
  const xds = new XdsServer({ cache, debounceMs: 0 });
  const server = new Server();
  xds.register(server);
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const first = config(clusters, 0);
  for (let i = 0; i < clients; i++) cache.setSnapshot(`proxy-${i}`, 'v0', first);
  (globalThis as { gc?: () => void }).gc?.();
  const heapBefore = getHeapStatistics().used_heap_size;
  const edsNames = [...first.clusterLoadAssignment.keys()];
  const worker = new Worker(new URL(import.meta.url), { workerData: { port, clients, edsNames } satisfies WorkerArgs });
  const t0 = performance.now();
  await new Promise<void>((res) => worker.on('message', (m) => m === 'ready' && res()));
  const connectMs = performance.now() - t0;
  (globalThis as { gc?: () => void }).gc?.();
  const heapPerProxy = (getHeapStatistics().used_heap_size - heapBefore) / clients;
  // One endpoint change for every proxy.
  const next = config(clusters, 1);
  const start = Date.now();
  for (let i = 0; i < clients; i++) cache.setSnapshot(`proxy-${i}`, 'v1', next);
  for (;;) {
    const r = xds.receipt('v1');
    if (r && r.acked.length === clients) break;
    await new Promise((res) => setTimeout(res, 5));
  }
  const lat = xds.receipt('v1')!.acked.map((a) => a.at - start).sort((a, b) => a - b);
  await worker.terminate();
  xds.close();
  server.forceShutdown();
  return { clients, clusters, connectAndSyncMs: Math.round(connectMs), p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), maxMs: lat.at(-1)!, heapPerProxyKiB: Math.round(heapPerProxy / 102.4) / 10 };
}

if (isMainThread) {
  const arg = (name: string, dflt: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1]! : dflt;
  };
  const sizes = arg('clients', '100,1000').split(',').map(Number);
  const clusters = Number(arg('clusters', '20'));
  const results = [];
  for (const n of sizes) results.push(await benchOne(n, clusters));
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
} else {
  runClients(workerData as WorkerArgs);
}
