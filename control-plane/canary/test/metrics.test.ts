import { describe, expect, it } from 'vitest';
import { analyzeWindow, countersFor, quantile } from '../metrics.js';
import { currentCanaryWeight, setCanaryWeight } from '../route-weights.js';

const series = (version: string, code: string, n: number, reporter = 'destination') =>
  `istio_requests_total{reporter="${reporter}",destination_service_name="api",destination_version="${version}",response_code="${code}"} ${n}`;
const bucket = (version: string, le: string, n: number) =>
  `istio_request_duration_milliseconds_bucket{reporter="destination",destination_service_name="api",destination_version="${version}",le="${le}"} ${n}`;

describe('canary analysis from Prometheus text', () => {
  it('sums one version across sidecars, counts 5xx, ignores the client side and other versions', () => {
    const a = ['# TYPE istio_requests_total counter', series('v2', '200', 90), series('v2', '503', 10), series('v1', '500', 50), series('v2', '500', 999, 'source')].join('\n');
    const b = [series('v2', '200', 100)].join('\n');
    const c = countersFor([a, b], 'api', 'v2');
    expect([c.requests, c.errors]).toEqual([200, 10]);
  });

  it('a window is the difference of two scrapes; p99 interpolates inside its bucket', () => {
    const before = countersFor([[series('v2', '200', 100), bucket('v2', '10', 100), bucket('v2', '100', 100), bucket('v2', '+Inf', 100)].join('\n')], 'api', 'v2');
    const after = countersFor([[series('v2', '200', 190), series('v2', '500', 10), bucket('v2', '10', 150), bucket('v2', '100', 200), bucket('v2', '+Inf', 200)].join('\n')], 'api', 'v2');
    const w = analyzeWindow(before, after);
    expect(w.requests).toBe(100);
    expect(w.successRate).toBe(90);
    // 100 new samples: 50 ≤ 10 ms, 50 in (10, 100]; rank 99 → 10 + 90 × 49/50
    expect(w.p99Ms).toBeCloseTo(98.2, 5);
    expect(analyzeWindow(after, after)).toEqual({ requests: 0 });
  });

  it('quantile falls back to the highest finite bound in the +Inf bucket (as histogram_quantile)', () => {
    expect(quantile(0.99, [[100, 1], [Infinity, 100]])).toBe(100);
  });
});

describe('route weights', () => {
  const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Service, name: api }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /admin } }]
      backendRefs: [{ name: admin, port: 80 }]
    - backendRefs:
        - { name: api-v1, port: 9080, weight: 100 }
`;
  it('adds the canary backend next to the stable one and splits the weight; other rules untouched', () => {
    const out = setCanaryWeight(route, { name: 'api-v1', port: 9080 }, { name: 'api-v2', port: 9080 }, 25);
    expect(out).toContain('name: admin');
    expect(currentCanaryWeight(out, 'api-v1', 'api-v2')).toBe(25);
    expect(currentCanaryWeight(setCanaryWeight(out, { name: 'api-v1' }, { name: 'api-v2' }, 0), 'api-v1', 'api-v2')).toBe(0);
  });
  it('refuses a route that never sends traffic to either backend', () => {
    expect(() => setCanaryWeight(route, { name: 'x-v1' }, { name: 'x-v2' }, 10)).toThrow(/no rule with backend x-v1 or x-v2/);
  });
});

describe('testers\' header route', () => {
  const route = `kind: HTTPRoute
metadata: { name: api }
spec:
  rules:
    - backendRefs: [{ name: api-v1, port: 9080, weight: 100 }]
`;
  it('goes first while the canary progresses, leaves the split alone, and is removed at the end', async () => {
    const { parse } = await import('yaml');
    const { setTesterRule } = await import('../route-weights.js');
    const hdr = [{ type: 'Exact', name: 'x-canary', value: 'always' }];
    const on = setTesterRule(setCanaryWeight(route, { name: 'api-v1' }, { name: 'api-v2', port: 9080 }, 10), 'api-v1', { name: 'api-v2', port: 9080 }, hdr, true);
    const rules = (parse(on) as { spec: { rules: { matches?: unknown[]; backendRefs: { name: string }[] }[] } }).spec.rules;
    expect(rules[0]).toEqual({ matches: [{ headers: hdr }], backendRefs: [{ name: 'api-v2', port: 9080 }] });
    expect(currentCanaryWeight(on, 'api-v1', 'api-v2')).toBe(10);
    const next = setCanaryWeight(on, { name: 'api-v1' }, { name: 'api-v2' }, 50);
    expect((parse(next) as { spec: { rules: unknown[] } }).spec.rules[0]).toEqual(rules[0]);
    const off = setTesterRule(next, 'api-v1', { name: 'api-v2' }, hdr, false);
    expect((parse(off) as { spec: { rules: unknown[] } }).spec.rules).toHaveLength(1);
    expect(currentCanaryWeight(off, 'api-v1', 'api-v2')).toBe(50);
  });
});
