// AuthorizationPolicy rules as Istio users write them (not* fields, hosts,
// path suffixes, namespace wildcards, `when` conditions), from YAML through
// validation and translation to the RBAC engine a sidecar compiles from its
// inbound listener, asked about concrete requests.

import { describe, expect, it } from 'vitest';
import { parsePolicies } from '../../policy/parse.js';
import { refusalLines } from '../../policy/test/refusal.js';
import { DEFAULT_MESH_CONFIG } from '../../policy/types.js';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { readNodeRegistration } from '../../registry/node-registration.js';
import { translate } from '../index.js';
import { compileRbac, type RbacEngine } from '../../../proxy/identity/authz.js';
import type { HttpConnectionManager } from '../../../proxy/config/resources.js';
import { decodeResource, encodeResource } from '../../../proxy/xds/codec/index.js';

const TD = 'spiffe://cluster.local';
const sa = (ns: string, name: string) => `${TD}/ns/${ns}/sa/${name}`;

function engineFor(policyYaml: string): RbacEngine {
  const registry = new EmbeddedRegistry();
  const node = readNodeRegistration({ id: 'api-0', cluster: 'api', metadata: { namespace: 'shop', inboundAddress: '10.0.0.2', inboundPort: 15006, appPort: 8080, protocol: 'http', labels: { app: 'api' } } });
  registry.registerFromNode({ id: 'api-0', cluster: 'api', metadata: { namespace: 'shop', inboundAddress: '10.0.0.2', inboundPort: 15006, appPort: 8080, protocol: 'http' } });
  const policies = parsePolicies(policyYaml, 'authz.yaml').map((s) => s.policy);
  const out = translate({ policies, registry, mesh: DEFAULT_MESH_CONFIG, node, dependencies: new Set() });
  const inbound = [...out.listener.values()].filter((l) => l.name === 'virtualInbound');
  // Through the xDS wire, as a sidecar receives it.
  const hcms = inbound
    .map((l) => decodeResource('listener', encodeResource('listener', l)))
    .flatMap((l) => l.filterChains.map((c) => c.filter))
    .filter((f): f is HttpConnectionManager => f.kind === 'http');
  expect(hcms.length).toBeGreaterThan(0);
  return compileRbac(hcms[0]!.httpFilters.flatMap((f) => (f.kind === 'rbac' && f.rules ? [f.rules] : [])));
}

const policy = (action: string, rules: string) => `apiVersion: tsmesh.io/v1alpha1
kind: AuthorizationPolicy
metadata: { name: p, namespace: shop }
spec:
  action: ${action}
  rules:
${rules}`;

const req = (path: string, opts: { method?: string; principal?: string; headers?: Record<string, string> } = {}) => ({
  path,
  method: opts.method ?? 'GET',
  principal: opts.principal,
  header: (n: string) => (n === ':authority' ? (opts.headers?.[':authority'] ?? 'api.shop:8080') : opts.headers?.[n]),
});
const allowed = (e: RbacEngine, r: ReturnType<typeof req>) => e.evaluate(r).allowed;

describe('AuthorizationPolicy, Istio forms', () => {
  it('DENY with notNamespaces: everyone outside shop and ops is refused', () => {
    const e = engineFor(policy('DENY', '    - from: [{ source: { notNamespaces: [shop, ops] } }]'));
    expect(allowed(e, req('/', { principal: sa('shop', 'web') }))).toBe(true);
    expect(allowed(e, req('/', { principal: sa('ops', 'probe') }))).toBe(true);
    expect(allowed(e, req('/', { principal: sa('other', 'x') }))).toBe(false);
    expect(allowed(e, req('/'))).toBe(false); // plaintext: no namespace at all
  });

  it('ALLOW with notPaths, notMethods and path suffixes', () => {
    const e = engineFor(policy('ALLOW', `    - to: [{ operation: { notPaths: ["/admin/*", "*.bak"], notMethods: [DELETE] } }]`));
    expect(allowed(e, req('/items/1'))).toBe(true);
    expect(allowed(e, req('/admin/users'))).toBe(false);
    expect(allowed(e, req('/dump.bak'))).toBe(false);
    expect(allowed(e, req('/items/1', { method: 'DELETE' }))).toBe(false);
  });

  it('hosts match the authority case-insensitively, with or without a port', () => {
    const e = engineFor(policy('ALLOW', `    - to: [{ operation: { hosts: [api.shop, "*.example.com"] } }]`));
    for (const host of ['api.shop', 'API.Shop:8080', 'x.example.com', 'X.EXAMPLE.COM:443']) expect(allowed(e, req('/', { headers: { ':authority': host } })), host).toBe(true);
    for (const host of ['api.shopping', 'example.com.evil:80', 'other']) expect(allowed(e, req('/', { headers: { ':authority': host } })), host).toBe(false);
  });

  it('namespace wildcards and source.principal / request.headers conditions', () => {
    const e = engineFor(policy('ALLOW', `    - from: [{ source: { namespaces: ["team-*"] } }]
      when:
        - { key: "request.headers[X-Env]", values: ["prod*"] }
        - { key: source.principal, notValues: ["cluster.local/ns/team-b/sa/intern"] }`));
    const headers = { 'x-env': 'production' };
    expect(allowed(e, req('/', { principal: sa('team-a', 'svc'), headers }))).toBe(true);
    expect(allowed(e, req('/', { principal: sa('team-a', 'svc'), headers: { 'x-env': 'dev' } }))).toBe(false);
    expect(allowed(e, req('/', { principal: sa('team-a', 'svc') }))).toBe(false);
    expect(allowed(e, req('/', { principal: sa('team-b', 'intern'), headers }))).toBe(false);
    expect(allowed(e, req('/', { principal: sa('other', 'svc'), headers }))).toBe(false);
  });

  it('a suffix namespace wildcard stays inside the namespace segment', () => {
    const e = engineFor(policy('ALLOW', '    - from: [{ source: { namespaces: ["*-prod"] } }]'));
    expect(allowed(e, req('/', { principal: sa('shop-prod', 'a') }))).toBe(true);
    expect(allowed(e, req('/', { principal: sa('shop-dev', 'a-prod') }))).toBe(false);
  });
});

