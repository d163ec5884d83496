// Reads the sidecars' Prometheus text (`/stats/prometheus` on their admin
// listeners) for the canary analysis: in parallel, bounded in time and size;
// a sidecar that does not answer counts as empty (it is logged).

import type { Logger } from '../../common/log.js';

const SCRAPE_TIMEOUT_MS = 2000;
const MAX_SCRAPE_BYTES = 16 * 1024 * 1024;
/** Sidecars read at once. */
const MAX_PARALLEL = 32;

export async function scrapeAll(targets: readonly string[], log: Logger): Promise<string[]> {
  const out: string[] = new Array(targets.length).fill('');
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const i = next++;
      out[i] = await scrapeOne(targets[i]!, log);
    }
  };
  await Promise.all(Array.from({ length: Math.min(MAX_PARALLEL, targets.length) }, worker));
  return out;
}

async function scrapeOne(base: string, log: Logger): Promise<string> {
  try {
    const res = await fetch(new URL('/stats/prometheus', base), { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
    if (!res.ok) return '';
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > MAX_SCRAPE_BYTES) {
      await res.body?.cancel();
      return '';
    }
    const text = await res.text();
    return text.length > MAX_SCRAPE_BYTES ? '' : text;
  } catch (err) {
    log.warn('canary: scrape failed', { target: base, error: (err as Error).message });
    return '';
  }
}
