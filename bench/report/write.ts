// Writes latest.json (every raw repetition, medians, machine, steal),
// latest.md and the SVG charts into the output directory.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HarnessOutput } from '../harness.js';
import type { ControlPlaneResults } from '../control-plane.js';
import type { BenchOptions } from '../options.js';
import { controlPlaneCharts, controlPlaneMarkdown } from './control-plane.js';
import { markdownReport } from './markdown.js';
import { protocolLatencyMarkdown, protocolLatencySeries } from './protocols.js';
import { median, summarize, summarizeByProtocol, type ConfigSummary, type OpenLoopRecord, type ProtocolLatency } from './summary.js';
import { barChart } from './svg.js';

function version(cmd: string | null, args: string[]): string | null {
  if (!cmd) return null;
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return ((r.stdout || '') + (r.stderr || '')).trim().split('\n')[0] ?? null;
}

export function machineInfo(h: HarnessOutput) {
  return {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model ?? 'unknown',
    kernel: os.release(),
    node: process.version,
    loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    totalMemMb: Math.round(os.totalmem() / 1048576),
    versions: {
      nginx: version(h.env.tools.nginx ?? null, ['-v']),
      haproxy: version(h.env.tools.haproxy ?? null, ['-v']),
      wrk: version(h.env.tools.wrk ?? null, ['--version']),
      h2load: version(h.env.tools.h2load ?? null, ['--version']),
    },
  };
}

export interface WrittenResults {
  jsonPath: string;
  summary: ConfigSummary[];
  byProtocol: ProtocolLatency;
}

