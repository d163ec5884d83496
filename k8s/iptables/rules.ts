// The traffic-redirect rules the `tsmesh-init` container installs in a pod's
// network namespace, as Istio's istio-init does: an iptables-restore input for
// the nat table. Outbound TCP from the app goes to the sidecar's outbound
// port, inbound TCP to its inbound port; the proxy's own traffic (UID/GID
// 1337) is never redirected, so it can reach the original destination.
// The sidecar recovers the original destination with SO_ORIGINAL_DST.

import { ValidationError, type ValidationIssue } from '../../common/errors.js';

export interface RedirectConfig {
  proxyUid: number;
  proxyGid: number;
  outboundPort: number;
  inboundPort: number;
  /** `'*'` redirects every inbound port; a list redirects only those. */
  includeInboundPorts: '*' | number[];
  excludeInboundPorts: number[];
  excludeOutboundPorts: number[];
  /** `['*']` redirects every outbound destination; otherwise only these CIDRs. */
  includeOutboundCidrs: string[];
  excludeOutboundCidrs: string[];
  /** Source address the proxy uses for inbound passthrough to the app (Istio: 127.0.0.6). */
  inboundPassthroughSource: string;
}

export const defaultRedirectConfig: RedirectConfig = {
  proxyUid: 1337,
  proxyGid: 1337,
  outboundPort: 15001,
  inboundPort: 15006,
  includeInboundPorts: '*',
  // admin, health, metrics: kubelet probes and scrapers reach the proxy directly
  excludeInboundPorts: [15000, 15021, 15090],
  excludeOutboundPorts: [],
  includeOutboundCidrs: ['*'],
  excludeOutboundCidrs: [],
  inboundPassthroughSource: '127.0.0.6',
};

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(\/(\d{1,2}))?$/;

function checkConfig(c: RedirectConfig): void {
  const issues: ValidationIssue[] = [];
  const port = (path: string, n: number) => {
    if (!Number.isInteger(n) || n < 1 || n > 65535) issues.push({ path, message: `${n} is not a port (1-65535)` });
  };
  port('outboundPort', c.outboundPort);
  port('inboundPort', c.inboundPort);
  if (c.includeInboundPorts !== '*') c.includeInboundPorts.forEach((p, i) => port(`includeInboundPorts[${i}]`, p));
  c.excludeInboundPorts.forEach((p, i) => port(`excludeInboundPorts[${i}]`, p));
  c.excludeOutboundPorts.forEach((p, i) => port(`excludeOutboundPorts[${i}]`, p));
  for (const [name, list] of [['includeOutboundCidrs', c.includeOutboundCidrs], ['excludeOutboundCidrs', c.excludeOutboundCidrs]] as const) {
    list.forEach((cidr, i) => {
      if (cidr === '*' && name === 'includeOutboundCidrs') return;
      const m = IPV4_CIDR.exec(cidr);
      const ok = m && [1, 2, 3, 4].every((k) => Number(m[k]) <= 255) && (m[6] === undefined || Number(m[6]) <= 32);
      if (!ok) issues.push({ path: `${name}[${i}]`, message: `"${cidr}" is not an IPv4 CIDR` });
    });
  }
  for (const [path, id] of [['proxyUid', c.proxyUid], ['proxyGid', c.proxyGid]] as const) {
    if (!Number.isInteger(id) || id < 1) issues.push({ path, message: 'must be a positive integer (not root)' });
  }
  if (issues.length) throw new ValidationError(issues, 'redirect configuration');
}

