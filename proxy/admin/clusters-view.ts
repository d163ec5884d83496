// /clusters?format=text: Envoy's line format, one fact per line:
//   <cluster>::<host>::<stat>::<value>   and   <cluster>::<setting>::<value>

import type { ClusterStatus } from './types.js';

export function clustersText(clusters: readonly ClusterStatus[]): string {
  const lines: string[] = [];
  for (const c of [...clusters].sort((a, b) => a.name.localeCompare(b.name))) {
    lines.push(`${c.name}::lb_policy::${c.lbPolicy}`);
    for (const [k, v] of Object.entries(c.circuitBreakers ?? {})) lines.push(`${c.name}::default_priority::${snake(k)}::${v}`);
    for (const e of c.endpoints) {
      const p = `${c.name}::${e.address}`;
      lines.push(`${p}::health_flags::${healthFlags(e.healthStatus, e.ejected)}`);
      lines.push(`${p}::weight::${e.weight}`);
      lines.push(`${p}::rq_active::${e.activeRequests}`);
      for (const [k, v] of Object.entries(e.stats ?? {})) lines.push(`${p}::${snake(k)}::${v}`);
      for (const [k, v] of Object.entries(e.metadata)) lines.push(`${p}::metadata::${k}::${v}`);
    }
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}

/** Envoy prints "healthy" or the failure reasons, e.g. /failed_outlier_check. */
function healthFlags(status: string, ejected: boolean): string {
  const flags: string[] = [];
  if (status === 'UNHEALTHY' || status === 'TIMEOUT') flags.push('/failed_eds_health');
  if (status === 'DRAINING') flags.push('/pending_dynamic_removal');
  if (status === 'DEGRADED') flags.push('/degraded_eds_health');
  if (ejected) flags.push('/failed_outlier_check');
  return flags.length ? flags.join('') : 'healthy';
}

function snake(k: string): string {
  return k.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);
}