/** `controlPlane`: the control-plane/CA section (bench/control-plane.ts), or why it was not run. */
export function writeResults(h: HarnessOutput, opts: BenchOptions, controlPlane: ControlPlaneResults | { skipped: string } = { skipped: 'not run' }): WrittenResults {
  const measured = h.configs.filter((c) => !c.skipped);
  // The gRPC paths have their own upstream: only in the per-protocol latency tables, not beside the HTTP paths.
  const summary = summarize(measured.filter((c) => c.protocol !== 'grpc'), h.runs);
  const byProtocol = summarizeByProtocol(measured, h.runs);
  const machine = machineInfo(h);
  const steals = h.runs.map((r) => r.window.stealPct);
  const open = h.runs.filter((r): r is OpenLoopRecord => r.kind === 'open-loop');
  const json = {
    schema: 1,
    startedAt: h.startedAt,
    finishedAt: h.finishedAt,
    options: opts,
    machine,
    env: h.env,
    steal: { medianPct: median(steals), maxPct: steals.length ? Math.max(...steals) : null, perRun: 'runs[].window.stealPct' },
    configs: h.configs,
    summary,
    /** Open-loop latency per protocol: http1, h2 (h2c to the first hop), grpc (unary over h2c); added over direct / direct-grpc. */
    latencyByProtocol: byProtocol,
    runs: h.runs,
    notes: h.notes,
    controlPlane,
  };
  for (const [protocol, rows] of Object.entries(byProtocol))
    for (const r of rows)
      if (r.errors > 0 && protocol !== 'http1')
        h.notes.push(
          `${r.config} over ${protocol}: ${r.errors} failed requests in the open-loop runs (${Object.entries(r.failures).map(([k, v]) => `${k} ×${v}`).join(', ')}) — its ${protocol} latency describes a failing path, not a comparable one`,
        );
  for (const c of summary)
    if (c.errors > 0)
      h.notes.push(`${c.config}: ${c.errors} failed requests (non-2xx, socket errors or timeouts) — its latency, throughput and CPU figures describe a failing path, not a comparable one`);
  fs.mkdirSync(opts.out, { recursive: true });
  const jsonPath = path.join(opts.out, 'latest.json');
  fs.writeFileSync(jsonPath, JSON.stringify(json, null, 2) + '\n');
  const md = markdownReport(
    {
      startedAt: h.startedAt,
      machine,
      rate: opts.rate,
      connections: opts.connections,
      duration: opts.duration,
      maxDuration: opts.maxDuration,
      reps: opts.reps,
      upstream: h.env.upstream === 'nginx' ? 'nginx (1 worker, `return 200` with a 1 KiB body)' : 'Node http server',
      stealPctMedian: json.steal.medianPct,
      stealPctMax: json.steal.maxPct,
      busyPctMedian: median(h.runs.map((r) => r.window.busyPct)),
      generatorLagP50Us: median(open.map((r) => r.dispatchLagUs.p50)),
      skipped: h.configs.filter((c) => c.skipped).map((c) => ({ config: c.id, reason: c.skipped! })),
      notes: h.notes,
    },
    summary,
  );
  const cpRun = 'skipped' in controlPlane ? undefined : controlPlane;
  const full = `${md}\n${protocolLatencyMarkdown(byProtocol)}`;
  fs.writeFileSync(path.join(opts.out, 'latest.md'), cpRun ? `${full}\n${controlPlaneMarkdown(cpRun)}` : full);
  const cats = summary.map((s) => s.label);
  const extra = protocolLatencySeries(byProtocol);
  const grpcMax = byProtocol.grpc.filter((r) => r.maxRps !== null);
  const charts: Record<string, string> = {
    'latency.svg': barChart({
      title: `Latency at ${opts.rate} req/s (open loop, CO-corrected), median of repetitions; HTTP/1.1 unless marked`,
      unit: 'µs',
      categories: [...cats, ...extra.categories],
      log: true,
      series: (['p50', 'p90', 'p99', 'p999'] as const).map((k) => ({
        name: k === 'p999' ? 'p99.9' : k,
        values: [...summary.map((s) => s.latencyUs?.[k] ?? null), ...extra.values(k)],
      })),
    }),
    'throughput.svg': barChart({
      title: 'Maximum throughput (closed loop, 1 client thread)',
      unit: 'requests/s',
      categories: [...cats, ...grpcMax.map((r) => r.label)],
      series: [
        { name: 'HTTP/1.1 (wrk)', values: [...summary.map((s) => s.maxRpsHttp1), ...grpcMax.map(() => null)] },
        { name: 'HTTP/2 (h2load)', values: [...summary.map((s) => s.maxRpsHttp2), ...grpcMax.map(() => null)] },
        ...(grpcMax.length ? [{ name: 'gRPC unary (h2load)', values: [...summary.map(() => null), ...grpcMax.map((r) => r.maxRps)] }] : []),
      ],
    }),
    'cpu.svg': barChart({
      title: 'Proxy CPU time per request (direct: the upstream itself)',
      unit: 'µs of CPU per request',
      categories: cats,
      series: [
        { name: `at ${opts.rate} req/s`, values: summary.map((s) => s.cpuUsPerRequest) },
        { name: 'at max throughput', values: summary.map((s) => s.cpuUsPerRequestAtMax) },
      ],
    }),
    'rss.svg': barChart({
      title: 'Resident memory of the path\'s proxies (direct: the upstream)',
      unit: 'MB',
      categories: cats,
      series: [
        { name: 'RSS at the open-loop rate', values: summary.map((s) => (s.rssAtRateKb === null ? null : Math.round(s.rssAtRateKb / 102.4) / 10)) },
        { name: 'RSS, all runs', values: summary.map((s) => (s.rssKb === null ? null : Math.round(s.rssKb / 102.4) / 10)) },
        { name: 'peak RSS', values: summary.map((s) => (s.peakRssKb === null ? null : Math.round(s.peakRssKb / 102.4) / 10)) },
      ],
    }),
  };
  if (cpRun) Object.assign(charts, controlPlaneCharts(cpRun));
  for (const [f, svg] of Object.entries(charts)) fs.writeFileSync(path.join(opts.out, f), svg);
  return { jsonPath, summary, byProtocol };
}
