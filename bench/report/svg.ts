// Plain SVG bar charts (no browser or canvas needed): one group of horizontal
// bars per configuration, one bar per series, optional log scale.

export interface Series {
  name: string;
  values: (number | null)[];
}

export interface BarChart {
  title: string;
  unit: string;
  categories: string[];
  series: Series[];
  log?: boolean;
}

const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function fmt(v: number): string {
  if (v >= 100_000) return `${Math.round(v / 1000)}k`;
  if (v >= 10_000) return `${(v / 1000).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

export function barChart(c: BarChart): string {
  const labelW = 230;
  const plotW = 560;
  const bar = 13;
  const gap = 10;
  const top = 48;
  const groupH = c.series.length * bar + gap;
  const height = top + c.categories.length * groupH + 30;
  const width = labelW + plotW + 80;
  const all = c.series.flatMap((s) => s.values).filter((v): v is number => v !== null && v > 0);
  const max = all.length ? Math.max(...all) : 1;
  const min = c.log && all.length ? Math.min(...all) : 0;
  const lo = c.log ? Math.pow(10, Math.floor(Math.log10(Math.max(min, 1e-3)))) : 0;
  const hi = c.log ? Math.pow(10, Math.ceil(Math.log10(max))) : max * 1.05;
  const x = (v: number): number =>
    c.log ? ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotW : (v / hi) * plotW;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="100%" height="100%" fill="white"/>`);
  parts.push(`<text x="10" y="18" font-size="14" font-weight="bold">${esc(c.title)}</text>`);
  parts.push(`<text x="10" y="34" fill="#555">${esc(c.unit)}${c.log ? ' (log scale)' : ''}</text>`);
  c.series.forEach((s, i) => {
    parts.push(`<rect x="${labelW + i * 110}" y="26" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`);
    parts.push(`<text x="${labelW + i * 110 + 14}" y="35">${esc(s.name)}</text>`);
  });
  // grid
  const ticks = c.log
    ? Array.from({ length: Math.round(Math.log10(hi / lo)) + 1 }, (_, i) => lo * Math.pow(10, i))
    : Array.from({ length: 5 }, (_, i) => (hi / 4) * i);
  for (const t of ticks) {
    const gx = labelW + x(t);
    parts.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${height - 26}" stroke="#ddd"/>`);
    parts.push(`<text x="${gx}" y="${height - 12}" text-anchor="middle" fill="#555">${fmt(t)}</text>`);
  }
  c.categories.forEach((cat, gi) => {
    const gy = top + gi * groupH;
    parts.push(`<text x="${labelW - 8}" y="${gy + (c.series.length * bar) / 2 + 4}" text-anchor="end">${esc(cat)}</text>`);
    c.series.forEach((s, si) => {
      const v = s.values[gi];
      const y = gy + si * bar;
      if (v === null || v === undefined) {
        parts.push(`<text x="${labelW + 4}" y="${y + bar - 3}" fill="#999">n/a</text>`);
        return;
      }
      const w = Math.max(1, x(v));
      parts.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${bar - 2}" fill="${COLORS[si % COLORS.length]}"/>`);
      parts.push(`<text x="${labelW + w + 4}" y="${y + bar - 3}">${fmt(v)}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
