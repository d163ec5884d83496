// Istio's ServiceEntry from YAML through validation, translation and the xDS
// wire: which virtual hosts, clusters and filter chains a caller's sidecar gets
// for hosts outside the mesh, and what is refused (by line and field).

import { describe, expect, it } from 'vitest';
import { parsePolicies } from '../../policy/parse.js';
import { refusalLines } from '../../policy/test/refusal.js';
import { crossCheck } from '../../policy/cross-check.js';
import { DEFAULT_MESH_CONFIG } from '../../policy/types.js';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { parseServicesFile } from '../../registry/file-source.js';
import { readNodeRegistration } from '../../registry/node-registration.js';
import { translate } from '../index.js';
import { OUTBOUND_ROUTE_CONFIG } from '../routes.js';
import { checkSnapshot } from '../../../proxy/config/check.js';
import { decodeResource, encodeResource } from '../../../proxy/xds/codec/index.js';
import type { Cluster, ResourceMaps } from '../../../proxy/config/resources.js';

const registryYaml = `
services:
  - name: api
    ports: [{ port: 8080, protocol: http }]
    endpoints: [{ address: 10.0.0.1, inboundPort: 15006, appPort: 8080, serviceAccount: api }]
`;

const entries = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: payments }
spec:
  hosts: [payments.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports:
    - { number: 80, name: http, protocol: HTTP, targetPort: 8080 }
    - { number: 443, name: https, protocol: HTTPS }
---
apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: { name: search, namespace: team-a }
spec:
  hosts: [search.example.org]
  resolution: DNS_ROUND_ROBIN
  exportTo: ["."]
  ports: [{ number: 80, name: http, protocol: http }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: legacy-db }
spec:
  hosts: [db.legacy.internal]
  addresses: [192.168.10.0/24]
  resolution: STATIC
  ports: [{ number: 5432, name: tcp-pg, protocol: TCP }]
  endpoints:
    - { address: 192.168.10.5 }
    - { address: 192.168.10.6, ports: { tcp-pg: 6432 }, weight: 3 }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: payments }
spec:
  parentRefs: [{ group: networking.istio.io, kind: ServiceEntry, name: payments, port: 80 }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /charges } }]
      timeouts: { request: 3s }
      retry: { attempts: 4, codes: [503] }
      backendRefs: [{ group: networking.istio.io, kind: Hostname, name: payments.example.com, port: 80 }]
    - backendRefs: [{ group: networking.istio.io, kind: ServiceEntry, name: payments, port: 80 }]
---
apiVersion: tsmesh.io/v1alpha1
kind: DestinationPolicy
metadata: { name: payments-tls }
spec:
  targetRef: { group: networking.istio.io, kind: ServiceEntry, name: payments }
  tls: { mode: SIMPLE, caCertificates: /etc/payments/ca.pem }
  connectionPool: { connectTimeout: 2s }
