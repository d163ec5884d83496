// Istio's ServiceEntry (networking.istio.io/v1, v1beta1, v1alpha3) for hosts
// outside the mesh. What tsmesh cannot honour is refused by name with the
// reason, not silently dropped: resolution NONE (needs the original
// destination of every connection, HTTP included), location MESH_INTERNAL
// (workloads outside Kubernetes that run a sidecar), wildcard hosts (only
// meaningful with NONE), workloadSelector and subjectAltNames.

import { isIP } from 'node:net';
import type { Reader } from '../../common/reader.js';
import { readStringMap } from './common-fields.js';
import type { ServiceEntryEndpoint, ServiceEntryPort, ServiceEntryProtocol, ServiceEntrySpec } from './types.js';

export const SERVICE_ENTRY_VERSIONS: readonly string[] = ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'];

const PROTOCOLS: readonly ServiceEntryProtocol[] = ['HTTP', 'HTTP2', 'GRPC', 'HTTPS', 'TLS', 'TCP'];
/** A host name: dot-separated labels (letters, digits, '-'), at least two of them. */
const HOST = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_HOSTS = 64;
const MAX_PORTS = 64;
const MAX_ENDPOINTS = 256;

export function readServiceEntrySpec(r: Reader): ServiceEntrySpec {
  r.object(true);
  for (const [key, why] of [
    ['workloadSelector', 'selects workloads of a MESH_INTERNAL entry (not supported)'],
    ['subjectAltNames', 'verifies MESH_INTERNAL endpoints by identity (not supported)'],
  ] as const) {
    if (r.field(key).present) r.field(key).fail(why);
  }
  r.onlyKeys(['hosts', 'addresses', 'ports', 'location', 'resolution', 'endpoints', 'exportTo', 'workloadSelector', 'subjectAltNames']);

  const hosts: string[] = [];
  const hostList = r.field('hosts').array(true);
  if (r.field('hosts').present && hostList.length === 0) r.field('hosts').fail('must name at least one host');
  if (hostList.length > MAX_HOSTS) r.field('hosts').fail(`must have at most ${MAX_HOSTS} entries`);
  for (const h of hostList) {
    const host = h.string({ required: true, maxLength: 253 });
    if (host === undefined) continue;
    if (host.includes('*')) h.fail(`wildcard host "${host}": tsmesh resolves every host by name (resolution NONE, which wildcards need, is not supported)`);
    else if (!HOST.test(host)) h.fail(`"${host}" is not a fully qualified host name (lower-case labels separated by dots)`);
    else if (/\.svc(\.|$)/.test(host)) h.fail(`"${host}" is a Kubernetes Service name: a ServiceEntry names hosts outside the mesh (location MESH_EXTERNAL)`);
    else if (hosts.includes(host)) h.fail(`"${host}" is listed twice`);
    else hosts.push(host);
  }

  const location = r.field('location').string({ enum: ['MESH_EXTERNAL', 'MESH_INTERNAL'] }) ?? 'MESH_EXTERNAL';
  if (location === 'MESH_INTERNAL') r.field('location').fail('MESH_INTERNAL (workloads outside Kubernetes running a sidecar) is not supported: use MESH_EXTERNAL');

  const resolution = r.field('resolution').string({ enum: ['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN'] });
  if (resolution === undefined && !r.field('resolution').present) {
    r.field('resolution').fail('is required here: Istio defaults to NONE (forward to the address the app dialled), which tsmesh does not support; use DNS, DNS_ROUND_ROBIN or STATIC');
  } else if (resolution === 'NONE') {
    r.field('resolution').fail('NONE (forward to the address the app dialled) is not supported: use DNS, DNS_ROUND_ROBIN or STATIC');
  }

  const ports: ServiceEntryPort[] = [];
  const portReaders: Reader[] = [];
  const portList = r.field('ports').array(true);
  if (r.field('ports').present && portList.length === 0) r.field('ports').fail('must list at least one port');
  if (portList.length > MAX_PORTS) r.field('ports').fail(`must have at most ${MAX_PORTS} entries`);
  for (const p of portList) {
    if (!p.object(true)) continue;
    p.onlyKeys(['number', 'protocol', 'name', 'targetPort']);
    const number = p.field('number').number({ required: true, integer: true, min: 1, max: 65535 });
    const rawProtocol = p.field('protocol').string({ required: true });
    const protocol = rawProtocol?.toUpperCase() as ServiceEntryProtocol | undefined;
    if (rawProtocol !== undefined && !PROTOCOLS.includes(protocol!)) p.field('protocol').fail(`unsupported protocol "${rawProtocol}" (${PROTOCOLS.join(', ')})`);
    const name = p.field('name').string({ required: true, pattern: PORT_NAME, patternHint: 'lower-case letters, digits and "-"', maxLength: 63 });
    const targetPort = p.field('targetPort').number({ integer: true, min: 1, max: 65535 });
    if (number === undefined || name === undefined || !protocol || !PROTOCOLS.includes(protocol)) continue;
    if (ports.some((x) => x.number === number)) p.field('number').fail(`port ${number} is listed twice`);
    else if (ports.some((x) => x.name === name)) p.field('name').fail(`port name "${name}" is listed twice`);
    else {
      ports.push({ number, protocol, name, ...(targetPort !== undefined ? { targetPort } : {}) });
      portReaders.push(p);
    }
  }

  const addresses: string[] = [];
  for (const a of r.field('addresses').array()) {
    const v = a.string({ required: true, maxLength: 64 });
    if (v === undefined) continue;
    const [ip, bits, extra] = v.split('/');
    const family = isIP(ip ?? '');
    const okBits = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
    if (!family || !okBits || extra !== undefined) a.fail(`"${v}" is not an IP address or CIDR range`);
    else addresses.push(v);
  }
  // Without addresses a TCP port could only be claimed by port number alone, taking every connection to
  // that port from the app (Istio does so); tsmesh asks for the addresses instead.
  ports.forEach((p, i) => {
    if (p.protocol === 'TCP' && addresses.length === 0) portReaders[i]!.field('protocol').fail(`TCP port ${p.number} needs spec.addresses: connections are matched by destination address, TCP carries no host name`);
  });

  const endpoints: ServiceEntryEndpoint[] = [];
  const epList = r.field('endpoints').array();
  if (epList.length > MAX_ENDPOINTS) r.field('endpoints').fail(`must have at most ${MAX_ENDPOINTS} entries`);
  for (const e of epList) {
    if (!e.object(true)) continue;
    for (const key of ['network', 'locality', 'serviceAccount'] as const) if (e.field(key).present) e.field(key).fail('is for MESH_INTERNAL endpoints (not supported)');
    e.onlyKeys(['address', 'ports', 'labels', 'weight', 'network', 'locality', 'serviceAccount']);
    const address = e.field('address').string({ required: true, maxLength: 253 });
    const weight = e.field('weight').number({ integer: true, min: 1, max: 10_000 });
    const epPorts: Record<string, number> = {};
    if (e.field('ports').object()) {
      for (const [name, v] of e.field('ports').entries()) {
        const n = v.number({ required: true, integer: true, min: 1, max: 65535 });
        if (!ports.some((p) => p.name === name)) v.fail(`names no port of spec.ports (${ports.map((p) => p.name).join(', ') || 'none'})`);
        else if (n !== undefined) epPorts[name] = n;
      }
    }
    if (address === undefined) continue;
    if (resolution === 'STATIC' && !isIP(address)) e.field('address').fail(`"${address}" is not an IP address (resolution STATIC takes addresses; use DNS for names)`);
    else if (!isIP(address) && !HOST.test(address) && address !== 'localhost') e.field('address').fail(`"${address}" is neither an IP address nor a host name`);
    endpoints.push({ address, ports: epPorts, labels: readStringMap(e.field('labels')), ...(weight !== undefined ? { weight } : {}) });
  }
  if (resolution === 'STATIC' && epList.length === 0) r.field('endpoints').fail('resolution STATIC needs endpoints (the addresses to send to)');
  if (resolution === 'DNS_ROUND_ROBIN' && epList.length > 1) r.field('endpoints').fail('resolution DNS_ROUND_ROBIN takes at most one endpoint (one name, its first address)');

  const exportTo: string[] = [];
  for (const x of r.field('exportTo').array()) {
    const v = x.string({ required: true, pattern: /^(\*|\.|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/, patternHint: '"*", "." or a namespace name', maxLength: 63 });
    if (v !== undefined) exportTo.push(v);
  }

  return {
    hosts,
    addresses,
    ports,
    location: 'MESH_EXTERNAL',
    resolution: resolution === 'STATIC' || resolution === 'DNS_ROUND_ROBIN' ? resolution : 'DNS',
    endpoints,
    exportTo: exportTo.length ? exportTo : ['*'],
  };
}
