// The canary controller on the control plane's own apply path (embedded store
// and registry, as policy-plane.ts wires them) against a stand-in sidecar
// metrics endpoint (the other side of the Prometheus text protocol);
// intervals run on a ManualClock. Real processes: canary-mesh.test.ts.

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { applyPolicyText, policyToYaml } from '../../policy/apply.js';
import { EmbeddedRegistry } from '../../registry/embedded-registry.js';
import { parseServicesFile } from '../../registry/file-source.js';
import { EmbeddedPolicyStore } from '../../store/embedded-store.js';
import { CanaryController, type CanaryRun } from '../controller.js';
import type { CanaryEvent } from '../decide.js';
import { currentCanaryWeight } from '../route-weights.js';
import { storePolicyPort } from '../store-port.js';

const dir = mkdtempSync(join(tmpdir(), 'canary-ctl-'));
let metrics: Server;
let metricsUrl = '';
let store: EmbeddedPolicyStore;
const registry = new EmbeddedRegistry();
/** What the stand-in sidecars report (cumulative, as Prometheus counters). */
const c = { ok: 0, err: 0, fast: 0, slow: 0, match: 0, mismatch: 0 };

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Service, name: api }]
  rules:
    - backendRefs: [{ name: api-v1, port: 9080, weight: 100 }]
`;
const canary = (extra = '') => `apiVersion: tsmesh.io/v1alpha1
kind: Canary
metadata: { name: api-v2 }
spec:
  targetRef: { kind: HTTPRoute, name: api }
  service: api
  stableBackend: { name: api-v1, port: 9080 }
  canaryBackend: { name: api-v2, port: 9080 }
  steps: [10, 50]
  interval: 30s
  analysis: { successRate: 99, p99: 100ms, failureLimit: 2${extra ? ', mismatchRate: 5' : ''} }
  match: [{ name: x-canary, value: always }]
${extra}`;

beforeAll(async () => {
  registry.setStaticEntries(
    parseServicesFile(
      `services:
  - name: api
    ports: [{ port: 9080, protocol: http }]
    endpoints:
      - { address: 127.0.0.1, inboundPort: 15006, appPort: 9081, serviceAccount: api, labels: { app: api, version: v1 } }
      - { address: 127.0.0.1, inboundPort: 15007, appPort: 9082, serviceAccount: api, labels: { app: api, version: v2 } }
`,
      'services.yaml',
    ),
  );
  store = await EmbeddedPolicyStore.open(dir);
  metrics = createServer((_req, res) => {
    const l = 'reporter="destination",destination_service_name="api",destination_version="v2"';
    const m = 'cluster_name="outbound|9080|v1|api.default.svc.cluster.local",mirror_cluster_name="outbound|9080|v2|api.default.svc.cluster.local"';
    res.end(
      [
        `istio_requests_total{${l},response_code="200"} ${c.ok}`,
        `istio_requests_total{${l},response_code="503"} ${c.err}`,
        `istio_request_duration_milliseconds_bucket{${l},le="25"} ${c.fast}`,
        `istio_request_duration_milliseconds_bucket{${l},le="1000"} ${c.fast + c.slow}`,
        `istio_request_duration_milliseconds_bucket{${l},le="+Inf"} ${c.fast + c.slow}`,
        `tsmesh_mirror_responses_total{${m},outcome="match"} ${c.match}`,
        `tsmesh_mirror_responses_total{${m},outcome="mismatch"} ${c.mismatch}`,
      ].join('\n') + '\n',
    );
  });
  await new Promise<void>((r) => metrics.listen(0, '127.0.0.1', r));
  metricsUrl = `http://127.0.0.1:${(metrics.address() as { port: number }).port}`;
});

afterAll(async () => {
  metrics?.close();
  await store?.close?.();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await applyPolicyText(`${ROUTE}---\n${canary()}`, { store, registry });
});

