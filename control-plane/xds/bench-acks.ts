// Bench: time from a snapshot change until N simulated proxies on real gRPC
// streams have ACKed it, and what the control plane spends on it. The proxies
// run in a child process (bench-acks-clients.ts), so the CPU, RSS and heap
// measured here are the control plane's alone; both ends of each latency are
// on this process's clock (the apply, and the ACK's arrival in the receipt).
//
//   node --expose-gc dist/control-plane/xds/bench-acks.js [--clients 100,1000] [--clusters 20] [--pushes 5] [--debounce-ms 10] [--protocol sotw|delta]

import { fork, type ChildProcess } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Cluster, ClusterLoadAssignment, ResourceMaps } from '../../proxy/config/resources.js';
import type { ClientsArgs } from './bench-acks-clients.js';
import { MemorySnapshotCache } from './cache.js';
import { DEFAULT_DEBOUNCE_MS, XdsServer } from './xds-server.js';

export interface AckBenchOptions {
  clients: number;
  /** Clusters (each with a 3-endpoint assignment) in every proxy's config. */
  clusters: number;
  /** Changes pushed one after another; latency figures are medians over them. */
  pushes: number;
  /** The server's debounce window (default: XdsServer's own, 10 ms — what a deployment runs). */
  debounceMs?: number;
  /** ADS flavour the proxies speak (default state of the world, as tsmesh's sidecar). */
  protocol?: 'sotw' | 'delta';
}

export interface AckPush {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Control-plane CPU from the apply until the last ACK. */
  controlPlaneCpuMs: number;
  /** The simulated proxies' CPU over the same span (all N in one process). */
  clientsCpuMs: number;
}

export interface AckBenchResult {
  clients: number;
  clusters: number;
  pushes: number;
  debounceMs: number;
  protocol: 'sotw' | 'delta';
  connectAndSyncMs: number;
  /** Medians over the pushes. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  controlPlaneCpuUsPerProxy: number;
  clientsCpuUsPerProxy: number;
  /** Control-plane growth per connected proxy (after GC when run with --expose-gc). */
  rssPerProxyKiB: number;
  heapPerProxyKiB: number;
  /** Buffers and other memory outside the JS heap (included in RSS). */
  externalPerProxyKiB: number;
  runs: AckPush[];
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
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
const cpuMs = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1000;

function clientsCpu(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const on = (m: unknown) => {
      const cpu = (m as { cpu?: NodeJS.CpuUsage }).cpu;
      if (!cpu) return;
      child.off('message', on);
      resolve(cpuMs(cpu));
    };
    child.on('message', on);
    child.send('cpu');
  });
}

/** Starts an ADS server and N proxies in a child process, pushes `pushes` changes and reports ACK times and costs. */
export async function benchAcks(o: AckBenchOptions): Promise<AckBenchResult> {
  const cache = new MemorySnapshotCache();
  const xds = new XdsServer({ cache, ...(o.debounceMs !== undefined ? { debounceMs: o.debounceMs } : {}) });
  // As control-plane/server.ts: channelz is on by default in grpc-js and costs ~5-10% CPU per push.
  const server = new Server({ 'grpc.enable_channelz': 0 });
  xds.register(server);
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const child = fork(new URL('./bench-acks-clients.js', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const first = config(o.clusters, 0);
    for (let i = 0; i < o.clients; i++) cache.setSnapshot(`proxy-${i}`, 'v0', first);
    gc();
    const mem0 = process.memoryUsage();
    const heap0 = getHeapStatistics().used_heap_size;
    const t0 = performance.now();
    const ready = new Promise<void>((res, rej) => {
      child.on('message', (m) => m === 'ready' && res());
      child.once('exit', (code) => rej(new Error(`bench clients exited (${code})`)));
    });
    child.send({ port, clients: o.clients, edsNames: [...first.clusterLoadAssignment.keys()], protocol: o.protocol ?? 'sotw' } satisfies ClientsArgs);
    await ready;
    const connectAndSyncMs = Math.round(performance.now() - t0);
    gc();
    const mem = process.memoryUsage();
    const perProxyKiB = (bytes: number) => Math.round(bytes / o.clients / 102.4) / 10;
    const rssPerProxyKiB = perProxyKiB(mem.rss - mem0.rss);
    const externalPerProxyKiB = perProxyKiB(mem.external - mem0.external);
    const heapPerProxyKiB = Math.round((getHeapStatistics().used_heap_size - heap0) / o.clients / 102.4) / 10;

    const runs: AckPush[] = [];
    // Push 0 warms the JIT (a control plane is a long-running process); it is not reported.
    for (let p = 0; p <= o.pushes; p++) {
      const version = `v${p + 1}`;
      const next = config(o.clusters, p + 1); // one endpoint change for every proxy
      const client0 = await clientsCpu(child);
      const cpu0 = process.cpuUsage();
      const start = Date.now(); // the receipts' clock
      for (let i = 0; i < o.clients; i++) cache.setSnapshot(`proxy-${i}`, version, next);
      for (;;) {
        const r = xds.receiptProgress(version);
        if (r && r.acked + r.nacked === o.clients) break;
        await new Promise((res) => setTimeout(res, 2));
      }
      const cpu = cpuMs(process.cpuUsage(cpu0));
      const receipt = xds.receipt(version)!;
      if (receipt.nacked.length) throw new Error(`${receipt.nacked.length} proxies NACKed ${version}: ${receipt.nacked[0]!.error}`);
      const lat = receipt.acked.map((a) => a.at - start).sort((a, b) => a - b);
      if (p > 0) runs.push({ p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), maxMs: lat.at(-1)!, controlPlaneCpuMs: Math.round(cpu * 10) / 10, clientsCpuMs: Math.round(((await clientsCpu(child)) - client0) * 10) / 10 });
      gc();
    }
    return {
      clients: o.clients,
      clusters: o.clusters,
      pushes: o.pushes,
      debounceMs: o.debounceMs ?? DEFAULT_DEBOUNCE_MS,
      protocol: o.protocol ?? 'sotw',
      connectAndSyncMs,
      p50Ms: median(runs.map((r) => r.p50Ms)),
      p99Ms: median(runs.map((r) => r.p99Ms)),
      maxMs: median(runs.map((r) => r.maxMs)),
      controlPlaneCpuUsPerProxy: Math.round((median(runs.map((r) => r.controlPlaneCpuMs)) * 1000) / o.clients),
      clientsCpuUsPerProxy: Math.round((median(runs.map((r) => r.clientsCpuMs)) * 1000) / o.clients),
      rssPerProxyKiB,
      heapPerProxyKiB,
      externalPerProxyKiB,
      runs,
    };
  } finally {
    child.kill();
    xds.close();
    server.forceShutdown();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string, dflt: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1]! : dflt;
  };
  const results = [];
  for (const clients of arg('clients', '100,1000').split(',').map(Number)) {
    const debounce = arg('debounce-ms', '');
    const protocol = arg('protocol', 'sotw');
    if (protocol !== 'sotw' && protocol !== 'delta') throw new Error(`--protocol must be sotw or delta, got ${protocol}`);
    results.push(
      await benchAcks({ clients, clusters: Number(arg('clusters', '20')), pushes: Number(arg('pushes', '5')), protocol, ...(debounce ? { debounceMs: Number(debounce) } : {}) }),
    );
  }
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
}
