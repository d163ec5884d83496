// Opaque-TCP service ports (a database, a message broker) as the outbound
// listener claims them under interception: by destination port and IP — the
// Service's ClusterIPs on the service port, or for a headless Service its pods'
// IPs on the port each serves it on — each sent to the service port's cluster
// (mesh mTLS to the peer sidecar, whose inbound TCP chain delivers to the app).

import { isIPv4, isIPv6 } from 'node:net';
import type { CidrRange } from '../../proxy/config/resources.js';
import type { ServiceInfo } from '../registry/types.js';
import { endpointsOf, outboundClusterName, type ResolvedBackend, type TranslateInput } from './context.js';
import type { TcpServiceChain } from './listeners.js';

export interface TcpService {
  backend: ResolvedBackend;
  cluster: string;
  chains: TcpServiceChain[];
}

const host = (ip: string): CidrRange => ({ addressPrefix: ip, prefixLen: isIPv4(ip) ? 32 : 128 });
const cidr = (a: string): CidrRange => {
  const [ip, bits] = a.split('/') as [string, string | undefined];
  return bits === undefined ? host(ip) : { addressPrefix: ip, prefixLen: Number(bits) };
};

export function tcpServices(input: TranslateInput, services: readonly ServiceInfo[]): TcpService[] {
  const out: TcpService[] = [];
  for (const service of services) {
    for (const port of service.ports) {
      if (port.protocol !== 'tcp') continue;
      const backend: ResolvedBackend = { service, port };
      const cluster = outboundClusterName(backend);
      const name = service.hostname;
      if (service.external) {
        // TLS the app originates is claimed by its SNI; other TCP by the entry's addresses (validation requires them).
        const chain: TcpServiceChain = port.tls
          ? { name, port: port.port, ranges: [], serverNames: [service.hostname], cluster }
          : { name, port: port.port, ranges: (service.addresses ?? []).map(cidr), cluster };
        if (chain.ranges.length || chain.serverNames) out.push({ backend, cluster, chains: [chain] });
        continue;
      }
      const vips = (service.addresses ?? []).filter((a) => isIPv4(a) || isIPv6(a));
      const chains: TcpServiceChain[] = [];
      if (vips.length) chains.push({ name, port: port.port, ranges: vips.map(host), cluster });
      else {
        // Headless: clients dial the pods themselves, each on the port that serves this service port.
        const byPort = new Map<number, CidrRange[]>();
        for (const e of endpointsOf(input.registry, backend)) {
          const target = e.targetPorts?.[port.port] ?? e.appPort;
          if (target === undefined || !(isIPv4(e.address) || isIPv6(e.address))) continue;
          const list = byPort.get(target) ?? [];
          list.push(host(e.address));
          byPort.set(target, list);
        }
        for (const [p, ranges] of [...byPort].sort((a, b) => a[0] - b[0])) {
          chains.push({ name, port: p, ranges: ranges.sort((a, b) => a.addressPrefix.localeCompare(b.addressPrefix)), cluster });
        }
      }
      if (chains.length) out.push({ backend, cluster, chains });
    }
  }
  return out;
}
