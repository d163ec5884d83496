// meshctl top --prometheus <url>: the same table from a Prometheus server
// that scrapes the sidecars, with the PromQL Istio's dashboards use
// (inbound series, reporter="destination").

import { CliError, EXIT } from '../context.js';

export interface TopRow {
  service: string;
  version: string;
  rps: number;
  successRate?: number;
  p50?: number;
  p99?: number;
}

const BY = 'destination_service_name, destination_version';
const SEL = '{reporter="destination"}';

/** The PromQL top runs, for a window like "1m". */
export function topQueries(window: string): Record<'rps' | 'ok' | 'p50' | 'p99', string> {
  const buckets = `sum by (${BY}, le) (rate(istio_request_duration_milliseconds_bucket${SEL}[${window}]))`;
  return {
    rps: `sum by (${BY}) (rate(istio_requests_total${SEL}[${window}]))`,
    ok: `sum by (${BY}) (rate(istio_requests_total{reporter="destination",response_code!~"5.."}[${window}]))`,
    p50: `histogram_quantile(0.5, ${buckets})`,
    p99: `histogram_quantile(0.99, ${buckets})`,
  };
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** One instant query; errors name the server and what it said. */
export async function promQuery(base: string, query: string, atSeconds?: number): Promise<Sample[]> {
  const url = new URL('/api/v1/query', base);
  url.searchParams.set('query', query);
  if (atSeconds !== undefined) url.searchParams.set('time', atSeconds.toFixed(3));
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    const cause = (e as Error).cause as { code?: string; message?: string } | undefined;
    throw new CliError(`cannot reach Prometheus at ${base} (${cause?.code ?? cause?.message ?? (e as Error).message})`, EXIT.UNREACHABLE);
  }
  let body: { status?: string; error?: string; data?: { resultType: string; result: Sample[] } };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    throw new CliError(`${base} answered ${res.status} without a Prometheus API response; is it a Prometheus server?`, EXIT.FAILURE);
  }
  if (body.status !== 'success' || body.data?.resultType !== 'vector') throw new CliError(`Prometheus at ${base} refused the query (${res.status}): ${body.error ?? 'not a vector result'}`, EXIT.FAILURE);
  return body.data.result;
}

export async function topFromPrometheus(base: string, windowSeconds: number): Promise<TopRow[]> {
  const q = topQueries(`${Math.round(windowSeconds)}s`);
  // One evaluation time for all four, so the success rate divides two rates over the same window.
  const at = Date.now() / 1000;
  const [rps, ok, p50, p99] = await Promise.all([q.rps, q.ok, q.p50, q.p99].map((x) => promQuery(base, x, at)));
  const key = (m: Record<string, string>) => `${m.destination_service_name ?? ''}\t${m.destination_version ?? ''}`;
  const val = (s: Sample | undefined) => (s && Number.isFinite(Number(s.value[1])) ? Number(s.value[1]) : undefined);
  const index = (xs: Sample[]) => new Map(xs.map((s) => [key(s.metric), s]));
  const [okBy, p50By, p99By] = [index(ok!), index(p50!), index(p99!)];
  return rps!.map((s) => {
    const k = key(s.metric);
    const r = val(s) ?? 0;
    const [service, version] = k.split('\t') as [string, string];
    const good = val(okBy.get(k)) ?? 0;
    const [a, b] = [val(p50By.get(k)), val(p99By.get(k))];
    // Two separately evaluated rates: their ratio carries float noise (99.99999999999999 for all-good traffic).
    return { service, version, rps: r, ...(r > 0 ? { successRate: Math.min(100, Math.round((1e6 * good) / r) / 1e4) } : {}), ...(a !== undefined ? { p50: a } : {}), ...(b !== undefined ? { p99: b } : {}) };
  });
}
