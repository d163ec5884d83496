// Envoy's filter-chain prefix_ranges: which chains claim a connection's
// destination IP, and how specifically. Matching runs once per connection
// (not per request), over the few ranges a TCP service has (its ClusterIPs,
// its pods' IPs), with node's BlockList doing the address arithmetic.

import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { CidrRange } from '../config/resources.js';

export class PrefixRanges {
  private readonly ranges: { list: BlockList; len: number; family: 'ipv4' | 'ipv6' }[];

  constructor(ranges: readonly CidrRange[]) {
    this.ranges = ranges.map((r) => {
      const family = isIPv4(r.addressPrefix) ? 'ipv4' : 'ipv6';
      const list = new BlockList();
      list.addSubnet(r.addressPrefix, r.prefixLen, family);
      return { list, len: r.prefixLen, family };
    });
  }

  /** The longest prefix length among the ranges containing `ip`, or -1 when none does. */
  longestMatch(ip: string): number {
    const a = unmapped(ip);
    const family = isIPv4(a) ? 'ipv4' : isIPv6(a) ? 'ipv6' : undefined;
    if (!family) return -1;
    let best = -1;
    for (const r of this.ranges) if (r.family === family && r.len > best && r.list.check(a, family)) best = r.len;
    return best;
  }
}

/** An IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 peer) as its IPv4 form. */
function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