/** The nat-table rules, one iptables-restore line each (without *nat/COMMIT). */
export function buildRedirectRules(config: Partial<RedirectConfig> = {}): string[] {
  const c: RedirectConfig = { ...defaultRedirectConfig, ...config };
  checkConfig(c);
  const r: string[] = [
    ':TSMESH_INBOUND - [0:0]',
    ':TSMESH_IN_REDIRECT - [0:0]',
    ':TSMESH_OUTPUT - [0:0]',
    ':TSMESH_REDIRECT - [0:0]',
    `-A TSMESH_IN_REDIRECT -p tcp -j REDIRECT --to-ports ${c.inboundPort}`,
    `-A TSMESH_REDIRECT -p tcp -j REDIRECT --to-ports ${c.outboundPort}`,
  ];

  // Inbound: everything arriving on the pod's interfaces, minus the proxy's own ports.
  const inboundExcluded = [...new Set([...c.excludeInboundPorts])].sort((a, b) => a - b);
  if (c.includeInboundPorts === '*') {
    r.push('-A PREROUTING -p tcp -j TSMESH_INBOUND');
    // SSH stays reachable for debugging, as in Istio.
    for (const p of [22, ...inboundExcluded.filter((p) => p !== 22)]) r.push(`-A TSMESH_INBOUND -p tcp --dport ${p} -j RETURN`);
    r.push('-A TSMESH_INBOUND -p tcp -j TSMESH_IN_REDIRECT');
  } else if (c.includeInboundPorts.length > 0) {
    r.push('-A PREROUTING -p tcp -j TSMESH_INBOUND');
    for (const p of c.includeInboundPorts) if (!inboundExcluded.includes(p)) r.push(`-A TSMESH_INBOUND -p tcp --dport ${p} -j TSMESH_IN_REDIRECT`);
  }

  // Outbound: locally generated TCP.
  r.push('-A OUTPUT -p tcp -j TSMESH_OUTPUT');
  // The proxy's inbound passthrough connections to the app.
  r.push(`-A TSMESH_OUTPUT -s ${c.inboundPassthroughSource}/32 -o lo -j RETURN`);
  // The proxy calling its own pod IP through lo (app -> own service): treat as inbound.
  r.push(`-A TSMESH_OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m owner --uid-owner ${c.proxyUid} -j TSMESH_IN_REDIRECT`);
  r.push(`-A TSMESH_OUTPUT -o lo -m owner ! --uid-owner ${c.proxyUid} -j RETURN`);
  r.push(`-A TSMESH_OUTPUT -m owner --uid-owner ${c.proxyUid} -j RETURN`);
  r.push(`-A TSMESH_OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m owner --gid-owner ${c.proxyGid} -j TSMESH_IN_REDIRECT`);
  r.push(`-A TSMESH_OUTPUT -o lo -m owner ! --gid-owner ${c.proxyGid} -j RETURN`);
  r.push(`-A TSMESH_OUTPUT -m owner --gid-owner ${c.proxyGid} -j RETURN`);
  r.push('-A TSMESH_OUTPUT -d 127.0.0.1/32 -j RETURN');
  for (const p of [...new Set(c.excludeOutboundPorts)].sort((a, b) => a - b)) r.push(`-A TSMESH_OUTPUT -p tcp --dport ${p} -j RETURN`);
  for (const cidr of c.excludeOutboundCidrs) r.push(`-A TSMESH_OUTPUT -d ${cidr} -j RETURN`);
  if (c.includeOutboundCidrs.includes('*')) r.push('-A TSMESH_OUTPUT -j TSMESH_REDIRECT');
  else for (const cidr of c.includeOutboundCidrs) r.push(`-A TSMESH_OUTPUT -d ${cidr} -j TSMESH_REDIRECT`);
  return r;
}

/** A complete iptables-restore input for the nat table. */
export function renderIptablesRestore(config: Partial<RedirectConfig> = {}): string {
  return ['*nat', ...buildRedirectRules(config), 'COMMIT', ''].join('\n');
}

/** The init container's command-line flags for this configuration (parsed back by `parseRedirectArgs`). */
export function redirectArgs(c: Partial<RedirectConfig>): string[] {
  const a: string[] = [];
  const push = (flag: string, v: string | number | undefined) => {
    if (v !== undefined && v !== '') a.push(`--${flag}=${v}`);
  };
  push('proxy-uid', c.proxyUid);
  push('proxy-gid', c.proxyGid);
  push('outbound-port', c.outboundPort);
  push('inbound-port', c.inboundPort);
  if (c.includeInboundPorts !== undefined) push('include-inbound-ports', c.includeInboundPorts === '*' ? '*' : c.includeInboundPorts.join(','));
  if (c.excludeInboundPorts) push('exclude-inbound-ports', c.excludeInboundPorts.join(','));
  if (c.excludeOutboundPorts) push('exclude-outbound-ports', c.excludeOutboundPorts.join(','));
  if (c.includeOutboundCidrs) push('include-outbound-cidrs', c.includeOutboundCidrs.join(','));
  if (c.excludeOutboundCidrs) push('exclude-outbound-cidrs', c.excludeOutboundCidrs.join(','));
  return a;
}

/** Parse `--flag=value` arguments (as written by `redirectArgs`) into a configuration. */
export function parseRedirectArgs(argv: readonly string[]): RedirectConfig {
  const c: RedirectConfig = { ...defaultRedirectConfig };
  const issues: ValidationIssue[] = [];
  const nums = (v: string) => (v === '' ? [] : v.split(',').map((s) => Number(s.trim())));
  const strs = (v: string) => (v === '' ? [] : v.split(',').map((s) => s.trim()));
  for (const arg of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(arg);
    if (!m) {
      issues.push({ path: arg, message: 'expected --flag=value' });
      continue;
    }
    const [, flag, v] = m as unknown as [string, string, string];
    switch (flag) {
      case 'proxy-uid': c.proxyUid = Number(v); break;
      case 'proxy-gid': c.proxyGid = Number(v); break;
      case 'outbound-port': c.outboundPort = Number(v); break;
      case 'inbound-port': c.inboundPort = Number(v); break;
      case 'include-inbound-ports': c.includeInboundPorts = v === '*' ? '*' : nums(v); break;
      case 'exclude-inbound-ports': c.excludeInboundPorts = nums(v); break;
      case 'exclude-outbound-ports': c.excludeOutboundPorts = nums(v); break;
      case 'include-outbound-cidrs': c.includeOutboundCidrs = strs(v); break;
      case 'exclude-outbound-cidrs': c.excludeOutboundCidrs = strs(v); break;
      default: issues.push({ path: `--${flag}`, message: 'unknown flag' });
    }
  }
  if (issues.length) throw new ValidationError(issues, 'tsmesh-init arguments');
  checkConfig(c);
  return c;
}