---
apiVersion: tsmesh.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  dnsRefreshRate: 30s
`;

function resourcesFor(namespace: string, intercepted: boolean): ResourceMaps {
  const registry = new EmbeddedRegistry();
  registry.setStaticEntries(parseServicesFile(registryYaml, 'registry.yaml'));
  const parsed = parsePolicies(entries, 'entries.yaml');
  expect(crossCheck(parsed, [], registry)).toEqual([]);
  const mesh = parsed.map((p) => p.policy).find((p) => p.kind === 'MeshConfig')!.spec as typeof DEFAULT_MESH_CONFIG;
  const node = readNodeRegistration({
    id: `web-0.${namespace}`,
    cluster: 'web',
    metadata: { namespace, inboundAddress: '10.0.0.9', inboundPort: 15006, appPort: 9000, protocol: 'http', ...(intercepted ? { interceptionMode: 'REDIRECT' } : {}) },
  });
  const out = translate({ policies: parsed.map((s) => s.policy).filter((p) => p.kind !== 'MeshConfig'), registry, mesh, node, dependencies: new Set() });
  expect(checkSnapshot({ resources: out, versions: { listener: '1', routeConfiguration: '1', cluster: '1', clusterLoadAssignment: '1', secret: '1' } }, { validateClusters: true })).toEqual([]);
  return out;
}

/** A resource as the sidecar receives it: encoded to Envoy's protobuf and decoded back. */
const wire = <K extends 'cluster' | 'routeConfiguration' | 'listener' | 'clusterLoadAssignment'>(kind: K, v: Parameters<typeof encodeResource>[1]) => decodeResource(kind, encodeResource(kind, v));

describe('ServiceEntry: what a caller in the mesh gets', () => {
  const out = resourcesFor('default', true);

  it('an HTTP port: a virtual host by the host name only (no short names), to a STRICT_DNS cluster on the target port', () => {
    const rc = wire('routeConfiguration', out.routeConfiguration.get(OUTBOUND_ROUTE_CONFIG)!) as { virtualHosts: { name: string; domains: string[]; routes: { route?: { cluster: string } }[] }[] };
    const vh = rc.virtualHosts.find((v) => v.name === 'payments.example.com:80')!;
    expect(vh.domains).toEqual(['payments.example.com', 'payments.example.com:80']);
    expect(vh.routes[0]!.route!.cluster).toBe('outbound|80||payments.example.com');
    const c = wire('cluster', out.cluster.get('outbound|80||payments.example.com')!) as Cluster;
    expect(c).toMatchObject({
      type: 'STRICT_DNS',
      upstreamProtocol: 'http1',
      dns: { refreshRate: 30_000, lookupFamily: 'V4_ONLY', respectTtl: true },
      loadAssignment: { endpoints: [{ address: { address: 'payments.example.com', port: 8080 } }] },
      metadata: { service: 'payments.example.com', serviceNamespace: 'default' },
    });
    // No mesh mTLS towards a host without a sidecar: no workload certificate, no mesh roots (its TLS is the DestinationPolicy's, below).
    expect(c.transportSocket?.certificateSecret).toBeUndefined();
    expect(c.transportSocket?.validationSecret).not.toBe('ROOTCA');
    expect((wire('cluster', out.cluster.get('outbound|443||payments.example.com')!) as Cluster).transportSocket).toBeUndefined();
    expect(out.clusterLoadAssignment.has('outbound|80||payments.example.com')).toBe(false);
  });

  it('an HTTPS port: TLS the app originates is claimed by SNI on that port and passed through', () => {
    const l = wire('listener', out.listener.get('virtualOutbound')!) as { filterChains: { name?: string; filterChainMatch?: Record<string, unknown>; filter: { kind: string; cluster?: string } }[] };
    const chain = l.filterChains.find((f) => f.filter.kind === 'tcp' && f.filter.cluster === 'outbound|443||payments.example.com')!;
    expect(chain.filterChainMatch).toMatchObject({ destinationPort: 443, transportProtocol: 'tls', serverNames: ['payments.example.com'] });
    expect((wire('cluster', out.cluster.get('outbound|443||payments.example.com')!) as Cluster).type).toBe('STRICT_DNS');
  });

  it('STATIC with addresses: TCP claimed by the CIDR, endpoints as listed with their own ports and weights', () => {
    const l = wire('listener', out.listener.get('virtualOutbound')!) as { filterChains: { filterChainMatch?: { prefixRanges?: unknown[] }; filter: { kind: string; cluster?: string } }[] };
    const chain = l.filterChains.find((f) => f.filter.cluster === 'outbound|5432||db.legacy.internal')!;
    expect(chain.filterChainMatch!.prefixRanges).toEqual([{ addressPrefix: '192.168.10.0', prefixLen: 24 }]);
    expect((out.cluster.get('outbound|5432||db.legacy.internal') as Cluster).type).toBe('EDS');
    const cla = wire('clusterLoadAssignment', out.clusterLoadAssignment.get('outbound|5432||db.legacy.internal')!) as { endpoints: { address: { address: string; port: number }; weight: number }[] };
    expect(cla.endpoints.map((e) => [e.address.address, e.address.port, e.weight])).toEqual([
      ['192.168.10.5', 5432, 1],
      ['192.168.10.6', 6432, 3],
    ]);
  });

  it('exportTo "." keeps an entry to its own namespace; DNS_ROUND_ROBIN is one logical host', () => {
    expect(out.cluster.has('outbound|80||search.example.org')).toBe(false);
    const teamA = resourcesFor('team-a', true);
    expect((teamA.cluster.get('outbound|80||search.example.org') as Cluster).type).toBe('LOGICAL_DNS');
  });

  it('without interception only HTTP hosts are routed (TLS and TCP need the original destination)', () => {
    const plain = resourcesFor('default', false);
    expect(plain.cluster.has('outbound|80||payments.example.com')).toBe(true);
    expect(plain.cluster.has('outbound|443||payments.example.com')).toBe(false);
    expect(plain.cluster.has('outbound|5432||db.legacy.internal')).toBe(false);
  });
});

describe('HTTPRoute on a ServiceEntry (Istio: parentRef kind ServiceEntry, backendRef kind Hostname)', () => {
  it("the entry host's virtual host carries the route's rules: timeouts and retries for calls leaving the mesh", () => {
    const out = resourcesFor('default', false);
    const rc = wire('routeConfiguration', out.routeConfiguration.get(OUTBOUND_ROUTE_CONFIG)!) as {
      virtualHosts: { name: string; routes: { match: { prefix?: string; pathSeparatedPrefix?: string }; route?: { cluster: string; timeout: number; retryPolicy?: { numRetries: number } } }[] }[];
    };
    const routes = rc.virtualHosts.find((v) => v.name === 'payments.example.com:80')!.routes;
    expect(routes.map((r) => [r.match.pathSeparatedPrefix ?? r.match.prefix, r.route!.cluster, r.route!.timeout])).toEqual([
      ['/charges', 'outbound|80||payments.example.com', 3000],
      ['/', 'outbound|80||payments.example.com', 15000],
    ]);
    expect(routes[0]!.route!.retryPolicy!.numRetries).toBe(4); // GEP-1731: attempts counts retries
  });

  it('refuses a parent entry, a host or a port that does not exist, naming each', () => {
    const registry = new EmbeddedRegistry();
    registry.setStaticEntries(parseServicesFile(registryYaml, 'registry.yaml'));
    const batch = parsePolicies(
      entries.split('---').slice(0, 1).join('---') +
        `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: wrong }
