// Medians over repetitions and the ratios the report leads with.
import type { LatencySummary } from '../loadgen/open-loop.js';
import type { ClosedLoopRun, ProcWindow } from '../lib/measure.js';

export interface OpenLoopRecord {
  kind: 'open-loop';
  /** Absent in results written before HTTP/2 and gRPC runs existed: http1. */
  protocol?: 'http1' | 'h2' | 'grpc';
  rep: number;
  config: string;
  latencyUs: LatencySummary;
  serviceTimeUs: LatencySummary;
  dispatchLagUs: LatencySummary;
  sent: number;
  completed: number;
  errors: number;
  /** What the errors were (absent in older results). */
  errorKinds?: { non2xx: number; non2xxStatuses: Record<string, number>; socketErrors: number; timeouts: number };
  achievedRate: number;
  generatorCpuUsPerRequest: number;
  /** Proxy CPU (sum over the path's proxies) per completed request; for direct, the upstream's. null: a proxy exited in the window. */
  cpuUsPerRequest: number | null;
  window: ProcWindow;
}

export interface ClosedLoopRecord extends ClosedLoopRun {
  kind: 'closed-loop';
  /** grpc: h2load unary calls on a gRPC path, counting only calls whose whole message arrived. */
  protocol: 'http1' | 'http2' | 'grpc';
  rep: number;
  config: string;
  cpuUsPerRequest: number | null;
}

export type RunRecord = OpenLoopRecord | ClosedLoopRecord;

type Pcts = { p50: number; p90: number; p99: number; p999: number };

export interface ConfigSummary {
  config: string;
  label: string;
  reps: number;
  latencyUs: Pcts | null;
  /** Median latency minus direct's median latency, per percentile. */
  addedUs: Pcts | null;
  errors: number;
  cpuUsPerRequest: number | null;
  vcpuPer1kRps: number | null;
  cpuRatioToNginx: number | null;
  cpuRatioToHaproxy: number | null;
  cpuRatioToDirect: number | null;
  maxRpsHttp1: number | null;
  maxRpsHttp2: number | null;
  /** Max HTTP/1.1 req/s relative to nginx of the same shape (the target: ≥ 0.7 for one sidecar). */
  maxRpsRatioToNginx: number | null;
  cpuUsPerRequestAtMax: number | null;
  /** RSS in the first rep's HTTP/1.1 window at the open-loop rate: the process has seen no saturation run yet. */
  rssAtRateKb: number | null;
  /** Median RSS over every window (open and closed loop, HTTP/1.1 and HTTP/2): the proxies live across reps. */
  rssKb: number | null;
  peakRssKb: number | null;
  stealPct: number | null;
}

