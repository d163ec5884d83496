// FaultPolicy and RateLimitPolicy from YAML through validation, translation
// and the xDS wire: which routes of a caller carry which fault (a rule's
// policy over its route's over its Service's), and the token bucket every
// sidecar of a rate-limited Service gets on its inbound route.

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
import type { HttpConnectionManager, ResourceMaps } from '../../../proxy/config/resources.js';

const registryYaml = `
services:
  - name: api
    ports: [{ port: 8080, protocol: http }]
    endpoints: [{ address: 10.0.0.1, inboundPort: 15006, appPort: 8080, serviceAccount: api }]
  - name: db
    ports: [{ port: 5000, protocol: http }]
    endpoints: [{ address: 10.0.0.2, inboundPort: 15006, appPort: 5000, serviceAccount: db }]
`;

const policies = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Service, name: api, port: 8080 }]
  rules:
    - name: reports
      matches: [{ path: { type: PathPrefix, value: /reports } }]
      backendRefs: [{ name: api, port: 8080 }]
    - backendRefs: [{ name: api, port: 8080 }]
---
apiVersion: tsmesh.io/v1alpha1
kind: FaultPolicy
metadata: { name: api-route }
spec:
  targetRef: { group: gateway.networking.k8s.io, kind: HTTPRoute, name: api }
  delay: { fixedDelay: 2s, percentage: 10 }
---
apiVersion: tsmesh.io/v1alpha1
kind: FaultPolicy
metadata: { name: api-reports }
spec:
  targetRef: { kind: HTTPRoute, name: api, sectionName: reports }
  abort: { httpStatus: 503, percentage: 50 }
  headers: [{ name: x-chaos, value: "on" }]
---
apiVersion: tsmesh.io/v1alpha1
kind: FaultPolicy
metadata: { name: db-everything }
spec:
  targetRef: { kind: Service, name: db }
  abort: { grpcStatus: 14 }
---
apiVersion: tsmesh.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: api-limit }
spec:
  targetRef: { kind: Service, name: api }
  local: { requests: 100, unit: Second, burst: 150 }
