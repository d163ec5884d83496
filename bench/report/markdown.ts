// The human-readable results: leads with CPU per request (the figure a noisy
// neighbour barely moves), then latency added over direct, throughput, memory.
import type { ConfigSummary } from './summary.js';

export interface ReportMeta {
  startedAt: string;
  machine: { cpus: number; model: string; kernel: string; node: string };
  rate: number;
  connections: number;
  duration: number;
  maxDuration: number;
  reps: number;
  upstream: string;
  stealPctMedian: number | null;
  stealPctMax: number | null;
  busyPctMedian: number | null;
  generatorLagP50Us: number | null;
  skipped: { config: string; reason: string }[];
  notes: string[];
}

const n = (v: number | null, digits = 0): string => (v === null ? '–' : v.toFixed(digits));
const ms = (us: number | null): string => (us === null ? '–' : (us / 1000).toFixed(2));
const x = (v: number | null): string => (v === null ? '–' : `${v.toFixed(2)}×`);
const mb = (kb: number | null): string => (kb === null ? '–' : (kb / 1024).toFixed(1));

export function markdownReport(meta: ReportMeta, rows: ConfigSummary[]): string {
  const L: string[] = [];
  L.push('# tsmesh benchmark results', '');
  L.push(
    `Run ${meta.startedAt} on ${meta.machine.cpus}× ${meta.machine.model}, Linux ${meta.machine.kernel}, Node ${meta.machine.node}. ` +
      `Open loop at ${meta.rate} req/s over ${meta.connections} keep-alive connections, 1 KiB responses, ${meta.duration} s measured per run ` +
      `(warm-up excluded), ${meta.reps} repetition(s) with configurations interleaved; medians shown. Upstream: ${meta.upstream}.`,
    '',
  );
  L.push(
    `**This machine is shared and noisy**: median CPU steal during the runs was ${n(meta.stealPctMedian, 1)} % (max ${n(meta.stealPctMax, 1)} %), ` +
      `and the whole machine was ${n(meta.busyPctMedian, 0)} % busy (this bench and other engineers' work together). Wall-clock latency swings between ` +
      `identical runs (a negative "added" value means the difference is inside that noise); CPU time per request is the stable figure, so it leads.`,
    '',
  );
  L.push('## CPU per request (proxy processes, µs of utime+stime per request at the open-loop rate)', '');
  L.push('| configuration | CPU µs/req | vCPU per 1k req/s | ratio to nginx | ratio to HAProxy | ratio to direct | CPU µs/req at max throughput |');
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows)
    L.push(`| ${r.label} | ${n(r.cpuUsPerRequest, 1)} | ${n(r.vcpuPer1kRps, 3)} | ${x(r.cpuRatioToNginx)} | ${x(r.cpuRatioToHaproxy)} | ${x(r.cpuRatioToDirect)} | ${n(r.cpuUsPerRequestAtMax, 1)} |`);
  L.push('', '"direct" is the upstream\'s own CPU per request; "ratio to direct" = proxy CPU / upstream CPU. Ratios compare paths of the same shape (hops, mTLS).', '');
  const layers = policyLayers(rows);
  if (layers.length) {
    L.push('## Cost of the policy layers (same run, one hop, configured but not triggering)', '');
    L.push('| configuration | CPU µs/req | ratio to the bare route | +p50 (ms) over the bare route |');
    L.push('| --- | ---: | ---: | ---: |');
    for (const l of layers) L.push(`| ${l.label} | ${n(l.cpu, 1)} | ${x(l.ratio)} | ${ms(l.addedP50)} |`);
    L.push('', 'Resilience = retries (with budget), outlier detection, circuit breakers, a header-gated fault filter and a local rate limit that never empties; "+ policies" adds tracing, every request sampled and exported over OTLP.', '');
  }
  L.push('## Summary', '');
  L.push('| configuration | p50 added (ms) | p99 added (ms) | max req/s HTTP/1.1 | max req/s vs nginx | max req/s HTTP/2 | CPU µs/req | ratio to nginx | RSS at the open-loop rate (MB) | RSS, all runs (MB) | peak RSS (MB) | errors |');
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows)
    L.push(
      `| ${r.label} | ${ms(r.addedUs?.p50 ?? null)} | ${ms(r.addedUs?.p99 ?? null)} | ${n(r.maxRpsHttp1)} | ${x(r.maxRpsRatioToNginx)} | ${n(r.maxRpsHttp2)} | ${n(r.cpuUsPerRequest, 1)} | ${x(r.cpuRatioToNginx)} | ${mb(r.rssAtRateKb)} | ${mb(r.rssKb)} | ${mb(r.peakRssKb)} | ${r.errors} |`,
    );
  L.push('', '"RSS at the open-loop rate": the first repetition\'s HTTP/1.1 window, before the process has run at saturation; "all runs": the median over every window (open and closed loop, HTTP/1.1 and HTTP/2 — each configuration\'s proxies live across repetitions, and memory taken at saturation is not given back at once).');
  L.push('', '## Latency (ms, from each request\'s intended send time) and added over direct', '');
  L.push('| configuration | p50 | p90 | p99 | p99.9 | +p50 | +p90 | +p99 | +p99.9 |');
  L.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const l = r.latencyUs;
    const a = r.addedUs;
    L.push(`| ${r.label} | ${ms(l?.p50 ?? null)} | ${ms(l?.p90 ?? null)} | ${ms(l?.p99 ?? null)} | ${ms(l?.p999 ?? null)} | ${ms(a?.p50 ?? null)} | ${ms(a?.p90 ?? null)} | ${ms(a?.p99 ?? null)} | ${ms(a?.p999 ?? null)} |`);
  }
  L.push('', `The generator's own send lag (timer wake-up) had a median of ${n(meta.generatorLagP50Us)} µs; it is part of every path's latency alike, including direct.`, '');
  if (meta.skipped.length) {
    L.push('## Not measured', '');
    for (const s of meta.skipped) L.push(`- \`${s.config}\`: ${s.reason}`);
    L.push('');
  }
  if (meta.notes.length) {
    L.push('## Notes', '');
    for (const s of meta.notes) L.push(`- ${s}`);
    L.push('');
  }
  L.push('Charts: [latency](latency.svg) · [throughput](throughput.svg) · [CPU per request](cpu.svg) · [memory](rss.svg). Raw repetitions: `latest.json`.', '');
  return L.join('\n');
}

/** tsmesh one hop with its policy layers against the bare route of the same run. */
function policyLayers(rows: ConfigSummary[]): { label: string; cpu: number | null; ratio: number | null; addedP50: number | null }[] {
  const bare = rows.find((r) => r.config === 'tsmesh-1hop');
  if (!bare) return [];
  return rows
    .filter((r) => r.config === 'tsmesh-1hop-resilience' || r.config === 'tsmesh-1hop-policies')
    .map((r) => ({
      label: r.label,
      cpu: r.cpuUsPerRequest,
      ratio: r.cpuUsPerRequest !== null && bare.cpuUsPerRequest ? r.cpuUsPerRequest / bare.cpuUsPerRequest : null,
      addedP50: r.latencyUs && bare.latencyUs ? r.latencyUs.p50 - bare.latencyUs.p50 : null,
    }));
}
