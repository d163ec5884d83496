// Policy over the mesh with real processes: an HTTPRoute applied through the
// admin API shifts live traffic by weight without a failed request, an
// AuthorizationPolicy denies a caller (403 MESH_RBAC_DENIED), and a control
// plane that dies leaves the last good config serving; restarted, the
// sidecars re-sync. Needs the build: `npx tsc -p .` first.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Load, Mesh, eventually, get, type SidecarProc } from './mesh-harness.js';

const route = (v1: number, v2: number) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: b }
spec:
  parentRefs: [{ group: "", kind: Service, name: b, port: 8080 }]
  rules:
    - backendRefs:
        - { name: b-v1, port: 8080, weight: ${v1} }
        - { name: b-v2, port: 8080, weight: ${v2} }
`;

/** Only b-v1: a's sidecar then has no cluster for b-v2 (scoping follows the route's backends). */
const routeV1Only = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: b }
spec:
  parentRefs: [{ group: "", kind: Service, name: b, port: 8080 }]
  rules:
    - backendRefs: [{ name: b-v1, port: 8080 }]
`;

async function clusterNames(admin: number): Promise<string[]> {
  const dump = (await (await request(`http://127.0.0.1:${admin}/config_dump?resource=cluster`)).body.json()) as { configs: { resources: { name: string }[] }[] };
  return dump.configs[0]!.resources.map((r) => r.name);
}

describe('mesh policy through the admin API', () => {
  const mesh = new Mesh();
  let a: SidecarProc;
  let bs: SidecarProc[];

  beforeAll(async () => {
    // Service b (what callers address) has no workloads of its own; b-v1 and b-v2 are its per-version Services.
    const services = join(mesh.dir, 'services.yaml');
    writeFileSync(services, 'services:\n  - name: b\n    ports: [{ port: 8080, protocol: http }]\n');
    await mesh.startControlPlane(['--services-file', services]);
    const [appA, b1, b2] = await Promise.all([mesh.app('a'), mesh.app('b-v1'), mesh.app('b-v2')]);
    let b1s: SidecarProc, b2s: SidecarProc;
    [a, b1s, b2s] = await Promise.all([
      mesh.sidecar('a', 'v1', appA),
      mesh.sidecar('b', 'v1', b1, { registerAs: 'b-v1' }),
      mesh.sidecar('b', 'v2', b2, { registerAs: 'b-v2' }),
    ]);
    bs = [b1s, b2s];
    await mesh.waitConnected(3);
    await mesh.admin.apply(route(100, 0));
    await eventually('a → b-v1 only', async () => {
      const r = await get(a.outbound, 'b:8080');
      if (r.status !== 200 || !r.body.includes('"app":"b-v1"')) throw new Error(`${r.status} ${r.body.slice(0, 80)}`);
    });
  }, 20_000);
  afterAll(() => mesh.close());

  it('shifts live traffic 90/10 across b-v1/b-v2 with no failed request', async () => {
    const load = new Load(a.outbound, 'b:8080');
    load.start();
    try {
      await eventually('load flowing', async () => expect(load.byApp.get('b-v1') ?? 0).toBeGreaterThan(20));
      expect(load.byApp.get('b-v2') ?? 0).toBe(0);
      await mesh.admin.apply(route(90, 10));
      await eventually('b-v2 gets traffic', async () => expect(load.byApp.get('b-v2') ?? 0).toBeGreaterThan(0));
      load.resetCounts();
      await eventually('enough samples', async () => expect((load.byApp.get('b-v1') ?? 0) + (load.byApp.get('b-v2') ?? 0)).toBeGreaterThanOrEqual(400), 15_000);
    } finally {
      await load.stop();
    }
    expect(load.failures).toEqual([]);
    const v2 = load.byApp.get('b-v2') ?? 0;
    const share = v2 / (v2 + (load.byApp.get('b-v1') ?? 0));
    // 10% of ≥400 samples: well inside 3–20% unless the weights are ignored.
    expect(share).toBeGreaterThan(0.03);
    expect(share).toBeLessThan(0.2);
  }, 25_000);

  // Envoy's cluster warming: a route may only send traffic to a cluster once its endpoints are known. The
  // control plane pushes the new cluster, then endpoints for the names the proxy subscribed to so far, then
  // the route; the proxy must not apply the route while the new cluster's endpoints are still on their way.
  it('a backend new to the caller takes traffic without a failed request (the route waits for its endpoints)', async () => {
    const load = new Load(a.outbound, 'b:8080', 8);
    load.start();
    try {
      for (let round = 0; round < 4; round++) {
        await mesh.admin.apply(routeV1Only);
        await eventually('b-v2 gone from a', async () => expect((await clusterNames(a.admin)).some((n) => n.includes('b-v2'))).toBe(false));
        await mesh.admin.apply(route(50, 50));
        load.resetCounts();
        await eventually('b-v2 gets traffic', async () => expect(load.byApp.get('b-v2') ?? 0).toBeGreaterThan(10));
      }
    } finally {
      await load.stop();
    }
    expect(load.failures).toEqual([]);
  }, 40_000);

  it('an AuthorizationPolicy denying A answers 403 MESH_RBAC_DENIED; removing it restores access', async () => {
    await mesh.admin.apply(`apiVersion: tsmesh.io/v1alpha1
kind: AuthorizationPolicy
metadata: { name: deny-a }
spec:
  selector: { matchLabels: { app: b } }
  action: DENY
  rules:
    - from: [{ source: { principals: [cluster.local/ns/default/sa/a] } }]
`);
    const denied = await eventually('A denied', async () => {
      const r = await get(a.outbound, 'b:8080', '/secret');
      if (r.status !== 403) throw new Error(`got ${r.status}`);
      return r;
    });
    expect(denied.headers['x-tsmesh-error']).toBe('MESH_RBAC_DENIED');
    // The denial is in B's metrics with Envoy's UAEX flag and the caller's verified identity.
    const metrics = (await Promise.all(bs.map(async (s) => (await request(`http://127.0.0.1:${s.admin}/stats/prometheus`)).body.text()))).join('\n');
    const line = metrics.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('response_code="403"'));
    expect(line).toBeDefined();
    expect(line).toContain('response_flags="UAEX"');
    expect(line).toContain('source_principal="spiffe://cluster.local/ns/default/sa/a"');
    await mesh.admin.delete({ kind: 'AuthorizationPolicy', namespace: 'default', name: 'deny-a' });
    await eventually('A allowed again', async () => expect((await get(a.outbound, 'b:8080')).status).toBe(200));
  }, 20_000);

  it('an HTTPRoute RequestRedirect is answered by the caller\'s sidecar; a URLRewrite strips a prefix', async () => {
    await mesh.admin.apply(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: b }
spec:
  parentRefs: [{ group: "", kind: Service, name: b, port: 8080 }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /old } }]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /new }, statusCode: 301 } }]
    - matches: [{ path: { type: PathPrefix, value: /strip-prefix } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: / } } }]
      backendRefs: [{ name: b-v1, port: 8080 }]
    - backendRefs: [{ name: b-v1, port: 8080 }]
