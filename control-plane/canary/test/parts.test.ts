// The canary host's small parts: the admin address a sidecar reports, the
// saved-runs file, and what the Canary resource refuses.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../common/errors.js';
import { silentLogger } from '../../../common/log.js';
import { parsePolicies } from '../../policy/parse.js';
import { loadRuns, RunFileWriter } from '../run-file.js';
import { canaryCounters, mirrorWindow } from '../metrics.js';
import { adminUrl, SidecarAdmins } from '../sidecar-admins.js';
import type { CanaryRun } from '../controller.js';

const dir = mkdtempSync(join(tmpdir(), 'canary-parts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sidecar admin addresses (TSMESH_ADMIN)', () => {
  it('turns host:port into a URL; an unspecified host becomes the address the sidecar connected from', () => {
    expect(adminUrl('127.0.0.1:15000')).toBe('http://127.0.0.1:15000');
    expect(adminUrl('[::1]:15000')).toBe('http://[::1]:15000');
    expect(adminUrl('0.0.0.0:15000', '10.0.0.7')).toBe('http://10.0.0.7:15000');
    expect(adminUrl('[::]:15000', 'fd00::7')).toBe('http://[fd00::7]:15000');
    // A pod's loopback admin listener is not this control plane's loopback.
    expect(adminUrl('127.0.0.1:15000', '10.0.0.7')).toBeUndefined();
    expect(adminUrl('127.0.0.1:15000', '127.0.0.1')).toBe('http://127.0.0.1:15000');
    for (const bad of ['15000', 'host:0', 'host:99999', 'http://x:1', 'a b:1', 42, undefined]) expect(adminUrl(bad)).toBeUndefined();
  });

  it("scrapes an injected sidecar's pod-facing metrics address (TSMESH_METRICS) rather than its loopback admin", () => {
    const s = new SidecarAdmins();
    // In a cluster: the admin listener is pod-local and unreachable; the metrics port is on the pod IP.
    s.connected('pod', { TSMESH_ADMIN: '127.0.0.1:15000', TSMESH_METRICS: '10.244.1.7:15090' }, '10.244.1.7', 'reviews');
    expect(s.urls('reviews')).toEqual(['http://10.244.1.7:15090']);
    // Without it (a self-registered sidecar on this machine), the admin address as before.
    s.connected('local', { TSMESH_ADMIN: '127.0.0.1:15000' }, '127.0.0.1', 'web');
    expect(s.urls('web')).toEqual(['http://127.0.0.1:15000']);
  });

  it('keeps one address per connected node (all, or one service\'s) and forgets it on disconnect', () => {
    const s = new SidecarAdmins();
    s.connected('a', { TSMESH_ADMIN: '127.0.0.1:1000' }, undefined, 'api');
    s.connected('b', { TSMESH_ADMIN: '127.0.0.1:2000' }, undefined, 'web');
    s.connected('c', {}, undefined, 'api');
    expect(s.urls()).toEqual(['http://127.0.0.1:1000', 'http://127.0.0.1:2000']);
    expect(s.urls('api')).toEqual(['http://127.0.0.1:1000']);
    s.connected('d', { TSMESH_ADMIN: '127.0.0.1:3000', LABELS: '{"app":"api","version":"v2"}' }, undefined, 'api-v2');
    expect(s.urls('api')).toEqual(['http://127.0.0.1:1000', 'http://127.0.0.1:3000']);
    s.disconnected('d');
    s.connected('a', { TSMESH_ADMIN: 'nonsense' });
    s.disconnected('b');
    expect(s.urls()).toEqual([]);
  });
});

describe('saved canary runs (canaries.json)', () => {
  const run: CanaryRun = {
    name: 'api-v2',
    namespace: 'default',
    generation: 7,
    startedAt: 1,
    spec: { targetRef: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'api' }, service: 'api', stableBackend: { name: 'api-v1' }, canaryBackend: { name: 'api-v2' }, interval: 1000, analysis: { failureLimit: 1, successRate: 99 }, steps: [50] },
    state: { phase: 'Progressing', weight: 50, failedChecks: 0, events: [{ at: 1, phase: 'Progressing', weight: 50, reason: 'start', seq: 1 }] },
  };

  it('round-trips; a missing file is no runs', async () => {
    const file = join(dir, 'canaries.json');
    expect(await loadRuns(file, silentLogger)).toEqual([]);
    await new RunFileWriter(file, silentLogger).save([run]);
    expect(await loadRuns(file, silentLogger)).toEqual([run]);
  });

  it('a damaged file or entry is ignored, not fatal', async () => {
    const file = join(dir, 'damaged.json');
    writeFileSync(file, '{"runs": [');
    expect(await loadRuns(file, silentLogger)).toEqual([]);
    writeFileSync(file, JSON.stringify({ runs: [{ name: 'x' }, run, 42] }));
    expect(await loadRuns(file, silentLogger)).toEqual([run]);
  });
});

