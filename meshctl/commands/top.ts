// meshctl top: requests/s, success rate and p50/p99 per service (and version),
// from two scrapes of the sidecars' /stats/prometheus a window apart
// (inbound series, reporter="destination", as Istio's dashboards use), or from
// a Prometheus server that scrapes them (--prometheus, top-prometheus.ts).

import { parseLabels, quantile } from '../../control-plane/canary/metrics.js';
import { CliError, EXIT, table, type GlobalOptions } from '../context.js';
import { sidecarAdmins } from './sidecars.js';
import { topFromPrometheus, type TopRow } from './top-prometheus.js';

interface Row {
  requests: number;
  errors: number;
  buckets: Map<number, number>;
}

const LINE = /^(istio_requests_total|istio_request_duration_milliseconds_bucket)\{(.*)\}\s+(\S+)/;

async function scrape(targets: string[]): Promise<Map<string, Row>> {
  const rows = new Map<string, Row>();
  await Promise.all(
    targets.map(async (t) => {
      const res = await fetch(new URL('/stats/prometheus', t), { signal: AbortSignal.timeout(3000) }).catch((e: Error) => {
        throw new CliError(`cannot scrape ${t}: ${(e.cause as Error)?.message ?? e.message}`, EXIT.UNREACHABLE);
      });
      for (const line of (await res.text()).split('\n')) {
        const m = LINE.exec(line);
        if (!m) continue;
        const l = parseLabels(m[2]!);
        if (l.reporter !== 'destination') continue;
        const key = `${l.destination_service_name}\t${l.destination_version}`;
        let r = rows.get(key);
        if (!r) rows.set(key, (r = { requests: 0, errors: 0, buckets: new Map() }));
        const v = Number(m[3]);
        if (m[1] === 'istio_requests_total') {
          r.requests += v;
          if (l.response_code?.startsWith('5')) r.errors += v;
        } else {
          const le = l.le === '+Inf' ? Infinity : Number(l.le);
          r.buckets.set(le, (r.buckets.get(le) ?? 0) + v);
        }
      }
    }),
  );
  return rows;
}

export interface TopOptions {
  admin?: string;
  prometheus?: string;
  /** Seconds; default 2 between two scrapes, 60 as a Prometheus rate() range. */
  window?: string;
  output: string;
  /** Refresh every window until Ctrl-C (or --count refreshes). */
  watch?: boolean;
  count?: string;
}

export async function top(g: GlobalOptions, o: TopOptions, write: (s: string) => void = (s) => process.stdout.write(s)): Promise<string> {
  const prometheus = o.prometheus ?? process.env.TSMESH_PROMETHEUS;
  const windowS = Number(o.window ?? (prometheus ? 60 : 2));
  if (!(windowS >= 0.1 && windowS <= 600) || (prometheus && windowS < 1)) throw new CliError(`--window must be between ${prometheus ? 1 : 0.1} and 600 seconds, got ${o.window}`, EXIT.USAGE);
  if (o.output !== 'table' && o.output !== 'json') throw new CliError(`-o must be table or json, got "${o.output}"`, EXIT.USAGE);
  const count = o.count === undefined ? (o.watch ? Infinity : 1) : Number(o.count);
  if (!(count === Infinity || (Number.isInteger(count) && count >= 1 && count <= 1_000_000))) throw new CliError(`--count must be a positive integer, got "${o.count}"`, EXIT.USAGE);
  if (prometheus && !/^https?:\/\//.test(prometheus)) throw new CliError(`--prometheus must be an http(s) URL, got "${prometheus}"`, EXIT.USAGE);
  const targets = prometheus ? [] : await sidecarAdmins(g, o.admin);
  if (!prometheus && !targets.length) throw new CliError('no sidecars to read: pass --admin <host:port,...> (their admin listeners) or set TSMESH_SIDECAR_ADMINS', EXIT.USAGE);
  const windowMs = windowS * 1000;
  // Each refresh measures one window; the sidecars are scraped once per window (the end of one is the start of the next).
  let prev = prometheus ? undefined : await scrape(targets);
  for (let i = 0; ; i++) {
    let rows: TopRow[];
    if (prometheus) {
      if (i > 0) await sleep(windowMs);
      rows = await topFromPrometheus(prometheus, windowS);
    } else {
      await sleep(windowMs);
      const cur = await scrape(targets);
      rows = delta(prev!, cur, windowMs);
      prev = cur;
    }
    const text = render(rows, o.output);
    if (count === 1) return text;
    const live = process.stdout.isTTY && o.output === 'table';
    write(`${live ? '\x1b[H\x1b[2J' : ''}${o.output === 'table' ? `${new Date().toISOString().slice(11, 19)}  (every ${windowS}s${count === Infinity ? ', Ctrl-C to stop' : ''})\n` : ''}${text}${live || o.output === 'json' ? '' : '\n'}`);
    if (i + 1 >= count) return '';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function render(rows: TopRow[], output: string): string {
  rows.sort((x, y) => x.service.localeCompare(y.service) || x.version.localeCompare(y.version));
  if (output === 'json') return JSON.stringify(rows, null, 2) + '\n';
  const ms = (n?: number) => (n === undefined ? '-' : `${Math.round(n)}ms`);
  return table(
    ['SERVICE', 'VERSION', 'RPS', 'SUCCESS', 'P50', 'P99'],
    rows.map((r) => [r.service, r.version, r.rps.toFixed(1), r.successRate === undefined ? '-' : `${r.successRate.toFixed(1)}%`, ms(r.p50), ms(r.p99)]),
  );
}

/** Per service and version over one window, from two scrapes. */
function delta(a: Map<string, Row>, b: Map<string, Row>, windowMs: number): TopRow[] {
  const out: TopRow[] = [];
  for (const [key, r] of b) {
    const prev = a.get(key);
    const req = r.requests - (prev?.requests ?? 0);
    const err = r.errors - (prev?.errors ?? 0);
    const buckets = [...r.buckets].map(([le, n]) => [le, n - (prev?.buckets.get(le) ?? 0)] as const).sort((x, y) => x[0] - y[0]);
    const [service, version] = key.split('\t') as [string, string];
    out.push({ service, version, rps: req / (windowMs / 1000), ...(req > 0 ? { successRate: (100 * (req - err)) / req, p50: quantile(0.5, buckets), p99: quantile(0.99, buckets) } : {}) });
  }
  return out;
}
