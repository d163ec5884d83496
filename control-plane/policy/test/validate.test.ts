import { describe, expect, it } from 'vitest';
import { parsePolicies } from '../parse.js';
import { crossCheck } from '../cross-check.js';
import { refusalOf } from './refusal.js';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { parseServicesFile } from '../../registry/file-source.js';

const errorOf = refusalOf;

const registry = new EmbeddedRegistry();
registry.setStaticEntries(
  parseServicesFile(
    `services:
  - name: reviews
    ports: [{ port: 9080 }]
    endpoints:
      - { address: 10.0.0.2, inboundPort: 15006, labels: { version: v1 } }
      - { address: 10.0.0.3, inboundPort: 15006, labels: { version: v2 } }
`,
    'svc.yaml',
    'cluster.local',
  ),
);

describe('policy validation', () => {
  it('accepts a full HTTPRoute with Gateway API field names', () => {
    const [p] = parsePolicies(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: prod }
spec:
  parentRefs: [{ group: "", kind: Service, name: reviews, port: 9080 }]
  rules:
    - matches:
        - path: { type: Exact, value: /a }
          headers: [{ name: X-A, value: b }, { type: RegularExpression, name: x-b, value: "^v[0-9]+$" }]
          queryParams: [{ name: q, value: "1" }]
          method: GET
      filters:
        - type: URLRewrite
          urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /v2 } }
        - type: RequestMirror
          requestMirror: { backendRef: { name: reviews-v2, port: 9080 }, percent: 10 }
      backendRefs: [{ name: reviews-v1, port: 9080, weight: 90 }, { name: reviews-v2, port: 9080, weight: 10 }]
      timeouts: { request: 5s, backendRequest: 1s }
      retry: { codes: [503], attempts: 2, backoff: 50ms }
`);
    expect(p!.policy.kind).toBe('HTTPRoute');
    expect(p!.policy.metadata.namespace).toBe('prod');
    const spec = p!.policy.spec as import('../types.js').HttpRouteSpec;
    expect(spec.rules[0]!.matches[0]!.headers[0]).toEqual({ type: 'Exact', name: 'x-a', value: 'b' });
    expect(spec.rules[0]!.timeouts).toEqual({ request: 5000, backendRequest: 1000 });
    expect(spec.rules[0]!.retry).toEqual({ codes: [503], attempts: 2, backoff: 50 });
    expect(spec.rules[0]!.filters[1]).toEqual({ type: 'RequestMirror', requestMirror: { backendRef: { group: '', kind: 'Service', name: 'reviews-v2', namespace: undefined, port: 9080 }, percent: 10 } });
  });

  it('reports every problem with file:line and field path', () => {
    const msg = errorOf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: Bad_Name
spec:
  parentRefs: [{ kind: Gateway, name: gw }]
  rules:
    - backendRefs:
        - name: reviews
          weight: -1
      timeouts: { request: soon }
      retri: { attempts: 2 }
`);
    expect(msg).toBe(
      [
        'invalid policy (5 problems):',
        '  p.yaml:4: metadata.name: "Bad_Name" is not valid (lower-case letters, digits, "-" and "."; must start and end with a letter or digit)',
        '  p.yaml:6: spec.parentRefs[0].kind: tsmesh routes attach to a Service (kind: Service, group: "") or a ServiceEntry (group: networking.istio.io); got kind "Gateway"',
        '  p.yaml:12: spec.rules[0].retri: unknown field (expected one of: name, matches, filters, backendRefs, timeouts, retry, sessionPersistence)',
        '  p.yaml:10: spec.rules[0].backendRefs[0].weight: must be ≥ 0, got -1',
        '  p.yaml:11: spec.rules[0].timeouts.request: must be a duration like "250ms", "1.5s" or "1m", got "soon"',
      ].join('\n'),
    );
  });

  it('rejects unknown kinds and wrong apiVersions, naming the document line', () => {
    const msg = errorOf(`apiVersion: tsmesh.io/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: x }
---
apiVersion: tsmesh.io/v1
kind: DestinationPolicy
metadata: { name: d }
spec: { targetRef: { name: reviews }, loadBalancer: { type: RING_HASH } }
`);
    expect(msg).toBe(
      [
        'invalid policy (3 problems):',
        '  p.yaml:6: kind: unknown kind "VirtualService" (supported: HTTPRoute, GRPCRoute, DestinationPolicy, AuthorizationPolicy, PeerAuthentication, FaultPolicy, RateLimitPolicy, ServiceEntry, MeshConfig, Canary)',
        '  p.yaml:9: apiVersion: DestinationPolicy must have apiVersion tsmesh.io/v1alpha1; got "tsmesh.io/v1"',
        '  p.yaml:12: spec.loadBalancer.hashKey: is required when type is RING_HASH',
      ].join('\n'),
    );
  });

  it('reports YAML syntax errors with their line', () => {
    expect(errorOf('kind: HTTPRoute\nmetadata: { name: a\n')).toMatch(/^invalid YAML in p\.yaml \(1 problem\):\n  p\.yaml:\d+: YAML syntax error: /);
  });

  it("reads MeshConfig's tracing sampling, and refuses a bad one by line and field", () => {
    const [p] = parsePolicies('apiVersion: tsmesh.io/v1alpha1\nkind: MeshConfig\nmetadata: { name: m }\nspec:\n  tracing: { randomSamplingPercentage: 12.5 }\n', 'p.yaml');
    expect(p!.policy.spec).toMatchObject({ tracing: { randomSamplingPercentage: 12.5 } });
    expect(errorOf('apiVersion: tsmesh.io/v1alpha1\nkind: MeshConfig\nmetadata: { name: m }\nspec:\n  tracing:\n    randomSamplingPercentage: 150\n')).toMatch(
      /p\.yaml:6: spec\.tracing\.randomSamplingPercentage: must be ≤ 100, got 150/,
    );
    expect(errorOf('apiVersion: tsmesh.io/v1alpha1\nkind: MeshConfig\nmetadata: { name: m }\nspec:\n  tracing: { sampling: 5 }\n')).toMatch(/spec\.tracing\.sampling/);
  });

  it("reads MeshConfig's access log encoding and format, and refuses a format the sidecars could not write, by line", () => {
    const mc = (spec: string) => `apiVersion: tsmesh.io/v1alpha1\nkind: MeshConfig\nmetadata: { name: m }\nspec:\n${spec}`;
    const [p] = parsePolicies(mc('  accessLogFile: /dev/stdout\n  accessLogEncoding: JSON\n  accessLogFormat: \'{"code": "%RESPONSE_CODE%"}\'\n'), 'p.yaml');
    expect(p!.policy.spec).toMatchObject({ accessLogFile: '/dev/stdout', accessLogEncoding: 'JSON', accessLogFormat: '{"code": "%RESPONSE_CODE%"}' });
    expect(errorOf(mc('  accessLogFile: /dev/stdout\n  accessLogFormat: "%RESPONSE_CODE% %REQ()%"\n'))).toMatch(/p\.yaml:6: spec\.accessLogFormat: %REQ\(HEADER\)% needs a header name \(column 17\)/);
    expect(errorOf(mc('  accessLogEncoding: JSON\n  accessLogFormat: "%RESPONSE_CODE%"\n'))).toMatch(/p\.yaml:6: spec\.accessLogFormat: with accessLogEncoding JSON, must be a JSON object of field names to format strings/);
    expect(errorOf(mc('  accessLogEncoding: JSON\n  accessLogFormat: \'{"a": {"b": "%NOPE%"}}\'\n'))).toMatch(/spec\.accessLogFormat: a\.b: unknown or unsupported command operator %NOPE%/);
    expect(errorOf(mc('  accessLogEncoding: XML\n'))).toMatch(/spec\.accessLogEncoding/);
  });

  it('validates AuthorizationPolicy, MeshConfig and Canary fields', () => {
    const msg = errorOf(`apiVersion: tsmesh.io/v1alpha1
kind: AuthorizationPolicy
metadata: { name: a }
spec:
  action: AUDIT
  rules:
    - to: [{ operation: { methods: [FETCH] } }]
---
apiVersion: tsmesh.io/v1alpha1
kind: MeshConfig
metadata: { name: m }
spec: { mtls: { mode: OFF }, certificateTtl: 1s }
---
apiVersion: tsmesh.io/v1alpha1
kind: Canary
metadata: { name: c }
spec:
  targetRef: { name: reviews }
  service: reviews
  stableBackend: { name: reviews-v1 }
  canaryBackend: { name: reviews-v1 }
  steps: [10, 5]
  interval: 30s
  analysis: { failureLimit: 2 }
`);
    expect(msg).toBe(
      [
        'invalid policy (7 problems):',
        '  p.yaml:5: spec.action: must be one of ALLOW, DENY; got "AUDIT"',
        '  p.yaml:7: spec.rules[0].to[0].operation.methods[0]: unknown HTTP method "FETCH"',
        '  p.yaml:12: spec.mtls.mode: must be one of STRICT, PERMISSIVE; got "OFF"',
        '  p.yaml:12: spec.certificateTtl: must be at least 60000ms',
        '  p.yaml:21: spec.canaryBackend.name: must differ from stableBackend.name',
        '  p.yaml:22: spec.steps[1]: weights must increase; 5 follows 10',
        '  p.yaml:24: spec.analysis: must set successRate or p99',
      ].join('\n'),
    );
  });

  it('cross-checks references and duplicates against the registry', () => {
    const batch = parsePolicies(
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ kind: Service, name: reviews, port: 9080 }]
  rules:
    - backendRefs: [{ name: reviews-v2, port: 9080 }, { name: ratings, port: 9080 }, { name: reviews-v3 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ kind: Service, name: reviews, port: 8080 }]
`,
      'x.yaml',
    );
    const issues = crossCheck(batch, [], registry).map((i) => `${i.file}:${i.line}: ${i.path}: ${i.message}`);
    expect(issues).toEqual([
      'x.yaml:11: metadata.name: duplicate HTTPRoute "default/r" in this apply (first at x.yaml:1)',
      'x.yaml:7: spec.rules[0].backendRefs[1].name: Service "default/ratings" is not in the registry (known: default/reviews)',
      'x.yaml:7: spec.rules[0].backendRefs[2].name: Service "default/reviews-v3" is not in the registry (known: default/reviews)',
      'x.yaml:13: spec.parentRefs[0].port: Service "default/reviews" has no port 8080 (ports: 9080)',
    ]);
  });
});

describe('policy streams', () => {
  it('skips empty documents (a leading, doubled or trailing ---), as kubectl does', () => {
    const one = 'apiVersion: tsmesh.io/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec: {}\n';
    expect(parsePolicies(`---\n${one}---\n---\n`, 'p.yaml').map((s) => s.policy.kind)).toEqual(['MeshConfig']);
    expect(parsePolicies('---\n', 'p.yaml')).toEqual([]);
  });
});

describe('policy validation, more kinds', () => {
  it('GRPCRoute, DestinationPolicy and URLRewrite rules', () => {
    const msg = errorOf(`apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: g }
