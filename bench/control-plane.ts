// The control-plane and CA part of `npm run bench`: CSRs signed per second
// per core (in-process sign-only, and CreateCertificate end to end over
// gRPC/TLS with the clients in another process); the time from a snapshot
// change until N proxies on real ADS streams have ACKed it, with the control
// plane's CPU and memory per proxy; and the time from a policy apply until
// every proxy's snapshot is published (the real controller). Repetitions
// interleave every measurement (A B C A B C …) and record CPU steal and how
// busy the machine was beside each; medians are reported.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { AckBenchResult } from '../control-plane/xds/bench-acks.js';
import type { ApplyBenchResult } from './control-plane-apply.js';
import { caFixture, measureGrpc, measureSignOnly, type GrpcRate, type Rate } from './ca/rates.js';
import { cpuShares, machineCpu } from './lib/proc.js';
import type { BenchOptions } from './options.js';
import { median } from './report/summary.js';

export interface ControlPlaneOptions {
  /** Proxy counts for the ACK bench. */
  clients: number[];
  /** Changes pushed per ACK measurement. */
  pushes: number;
  /** Seconds of each CA measurement. */
  caSeconds: number;
  /** CreateCertificate RPCs in flight. */
  caConcurrency: number;
  reps: number;
  clusters: number;
}

/** The control-plane options of `npm run bench` (flags --cp-*, --reps). */
export function controlPlaneOptions(o: BenchOptions): ControlPlaneOptions {
  return { clients: o.cpClients, pushes: o.cpPushes, caSeconds: o.cpSeconds, caConcurrency: 8, reps: o.reps, clusters: 20 };
}

export const CP_TARGETS = { csrPerCpuSecond: 2000, ackP99Ms: 300, ackProxies: 1000 } as const;

interface Stealed {
  stealPct: number;
  busyPct: number;
}

export interface ControlPlaneResults {
  options: ControlPlaneOptions;
  ca: {
    /** Medians over repetitions. */
    signOnly: { perCpuSecond: number; cpuMicros: number; perSecond: number };
    grpc: { perCpuSecond: number; cpuMicros: number; perSecond: number; latencyP50Ms: number; latencyP99Ms: number; clientCpuMicros: number; errors: number };
    /** The same RPC, each on a new channel (TCP + TLS handshake): a client that keeps no connection to the CA. */
    grpcFreshChannel?: { perCpuSecond: number; cpuMicros: number; perSecond: number; latencyP50Ms: number; latencyP99Ms: number; clientCpuMicros: number; errors: number };
    runs: { rep: number; signOnly: Rate & Stealed; grpc: GrpcRate & Stealed; grpcFreshChannel?: GrpcRate & Stealed }[];
  };
  xds: {
    /** One row per proxy count: medians over repetitions. */
    summary: {
      clients: number;
      p50Ms: number;
      p99Ms: number;
      maxMs: number;
      controlPlaneCpuUsPerProxy: number;
      clientsCpuUsPerProxy: number;
      rssPerProxyKiB: number;
      heapPerProxyKiB: number;
      connectAndSyncMs: number;
    }[];
    runs: (AckBenchResult & Stealed & { rep: number })[];
  };
  /** Apply → every proxy's snapshot published, through the real controller and translator. */
  apply: {
    summary: { nodes: number; applyToPublishedMs: number; cpuUsPerProxy: number }[];
    runs: (ApplyBenchResult & Stealed & { rep: number })[];
  };
  stealPctMedian: number | null;
  /** How busy the whole machine was (this bench and everyone else's work), median over measurements. */
  busyPctMedian: number | null;
  notes: string[];
}

async function withSteal<T extends object>(fn: () => Promise<T>): Promise<T & Stealed> {
  const a = machineCpu();
  const r = await fn();
  return { ...r, ...cpuShares(a, machineCpu()) };
}

const BENCH_ACKS = fileURLToPath(new URL('../control-plane/xds/bench-acks.js', import.meta.url));

/** One ACK measurement in a fresh control-plane process (with --expose-gc), so its RSS growth per proxy is its own. */
async function benchAcksProcess(clients: number, clusters: number, pushes: number): Promise<AckBenchResult> {
  const args = ['--expose-gc', BENCH_ACKS, '--clients', String(clients), '--clusters', String(clusters), '--pushes', String(pushes)];
  const { stdout } = await promisify(execFile)(process.execPath, args, { timeout: 300_000, maxBuffer: 16 << 20 });
  return (JSON.parse(stdout) as AckBenchResult[])[0]!;
}

const BENCH_APPLY = fileURLToPath(new URL('./control-plane-apply.js', import.meta.url));

/** Two applies (after one warm-up) with `nodes` proxies registered, in a fresh process. */
async function benchApplyProcess(nodes: number): Promise<ApplyBenchResult[]> {
  const { stdout } = await promisify(execFile)(process.execPath, [BENCH_APPLY, '--nodes', String(nodes), '--reps', '2'], { timeout: 300_000, maxBuffer: 16 << 20 });
  return JSON.parse(stdout) as ApplyBenchResult[];
}

const med = (xs: number[]): number => Math.round((median(xs) ?? NaN) * 10) / 10;