`;

function resourcesFor(service: string, address: string, appPort: number): ResourceMaps {
  const registry = new EmbeddedRegistry();
  registry.setStaticEntries(parseServicesFile(registryYaml, 'registry.yaml'));
  const parsed = parsePolicies(policies, 'traffic.yaml');
  expect(crossCheck(parsed, [], registry)).toEqual([]);
  const node = readNodeRegistration({ id: `${service}-0`, cluster: service, metadata: { inboundAddress: address, inboundPort: 15006, appPort, protocol: 'http' } });
  const out = translate({ policies: parsed.map((s) => s.policy), registry, mesh: DEFAULT_MESH_CONFIG, node, dependencies: new Set(['default/api', 'default/db']) });
  expect(checkSnapshot({ resources: out, versions: { listener: '1', routeConfiguration: '1', cluster: '1', clusterLoadAssignment: '1', secret: '1' } })).toEqual([]);
  return out;
}

describe('FaultPolicy on the callers\' routes', () => {
  const out = resourcesFor('web', '10.0.0.9', 9000);
  const rc = decodeResource('routeConfiguration', encodeResource('routeConfiguration', out.routeConfiguration.get(OUTBOUND_ROUTE_CONFIG)!));
  const routes = (host: string) => rc.virtualHosts.find((v) => v.domains.includes(host))!.routes;

  it("a rule's policy wins over its route's; the route's covers its other rules", () => {
    const [reports, rest] = routes('api:8080');
    expect(reports!.fault).toEqual({ abort: { httpStatus: 503, percent: 50 }, headers: [{ name: 'x-chaos', stringMatch: { exact: 'on' } }] });
    expect(rest!.fault).toEqual({ delay: { fixedDelay: 2000, percent: 10 }, headers: [] });
  });

  it("a Service's policy covers its default route, and the fault filter is in the outbound chain", () => {
    expect(routes('db:5000')[0]!.fault).toEqual({ abort: { grpcStatus: 14, percent: 100 }, headers: [] });
    const outbound = [...out.listener.values()].find((l) => l.name === 'virtualOutbound')!;
    const hcm = outbound.filterChains[0]!.filter as HttpConnectionManager;
    expect(hcm.httpFilters.map((f) => f.kind)).toEqual(['fault', 'router']);
  });
});

describe('RateLimitPolicy on the Service\'s own sidecars', () => {
  const inboundHcms = (out: ResourceMaps) =>
    [...out.listener.values()]
      .filter((l) => l.name === 'virtualInbound')
      .map((l) => decodeResource('listener', encodeResource('listener', l)))
      .flatMap((l) => l.filterChains.map((c) => c.filter))
      .filter((f): f is HttpConnectionManager => f.kind === 'http');

  it('each api sidecar gets the bucket on its inbound route, with the local rate limit filter', () => {
    const hcms = inboundHcms(resourcesFor('api', '10.0.0.1', 8080));
    expect(hcms.length).toBeGreaterThan(0);
    for (const h of hcms) {
      expect(h.routeConfig!.virtualHosts[0]!.routes[0]!.rateLimit).toEqual({ statPrefix: 'default.api-limit', tokenBucket: { maxTokens: 150, tokensPerFill: 100, fillInterval: 1000 } });
      expect(h.httpFilters.map((f) => f.kind)).toEqual(['localRateLimit', 'router']);
    }
  });

  it('other workloads get none', () => {
    for (const h of inboundHcms(resourcesFor('db', '10.0.0.2', 5000))) {
      expect(h.routeConfig!.virtualHosts[0]!.routes[0]!.rateLimit).toBeUndefined();
      expect(h.httpFilters.map((f) => f.kind)).toEqual(['router']);
    }
  });
});

describe('FaultPolicy and RateLimitPolicy validation', () => {
  it('names each problem by line and field, including targets that do not exist', () => {
    const registry = new EmbeddedRegistry();
    registry.setStaticEntries(parseServicesFile(registryYaml, 'registry.yaml'));
    expect(
      refusalLines(
        `apiVersion: tsmesh.io/v1alpha1
kind: FaultPolicy
metadata: { name: f }
spec:
  targetRef: { kind: Service, name: api, sectionName: reports }
  abort: { percentage: 120 }
---
apiVersion: tsmesh.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: r }
spec:
  targetRef: { kind: HTTPRoute, name: api }
  local: { requests: 10, unit: Day, burst: 5 }
`,
        'bad.yaml',
      ),
    ).toEqual([
      'bad.yaml:5: spec.targetRef.sectionName: names a route rule; it applies to HTTPRoute and GRPCRoute targets only',
      'bad.yaml:6: spec.abort.percentage: must be ≤ 100, got 120',
      'bad.yaml:6: spec.abort: must set httpStatus or grpcStatus',
      'bad.yaml:12: spec.targetRef.kind: must be one of Service; got "HTTPRoute"',
      'bad.yaml:13: spec.local.unit: must be one of Second, Minute, Hour; got "Day"',
      'bad.yaml:13: spec.local.burst: must be at least requests (10): it is the bucket\'s size',
    ]);
    const dangling = parsePolicies(
      `apiVersion: tsmesh.io/v1alpha1
kind: FaultPolicy
metadata: { name: f }
spec:
  targetRef: { kind: HTTPRoute, name: nowhere }
  delay: { fixedDelay: 1s }
---
apiVersion: tsmesh.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: r }
spec:
  targetRef: { kind: Service, name: ghost }
  local: { requests: 10 }
`,
      'dangling.yaml',
    );
    expect(crossCheck(dangling, [], registry).map((i) => `${i.line}: ${i.path}: ${i.message}`)).toEqual([
      '5: spec.targetRef.name: HTTPRoute "default/nowhere" does not exist',
      '12: spec.targetRef.name: Service "default/ghost" is not in the registry (known: default/api, default/db)',
    ]);
  });
});
