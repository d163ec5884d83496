// The control-plane and CA section of the results: markdown tables and two
// SVG charts (ACK latency per proxy count, CSRs per CPU-second).
import type { ControlPlaneResults } from '../control-plane.js';
import { CP_TARGETS } from '../control-plane.js';
import { barChart } from './svg.js';

const n = (v: number | null | undefined, digits = 0): string => (v === null || v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));
const verdict = (ok: boolean): string => (ok ? 'meets' : '**misses**');

export function controlPlaneMarkdown(cp: ControlPlaneResults): string {
  const L: string[] = [];
  const o = cp.options;
  L.push('## Control plane and CA', '');
  L.push(
    `${o.reps} repetition(s), measurements interleaved, medians shown; median CPU steal ${n(cp.stealPctMedian, 1)} %, ` +
      `the whole machine ${n(cp.busyPctMedian, 0)} % busy (this bench and everyone else's work). ` +
      'CPU figures are process CPU time (utime+stime, all threads), the stable measure on a shared machine.',
    '',
  );
  L.push('### CA: CSRs signed per second per core', '');
  L.push('| path | per CPU-second | CPU µs per CSR | per second (wall) | latency p50 / p99 (ms) |');
  L.push('| --- | ---: | ---: | ---: | ---: |');
  const s = cp.ca.signOnly;
  const g = cp.ca.grpc;
  L.push(`| sign only (CSR checked + SVID signed, in-process, one at a time) | ${n(s.perCpuSecond)} | ${n(s.cpuMicros)} | ${n(s.perSecond)} | – |`);
  L.push(
    `| CreateCertificate over gRPC/TLS with token check, ${o.caConcurrency} in flight on an open connection (CA process CPU only; a sidecar's rotation over its ADS connection) | ${n(g.perCpuSecond)} | ${n(g.cpuMicros)} | ${n(g.perSecond)} | ${n(g.latencyP50Ms, 1)} / ${n(g.latencyP99Ms, 1)} |`,
  );
  const fc = cp.ca.grpcFreshChannel;
  if (fc)
    L.push(
      `| the same, each CSR on a new TCP + TLS connection (a client that keeps no connection to the CA) | ${n(fc.perCpuSecond)} | ${n(fc.cpuMicros)} | ${n(fc.perSecond)} | ${n(fc.latencyP50Ms, 1)} / ${n(fc.latencyP99Ms, 1)} |`,
    );
  L.push(
    '',
    `Target ≥ ${CP_TARGETS.csrPerCpuSecond} CSRs signed per second per core: sign-only ${verdict(s.perCpuSecond >= CP_TARGETS.csrPerCpuSecond)} it; ` +
      `end to end through gRPC ${verdict(g.perCpuSecond >= CP_TARGETS.csrPerCpuSecond)} it (the gRPC/TLS/HTTP/2 server path costs about as much as the signing)` +
      (fc ? `; with a TLS handshake per CSR ${verdict(fc.perCpuSecond >= CP_TARGETS.csrPerCpuSecond)} it (the handshake dominates), which is why sidecars send CreateCertificate on their ADS connection. ` : '. ') +
      `The clients, in their own process, spent ${n(g.clientCpuMicros)} µs of CPU per RPC (not counted above).${g.errors ? ` ${g.errors} RPCs failed.` : ''}`,
    '',
  );
  L.push(`### xDS: time from a snapshot change until N proxies have ACKed it (${o.clusters} clusters + endpoints each, ${o.pushes} pushes per run)`, '');
  L.push('| proxies | ACK p50 (ms) | ACK p99 (ms) | p99 per repetition | last ACK (ms) | control-plane CPU µs per proxy per push | proxies\' CPU µs per proxy | control-plane RSS per proxy (KiB) | heap per proxy (KiB) | connect + first sync (ms) |');
  L.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of cp.xds.summary)
    L.push(
      `| ${r.clients} | ${n(r.p50Ms)} | ${n(r.p99Ms)} | ${cp.xds.runs.filter((x) => x.clients === r.clients).map((x) => n(x.p99Ms)).join(', ')} | ${n(r.maxMs)} | ${n(r.controlPlaneCpuUsPerProxy)} | ${n(r.clientsCpuUsPerProxy)} | ${n(r.rssPerProxyKiB, 1)} | ${n(r.heapPerProxyKiB, 1)} | ${n(r.connectAndSyncMs)} |`,
    );
  const big = cp.xds.summary.find((r) => r.clients === CP_TARGETS.ackProxies);
  L.push(
    '',
    'Both ends of each ACK time are on the control plane\'s clock (the snapshot change, and the ACK\'s arrival). The simulated proxies run in one child ' +
      'process (real gRPC streams, one connection each), so on a 2-core machine they compete with the control plane for the second core.',
  );
  if (big) {
    L.push(
      `Target: ${CP_TARGETS.ackProxies} proxies ACK a change within ${CP_TARGETS.ackP99Ms} ms at p99 — ${verdict(big.p99Ms <= CP_TARGETS.ackP99Ms)} it here (median p99 ${n(big.p99Ms)} ms). ` +
        `The steady figure is the control plane's CPU for one push to all of them: ${n((big.controlPlaneCpuUsPerProxy * big.clients) / 1000)} ms (plus ${n((big.clientsCpuUsPerProxy * big.clients) / 1000)} ms in the simulated proxies); ` +
        'the wall-clock p99 is that work divided by the CPU the machine leaves it.',
    );
  }
  L.push('');
  L.push('### Apply → every proxy\'s new snapshot published (controller: translate each proxy\'s config, build its snapshot)', '');
  L.push('| proxies | apply → published (ms) | CPU µs per proxy | + ACK p99 (ms) = apply → ACKed, p99 (ms) |');
  L.push('| ---: | ---: | ---: | ---: |');
  for (const a of cp.apply.summary) {
    const x = cp.xds.summary.find((r) => r.clients === a.nodes);
    L.push(`| ${a.nodes} | ${n(a.applyToPublishedMs)} | ${n(a.cpuUsPerProxy)} | ${n(x?.p99Ms)} → **${x ? n(a.applyToPublishedMs + x.p99Ms) : '–'}** |`);
  }
  L.push(
    '',
    'The real `MeshController` with the embedded registry and store: services of 50 replicas, each calling the next service; the apply changes ' +
      'one HTTPRoute, which recomputes every proxy (the controller\'s debounce excluded). The ACK bench above pushes one shared config object; ' +
      'the sum is the end-to-end estimate from an apply until N proxies have ACKed. What a user waits for after `meshctl apply` adds the ' +
      'controller\'s debounce (100 ms by default, which gathers a burst of applies and registry changes into one round).',
    '',
  );
  for (const note of cp.notes) L.push(`- ${note}`);
  L.push('Charts: [xDS ACK latency](control-plane-acks.svg) · [CA rate](ca-rate.svg). Raw repetitions: `latest.json` → `controlPlane`.', '');
  return L.join('\n');
}

