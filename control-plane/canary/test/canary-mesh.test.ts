// Canaries run by the control plane with real processes on 127.0.0.1:
// mesh-control-plane, five mesh-proxy sidecars (a caller "web" and api v1–v4)
// over CA-issued mTLS, apps in this process, steady traffic web → api. The
// analysis reads the sidecars' own metrics at the admin address each one
// reports in its node metadata.

import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CanaryStatus } from '../../admin/canary-routes.js';
import { eventually, get, Mesh, type App, type SidecarProc } from '../../../proxy/test/mesh-harness.js';

const meshctlBin = join(import.meta.dirname, '..', '..', '..', 'dist', 'meshctl', 'main.js');
const mesh = new Mesh();
let web: SidecarProc;
/** Requests each api version's app answered, and the hosts it saw. */
const served = new Map<string, { count: number; hosts: Set<string> }>();
/** What the callers got back, by the app that answered. */
const answered = new Map<string, number>();
const failures: string[] = [];
let loadTimer: NodeJS.Timeout | undefined;

/** An api version: `status` is what it answers (v3: 503, v4: 201 — a success that differs from v2's 200). */
function apiApp(name: string, status: number): Promise<App> {
  served.set(name, { count: 0, hosts: new Set() });
  const server = http.createServer((req, res) => {
    const s = served.get(name)!;
    s.count++;
    s.hosts.add(req.headers.host ?? '');
    req.resume();
    const body = JSON.stringify({ app: name });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ name, port: (server.address() as AddressInfo).port, server })));
}

function startLoad(): void {
  // ~50 requests/s through web's outbound listener, one at a time per tick.
  loadTimer = setInterval(() => {
    request(`http://127.0.0.1:${web.outbound}/`, { headers: { host: 'api:9080' } })
      .then(async (r) => {
        const body = await r.body.text();
        if (r.statusCode !== 200) failures.push(`${r.statusCode} ${body.slice(0, 200)}`);
        else {
          const app = (JSON.parse(body) as { app: string }).app;
          answered.set(app, (answered.get(app) ?? 0) + 1);
        }
      })
      .catch((e: Error) => failures.push(e.message));
  }, 20);
}

const canaryYaml = (name: string, stable: string, steps: number[], extra = '') => `apiVersion: tsmesh.io/v1alpha1
kind: Canary
metadata: { name: ${name} }
spec:
  targetRef: { kind: HTTPRoute, name: api }
  service: api
  stableBackend: { name: ${stable}, port: 9080 }
  canaryBackend: { name: ${name}, port: 9080 }
  steps: [${steps.join(', ')}]
  interval: 1s
  analysis: { successRate: 95, p99: 1s, failureLimit: 2${extra ? ', mismatchRate: 5' : ''} }
${extra}`;

const status = (name: string): Promise<CanaryStatus> => mesh.admin.canary('default', name);
async function finished(name: string, timeoutMs = 20_000): Promise<CanaryStatus> {
  return eventually(`canary ${name} to finish`, async () => {
    const s = await status(name);
    if (s.phase === 'Progressing' || s.phase === 'Pending') throw new Error(`${s.phase} at ${s.weight}%: ${s.lastEvent?.reason}`);
    return s;
  }, timeoutMs);
}
/** The weights the run moved through, in order, without repeats (holds). */
const weights = (s: CanaryStatus) => (s.events ?? []).map((e) => e.weight).filter((w, i, all) => i === 0 || w !== all[i - 1]);
const routeWeights = async () => {
  const spec = (await mesh.admin.get({ kind: 'HTTPRoute', namespace: 'default', name: 'api' })).spec as { rules: { backendRefs: { name: string; weight: number }[]; filters: { type: string }[] }[] };
  return { weights: Object.fromEntries(spec.rules.flatMap((r) => r.backendRefs.map((b) => [b.name, b.weight]))), filters: spec.rules.flatMap((r) => r.filters.map((f) => f.type)) };
};

