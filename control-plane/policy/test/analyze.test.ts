// analyzePolicies against a registry fixture: each kind of finding, and
// nothing for a mesh whose policies all take effect.

import { describe, expect, it } from 'vitest';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { parseServicesFile } from '../../registry/file-source.js';
import { analyzePolicies } from '../analyze.js';
import { parsePolicies } from '../parse.js';

const registry = new EmbeddedRegistry();
registry.setStaticEntries(
  parseServicesFile(
    `services:
  - name: api
    ports: [{ port: 8080, protocol: http }]
    endpoints:
      - { address: 10.0.0.1, inboundPort: 15006, appPort: 8080, serviceAccount: api, labels: { app: api, version: v1 } }
      - { address: 10.0.0.2, inboundPort: 15006, appPort: 8080, serviceAccount: api, labels: { app: api, version: v2 } }
`,
    'registry.yaml',
  ),
);
const policies = (text: string) => parsePolicies(text, 'p.yaml').map((s) => s.policy);
const doc = (kind: string, name: string, spec: string, api = 'tsmesh.io/v1alpha1') => `apiVersion: ${api}\nkind: ${kind}\nmetadata: { name: ${name} }\nspec: ${spec}\n---\n`;
const route = (name: string, spec: string) => doc('HTTPRoute', name, spec, 'gateway.networking.k8s.io/v1');

describe('analyzePolicies', () => {
  it('finds nothing when every policy takes effect', () => {
    const ps = policies(
      route('api', '{ parentRefs: [{ kind: Service, name: api }], rules: [{ name: main, backendRefs: [{ name: api-v1, port: 8080 }, { name: api-v2, port: 8080 }] }] }') +
        doc('FaultPolicy', 'chaos', '{ targetRef: { kind: HTTPRoute, name: api, sectionName: main }, abort: { httpStatus: 503 } }') +
        doc('AuthorizationPolicy', 'authz', '{ selector: { matchLabels: { app: api } }, rules: [{}] }') +
        doc('PeerAuthentication', 'pa', '{ mtls: { mode: STRICT } }') +
        doc('DestinationPolicy', 'dp', '{ targetRef: { kind: Service, name: api } }'),
    );
    expect(analyzePolicies(ps, registry)).toEqual([]);
  });

  it('names what is gone, what selects nothing and what is shadowed, errors and warnings apart', () => {
    const ps = policies(
      route('api', '{ parentRefs: [{ kind: Service, name: api }], rules: [{ backendRefs: [{ name: api-v3, port: 8080 }], filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: shadow } } }] }] }') +
        route('old', '{ parentRefs: [{ kind: Service, name: legacy }], rules: [{ backendRefs: [{ name: api }] }] }') +
        doc('FaultPolicy', 'chaos', '{ targetRef: { kind: HTTPRoute, name: api, sectionName: gone }, abort: { httpStatus: 503 } }') +
        doc('AuthorizationPolicy', 'authz', '{ selector: { matchLabels: { app: ratings } }, rules: [{}] }') +
        doc('DestinationPolicy', 'a-dp', '{ targetRef: { kind: Service, name: api } }') +
        doc('DestinationPolicy', 'b-dp', '{ targetRef: { kind: Service, name: api } }') +
        doc('RateLimitPolicy', 'rl', '{ targetRef: { kind: Service, name: ghost }, local: { requests: 5 } }') +
        doc('PeerAuthentication', 'api-all', '{ selector: { matchLabels: { app: api } }, mtls: { mode: STRICT } }') +
        doc('PeerAuthentication', 'api-v2', '{ selector: { matchLabels: { version: v2 } }, mtls: { mode: PERMISSIVE } }') +
        doc('ServiceEntry', 'a-ext', '{ hosts: [ext.example.com], resolution: DNS, ports: [{ number: 80, name: http, protocol: HTTP }] }', 'networking.istio.io/v1') +
        doc('ServiceEntry', 'b-ext', '{ hosts: [ext.example.com, api.default], resolution: DNS, ports: [{ number: 80, name: http, protocol: HTTP }] }', 'networking.istio.io/v1'),
    );
    expect(analyzePolicies(ps, registry).map((f) => `${f.level} ${f.code} ${f.policy.kind}/${f.policy.name}: ${f.message}`)).toEqual([
      'Warning TSM0102 AuthorizationPolicy/authz: selector {app: ratings} matches no workload in namespace default',
      'Warning TSM0103 DestinationPolicy/b-dp: ignored: DestinationPolicy/default/a-dp also targets Service default/api and wins (first by name)',
      'Error TSM0101 FaultPolicy/chaos: target HTTPRoute default/api has no rule named "gone": the policy has no effect',
      'Error TSM0101 HTTPRoute/api: rules[0]: backend default/api-v3 is not in the registry (or has no endpoints): its share of requests fails',
      'Warning TSM0101 HTTPRoute/api: rules[0]: mirror target default/shadow is not in the registry: nothing is mirrored',
      'Error TSM0101 HTTPRoute/old: parent Service default/legacy is not in the registry: the route applies to nothing',
      'Warning TSM0103 PeerAuthentication/api-v2: ignored where PeerAuthentication/default/api-all also selects the workload (first by name wins)',
      'Error TSM0101 RateLimitPolicy/rl: target Service default/ghost is not in the registry: the policy has no effect',
      'Warning TSM0103 ServiceEntry/b-ext: host api.default is the mesh Service default/api, which wins: the entry has no effect for it',
      'Warning TSM0103 ServiceEntry/b-ext: ignored: ServiceEntry/default/a-ext also names host ext.example.com in this namespace and wins (first by name)',
    ]);
  });
});