describe('Canary resource', () => {
  it('takes a mirror phase with a body comparison, and refuses a mismatchRate without a mirror phase, with file:line', () => {
    const doc = (mirror: string, mismatch: string) => `apiVersion: tsmesh.io/v1alpha1
kind: Canary
metadata: { name: c }
spec:
  targetRef: { name: reviews }
  service: reviews
  stableBackend: { name: reviews-v1 }
  canaryBackend: { name: reviews-v2 }
  steps: [10, 50]
  interval: 30s
  analysis: { successRate: 99${mismatch} }
${mirror}`;
    const err = (text: string) => {
      try {
        parsePolicies(text, 'c.yaml');
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        return (e as Error).message;
      }
      return '';
    };
    expect(err(doc('  mirror: { duration: 1m, compareBody: true }\n', ', mismatchRate: 5'))).toBe('');
    expect(err(doc('  mirror: { duration: 1m, compareBody: yes please }\n', ', mismatchRate: 5'))).toMatch(/c\.yaml:12: spec\.mirror\.compareBody: /);
    expect(err(doc('', ', mismatchRate: 5'))).toBe('invalid policy (1 problem):\n  c.yaml:11: spec.analysis.mismatchRate: needs a mirror phase (spec.mirror)');
    expect(err(doc('  mirror: { duration: 1m }\n', ', mismatchRate: 5'))).toBe('');
  });
});

describe('mirror comparisons from the sidecars\' metrics', () => {
  const text = (statusMatch: number, statusMismatch: number, bodyMismatch: number) =>
    [
      `tsmesh_mirror_responses_total{cluster_name="outbound|9080|v1|api.default.svc.cluster.local",mirror_cluster_name="outbound|9080|v3|api.default.svc.cluster.local",outcome="match"} ${statusMatch}`,
      `tsmesh_mirror_responses_total{cluster_name="outbound|9080|v1|api.default.svc.cluster.local",mirror_cluster_name="outbound|9080|v3|api.default.svc.cluster.local",outcome="mismatch"} ${statusMismatch}`,
      `tsmesh_mirror_bodies_total{cluster_name="outbound|9080|v1|api.default.svc.cluster.local",mirror_cluster_name="outbound|9080|v3|api.default.svc.cluster.local",outcome="match"} ${statusMatch - bodyMismatch}`,
      `tsmesh_mirror_bodies_total{cluster_name="outbound|9080|v1|api.default.svc.cluster.local",mirror_cluster_name="outbound|9080|v3|api.default.svc.cluster.local",outcome="mismatch"} ${bodyMismatch}`,
      // another canary's comparisons are not this one's
      `tsmesh_mirror_bodies_total{cluster_name="x",mirror_cluster_name="outbound|9080|v9|api.default.svc.cluster.local",outcome="mismatch"} 50`,
    ].join('\n');
  const o = { service: 'api', canaryVersion: 'v3', stableVersion: 'v1' };

  it('a body mismatch counts only when the canary compares bodies', () => {
    const before = canaryCounters([text(10, 0, 0)], o).mirror;
    const after = canaryCounters([text(110, 0, 20)], o).mirror;
    expect(after).toMatchObject({ match: 110, bodyMatch: 90, bodyMismatch: 20 });
    expect(mirrorWindow(before, after, false)).toEqual({ compared: 100, mismatches: 0, errors: 0, mismatchRate: 0 });
    expect(mirrorWindow(before, after, true)).toEqual({ compared: 100, mismatches: 20, errors: 0, mismatchRate: 20 });
  });
});

