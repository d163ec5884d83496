// Gateway API path rewrites and redirects, through the whole control-plane
// path: HTTPRoute YAML → validation → translation → xDS wire → the proxy's
// route table, asked what it would forward or answer. The cases are the ones
// the Gateway API's mesh conformance suite checks (rewrite path, redirect
// path / port / scheme / status), against a Service "echo" on port 80 and one
// on 8080.

import { describe, expect, it } from 'vitest';
import { parsePolicies } from '../../policy/parse.js';
import { DEFAULT_MESH_CONFIG } from '../../policy/types.js';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { parseServicesFile } from '../../registry/file-source.js';
import { readNodeRegistration } from '../../registry/node-registration.js';
import { translate } from '../index.js';
import { OUTBOUND_ROUTE_CONFIG } from '../routes.js';
import { checkSnapshot } from '../../../proxy/config/check.js';
import { decodeResource, encodeResource } from '../../../proxy/xds/codec/index.js';
import { RouteTable, rewritePath } from '../../../proxy/router/route-table.js';
import { redirectLocation } from '../../../proxy/router/redirect.js';

const registryYaml = `
services:
  - name: echo
    namespace: mesh
    ports: [{ port: 80, protocol: http }]
    endpoints: [{ address: 10.0.0.1, inboundPort: 15006, appPort: 8080, serviceAccount: echo }]
  - name: echo-v1
    namespace: mesh
    ports: [{ port: 80, protocol: http }]
    endpoints: [{ address: 10.0.0.2, inboundPort: 15006, appPort: 8080, serviceAccount: echo }]
  - name: web
    namespace: mesh
    ports: [{ port: 8080, protocol: http }]
    endpoints: [{ address: 10.0.0.3, inboundPort: 15006, appPort: 8080, serviceAccount: web }]
`;

const rule = (prefix: string, filter: string, backends = '') => `
  - matches: [{ path: { type: PathPrefix, value: ${prefix} } }]
    filters:
    - ${filter}${backends}`;
const redirect = (prefix: string, body: string) => rule(prefix, `type: RequestRedirect\n      requestRedirect: ${body}`);
const rewrite = (prefix: string, body: string) => rule(prefix, `type: URLRewrite\n      urlRewrite: ${body}`, '\n    backendRefs: [{ name: echo-v1, port: 80 }]');

const policies = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: paths, namespace: mesh }
spec:
  parentRefs: [{ group: "", kind: Service, name: echo, port: 80 }]
  rules:${[
    rewrite('/prefix/one', '{ path: { type: ReplacePrefixMatch, replacePrefixMatch: /one } }'),
    rewrite('/strip-prefix', '{ path: { type: ReplacePrefixMatch, replacePrefixMatch: / } }'),
    rewrite('/slash-end', '{ path: { type: ReplacePrefixMatch, replacePrefixMatch: /xyz/ } }'),
    rewrite('/full/one', '{ path: { type: ReplaceFullPath, replaceFullPath: /one } }'),
    redirect('/port', '{ port: 8083 }'),
    redirect('/port-and-host', '{ hostname: example.org, port: 8083, statusCode: 301 }'),
    redirect('/scheme', '{ scheme: https }'),
    redirect('/scheme-and-host', '{ scheme: https, hostname: example.org, statusCode: 308 }'),
    redirect('/original-prefix', '{ path: { type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix } }'),
    redirect('/full/path', '{ path: { type: ReplaceFullPath, replaceFullPath: /full-path-replacement }, statusCode: 303 }'),
    redirect('/path-and-host', '{ hostname: example.org, path: { type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix }, statusCode: 307 }'),
  ].join('')}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web-moved, namespace: mesh }
spec:
  parentRefs: [{ group: "", kind: Service, name: web, port: 8080 }]
  rules:${redirect('/old', '{ path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } }')}