export async function runControlPlaneBench(o: ControlPlaneOptions, log: (line: string) => void = () => {}): Promise<ControlPlaneResults> {
  const f = await caFixture();
  const caRuns: ControlPlaneResults['ca']['runs'] = [];
  const xdsRuns: ControlPlaneResults['xds']['runs'] = [];
  const applyRuns: ControlPlaneResults['apply']['runs'] = [];
  for (let rep = 1; rep <= o.reps; rep++) {
    const signOnly = await withSteal(() => measureSignOnly(f, o.caSeconds));
    log(`control plane rep ${rep}: CA sign-only ${signOnly.perCpuSecond} CSRs per CPU-second`);
    const grpc = await withSteal(() => measureGrpc(f, o.caSeconds, o.caConcurrency));
    log(`control plane rep ${rep}: CA over gRPC ${grpc.perCpuSecond} per CPU-second of the CA (${grpc.perSecond}/s wall)`);
    const grpcFreshChannel = await withSteal(() => measureGrpc(f, o.caSeconds, o.caConcurrency, true));
    log(`control plane rep ${rep}: CA over gRPC, new TLS connection per CSR: ${grpcFreshChannel.perCpuSecond} per CPU-second of the CA`);
    caRuns.push({ rep, signOnly, grpc, grpcFreshChannel });
    for (const clients of o.clients) {
      const r = await withSteal(() => benchAcksProcess(clients, o.clusters, o.pushes));
      log(`control plane rep ${rep}: ${clients} proxies ACK p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${r.controlPlaneCpuUsPerProxy} µs CPU per proxy`);
      xdsRuns.push({ ...r, rep });
      const a0 = machineCpu();
      const applies = await benchApplyProcess(clients);
      const shares = cpuShares(a0, machineCpu());
      for (const a of applies) applyRuns.push({ ...a, ...shares, rep });
      log(`control plane rep ${rep}: apply → ${clients} snapshots published in ${applies.map((a) => a.applyToPublishedMs).join(', ')} ms`);
    }
  }
  const notes: string[] = [];
  const grpcErrors = caRuns.reduce((a, r) => a + r.grpc.errors + (r.grpcFreshChannel?.errors ?? 0), 0);
  const grpcSummary = (pick: (r: (typeof caRuns)[number]) => GrpcRate | undefined) => {
    const rs = caRuns.map(pick).filter((r): r is GrpcRate => r !== undefined);
    return {
      perCpuSecond: med(rs.map((r) => r.perCpuSecond)),
      cpuMicros: med(rs.map((r) => r.cpuMicros)),
      perSecond: med(rs.map((r) => r.perSecond)),
      latencyP50Ms: med(rs.map((r) => r.latencyMs.p50)),
      latencyP99Ms: med(rs.map((r) => r.latencyMs.p99)),
      clientCpuMicros: med(rs.map((r) => r.clientCpuMicros)),
      errors: rs.reduce((a, r) => a + r.errors, 0),
    };
  };
  if (grpcErrors) notes.push(`CA over gRPC: ${grpcErrors} failed RPCs (first: ${caRuns.find((r) => r.grpc.firstError)?.grpc.firstError ?? '?'})`);
  const steals = [...caRuns.flatMap((r) => [r.signOnly.stealPct, r.grpc.stealPct]), ...xdsRuns.map((r) => r.stealPct)];
  return {
    options: o,
    ca: {
      signOnly: {
        perCpuSecond: med(caRuns.map((r) => r.signOnly.perCpuSecond)),
        cpuMicros: med(caRuns.map((r) => r.signOnly.cpuMicros)),
        perSecond: med(caRuns.map((r) => r.signOnly.perSecond)),
      },
      grpc: grpcSummary((r) => r.grpc),
      grpcFreshChannel: grpcSummary((r) => r.grpcFreshChannel),
      runs: caRuns,
    },
    xds: {
      summary: o.clients.map((clients) => {
        const rs = xdsRuns.filter((r) => r.clients === clients);
        const m = (k: keyof AckBenchResult) => med(rs.map((r) => r[k] as number));
        return {
          clients,
          p50Ms: m('p50Ms'),
          p99Ms: m('p99Ms'),
          maxMs: m('maxMs'),
          controlPlaneCpuUsPerProxy: m('controlPlaneCpuUsPerProxy'),
          clientsCpuUsPerProxy: m('clientsCpuUsPerProxy'),
          rssPerProxyKiB: m('rssPerProxyKiB'),
          heapPerProxyKiB: m('heapPerProxyKiB'),
          connectAndSyncMs: m('connectAndSyncMs'),
        };
      }),
      runs: xdsRuns,
    },
    apply: {
      summary: o.clients.map((nodes) => {
        const rs = applyRuns.filter((r) => r.nodes === nodes);
        return { nodes, applyToPublishedMs: med(rs.map((r) => r.applyToPublishedMs)), cpuUsPerProxy: med(rs.map((r) => r.cpuUsPerProxy)) };
      }),
      runs: applyRuns,
    },
    stealPctMedian: median(steals),
    busyPctMedian: median([...caRuns.flatMap((r) => [r.signOnly.busyPct, r.grpc.busyPct]), ...xdsRuns.map((r) => r.busyPct)]),
    notes,
  };
}
