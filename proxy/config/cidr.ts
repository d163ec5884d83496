// CIDR ranges in config (Envoy's core.v3.CidrRange): validation shared by the
// bootstrap reader and the xDS decoder.

import { isIPv4, isIPv6 } from 'node:net';
import type { CidrRange } from './resources.js';

/** At most this many ranges per filter chain (a service's ClusterIPs and pod IPs). */
export const MAX_PREFIX_RANGES = 1024;

/** A CIDR range's own problems (for config readers), or undefined when it is valid. */
export function cidrProblem(r: CidrRange): string | undefined {
  const v4 = isIPv4(r.addressPrefix);
  if (!v4 && !isIPv6(r.addressPrefix)) return `"${r.addressPrefix}" is not an IP address`;
  const max = v4 ? 32 : 128;
  if (!Number.isInteger(r.prefixLen) || r.prefixLen < 0 || r.prefixLen > max) return `prefixLen must be 0-${max}, got ${r.prefixLen}`;
  return undefined;
}