/** Median of the values present (a run whose figure could not be taken, null, is left out). */
export function median(xs: readonly (number | null)[]): number | null {
  const s = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const r1 = (x: number | null): number | null => (x === null ? null : Math.round(x * 10) / 10);
const r2 = (x: number | null): number | null => (x === null ? null : Math.round(x * 100) / 100);

export interface SummaryInput {
  id: string;
  label: string;
  proxy: string;
  hops: number;
  mtls: boolean;
}

/** The nginx/HAProxy configuration of the same shape (hops, mTLS) a tsmesh path is compared with. */
function peerOf(c: SummaryInput, peer: 'nginx' | 'haproxy'): string | null {
  if (c.hops === 0) return null;
  return `${peer}-${c.hops}hop${c.mtls ? '-mtls' : ''}`;
}

export function summarize(configs: SummaryInput[], runs: RunRecord[]): ConfigSummary[] {
  const out = new Map<string, ConfigSummary>();
  for (const c of configs) {
    const open = runs.filter((r): r is OpenLoopRecord => r.kind === 'open-loop' && r.config === c.id && (r.protocol ?? 'http1') === 'http1');
    const closed = runs.filter((r): r is ClosedLoopRecord => r.kind === 'closed-loop' && r.config === c.id);
    const pct = (k: keyof Pcts): number | null => median(open.map((r) => r.latencyUs[k === 'p999' ? 'p999' : k]));
    const lat = open.length ? { p50: pct('p50')!, p90: pct('p90')!, p99: pct('p99')!, p999: pct('p999')! } : null;
    const cpu = median(open.map((r) => r.cpuUsPerRequest));
    const h1 = closed.filter((r) => r.protocol === 'http1');
    const h2 = closed.filter((r) => r.protocol === 'http2');
    out.set(c.id, {
      config: c.id,
      label: c.label,
      reps: open.length,
      latencyUs: lat,
      addedUs: null,
      errors: open.reduce((n, r) => n + r.errors, 0) + closed.reduce((n, r) => n + r.errors, 0),
      cpuUsPerRequest: r1(cpu),
      vcpuPer1kRps: cpu === null ? null : Math.round(cpu) / 1000,
      cpuRatioToNginx: null,
      cpuRatioToHaproxy: null,
      cpuRatioToDirect: null,
      maxRpsHttp1: median(h1.map((r) => r.requestsPerSec)),
      maxRpsHttp2: median(h2.map((r) => r.requestsPerSec)),
      maxRpsRatioToNginx: null,
      cpuUsPerRequestAtMax: r1(median(h1.map((r) => r.cpuUsPerRequest))),
      rssAtRateKb: open.find((r) => r.rep === 1)?.window.memory.rssKb ?? null,
      rssKb: median([...open, ...closed].map((r) => r.window.memory.rssKb)),
      peakRssKb: Math.max(0, ...[...open, ...closed].map((r) => r.window.memory.peakRssKb)) || null,
      stealPct: r1(median([...open, ...closed].map((r) => r.window.stealPct))),
    });
  }
  const direct = out.get('direct');
  for (const c of configs) {
    const s = out.get(c.id)!;
    if (direct?.latencyUs && s.latencyUs) {
      const d = direct.latencyUs;
      s.addedUs = { p50: s.latencyUs.p50 - d.p50, p90: s.latencyUs.p90 - d.p90, p99: s.latencyUs.p99 - d.p99, p999: s.latencyUs.p999 - d.p999 };
    }
    const ratio = (other: string | null): number | null => {
      const o = other ? out.get(other)?.cpuUsPerRequest : null;
      return o && s.cpuUsPerRequest !== null && c.hops > 0 ? r2(s.cpuUsPerRequest / o) : null;
    };
    s.cpuRatioToNginx = ratio(peerOf(c, 'nginx'));
    s.cpuRatioToHaproxy = ratio(peerOf(c, 'haproxy'));
    s.cpuRatioToDirect = c.hops > 0 ? ratio('direct') : null;
    const ng = peerOf(c, 'nginx');
    const ngRps = ng ? out.get(ng)?.maxRpsHttp1 : null;
    s.maxRpsRatioToNginx = ngRps && s.maxRpsHttp1 !== null ? r2(s.maxRpsHttp1 / ngRps) : null;
  }
  return [...out.values()];
}

/** One path's open-loop latency over one protocol (medians over repetitions) and what it adds over that protocol's direct baseline. */
export interface ProtocolLatencyRow {
  config: string;
  label: string;
  reps: number;
  latencyUs: Pcts;
  addedUs: Pcts | null;
  /** Median µs of the service time (actual write → response end): what a closed-loop tool would report. */
  serviceP50Us: number;
  cpuUsPerRequest: number | null;
  /** Closed-loop maximum of the same protocol (http1: wrk, h2: h2load GET, grpc: h2load unary calls), median req/s. */
  maxRps: number | null;
  errors: number;
  /** What failed, summed over repetitions: non-2xx by status (+ x-tsmesh-error / grpc-status), socket errors, timeouts. */
  failures: Record<string, number>;
}

export type ProtocolLatency = Record<'http1' | 'h2' | 'grpc', ProtocolLatencyRow[]>;

const CLOSED = { http1: 'http1', h2: 'http2', grpc: 'grpc' } as const;

/** Latency tables per protocol. HTTP/1.1 and HTTP/2 are compared with `direct` over the same protocol, gRPC with `direct-grpc`. */
export function summarizeByProtocol(configs: SummaryInput[], runs: RunRecord[]): ProtocolLatency {
  const out: ProtocolLatency = { http1: [], h2: [], grpc: [] };
  for (const protocol of ['http1', 'h2', 'grpc'] as const) {
    const rows = out[protocol];
    for (const c of configs) {
      const open = runs.filter((r): r is OpenLoopRecord => r.kind === 'open-loop' && r.config === c.id && (r.protocol ?? 'http1') === protocol);
      if (open.length === 0) continue;
      const pct = (k: keyof Pcts): number => median(open.map((r) => r.latencyUs[k]))!;
      rows.push({
        config: c.id,
        label: c.label,
        reps: open.length,
        latencyUs: { p50: pct('p50'), p90: pct('p90'), p99: pct('p99'), p999: pct('p999') },
        addedUs: null,
        serviceP50Us: median(open.map((r) => r.serviceTimeUs.p50))!,
        cpuUsPerRequest: r1(median(open.map((r) => r.cpuUsPerRequest))),
        maxRps: median(runs.filter((r): r is ClosedLoopRecord => r.kind === 'closed-loop' && r.config === c.id && r.protocol === CLOSED[protocol]).map((r) => r.requestsPerSec)),
        errors: open.reduce((n, r) => n + r.errors, 0),
        failures: failuresOf(open),
      });
    }
    const base = rows.find((r) => r.config === (protocol === 'grpc' ? 'direct-grpc' : 'direct'));
    if (base)
      for (const r of rows) {
        const d = base.latencyUs;
        r.addedUs = { p50: r.latencyUs.p50 - d.p50, p90: r.latencyUs.p90 - d.p90, p99: r.latencyUs.p99 - d.p99, p999: r.latencyUs.p999 - d.p999 };
      }
  }
  return out;
}

function failuresOf(runs: OpenLoopRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (k: string, v: number): void => {
    if (v > 0) out[k] = (out[k] ?? 0) + v;
  };
  for (const r of runs) {
    const e = r.errorKinds;
    if (!e) continue;
    for (const [k, v] of Object.entries(e.non2xxStatuses ?? {})) add(k, v);
    add('socket error', e.socketErrors);
    add('timeout', e.timeouts);
  }
  return out;
}
