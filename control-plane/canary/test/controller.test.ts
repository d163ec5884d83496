// The canary controller against a real control plane process (its admin API is
// the apply path) and a stand-in sidecar metrics endpoint (the other side of
// the Prometheus text protocol); intervals run on a ManualClock.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../common/clock.js';
import { AdminClient } from '../../admin/client.js';
import { CanaryController } from '../controller.js';
import { currentCanaryWeight } from '../route-weights.js';
import type { CanaryEvent } from '../decide.js';

const root = join(import.meta.dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'canary-ctl-'));
let cp: ChildProcess;
let metrics: Server;
let metricsUrl = '';
let admin: AdminClient;
/** What the stand-in sidecar reports for api v2 (cumulative, as Prometheus counters). */
const counters = { ok: 0, err: 0, fast: 0, slow: 0 };

beforeAll(async () => {
  const services = join(dir, 'services.yaml');
  writeFileSync(services, `services:
  - name: api
    ports: [{ port: 9080, protocol: http }]
    endpoints:
      - { address: 127.0.0.1, inboundPort: 15006, appPort: 9081, serviceAccount: api, labels: { app: api, version: v1 } }
      - { address: 127.0.0.1, inboundPort: 15007, appPort: 9082, serviceAccount: api, labels: { app: api, version: v2 } }
`);
  const state = join(dir, 'cp');
  cp = spawn(process.execPath, [join(root, 'dist/control-plane/main.js'), '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--state-dir', state, '--services-file', services], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    cp.stdout!.on('data', (d: Buffer) => ((out += d), /^admin \d+/m.test(out) && resolve()));
    cp.on('exit', (c) => reject(new Error(`control plane exited ${c}`)));
  });
  admin = await AdminClient.discover(state);
  metrics = createServer((_req, res) => {
    const l = 'reporter="destination",destination_service_name="api",destination_version="v2"';
    res.end(
      [
        `istio_requests_total{${l},response_code="200"} ${counters.ok}`,
        `istio_requests_total{${l},response_code="503"} ${counters.err}`,
        `istio_request_duration_milliseconds_bucket{${l},le="25"} ${counters.fast}`,
        `istio_request_duration_milliseconds_bucket{${l},le="1000"} ${counters.fast + counters.slow}`,
        `istio_request_duration_milliseconds_bucket{${l},le="+Inf"} ${counters.fast + counters.slow}`,
      ].join('\n') + '\n',
    );
  });
  await new Promise<void>((r) => metrics.listen(0, '127.0.0.1', r));
  metricsUrl = `http://127.0.0.1:${(metrics.address() as { port: number }).port}`;
  await admin.apply(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Service, name: api }]
  rules:
    - backendRefs: [{ name: api-v1, port: 9080, weight: 100 }]
---
apiVersion: tsmesh.io/v1alpha1
kind: Canary
metadata: { name: api-v2 }
spec:
  targetRef: { kind: HTTPRoute, name: api }
  service: api
  stableBackend: { name: api-v1, port: 9080 }
  canaryBackend: { name: api-v2, port: 9080 }
  steps: [10, 50]
  interval: 30s
  analysis: { successRate: 99, p99: 100ms, failureLimit: 2 }
  match: [{ name: x-canary, value: always }]
`);
}, 30_000);

afterAll(async () => {
  metrics?.close();
  if (cp && cp.exitCode === null) await new Promise((r) => (cp.once('exit', r), cp.kill('SIGTERM')));
  rmSync(dir, { recursive: true, force: true });
});

const weight = async () => currentCanaryWeight(await admin.getYaml({ kind: 'HTTPRoute', namespace: 'default', name: 'api' }), 'api-v1', 'api-v2');
/** One interval later, once the controller has scheduled its next analysis. */
async function next(clock: ManualClock): Promise<void> {
  await expect.poll(() => clock.pendingTimers(), { timeout: 5000 }).toBe(1);
  clock.advance(30_000);
}
const traffic = (ok: number, err: number, fast: number, slow: number) => Object.assign(counters, { ok: counters.ok + ok, err: counters.err + err, fast: counters.fast + fast, slow: counters.slow + slow });

describe('CanaryController', () => {
  it('steps the live route on each interval while metrics pass, then rolls back on breaches; tester rule comes and goes', async () => {
    const clock = new ManualClock(1_000_000);
    const events: CanaryEvent[] = [];
    const ctl = new CanaryController({ policies: admin, scrapeTargets: () => [metricsUrl], clock, onEvent: (_n, e) => events.push(e) });
    const { done } = await ctl.start('api-v2');
    expect(await weight()).toBe(10);
    expect(await admin.getYaml({ kind: 'HTTPRoute', namespace: 'default', name: 'api' })).toContain('x-canary');

    traffic(100, 0, 100, 0);
    await next(clock);
    await expect.poll(weight, { timeout: 5000 }).toBe(50);
    expect(events.at(-1)!.reason).toBe('advanced to 50%: success 100%, p99 25ms, 100 requests');

    traffic(80, 20, 10, 90); // 80% success, slow
    await next(clock);
    await expect.poll(() => events.length, { timeout: 5000 }).toBe(3);
    expect(await weight()).toBe(50);
    traffic(50, 50, 0, 100);
    await next(clock);
    const run = await done;
    expect(run.state.phase).toBe('RolledBack');
    expect(await weight()).toBe(0);
    expect(events.at(-1)!.reason).toMatch(/^rolled back: success rate 50% < 99%, p99 \d+ms > 100ms \(2\/2 failed checks\); all traffic to api-v1$/);
    expect(events.map((e) => e.at)).toEqual([1_000_000, 1_030_000, 1_060_000, 1_090_000]);
    expect(await admin.getYaml({ kind: 'HTTPRoute', namespace: 'default', name: 'api' })).not.toContain('x-canary');
    ctl.stop();
  }, 30_000);

  it('stops, without writing, when someone else changed the split (meshctl canary promote)', async () => {
    const clock = new ManualClock(2_000_000);
    const ctl = new CanaryController({ policies: admin, scrapeTargets: () => [metricsUrl], clock });
    const { done } = await ctl.start('api-v2');
    expect(await weight()).toBe(10);
    const yaml = await admin.getYaml({ kind: 'HTTPRoute', namespace: 'default', name: 'api' });
    await admin.apply(yaml.replace(/name: api-v1\n(\s+)port: 9080\n\s+weight: 90/, 'name: api-v1\n$1port: 9080\n$1weight: 0').replace(/name: api-v2\n(\s+)port: 9080\n\s+weight: 10/, 'name: api-v2\n$1port: 9080\n$1weight: 100'));
    expect(await weight()).toBe(100);
    traffic(100, 0, 100, 0);
    await next(clock);
    const run = await done;
    expect(run.state.phase).toBe('Promoted');
    expect(run.state.events.at(-1)!.reason).toBe('route weights changed outside the canary (canary at 100%); stopping');
    expect(await weight()).toBe(100);
    ctl.stop();
  }, 30_000);
});
