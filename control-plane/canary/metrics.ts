// The canary's analysis from the sidecars' Prometheus text: success rate and
// p99 of one service version over a window (the difference of two scrapes),
// from istio_requests_total and istio_request_duration_milliseconds as the
// destination's sidecar reports them (reporter="destination").

import type { CanaryAnalysis } from './decide.js';

/** Cumulative counters for one destination version, summed over all scraped sidecars. */
export interface VersionCounters {
  requests: number;
  errors: number; // 5xx
  /** Histogram buckets: upper bound (ms) → cumulative count. */
  buckets: Map<number, number>;
}

const MAX_TEXT = 16 * 1024 * 1024;
const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(LABEL)) out[m[1]!] = m[2]!.replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
  return out;
}

/**
 * Shadow responses compared with the primary's (tsmesh_mirror_responses_total: status codes), and
 * for those whose statuses matched, the bodies (tsmesh_mirror_bodies_total: SHA-256), summed over
 * the callers' sidecars.
 */
export interface MirrorCounters {
  match: number;
  mismatch: number;
  error: number;
  bodyMatch: number;
  bodyMismatch: number;
  bodyError: number;
}

const BODY_OUTCOME = { match: 'bodyMatch', mismatch: 'bodyMismatch', error: 'bodyError' } as const;

/** What one scrape of every sidecar says about a canary: its version, the stable one, and the mirror comparisons. */
export interface CanaryCounters {
  canary: VersionCounters;
  stable: VersionCounters;
  mirror: MirrorCounters;
}

const empty = (): VersionCounters => ({ requests: 0, errors: 0, buckets: new Map() });

/** Sums the counters of `service`/`version` (inbound, reporter="destination") in Prometheus exposition texts. */
export function countersFor(texts: string[], service: string, version: string): VersionCounters {
  return canaryCounters(texts, { service, canaryVersion: version, stableVersion: '' }).canary;
}

/**
 * One pass over the texts: the canary's and the stable's request counters and
 * latency buckets, and the comparisons of responses mirrored to the canary's
 * cluster (outbound|port|<canaryVersion>|<service>.…).
 */
export function canaryCounters(texts: string[], o: { service: string; canaryVersion: string; stableVersion: string }): CanaryCounters {
  const out: CanaryCounters = { canary: empty(), stable: empty(), mirror: { match: 0, mismatch: 0, error: 0, bodyMatch: 0, bodyMismatch: 0, bodyError: 0 } };
  for (const text of texts) {
    if (text.length > MAX_TEXT) continue;
    for (const line of text.split('\n')) {
      const mirror = line.startsWith('tsmesh_mirror_');
      if (!mirror && !line.startsWith('istio_request')) continue;
      const m = LINE.exec(line);
      if (!m) continue;
      const name = m[1]!;
      const v = Number(m[3]);
      if (!Number.isFinite(v)) continue;
      if (mirror) {
        const bodies = name === 'tsmesh_mirror_bodies_total';
        if (!bodies && name !== 'tsmesh_mirror_responses_total') continue;
        const l = parseLabels(m[2]!);
        if (!isClusterOf(l.mirror_cluster_name ?? '', o.service, o.canaryVersion)) continue;
        if (l.outcome === 'match' || l.outcome === 'mismatch' || l.outcome === 'error') out.mirror[bodies ? BODY_OUTCOME[l.outcome] : l.outcome] += v;
        continue;
      }
      if (name !== 'istio_requests_total' && name !== 'istio_request_duration_milliseconds_bucket') continue;
      const l = parseLabels(m[2]!);
      if (l.reporter !== 'destination') continue;
      if (l.destination_service_name !== o.service && l.destination_app !== o.service) continue;
      const c = l.destination_version === o.canaryVersion ? out.canary : l.destination_version === o.stableVersion && o.stableVersion ? out.stable : undefined;
      if (!c) continue;
      if (name === 'istio_requests_total') {
        c.requests += v;
        if ((l.response_code ?? '').startsWith('5')) c.errors += v;
      } else {
        const le = l.le === '+Inf' ? Infinity : Number(l.le);
        c.buckets.set(le, (c.buckets.get(le) ?? 0) + v);
      }
    }
  }
  return out;
}

/** `outbound|9080|v2|api.default.svc.cluster.local` is api's v2 subset (the translator's cluster naming). */
function isClusterOf(cluster: string, service: string, version: string): boolean {
  const parts = cluster.split('|');
  if (parts.length !== 4 || parts[0] !== 'outbound') return false;
  const host = parts[3]!;
  return parts[2] === version ? host.startsWith(`${service}.`) : parts[2] === '' && host.startsWith(`${service}-${version}.`);
}

/**
 * The mirror comparisons between two scrapes (a reset counts `after` alone). With `compareBody`, a
 * shadow whose status matched but whose body differs is a mismatch too.
 */
export function mirrorWindow(before: MirrorCounters | undefined, after: MirrorCounters, compareBody = false): NonNullable<CanaryAnalysis['mirror']> {
  const reset = !before || after.match + after.mismatch + after.error < before.match + before.mismatch + before.error;
  const d = (k: keyof MirrorCounters) => Math.max(0, after[k] - (reset ? 0 : (before![k] ?? 0)));
  const compared = d('match') + d('mismatch');
  const mismatches = d('mismatch') + (compareBody ? Math.min(d('bodyMismatch'), d('match')) : 0);
  const out: NonNullable<CanaryAnalysis['mirror']> = { compared, mismatches, errors: d('error') };
  if (compared > 0) out.mismatchRate = (100 * out.mismatches) / compared;
  return out;
}

/** The window between two scrapes (counters only grow; a restart resets them, then `after` alone counts). */
export function analyzeWindow(before: VersionCounters | undefined, after: VersionCounters): CanaryAnalysis {
  const reset = !before || after.requests < before.requests;
  const requests = after.requests - (reset ? 0 : before.requests);
  const errors = after.errors - (reset ? 0 : before.errors);
  if (requests <= 0) return { requests: 0 };
  const buckets = [...after.buckets.entries()]
    .map(([le, n]) => [le, n - (reset ? 0 : before.buckets.get(le) ?? 0)] as const)
    .sort((a, b) => a[0] - b[0]);
  const out: CanaryAnalysis = { requests, successRate: (100 * (requests - errors)) / requests };
  const p99 = quantile(0.99, buckets);
  if (p99 !== undefined) out.p99Ms = p99;
  return out;
}

/** Prometheus' histogram_quantile: linear interpolation inside the bucket holding the rank. */
export function quantile(q: number, buckets: readonly (readonly [number, number])[]): number | undefined {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (!buckets.length || total <= 0) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe; // as Prometheus: the highest finite bound
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(count - prevCount, 1e-9);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}
