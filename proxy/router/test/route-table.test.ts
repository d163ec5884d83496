import { describe, expect, it } from 'vitest';
import { RouteTable, pickCluster, rewritePath, type RequestFacts } from '../route-table.js';
import type { Route, RouteConfiguration, VirtualHost } from '../../config/resources.js';

const none = { requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] };
const route = (name: string, match: Partial<Route['match']>, action: Partial<NonNullable<Route['route']>> = { cluster: name }): Route => ({
  name,
  match: { caseSensitive: true, headers: [], queryParameters: [], ...match },
  route: { timeout: 15_000, requestMirrorPolicies: [], hashPolicy: [], ...action },
  ...none,
});
const vh = (name: string, domains: string[], routes: Route[]): VirtualHost => ({ name, domains, routes, ...none });
const facts = (path: string, headers: Record<string, string> = {}, method = 'GET'): RequestFacts => {
  const q = path.indexOf('?');
  return {
    method,
    path: q < 0 ? path : path.slice(0, q),
    query: q < 0 ? '' : path.slice(q + 1),
    isGrpc: (headers['content-type'] ?? '').startsWith('application/grpc'),
    header: (n) => (n === ':method' ? method : headers[n]),
  };
};

describe('route table', () => {
  const rc: RouteConfiguration = {
    name: 'rc',
    ...none,
    virtualHosts: [
      vh('exact', ['api.example.com', 'api.example.com:8080'], [route('api', { prefix: '/' })]),
      vh('suffix', ['*.example.com'], [route('wild', { prefix: '/' })]),
      vh('longer-suffix', ['*.svc.example.com'], [route('svc', { prefix: '/' })]),
      vh('prefix', ['internal.*'], [route('internal', { prefix: '/' })]),
      vh('any', ['*'], [
        route('sep', { pathSeparatedPrefix: '/docs' }),
        route('ci', { path: '/CaseLess', caseSensitive: false }),
        route('grpc', { prefix: '/', grpc: true }),
        route('q', { prefix: '/search', queryParameters: [{ name: 'lang', stringMatch: { exact: 'ts' } }] }),
        route('fallback', { prefix: '/' }),
      ]),
    ],
  };
  const t = new RouteTable(rc);
  const name = (authority: string, f: RequestFacts) => t.route(authority, f)?.name;

  it('picks virtual hosts by exact host (with or without port), longest wildcard, then *', () => {
    expect(name('API.example.com', facts('/'))).toBe('api');
    expect(name('api.example.com:8080', facts('/'))).toBe('api');
    expect(name('api.example.com:9999', facts('/'))).toBe('api');
    expect(name('x.example.com', facts('/'))).toBe('wild');
    expect(name('a.svc.example.com:80', facts('/'))).toBe('svc');
    expect(name('internal.corp', facts('/'))).toBe('internal');
    expect(name('other.org', facts('/x'))).toBe('fallback');
  });

  it('matches path-separated prefixes, case-insensitive paths, gRPC and query parameters', () => {
    expect(name('h', facts('/docs'))).toBe('sep');
    expect(name('h', facts('/docs/a'))).toBe('sep');
    expect(name('h', facts('/docsx'))).toBe('fallback');
    expect(name('h', facts('/caseless'))).toBe('ci');
    expect(name('h', facts('/svc/Method', { 'content-type': 'application/grpc+proto' }))).toBe('grpc');
    expect(name('h', facts('/search?lang=ts'))).toBe('q');
    expect(name('h', facts('/search?lang=go'))).toBe('fallback');
  });

  it('rewrites prefixes and regexes', () => {
    const r = new RouteTable({ name: 'r', ...none, virtualHosts: [vh('v', ['*'], [route('p', { prefix: '/v1/' }, { cluster: 'c', prefixRewrite: '/' }), route('x', { prefix: '/re/' }, { cluster: 'c', regexRewrite: { pattern: '/re/(\\d+)', substitution: '/num/\\1' } })])] });
    expect(rewritePath(r.route('h', facts('/v1/users'))!, '/v1/users', 'a=1')).toBe('/users?a=1');
    expect(rewritePath(r.route('h', facts('/re/42'))!, '/re/42', '')).toBe('/num/42');
  });

  it('skips zero-weight clusters and picks by weight', () => {
    const r = new RouteTable({
      name: 'w', ...none,
      virtualHosts: [vh('v', ['*'], [route('w', { prefix: '/' }, { weightedClusters: [{ name: 'a', weight: 0, ...none }, { name: 'b', weight: 1, ...none }] })])],
    });
    const cr = r.route('h', facts('/'))!;
    for (let i = 0; i < 50; i++) expect(pickCluster(cr).cluster).toBe('b');
  });
});