spec:
  parentRefs: [{ group: networking.istio.io, kind: ServiceEntry, name: nope }, { group: networking.istio.io, kind: ServiceEntry, name: payments, port: 8443 }]
  rules:
    - backendRefs: [{ group: networking.istio.io, kind: Hostname, name: elsewhere.example.com, port: 80 }, { group: networking.istio.io, kind: Hostname, name: payments.example.com, port: 81 }]
`,
      'wrong.yaml',
    );
    expect(crossCheck(batch, [], registry).map((i) => `${i.line}: ${i.path}: ${i.message}`)).toEqual([
      '17: spec.parentRefs[0].name: ServiceEntry "default/nope" does not exist',
      '17: spec.parentRefs[1].port: ServiceEntry "default/payments" has no port 8443 (ports: 80, 443)',
      '19: spec.rules[0].backendRefs[0].name: no ServiceEntry exported to namespace default names host "elsewhere.example.com"',
      '19: spec.rules[0].backendRefs[1].port: payments.example.com (ServiceEntry default/payments) has no port 81 (ports: 80, 443)',
    ]);
    expect(refusalLines(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ group: networking.istio.io, kind: Gateway, name: g }]
  rules: [{ backendRefs: [{ group: networking.istio.io, kind: Hostname, name: a.example.com }] }]
`)).toEqual([
      'p.yaml:5: spec.parentRefs[0].kind: tsmesh routes attach to a Service (kind: Service, group: "") or a ServiceEntry (group: networking.istio.io); got kind "Gateway" group "networking.istio.io"',
      'p.yaml:6: spec.rules[0].backendRefs[0].port: is required for a Hostname backend',
    ]);
  });
});