describe('AuthorizationPolicy validation of the Istio forms', () => {
  it('names each bad field by line', () => {
    expect(
      refusalLines(
        policy(
          'DENY',
          `    - from: [{ source: { notNamespaces: ["Bad_NS"] } }]
      to: [{ operation: { notMethods: [FETCH], paths: ["no-slash"] } }]
      when:
        - { key: source.ip, values: ["10.0.0.1"] }
        - { key: "request.headers[x-a]" }`,
        ),
        'authz.yaml',
      ),
    ).toEqual([
      'authz.yaml:7: spec.rules[0].from[0].source.notNamespaces[0]: "Bad_NS" is not valid (a namespace name, "*" as prefix/suffix wildcard)',
      'authz.yaml:8: spec.rules[0].to[0].operation.notMethods[0]: unknown HTTP method "FETCH"',
      'authz.yaml:8: spec.rules[0].to[0].operation.paths[0]: "no-slash" is not valid (an absolute path; a trailing "*" makes it a prefix, a leading "*" a suffix)',
      'authz.yaml:10: spec.rules[0].when[0].key: "source.ip" is not valid (supported keys: request.headers[<name>], source.principal, source.namespace)',
      'authz.yaml:11: spec.rules[0].when[1]: must set values or notValues',
    ]);
  });
});

describe('scoping by the Istio forms', () => {
  // api (namespace shop) is protected by an ALLOW policy; which callers get its config without asking?
  function clustersOf(callerNs: string, rules: string): string[] {
    const registry = new EmbeddedRegistry();
    registry.registerFromNode({ id: 'api-0', cluster: 'api', metadata: { namespace: 'shop', inboundAddress: '10.0.0.2', inboundPort: 15006, appPort: 8080, protocol: 'http' } });
    const md = { namespace: callerNs, inboundAddress: '10.0.0.3', inboundPort: 15006, appPort: 8080, protocol: 'http' };
    registry.registerFromNode({ id: 'web-0', cluster: 'web', metadata: md });
    const node = readNodeRegistration({ id: 'web-0', cluster: 'web', metadata: md });
    const policies = parsePolicies(policy('ALLOW', rules), 'authz.yaml').map((s) => s.policy);
    return [...translate({ policies, registry, mesh: DEFAULT_MESH_CONFIG, node, dependencies: new Set() }).cluster.keys()].filter((c) => c.startsWith('outbound|'));
  }

  it('a namespace wildcard names its callers; a not* field that excludes them, or names only by exclusion, does not', () => {
    expect(clustersOf('team-a', '    - from: [{ source: { namespaces: ["team-*"] } }]')).toEqual(['outbound|8080||api.shop.svc.cluster.local']);
    expect(clustersOf('other', '    - from: [{ source: { namespaces: ["team-*"] } }]')).toEqual([]);
    expect(clustersOf('team-a', '    - from: [{ source: { namespaces: ["team-*"], notNamespaces: [team-a] } }]')).toEqual([]);
    expect(clustersOf('team-a', '    - from: [{ source: { notNamespaces: [team-b] } }]')).toEqual([]);
  });
});
