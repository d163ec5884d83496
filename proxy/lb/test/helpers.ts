// Test helpers: hosts and a seeded PRNG (mulberry32) so distributions are reproducible.

import type { HostState } from '../types.js';

export function host(i: number, weight = 1): HostState {
  return {
    endpoint: { address: { address: `10.0.0.${i}`, port: 8080 }, weight, healthStatus: 'HEALTHY', priority: 0, metadata: {} },
    key: `10.0.0.${i}:8080`,
    activeRequests: 0,
    ejected: false,
  };
}

export function hosts(n: number, weight = 1): HostState[] {
  return Array.from({ length: n }, (_, i) => host(i + 1, weight));
}

export function seeded(seed = 1): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function countPicks(pick: () => HostState | undefined, n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const h = pick();
    const k = h ? h.key : 'none';
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}
