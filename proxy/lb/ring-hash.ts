// Envoy's RING_HASH (Ketama-style consistent hashing). Every host gets a number
// of points on a 32-bit ring proportional to its weight (ring size from
// minimumRingSize, up to maximumRingSize, Envoy defaults 1024 and 8M); a request
// goes to the first point at or after the hash of PickContext.hashKey. When a
// host leaves only its own keys move. Ejected and excluded hosts are skipped by
// walking the ring onward, so keys of healthy hosts keep their host.
// Requests without a hash key get a random point.

import { murmur3 } from './hash.js';
import type { HostState, LoadBalancer, PickContext } from './types.js';

export const RING_HASH_DEFAULTS = { minimumRingSize: 1024, maximumRingSize: 8_388_608 } as const;

export interface RingHashOptions {
  minimumRingSize?: number;
  maximumRingSize?: number;
  random?: () => number;
}

export class RingHashBalancer implements LoadBalancer {
  private readonly points: Uint32Array;
  private readonly owners: Int32Array;
  private readonly hosts: readonly HostState[];
  private readonly random: () => number;
  private panic = false;

  constructor(hosts: readonly HostState[], opts: RingHashOptions = {}) {
    this.hosts = hosts;
    this.random = opts.random ?? Math.random;
    const max = opts.maximumRingSize ?? RING_HASH_DEFAULTS.maximumRingSize;
    const min = Math.min(opts.minimumRingSize ?? RING_HASH_DEFAULTS.minimumRingSize, max);
    const total = hosts.reduce((s, h) => s + h.endpoint.weight, 0);
    // Points per unit of weight: the power of two that brings the ring to ≥ min (capped so the
    // ring stays ≤ max). A power of two rarely changes when a host joins or leaves, so the other
    // hosts keep exactly their points and only the leaving host's keys move (Envoy rescales to
    // the exact minimum, which shifts some keys between the remaining hosts too).
    let perWeight = total > 0 ? 2 ** Math.max(0, Math.ceil(Math.log2(min / total))) : 0;
    if (perWeight * total > max) perWeight = Math.max(1, Math.floor(max / total));
    const counts = hosts.map((h) => Math.max(1, Math.round(h.endpoint.weight * perWeight)));
    const size = counts.reduce((a, b) => a + b, 0);
    const entries = new Float64Array(size);
    let k = 0;
    hosts.forEach((h, i) => {
      for (let r = 0; r < counts[i]!; r++) {
        // hash in the high bits, owner index in the low 21 bits of a float64-safe integer
        entries[k++] = murmur3(`${h.key}_${r}`) * 2_097_152 + i;
      }
    });
    entries.sort();
    this.points = new Uint32Array(size);
    this.owners = new Int32Array(size);
    for (let j = 0; j < size; j++) {
      const e = entries[j]!;
      const owner = e % 2_097_152;
      this.owners[j] = owner;
      this.points[j] = (e - owner) / 2_097_152;
    }
  }

  get ringSize(): number {
    return this.points.length;
  }

  pick(ctx: PickContext): HostState | undefined {
    const n = this.points.length;
    if (n === 0) return undefined;
    const h = ctx.hashKey !== undefined ? murmur3(ctx.hashKey) : Math.floor(this.random() * 4_294_967_296);
    let lo = 0;
    let hi = n;
    const p = this.points;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (p[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return walk(this.hosts, this.owners, lo === n ? 0 : lo, ctx, this.panic);
  }

  onHealthChanged(panic: boolean): void {
    this.panic = panic;
  }
}

/**
 * From table slot `start` onward, the first owner that is usable; else the first merely healthy
 * one. The walk is bounded (4 × hosts owner changes); past that, hosts are scanned in index order
 * from the slot's owner, which stays deterministic per key.
 */
export function walk(
  hosts: readonly HostState[],
  owners: Int32Array,
  start: number,
  ctx: PickContext,
  panic: boolean,
): HostState | undefined {
  const n = owners.length;
  const exclude = ctx.exclude;
  let fallback: HostState | undefined;
  let changes = 0;
  let last = -1;
  const limit = hosts.length * 4;
  for (let k = 0; k < n && changes <= limit; k++) {
    const o = owners[(start + k) % n]!;
    if (o === last) continue;
    last = o;
    changes++;
    const host = hosts[o]!;
    if (panic || !host.ejected) {
      if (exclude === undefined || !exclude.has(host)) return host;
      fallback ??= host;
    }
  }
  const m = hosts.length;
  const first = owners[start]!;
  for (let k = 0; k < m; k++) {
    const host = hosts[(first + k) % m]!;
    if (panic || !host.ejected) {
      if (exclude === undefined || !exclude.has(host)) return host;
      fallback ??= host;
    }
  }
  return fallback;
}