const routeYaml = () => policyToYaml(store.get({ kind: 'HTTPRoute', namespace: 'default', name: 'api' }));
const weight = () => currentCanaryWeight(routeYaml(), 'api-v1', 'api-v2');
/** One interval later, once the controller has scheduled its next analysis. */
async function next(clock: ManualClock): Promise<void> {
  await expect.poll(() => clock.pendingTimers(), { timeout: 5000 }).toBe(1);
  clock.advance(30_000);
}
const traffic = (ok: number, err: number, fast: number, slow: number, match = 0, mismatch = 0) =>
  Object.assign(c, { ok: c.ok + ok, err: c.err + err, fast: c.fast + fast, slow: c.slow + slow, match: c.match + match, mismatch: c.mismatch + mismatch });

function controller(clock: ManualClock, events: CanaryEvent[] = []): CanaryController {
  return new CanaryController({ policies: storePolicyPort(store, registry), scrapeTargets: () => [metricsUrl], clock, onEvent: (_r, e) => events.push(e) });
}

describe('CanaryController', () => {
  it('steps the live route on each interval while metrics pass, then rolls back on breaches; tester rule comes and goes', async () => {
    const clock = new ManualClock(1_000_000);
    const events: CanaryEvent[] = [];
    const ctl = controller(clock, events);
    const { done } = await ctl.start('api-v2');
    expect(weight()).toBe(10);
    expect(routeYaml()).toContain('x-canary');

    traffic(100, 0, 100, 0);
    await next(clock);
    await expect.poll(weight, { timeout: 5000 }).toBe(50);
    expect(events.at(-1)!.reason).toBe('advanced to 50%: success 100%, p99 25ms, 100 requests');
    expect(events.at(-1)!.analysis).toMatchObject({ requests: 100, successRate: 100 });

    traffic(80, 20, 10, 90); // 80% success, slow
    await next(clock);
    await expect.poll(() => events.length, { timeout: 5000 }).toBe(3);
    expect(weight()).toBe(50);
    traffic(50, 50, 0, 100);
    await next(clock);
    const run = await done;
    expect(run.state.phase).toBe('RolledBack');
    expect(weight()).toBe(0);
    expect(events.at(-1)!.reason).toMatch(/^rolled back: success rate 50% < 99%, p99 \d+ms > 100ms \(2\/2 failed checks\); all traffic to api-v1$/);
    expect(events.map((e) => e.at)).toEqual([1_000_000, 1_030_000, 1_060_000, 1_090_000]);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(routeYaml()).not.toContain('x-canary');
    await expect(ctl.promote('api-v2')).rejects.toThrow('canary default/api-v2 already finished (RolledBack); nothing to promote');
    await expect(ctl.abort('nope')).rejects.toThrow('canary default/nope not found');
    await ctl.stop();
  }, 30_000);

  it('stops, without writing, when someone else changed the split', async () => {
    const clock = new ManualClock(2_000_000);
    const ctl = controller(clock);
    const { done } = await ctl.start('api-v2');
    expect(weight()).toBe(10);
    await applyPolicyText(routeYaml().replace(/weight: 90/, 'weight: 0').replace(/weight: 10/, 'weight: 100'), { store, registry });
    expect(weight()).toBe(100);
    traffic(100, 0, 100, 0);
    await next(clock);
    const run = await done;
    expect(run.state.phase).toBe('Promoted');
    expect(run.state.events.at(-1)!.reason).toBe('route weights changed outside the canary (canary at 100%); stopping');
    expect(weight()).toBe(100);
    await ctl.stop();
  }, 30_000);

  it('mirror phase: the route mirrors to the canary at 0% live; mismatches roll it back and remove the mirror', async () => {
    await applyPolicyText(canary('  mirror: { duration: 2m }\n'), { store, registry });
    const clock = new ManualClock(3_000_000);
    const events: CanaryEvent[] = [];
    const ctl = controller(clock, events);
    const { done } = await ctl.start('api-v2');
    expect(weight()).toBe(0);
    const mirror = store.get({ kind: 'HTTPRoute', namespace: 'default', name: 'api' })!.spec as { rules: { filters: { type: string; requestMirror?: { backendRef: { name: string } } }[] }[] };
    // The testers' header rule comes first; the catch-all rule (all users, on stable) mirrors.
    expect(mirror.rules.map((r) => r.filters.map((f) => [f.type, f.requestMirror?.backendRef.name]))).toEqual([[], [['RequestMirror', 'api-v2']]]);
    expect(events[0]).toMatchObject({ mirroring: true, weight: 0, reason: 'start: mirroring traffic to api-v2 for 120s (no live weight)' });

    traffic(100, 0, 100, 0, 99, 1); // 1% mismatch: passes, mirror goes on
    await next(clock);
    await expect.poll(() => events.length, { timeout: 5000 }).toBe(2);
    expect(events[1]!.reason).toBe('mirroring: success 100%, p99 25ms, 100 requests, mirror mismatch 1% of 100; 90s of mirroring left');
    traffic(100, 0, 100, 0, 80, 20);
    await next(clock);
    await expect.poll(() => events.length, { timeout: 5000 }).toBe(3);
    expect(events[2]!.reason).toBe('analysis failed: mirror mismatch 20% > 5% (1/2); holding the mirror');
    traffic(100, 0, 100, 0, 70, 30);
    await next(clock);
    const run = await done;
    expect(run.state.phase).toBe('RolledBack');
    expect(run.state.events.at(-1)!.reason).toBe('rolled back: mirror mismatch 30% > 5% (2/2 failed checks); mirror removed, all traffic to api-v1');
    expect(routeYaml()).not.toContain('RequestMirror');
    expect(weight()).toBe(0);
    await ctl.stop();
  }, 30_000);

  it('mirror phase passed: the mirror goes and the first weight comes in one route change', async () => {
    await applyPolicyText(canary('  mirror: { duration: 30s }\n'), { store, registry });
    const clock = new ManualClock(4_000_000);
    const ctl = controller(clock);
    await ctl.start('api-v2');
    traffic(100, 0, 100, 0, 100, 0);
    await next(clock);
    await expect.poll(weight, { timeout: 5000 }).toBe(10);
    expect(routeYaml()).not.toContain('RequestMirror');
    expect(ctl.status('api-v2')!.state.events.at(-1)!.reason).toBe('mirror passed (success 100%, p99 25ms, 100 requests, mirror mismatch 0% of 100); 10% of traffic to api-v2');
    await ctl.abort('api-v2');
    expect(weight()).toBe(0);
    await ctl.stop();
  }, 30_000);

  it('a saved run resumes where it stood (control-plane restart) and goes on numbering its events', async () => {
    const clock = new ManualClock(5_000_000);
    const first = controller(clock);
    await first.start('api-v2');
    traffic(100, 0, 100, 0);
    await next(clock);
    await expect.poll(weight, { timeout: 5000 }).toBe(50);
    const saved: CanaryRun = JSON.parse(JSON.stringify(first.status('api-v2')));
    await first.stop();

    const events: CanaryEvent[] = [];
    const second = controller(clock, events);
    await second.resume(saved);
    expect(events[0]).toMatchObject({ seq: 3, weight: 50, reason: 'resumed at 50% after a control-plane restart' });
    traffic(100, 0, 100, 0);
    await next(clock);
    await expect.poll(() => second.status('api-v2')!.state.phase, { timeout: 5000 }).toBe('Promoted');
    expect(weight()).toBe(100);
    expect(second.status('api-v2')!.state.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    await second.stop();
  }, 30_000);

  it('a saved run one step behind its route (restart between the route change and the save) resumes at the route\'s weight', async () => {
    const clock = new ManualClock(6_000_000);
    const first = controller(clock);
    await first.start('api-v2');
    const saved: CanaryRun = JSON.parse(JSON.stringify(first.status('api-v2')));
    traffic(100, 0, 100, 0);
    await next(clock);
    await expect.poll(weight, { timeout: 5000 }).toBe(50);
    await first.stop();
    const events: CanaryEvent[] = [];
    const second = controller(clock, events);
    await second.resume(saved); // saved at 10%, the route says 50%
    expect(events[0]).toMatchObject({ weight: 50, reason: 'resumed at 50% after a control-plane restart' });
    traffic(100, 0, 100, 0);
    await next(clock);
    await expect.poll(() => second.status('api-v2')!.state.phase, { timeout: 5000 }).toBe('Promoted');
    await second.stop();
  }, 30_000);
});
