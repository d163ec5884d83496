// Any set of routes that passes validation translates into a snapshot the
// proxy's own checker accepts and that survives the xDS wire encoding.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ValidationError } from '../../../common/errors.js';
import { checkSnapshot } from '../../../proxy/config/check.js';
import { decodeResource, encodeResource } from '../../../proxy/xds/codec/index.js';
import type { ResourceKind, ResourceMaps } from '../../../proxy/config/resources.js';
import { parsePolicies } from '../../policy/parse.js';
import { crossCheck } from '../../policy/cross-check.js';
import { DEFAULT_MESH_CONFIG } from '../../policy/types.js';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { readNodeRegistration } from '../../registry/node-registration.js';
import { translate, TranslateMemo } from '../index.js';

const registry = new EmbeddedRegistry();
for (const [i, [svc, version]] of [['api', 'v1'], ['api', 'v2'], ['web', 'v1'], ['store', 'v1']].entries()) {
  registry.registerFromNode({ id: `${svc}-${i}`, cluster: svc!, metadata: { inboundAddress: `10.0.0.${i + 1}`, inboundPort: 15006, appPort: 8080, version, protocol: svc === 'store' ? 'grpc' : 'http' } });
}
const node = readNodeRegistration({ id: 'client', cluster: 'client', metadata: { inboundAddress: '10.0.1.1', inboundPort: 15006, appPort: 8080 } });