`;

function outboundTable(): RouteTable {
  const registry = new EmbeddedRegistry();
  registry.setStaticEntries(parseServicesFile(registryYaml, 'registry.yaml'));
  const node = readNodeRegistration({ id: 'client-0', cluster: 'client', metadata: { namespace: 'mesh', inboundAddress: '10.0.0.9', inboundPort: 15006, appPort: 8080, protocol: 'http' } });
  const parsed = parsePolicies(policies, 'paths.yaml').map((s) => s.policy);
  const resources = translate({ policies: parsed, registry, mesh: DEFAULT_MESH_CONFIG, node, dependencies: new Set(['mesh/echo', 'mesh/web']) });
  expect(checkSnapshot({ resources, versions: { listener: '1', routeConfiguration: '1', cluster: '1', clusterLoadAssignment: '1', secret: '1' } })).toEqual([]);
  // What a sidecar gets: the route configuration after the xDS wire.
  const rc = resources.routeConfiguration.get(OUTBOUND_ROUTE_CONFIG)!;
  return new RouteTable(decodeResource('routeConfiguration', encodeResource('routeConfiguration', rc)));
}

const table = outboundTable();
const facts = (path: string) => {
  const q = path.indexOf('?');
  return { method: 'GET', path: q < 0 ? path : path.slice(0, q), query: q < 0 ? '' : path.slice(q + 1), isGrpc: false, header: () => undefined };
};
const forwarded = (host: string, path: string) => {
  const f = facts(path);
  const r = table.route(host, f)!;
  expect(r.redirect).toBeUndefined();
  return rewritePath(r, f.path, f.query);
};
const answered = (host: string, path: string) => {
  const f = facts(path);
  const r = table.route(host, f)!;
  expect(r.redirect).toBeDefined();
  return { status: r.redirect!.status, location: redirectLocation(r.redirect!, { authority: host, path: f.path, query: f.query, scheme: 'http', matchedLength: r.pathValue.length }) };
};

describe('Gateway API URLRewrite paths, as a sidecar applies them', () => {
  it('replaces the matched prefix with one slash between the replacement and the rest', () => {
    expect(forwarded('echo', '/prefix/one/two')).toBe('/one/two');
    expect(forwarded('echo', '/strip-prefix/three')).toBe('/three');
    expect(forwarded('echo', '/strip-prefix')).toBe('/');
    expect(forwarded('echo', '/strip-prefix/three?x=1')).toBe('/three?x=1');
    expect(forwarded('echo', '/slash-end/bar')).toBe('/xyz/bar');
  });

  it('replaces the full path', () => {
    expect(forwarded('echo', '/full/one/two')).toBe('/one');
  });
});

describe('Gateway API RequestRedirect, as a sidecar answers it', () => {
  it('port: replaced, and the status defaults to 302', () => {
    expect(answered('echo', '/port')).toEqual({ status: 302, location: 'http://echo:8083/port' });
    expect(answered('echo', '/port-and-host')).toEqual({ status: 301, location: 'http://example.org:8083/port-and-host' });
  });

  it("scheme: the new scheme's well-known port, which the Location leaves out", () => {
    expect(answered('echo', '/scheme')).toEqual({ status: 302, location: 'https://echo/scheme' });
    expect(answered('echo.mesh.svc.cluster.local:80', '/scheme')).toEqual({ status: 302, location: 'https://echo.mesh.svc.cluster.local/scheme' });
    expect(answered('echo', '/scheme-and-host')).toEqual({ status: 308, location: 'https://example.org/scheme-and-host' });
  });

  it('path: prefix or whole path replaced, the query kept', () => {
    expect(answered('echo', '/original-prefix/lemon')).toEqual({ status: 302, location: 'http://echo/replacement-prefix/lemon' });
    expect(answered('echo', '/original-prefix/lemon?ripe=1')).toEqual({ status: 302, location: 'http://echo/replacement-prefix/lemon?ripe=1' });
    expect(answered('echo', '/full/path/original')).toEqual({ status: 303, location: 'http://echo/full-path-replacement' });
    expect(answered('echo', '/path-and-host')).toEqual({ status: 307, location: 'http://example.org/replacement-prefix' });
  });

  it("without scheme or port, the Location names the service's port", () => {
    expect(answered('web:8080', '/old/page')).toEqual({ status: 302, location: 'http://web:8080/new/page' });
    expect(answered('web', '/old/page')).toEqual({ status: 302, location: 'http://web:8080/new/page' });
  });
});