beforeAll(async () => {
  await mesh.startControlPlane();
  const apps = await Promise.all([mesh.app('web'), apiApp('api-v1', 200), apiApp('api-v2', 200), apiApp('api-v3', 503), apiApp('api-v4', 201)]);
  mesh.apps.push(...apps.slice(1));
  [web] = await Promise.all([mesh.sidecar('web', 'v1', apps[0]), ...['v1', 'v2', 'v3', 'v4'].map((v, i) => mesh.sidecar('api', v, apps[i + 1]!, { servicePort: 9080 }))]);
  await mesh.waitConnected(5, 20_000);
  await mesh.admin.apply(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Service, name: api, port: 9080 }]
  rules:
    - backendRefs: [{ name: api-v1, port: 9080, weight: 100 }]
`);
  await eventually('web → api-v1 through the mesh', async () => {
    const r = await get(web.outbound, 'api:9080');
    if (r.status !== 200 || !r.body.includes('api-v1')) throw new Error(`${r.status} ${r.body}`);
  }, 15_000);
  startLoad();
}, 60_000);

afterAll(async () => {
  clearInterval(loadTimer);
  await mesh.close();
});

describe('canaries run by the control plane (real processes)', () => {
  it('a canary that passes is promoted step by step, drawn live by meshctl canary watch', async () => {
    await mesh.admin.apply(canaryYaml('api-v2', 'api-v1', [25, 50, 100]));
    // The control plane starts the run on the apply; watch follows it from its first step.
    const watch = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [meshctlBin, 'canary', 'watch', 'api-v2', '--timeout', '30s'], { env: { ...process.env, TSMESH_STATE_DIR: mesh.stateDir } }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    const s = await finished('api-v2');
    expect(s.phase).toBe('Promoted');
    expect(weights(s)).toEqual([25, 50, 100]);
    expect(s.events!.at(-1)!.reason).toMatch(/^promoted: success 100%, p99 \d+ms, \d+ requests; all traffic to api-v2$/);
    // Each step's route change went through the apply path and over xDS to the caller.
    expect(s.events!.find((e) => e.weight === 50)!.applied).toMatchObject({ version: expect.any(Number), receipt: expect.stringMatching(/^reached \d+\/\d+ proxies/) });
    expect(s.events!.find((e) => e.weight === 50)!.analysis!.stable!.requests).toBeGreaterThan(0);
    expect((await routeWeights()).weights).toMatchObject({ 'api-v1': 0, 'api-v2': 100 });
    expect(answered.get('api-v2')).toBeGreaterThan(0);

    const w = await watch;
    expect(w.stderr).toBe('');
    expect(w.code).toBe(0);
    expect(w.stdout).toMatch(/\[█████░+\]  25%  start: 25% of traffic to api-v2/);
    expect(w.stdout).toMatch(/ 50%  advanced to 50%: success 100%, p99 \d+ms, \d+ requests  \| stable: success 100%, p99 \d+ms \| reached \d+\/\d+ proxies/);
    expect(w.stdout).toMatch(/100%  promoted: success 100%.*\ncanary api-v2 promoted: all traffic to api-v2\n$/);
  }, 40_000);

  it('a bad canary (503s) is rolled back automatically and the callers are back on stable', async () => {
    await mesh.admin.apply(canaryYaml('api-v3', 'api-v2', [50, 100]));
    const s = await finished('api-v3');
    expect(s.phase).toBe('RolledBack');
    expect(s.events!.at(-1)!.reason).toMatch(/^rolled back: success rate 0% < 95% \(2\/2 failed checks\); all traffic to api-v2$/);
    expect(s.events!.some((e) => /^analysis failed: success rate 0% < 95% \(1\/2\); holding at 50%$/.test(e.reason))).toBe(true);
    expect((await routeWeights()).weights).toMatchObject({ 'api-v2': 100, 'api-v3': 0 });
    const before = served.get('api-v3')!.count;
    await new Promise((r) => setTimeout(r, 1500));
    expect(served.get('api-v3')!.count).toBe(before);
  }, 30_000);

  it('mirror phase: a canary answering differently is stopped for mismatches before it serves anyone', async () => {
    failures.length = 0;
    await mesh.admin.apply(canaryYaml('api-v4', 'api-v2', [50, 100], '  mirror: { duration: 30s }\n'));
    await eventually('the mirror on the route', async () => {
      if (!(await routeWeights()).filters.includes('RequestMirror')) throw new Error('no RequestMirror filter yet');
    });
    const s = await finished('api-v4');
    expect(s.phase).toBe('RolledBack');
    expect(s.events![0]).toMatchObject({ mirroring: true, weight: 0, reason: 'start: mirroring traffic to api-v4 for 30s (no live weight)' });
    expect(s.events!.at(-1)!.reason).toBe('rolled back: mirror mismatch 100% > 5% (2/2 failed checks); mirror removed, all traffic to api-v2');
    expect(weights(s)).toEqual([0]);
    // v4 saw the shadow copies (Envoy's -shadow authority), the callers never saw v4's answers.
    expect(served.get('api-v4')!.count).toBeGreaterThan(0);
    expect([...served.get('api-v4')!.hosts]).toContain('api-shadow:9080');
    expect(answered.get('api-v4')).toBeUndefined();
    expect(failures).toEqual([]);
    expect((await routeWeights()).filters).not.toContain('RequestMirror');
    // The comparison is the caller's sidecar's metric.
    const metrics = await (await fetch(`http://127.0.0.1:${web.admin}/stats/prometheus`)).text();
    expect(metrics).toMatch(/tsmesh_mirror_responses_total\{cluster_name="outbound\|9080\|v2\|api\.default\.svc\.cluster\.local",mirror_cluster_name="outbound\|9080\|v4\|api\.default\.svc\.cluster\.local",outcome="mismatch"\} [1-9]/);
    expect(metrics).not.toMatch(/outcome="match"\} [1-9]/);
  }, 30_000);

  it('a control plane restarted mid-canary resumes it from where it stood', async () => {
    await mesh.admin.apply(canaryYaml('api-v1', 'api-v2', [30, 60, 100]));
    await eventually('api-v1 at 60%', async () => {
      const s = await status('api-v1');
      if (s.weight !== 60) throw new Error(`${s.phase} at ${s.weight}%`);
    }, 15_000);
    await mesh.killControlPlane();
    await mesh.startControlPlane(undefined, mesh.xdsPort);
    const s = await finished('api-v1', 25_000);
    // On a loaded machine a window can breach p99 1s: the events say which check failed.
    expect(s.phase, (s.events ?? []).map((e) => `${e.weight}%: ${e.reason}`).join('\n')).toBe('Promoted');
    const resumed = s.events!.findIndex((e) => /^resumed at (60|100)% after a control-plane restart$/.test(e.reason));
    expect(resumed).toBeGreaterThan(0);
    expect(weights(s)).toEqual([30, 60, 100]);
    expect(s.events!.map((e) => e.seq)).toEqual(s.events!.map((_e, i) => i + 1));
    expect((await routeWeights()).weights).toMatchObject({ 'api-v1': 100, 'api-v2': 0 });
  }, 40_000);
});