/** Mostly valid values, now and then an invalid one (validation must catch it before the translator). */
const mostly = <T>(valid: T[], invalid: T[]) => fc.oneof({ arbitrary: fc.constantFrom(...valid), weight: 15 }, { arbitrary: fc.constantFrom(...invalid), weight: 1 });
const backend = fc.record({ name: mostly(['api', 'api-v1', 'api-v2', 'web', 'store'], ['nope']), weight: fc.integer({ min: 0, max: 100 }) });
const headerMatch = fc.record({ type: fc.constantFrom('Exact', 'RegularExpression'), name: mostly(['x-a', 'X-B'], ['bad name']), value: mostly(['v', '^v[0-9]+$'], ['(']) });
const match = fc.record(
  {
    path: fc.record({ type: fc.constantFrom('Exact', 'PathPrefix', 'RegularExpression'), value: mostly(['/', '/a', '/a/b/', '^/x.*$'], ['rel']) }),
    headers: fc.uniqueArray(headerMatch, { maxLength: 2, selector: (h) => h.name.toLowerCase() }),
    queryParams: fc.uniqueArray(fc.record({ name: fc.constantFrom('q', 'r'), value: fc.constantFrom('1', '2') }), { maxLength: 2, selector: (q) => q.name }),
    method: fc.constantFrom('GET', 'POST'),
  },
  { requiredKeys: [] },
);
const filter = fc.oneof(
  fc.constant({ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-s', value: '1' }], remove: ['x-r'] } }),
  fc.constant({ type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-a', value: '2' }] } }),
  fc.record({ type: fc.constant('RequestMirror'), requestMirror: fc.record({ backendRef: fc.record({ name: fc.constantFrom('api-v2', 'web') }), percent: fc.integer({ min: 0, max: 100 }) }) }),
  fc.constantFrom(
    { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } },
    { type: 'URLRewrite', urlRewrite: { hostname: 'api.internal', path: { type: 'ReplaceFullPath', replaceFullPath: '/x' } } },
  ),
);
const rule = fc.record(
  {
    matches: fc.array(match, { maxLength: 3 }),
    filters: fc.uniqueArray(filter, { maxLength: 2, selector: (f) => f.type }),
    backendRefs: fc.array(backend, { maxLength: 3 }),
    timeouts: fc.record({ request: fc.constantFrom('1s', '0s', '10s'), backendRequest: fc.constantFrom('500ms', '1s') }, { requiredKeys: [] }),
    retry: fc.record({ codes: fc.array(fc.constantFrom(502, 503, 504), { maxLength: 2 }), attempts: fc.integer({ min: 0, max: 5 }), backoff: fc.constantFrom('25ms', '1s') }, { requiredKeys: [] }),
  },
  { requiredKeys: ['backendRefs'] },
);
const route = fc.record({
  name: fc.constantFrom('r1', 'r2', 'r3'),
  parent: fc.constantFrom('api', 'web'),
  rules: fc.array(rule, { minLength: 1, maxLength: 3 }),
});

/** The generated routes as HTTPRoute policies, or undefined when validation refuses them (always a ValidationError). */
function acceptedPolicies(routes: { name: string; parent: string; rules: unknown }[]) {
  const text = routes
    .map((r) => stringify({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: r.name }, spec: { parentRefs: [{ kind: 'Service', name: r.parent }], rules: r.rules } }))
    .join('---\n');
  try {
    const batch = parsePolicies(text, 'gen.yaml');
    return crossCheck(batch, [], registry).length ? undefined : batch.map((b) => b.policy);
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return undefined;
  }
}

describe('translator properties', () => {
  it('valid routes always give a consistent, encodable snapshot', () => {
    let translated = 0;
    fc.assert(
      fc.property(fc.uniqueArray(route, { minLength: 1, maxLength: 3, selector: (r) => r.name }), (routes) => {
        const policies = acceptedPolicies(routes);
        if (!policies) return;
        translated++;
        const resources = translate({ policies, registry, mesh: DEFAULT_MESH_CONFIG, node, dependencies: new Set(['default/api', 'default/web']) });
        const versions = { listener: '1', routeConfiguration: '1', cluster: '1', clusterLoadAssignment: '1', secret: '1' };
        expect(checkSnapshot({ resources, versions })).toEqual([]);
        for (const [kind, map] of Object.entries(resources) as [ResourceKind, ResourceMaps[ResourceKind]][]) {
          for (const value of map.values()) {
            expect(JSON.parse(JSON.stringify(decodeResource(kind, encodeResource(kind, value as never))))).toEqual(JSON.parse(JSON.stringify(value)));
          }
        }
      }),
      { numRuns: 200 },
    );
    expect(translated).toBeGreaterThan(15); // the generator does reach the translator
  });
  it('a round memo changes no proxy\'s config, and proxies with the same view share the same objects', () => {
    const nodes = [
      node,
      readNodeRegistration({ id: 'client-2', cluster: 'client', metadata: { inboundAddress: '10.0.1.2', inboundPort: 15006, appPort: 8080 } }),
      readNodeRegistration({ id: 'other-ns', cluster: 'client', metadata: { inboundAddress: '10.0.2.1', inboundPort: 15006, appPort: 8080, namespace: 'other' } }),
      readNodeRegistration({ id: 'api-caller', cluster: 'web', metadata: { inboundAddress: '10.0.1.3', inboundPort: 15006, appPort: 9090, outboundPort: 15101 } }),
    ];
    const deps = [new Set(['default/api', 'default/web']), new Set(['default/api', 'default/web']), new Set(['default/api', 'default/web']), new Set(['default/api'])];
    fc.assert(
      fc.property(fc.uniqueArray(route, { minLength: 1, maxLength: 3, selector: (r) => r.name }), (routes) => {
        const policies = acceptedPolicies(routes);
        if (!policies) return;
        const memo = new TranslateMemo();
        const input = (i: number) => ({ policies, registry, mesh: DEFAULT_MESH_CONFIG, node: nodes[i]!, dependencies: deps[i]!, trustBundle: 'PEM' });
        const shared = nodes.map((_, i) => translate(input(i), memo));
        nodes.forEach((_, i) => expect(shared[i]).toEqual(translate(input(i))));
        // Same namespace and scope: one route table and one set of outbound clusters; other namespace: its own.
        expect(shared[1]!.routeConfiguration.get('outbound')).toBe(shared[0]!.routeConfiguration.get('outbound'));
        expect(shared[2]!.routeConfiguration.get('outbound')).not.toBe(shared[0]!.routeConfiguration.get('outbound'));
        for (const [name, c] of shared[0]!.cluster) if (name.startsWith('outbound|')) expect(shared[1]!.cluster.get(name)).toBe(c);
        // Replicas of one service share their inbound cluster too; the node's own listener stays its own.
        expect(shared[1]!.cluster.get('inbound|8080||')).toBe(shared[0]!.cluster.get('inbound|8080||'));
        expect(shared[1]!.listener.get('virtualInbound')).not.toBe(shared[0]!.listener.get('virtualInbound'));
      }),
      { numRuns: 100 },
    );
  });
});
