// Envoy's healthy panic threshold: when the share of healthy (not ejected)
// hosts falls below healthyPanicThreshold percent, the balancer spreads load
// over every host instead of overloading the few left. 0 disables panic mode.

import type { HostState } from '../lb/types.js';

export function isPanic(hosts: readonly HostState[], thresholdPercent: number): boolean {
  const n = hosts.length;
  if (n === 0 || thresholdPercent <= 0) return false;
  let healthy = 0;
  for (let i = 0; i < n; i++) if (!hosts[i]!.ejected) healthy++;
  return (healthy * 100) / n < thresholdPercent;
}
