// Reads a V8 .cpuprofile (node --cpu-prof) and ranks where the time went:
// self time per function and per source file, the view a flame graph gives
// at a glance, as text a terminal or a report can hold.

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  /** µs between consecutive samples (the first from startTime). */
  timeDeltas?: number[];
}

export interface HotSpot {
  name: string;
  selfPct: number;
  selfMs: number;
}

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const i = url.indexOf('/dist/');
  if (i >= 0) return url.slice(i + 1);
  const n = url.lastIndexOf('node_modules/');
  if (n >= 0) return url.slice(n);
  return url.replace(/^file:\/\//, '');
}

/** `skipMs`: samples in the first milliseconds (process start-up: module loading) are left out. */
export function hotSpots(profile: CpuProfile, top = 25, skipMs = 0): { byFunction: HotSpot[]; byFile: HotSpot[]; totalMs: number; busyMs: number } {
  const skipUs = skipMs * 1000;
  const canSkip = skipUs > 0 && profile.samples !== undefined && profile.timeDeltas !== undefined;
  const startTime = canSkip ? profile.startTime + skipUs : profile.startTime;
  const totalMs = (profile.endTime - startTime) / 1000;
  const hits = new Map<number, number>();
  let kept = 0;
  if (profile.samples) {
    let t = profile.startTime;
    for (let i = 0; i < profile.samples.length; i++) {
      t += profile.timeDeltas?.[i] ?? 0;
      if (canSkip && t < startTime) continue;
      const s = profile.samples[i]!;
      hits.set(s, (hits.get(s) ?? 0) + 1);
      kept++;
    }
  }
  // Idle samples are the event loop waiting: percentages are of busy time.
  for (const n of profile.nodes) if (n.callFrame.functionName === '(idle)') hits.set(n.id, 0), (n.hitCount = 0);
  const allHits = kept || profile.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0) || 1;
  const totalHits = [...hits.values()].reduce((a, b) => a + b, 0) || profile.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0) || 1;
  const busyMs = (totalHits / allHits) * totalMs;
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const n of profile.nodes) {
    const h = profile.samples ? (hits.get(n.id) ?? 0) : (n.hitCount ?? 0);
    if (!h) continue;
    const file = shortUrl(n.callFrame.url);
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${file}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + h);
    byFile.set(file, (byFile.get(file) ?? 0) + h);
  }
  const rank = (m: Map<string, number>): HotSpot[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, h]) => ({ name, selfPct: Math.round((h / totalHits) * 1000) / 10, selfMs: Math.round((h / totalHits) * busyMs) }));
  return { byFunction: rank(byFn), byFile: rank(byFile), totalMs: Math.round(totalMs), busyMs: Math.round(busyMs) };
}
