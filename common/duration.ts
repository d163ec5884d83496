// Durations as users write them: Gateway API ("1h30m", "500ms") and
// protobuf JSON ("1.500s"). Returns milliseconds, or undefined if malformed.

const unitMs: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };
const part = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/y;

export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '' || s.length > 64) return undefined;
  if (s === '0') return 0;
  let total = 0;
  part.lastIndex = 0;
  while (part.lastIndex < s.length) {
    const m = part.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * unitMs[m[2]!]!;
  }
  return total;
}

export function formatDuration(ms: number): string {
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
