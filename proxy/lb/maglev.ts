// Envoy's MAGLEV: a lookup table of a prime size (default 65537) filled from
// each host's permutation (offset, skip) of the slots, in turns proportional to
// weight (Google's Maglev paper, weighted as Envoy does). A pick is one table
// lookup; when a host leaves, about 1/n of the keys move. Ejected or excluded
// owners are skipped by walking the table onward.

import { murmur3 } from './hash.js';
import { walk } from './ring-hash.js';
import type { HostState, LoadBalancer, PickContext } from './types.js';

export const MAGLEV_DEFAULT_TABLE_SIZE = 65_537;

export class MaglevBalancer implements LoadBalancer {
  private readonly table: Int32Array;
  private readonly hosts: readonly HostState[];
  private readonly random: () => number;
  private panic = false;

  constructor(hosts: readonly HostState[], tableSize = MAGLEV_DEFAULT_TABLE_SIZE, random: () => number = Math.random) {
    this.hosts = hosts;
    this.random = random;
    const m = tableSize;
    const table = new Int32Array(hosts.length ? m : 0).fill(-1);
    if (hosts.length) {
      const offset = hosts.map((h) => murmur3(h.key, 0) % m);
      const skip = hosts.map((h) => (murmur3(h.key, 1) % (m - 1)) + 1);
      const next = hosts.map(() => 0);
      const maxWeight = Math.max(...hosts.map((h) => h.endpoint.weight));
      const credit = hosts.map(() => 0);
      let filled = 0;
      while (filled < m) {
        for (let i = 0; i < hosts.length && filled < m; i++) {
          // A host takes a turn each time its accumulated weight reaches the heaviest host's.
          credit[i]! += hosts[i]!.endpoint.weight;
          if (credit[i]! < maxWeight) continue;
          credit[i]! -= maxWeight;
          let slot = (offset[i]! + next[i]! * skip[i]!) % m;
          while (table[slot]! >= 0) {
            next[i]!++;
            slot = (offset[i]! + next[i]! * skip[i]!) % m;
          }
          table[slot] = i;
          next[i]!++;
          filled++;
        }
      }
    }
    this.table = table;
  }

  pick(ctx: PickContext): HostState | undefined {
    const n = this.table.length;
    if (n === 0) return undefined;
    const h = ctx.hashKey !== undefined ? murmur3(ctx.hashKey) : Math.floor(this.random() * 4_294_967_296);
    return walk(this.hosts, this.table, h % n, ctx, this.panic);
  }

  onHealthChanged(panic: boolean): void {
    this.panic = panic;
  }
}