describe('DestinationPolicy on a ServiceEntry: TLS origination (Istio tls SIMPLE)', () => {
  it('the plain-HTTP port gets TLS to the target port, verified by the host name against the given roots; the app-TLS port is left alone', () => {
    const out = resourcesFor('default', true);
    const http = wire('cluster', out.cluster.get('outbound|80||payments.example.com')!) as Cluster;
    expect(http.connectTimeout).toBe(2000);
    expect(http.transportSocket).toEqual({
      validationSecret: 'file-root:/etc/payments/ca.pem',
      matchSubjectAltNames: [],
      matchDnsSubjectAltNames: ['payments.example.com'],
      sni: 'payments.example.com',
      alpnProtocols: ['http/1.1'],
      params: { minVersion: 'TLSv1.2' },
    });
    expect((wire('cluster', out.cluster.get('outbound|443||payments.example.com')!) as Cluster).transportSocket).toBeUndefined();
  });

  it('refuses SIMPLE on a mesh Service, mesh mTLS towards an entry, and a relative roots path', () => {
    expect(
      refusalLines(`apiVersion: tsmesh.io/v1alpha1
kind: DestinationPolicy
metadata: { name: a }
spec:
  targetRef: { kind: Service, name: api }
  tls: { mode: SIMPLE }
---
apiVersion: tsmesh.io/v1alpha1
kind: DestinationPolicy
metadata: { name: b }
spec:
  targetRef: { group: networking.istio.io, kind: ServiceEntry, name: payments }
  tls: { mode: ISTIO_MUTUAL, sni: x.example.com }
---
apiVersion: tsmesh.io/v1alpha1
kind: DestinationPolicy
metadata: { name: c }
spec:
  targetRef: { kind: ServiceEntry, name: payments }
  tls: { mode: SIMPLE, caCertificates: certs/ca.pem }
`),
    ).toEqual([
      'p.yaml:6: spec.tls.mode: SIMPLE originates TLS to hosts outside the mesh: target a ServiceEntry (mesh Services use ISTIO_MUTUAL)',
      'p.yaml:13: spec.tls.mode: hosts outside the mesh run no sidecar to speak mesh mTLS with: use SIMPLE (or DISABLE)',
      'p.yaml:13: spec.tls.sni: is for mode SIMPLE',
      'p.yaml:20: spec.tls.caCertificates: "certs/ca.pem" is not valid (an absolute path on the sidecar)',
    ]);
  });
});

describe('ServiceEntry validation', () => {
  it('refuses what tsmesh cannot honour, by line and field, with the reason', () => {
    expect(
      refusalLines(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: a }
spec:
  hosts: ["*.example.com", reviews.default.svc.cluster.local, ok.example.com]
  location: MESH_INTERNAL
  ports:
    - { number: 5432, name: pg, protocol: TCP }
    - { number: 80, name: http, protocol: QUIC }
  workloadSelector: { labels: { app: vm } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: b }
spec:
  hosts: [static.example.com]
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: static-1.example.com, ports: { grpc: 9000 } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: c }
spec:
  hosts: [rr.example.com]
  resolution: DNS_ROUND_ROBIN
  addresses: [10.1.2.3/40]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: a.example.com }, { address: b.example.com }]
`),
    ).toEqual([
      'p.yaml:10: spec.workloadSelector: selects workloads of a MESH_INTERNAL entry (not supported)',
      'p.yaml:5: spec.hosts[0]: wildcard host "*.example.com": tsmesh resolves every host by name (resolution NONE, which wildcards need, is not supported)',
      'p.yaml:5: spec.hosts[1]: "reviews.default.svc.cluster.local" is a Kubernetes Service name: a ServiceEntry names hosts outside the mesh (location MESH_EXTERNAL)',
      'p.yaml:6: spec.location: MESH_INTERNAL (workloads outside Kubernetes running a sidecar) is not supported: use MESH_EXTERNAL',
      'p.yaml:4: spec.resolution: is required here: Istio defaults to NONE (forward to the address the app dialled), which tsmesh does not support; use DNS, DNS_ROUND_ROBIN or STATIC',
      'p.yaml:9: spec.ports[1].protocol: unsupported protocol "QUIC" (HTTP, HTTP2, GRPC, HTTPS, TLS, TCP)',
      'p.yaml:8: spec.ports[0].protocol: TCP port 5432 needs spec.addresses: connections are matched by destination address, TCP carries no host name',
      'p.yaml:19: spec.endpoints[0].ports.grpc: names no port of spec.ports (http)',
      'p.yaml:19: spec.endpoints[0].address: "static-1.example.com" is not an IP address (resolution STATIC takes addresses; use DNS for names)',
      'p.yaml:27: spec.addresses[0]: "10.1.2.3/40" is not an IP address or CIDR range',
      'p.yaml:29: spec.endpoints: resolution DNS_ROUND_ROBIN takes at most one endpoint (one name, its first address)',
    ]);
  });
});