export function controlPlaneCharts(cp: ControlPlaneResults): Record<string, string> {
  return {
    'control-plane-acks.svg': barChart({
      title: 'Published → N proxies ACKed, and apply → published (median of repetitions)',
      unit: 'ms',
      categories: cp.xds.summary.map((r) => `${r.clients} proxies`),
      series: [
        { name: 'p50', values: cp.xds.summary.map((r) => r.p50Ms) },
        { name: 'p99', values: cp.xds.summary.map((r) => r.p99Ms) },
        { name: 'CP CPU ms/push', values: cp.xds.summary.map((r) => Math.round((r.controlPlaneCpuUsPerProxy * r.clients) / 100) / 10) },
        { name: 'apply → published', values: cp.xds.summary.map((r) => cp.apply.summary.find((a) => a.nodes === r.clients)?.applyToPublishedMs ?? null) },
      ],
    }),
    'ca-rate.svg': barChart({
      title: `CSRs signed per CPU-second of the CA (target ≥ ${CP_TARGETS.csrPerCpuSecond})`,
      unit: 'CSRs per CPU-second',
      categories: ['sign only (in-process)', 'CreateCertificate over gRPC/TLS', ...(cp.ca.grpcFreshChannel ? ['… new TLS connection per CSR'] : [])],
      series: [{ name: 'per CPU-second', values: [cp.ca.signOnly.perCpuSecond, cp.ca.grpc.perCpuSecond, ...(cp.ca.grpcFreshChannel ? [cp.ca.grpcFreshChannel.perCpuSecond] : [])] }],
    }),
  };
}