`);
    const moved = await eventually('redirect route', async () => {
      const r = await get(a.outbound, 'b:8080', '/old/page?x=1');
      if (r.status !== 301) throw new Error(`got ${r.status}`);
      return r;
    });
    expect(moved.headers.location).toBe('http://b:8080/new/page?x=1');
    // The redirect never reached b: b's sidecars counted no request for it.
    const metrics = (await Promise.all(bs.map(async (s) => (await request(`http://127.0.0.1:${s.admin}/stats/prometheus`)).body.text()))).join('\n');
    expect(metrics).not.toContain('response_code="301"');
    const stripped = JSON.parse((await get(a.outbound, 'b:8080', '/strip-prefix/three?y=2')).body) as { app: string; url: string };
    expect(stripped).toMatchObject({ app: 'b-v1', url: '/three?y=2' });
    expect(JSON.parse((await get(a.outbound, 'b:8080', '/strip-prefix')).body).url).toBe('/');
  }, 20_000);

  it("a FaultPolicy aborts the requests it selects at the caller's sidecar; a RateLimitPolicy answers 429 at the Service's", async () => {
    await mesh.admin.apply(`apiVersion: tsmesh.io/v1alpha1
kind: FaultPolicy
metadata: { name: chaos }
spec:
  targetRef: { kind: Service, name: b }
  abort: { httpStatus: 503 }
  headers: [{ name: x-chaos, value: "on" }]
`);
    const aborted = await eventually('fault abort', async () => {
      const r = await get(a.outbound, 'b:8080', '/x', { 'x-chaos': 'on' });
      if (r.status !== 503) throw new Error(`got ${r.status}`);
      return r;
    });
    expect(aborted.headers['x-tsmesh-error']).toBe('MESH_FAULT_ABORT');
    expect((await get(a.outbound, 'b:8080', '/x')).status).toBe(200); // no header: not selected
    await mesh.admin.apply(`apiVersion: tsmesh.io/v1alpha1
kind: RateLimitPolicy
metadata: { name: b-v1-limit }
spec:
  targetRef: { kind: Service, name: b-v1 }
  local: { requests: 3, unit: Minute }
`);
    // The bucket holds 3: once it is applied, at most 3 more requests get through this minute.
    const limited = await eventually('rate limited', async () => {
      const r = await get(a.outbound, 'b:8080', '/x');
      if (r.status !== 429) throw new Error(`got ${r.status}`);
      return r;
    });
    expect(limited.headers['x-tsmesh-error']).toBe('MESH_RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // Counted by b-v1's sidecar (the server side), with Envoy's RL flag.
    const metrics = (await (await request(`http://127.0.0.1:${bs[0]!.admin}/stats/prometheus`)).body.text()).split('\n');
    expect(metrics.some((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="destination"') && l.includes('response_code="429"') && l.includes('response_flags="RL"'))).toBe(true);
    await mesh.admin.delete({ kind: 'RateLimitPolicy', namespace: 'default', name: 'b-v1-limit' });
    await mesh.admin.delete({ kind: 'FaultPolicy', namespace: 'default', name: 'chaos' });
    await eventually('policies gone', async () => {
      expect((await get(a.outbound, 'b:8080', '/x')).status).toBe(200);
      expect((await get(a.outbound, 'b:8080', '/x', { 'x-chaos': 'on' })).status).toBe(200);
    });
  }, 20_000);

  it('keeps serving the last good config while the control plane is down, and re-syncs after a restart', async () => {
    const load = new Load(a.outbound, 'b:8080');
    load.start();
    try {
      await mesh.killControlPlane();
      const before = load.total;
      await eventually('traffic while the control plane is down', async () => expect(load.total - before).toBeGreaterThan(100));
      await mesh.startControlPlane(undefined, mesh.xdsPort);
      await mesh.waitConnected(3, 15_000);
      // A change after the restart reaches the sidecars: they are live on the new control plane.
      await mesh.admin.apply(route(0, 100));
      load.resetCounts();
      await eventually('all traffic on b-v2', async () => {
        load.resetCounts();
        await new Promise((r) => setTimeout(r, 300));
        expect(load.byApp.get('b-v1') ?? 0).toBe(0);
        expect(load.byApp.get('b-v2') ?? 0).toBeGreaterThan(0);
      });
    } finally {
      await load.stop();
    }
    expect(load.failures).toEqual([]);
  }, 30_000);
});