spec:
  parentRefs: [{ kind: Service, name: store }]
  rules:
    - matches: [{ method: { service: "shop Store" } }, { method: {} }]
      filters: [{ type: URLRewrite, urlRewrite: { hostname: x } }]
---
apiVersion: tsmesh.io/v1alpha1
kind: DestinationPolicy
metadata: { name: d }
spec:
  targetRef: { kind: Service, name: api }
  loadBalancer: { type: ROUND_ROBIN, choiceCount: 3 }
  outlierDetection: { baseEjectionTime: 30s, maxEjectionTime: 10s }
  retryBudget: { percent: 120 }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: rw }
spec:
  parentRefs: [{ kind: Service, name: api }]
  rules:
    - matches: [{ path: { type: Exact, value: /a } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /b } } }]
      backendRefs: [{ name: api }]
`);
    expect(msg).toBe(
      [
        'invalid policy (7 problems):',
        '  p.yaml:7: spec.rules[0].matches[0].method.service: "shop Store" is not a gRPC service name',
        '  p.yaml:7: spec.rules[0].matches[1].method: must set service or method',
        '  p.yaml:8: spec.rules[0].filters[0].type: must be one of RequestHeaderModifier, ResponseHeaderModifier, RequestMirror; got "URLRewrite"',
        '  p.yaml:15: spec.loadBalancer.choiceCount: only applies to type LEAST_REQUEST',
        '  p.yaml:16: spec.outlierDetection.maxEjectionTime: must be ≥ baseEjectionTime (30000ms)',
        '  p.yaml:17: spec.retryBudget.percent: must be ≤ 100, got 120',
        '  p.yaml:26: spec.rules[0].filters[0].urlRewrite.path: ReplacePrefixMatch needs every match of the rule to be a PathPrefix match',
      ].join('\n'),
    );
  });

  it('RequestRedirect rules: status, scheme, host, path, and what it cannot be combined with', () => {
    const msg = errorOf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: moved }
spec:
  parentRefs: [{ kind: Service, name: api }]
  rules:
    - filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 305, scheme: ftp, hostname: "*.example.com", port: 0 } }]
    - matches: [{ path: { type: Exact, value: /a } }]
      filters:
        - { type: RequestRedirect, requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /b } } }
        - { type: URLRewrite, urlRewrite: { hostname: b } }
    - backendRefs: [{ name: api, filters: [{ type: RequestRedirect, requestRedirect: { port: 8080 } }] }]
`);
    expect(msg).toBe(
      [
        'invalid policy (7 problems):',
        '  p.yaml:7: spec.rules[0].filters[0].requestRedirect.statusCode: must be one of 301, 302, 303, 307, 308; got 305',
        '  p.yaml:7: spec.rules[0].filters[0].requestRedirect.scheme: must be one of http, https; got "ftp"',
        '  p.yaml:7: spec.rules[0].filters[0].requestRedirect.hostname: "*.example.com" is not valid (a DNS host name without wildcard)',
        '  p.yaml:7: spec.rules[0].filters[0].requestRedirect.port: must be ≥ 1, got 0',
        '  p.yaml:10: spec.rules[1].filters[0].requestRedirect.path: ReplacePrefixMatch needs every match of the rule to be a PathPrefix match',
        '  p.yaml:10: spec.rules[1].filters[0]: RequestRedirect and URLRewrite cannot both be set on one rule (Gateway API)',
        '  p.yaml:12: spec.rules[2].backendRefs[0].filters[0].type: must be one of RequestHeaderModifier, ResponseHeaderModifier; got "RequestRedirect"',
      ].join('\n'),
    );
  });
});
