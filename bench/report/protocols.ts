// The per-protocol latency tables (HTTP/1.1, HTTP/2 h2c, gRPC unary) of
// latest.md, and the HTTP/2 and gRPC rows added to the latency chart.
import type { ProtocolLatency, ProtocolLatencyRow } from './summary.js';

const ms = (us: number | null | undefined): string => (us === null || us === undefined ? '–' : (us / 1000).toFixed(2));
const n1 = (v: number | null): string => (v === null ? '–' : v.toFixed(1));

const TITLES: Record<keyof ProtocolLatency, string> = {
  http1: 'HTTP/1.1 (one request in flight per keep-alive connection)',
  h2: 'HTTP/2 (prior-knowledge h2c to the first hop; concurrent streams over the sessions; upstream hops as configured)',
  grpc: 'gRPC unary (h2c in, HTTP/2 on every hop, h2 over the mTLS hop, a Node gRPC upstream; added over direct gRPC)',
};

function table(rows: ProtocolLatencyRow[]): string[] {
  const L = ['| configuration | p50 | p90 | p99 | p99.9 | +p50 | +p99 | service p50 | CPU µs/req | max req/s | errors |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'];
  for (const r of rows) {
    const l = r.latencyUs;
    L.push(`| ${r.label} | ${ms(l.p50)} | ${ms(l.p90)} | ${ms(l.p99)} | ${ms(l.p999)} | ${ms(r.addedUs?.p50)} | ${ms(r.addedUs?.p99)} | ${ms(r.serviceP50Us)} | ${n1(r.cpuUsPerRequest)} | ${r.maxRps === null ? '–' : String(r.maxRps)} | ${r.errors} |`);
  }
  return L;
}

export function protocolLatencyMarkdown(p: ProtocolLatency): string {
  const L: string[] = ['## Latency per protocol (ms from intended send time, open loop, medians over repetitions)', ''];
  L.push(
    'Same rate, connections (HTTP/2: sessions) and method for each protocol; "+" is over `direct` of the same protocol (gRPC: over `direct gRPC`). ' +
      '"service p50" is from the actual write, what a closed-loop tool would report. CPU is the path\'s proxies (direct: the upstream). ' +
      '"max req/s": closed loop, one client thread (HTTP/1.1: wrk; HTTP/2: h2load GET, 10 streams per connection; gRPC: h2load unary calls, counting only calls whose whole message arrived).',
    '',
  );
  for (const k of ['http1', 'h2', 'grpc'] as const) {
    L.push(`### ${TITLES[k]}`, '');
    if (p[k].length === 0) L.push('Not measured in this run (`--protocols`).', '');
    else L.push(...table(p[k]), '');
  }
  return L.join('\n');
}

/** HTTP/2 and gRPC rows for the latency chart, after the HTTP/1.1 ones. */
export function protocolLatencySeries(p: ProtocolLatency): { categories: string[]; values: (k: 'p50' | 'p90' | 'p99' | 'p999') => number[] } {
  const rows = [...p.h2.map((r) => ({ ...r, label: `${r.label} · HTTP/2` })), ...p.grpc];
  return { categories: rows.map((r) => r.label), values: (k) => rows.map((r) => r.latencyUs[k]) };
}
