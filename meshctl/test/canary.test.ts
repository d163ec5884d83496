// meshctl canary … as a real child process against a real mesh-control-plane
// process, which runs the canaries. No sidecars here: a canary nobody calls
// holds, then rolls back ("no requests reached …") — enough to drive every
// command and its errors. Canaries with real traffic: control-plane/canary/test/canary-mesh.test.ts.

import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshctlBin, startLocalControlPlane, type LocalControlPlane, type MeshctlResult } from './local-control-plane.js';

let lcp: LocalControlPlane;
const meshctl = (args: string[], input?: string): Promise<MeshctlResult> => lcp.meshctl(args, input);

beforeAll(async () => {
  lcp = await startLocalControlPlane('meshctl-canary-');
  const a = await meshctl(['apply', '-f', '-'], route);
  expect(a.stderr).toBe('');
}, 30_000);

afterAll(async () => {
  await lcp?.stop();
});

const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: reviews }
spec:
  parentRefs: [{ kind: Service, name: reviews }]
  rules:
    - backendRefs: [{ name: reviews-v1, port: 9080, weight: 100 }]
`;
const canary = (interval: string) => `apiVersion: tsmesh.io/v1alpha1
kind: Canary
metadata: { name: reviews-v2 }
spec:
  targetRef: { kind: HTTPRoute, name: reviews }
  service: reviews
  stableBackend: { name: reviews-v1, port: 9080 }
  canaryBackend: { name: reviews-v2, port: 9080 }
  steps: [10, 50]
  interval: ${interval}
  analysis: { successRate: 99 }
`;

describe('meshctl canary (the control plane runs it)', () => {
  it('an applied Canary starts at once: status shows it progressing; promote ends it; a second promote is refused', async () => {
    expect((await meshctl(['apply', '-f', '-'], canary('1h'))).code).toBe(0);
    const s = await meshctl(['canary', 'status']);
    expect(s.stdout).toMatch(/^NAME\s+ROUTE\s+STABLE\s+CANARY\s+WEIGHT\s+PHASE\s+LAST STEP\nreviews-v2\s+HTTPRoute\/reviews\s+reviews-v1\s+reviews-v2\s+10%\s+Progressing\s+\d+s ago: start: 10% of traffic to reviews-v2\n$/);
    expect((await meshctl(['get', 'httproute', 'reviews', '-o', 'yaml'])).stdout).toMatch(/name: reviews-v2\n\s+port: 9080\n\s+weight: 10/);

    const p = await meshctl(['canary', 'promote', 'reviews-v2']);
    expect(p).toMatchObject({ code: 0, stdout: 'canary reviews-v2 promoted: all traffic to reviews-v2\n', stderr: '' });
    expect((await meshctl(['get', 'httproute', 'reviews', '-o', 'yaml'])).stdout).toMatch(/name: reviews-v1\n\s+port: 9080\n\s+weight: 0/);
    const one = await meshctl(['canary', 'status', 'reviews-v2']);
    expect(one.stdout).toMatch(/^NAME\s+ROUTE\s+STABLE\s+CANARY\s+WEIGHT\s+PHASE\nreviews-v2\s+HTTPRoute\/reviews\s+reviews-v1\s+reviews-v2\s+100%\s+Promoted\n\nsteps:\n/);
    expect(one.stdout).toMatch(/\[██░+\]  10%  start: 10% of traffic to reviews-v2\n.*\[█+\] 100%  promoted by the operator; all traffic to reviews-v2\n$/);

    const again = await meshctl(['canary', 'promote', 'reviews-v2']);
    expect(again).toMatchObject({ code: 1, stdout: '', stderr: 'meshctl: canary default/reviews-v2 already finished (Promoted); nothing to promote\n' });
  });

  it('unknown canaries are usage errors naming them', async () => {
    for (const cmd of [['promote', 'nope'], ['abort', 'nope'], ['status', 'nope'], ['watch', 'nope'], ['start', 'nope']]) {
      const r = await meshctl(['canary', ...cmd]);
      expect({ cmd, code: r.code, stderr: r.stderr }).toEqual({ cmd, code: 2, stderr: 'meshctl: Canary default/nope not found\n' });
    }
    const bad = await meshctl(['canary', 'watch', 'reviews-v2', '--timeout', 'soon']);
    expect(bad).toMatchObject({ code: 2, stderr: 'meshctl: --timeout "soon" is not a duration (e.g. 10m, 90s)\n' });
  });

  it('start runs a finished canary again (detached); start of a progressing one follows it; abort sends traffic back', async () => {
    // Back to the stable split first: a new run starts from what it wrote last (0%).
    await meshctl(['apply', '-f', '-'], route);
    const s = await meshctl(['canary', 'start', 'reviews-v2', '--detach']);
    expect(s).toMatchObject({ code: 0, stdout: 'canary reviews-v2 started by the control plane: reviews-v1 → reviews-v2 (Ctrl-C stops following, not the canary)\n' });
    const follow = await meshctl(['canary', 'start', 'reviews-v2', '--timeout', '1s']);
    expect(follow.code).toBe(1);
    expect(follow.stdout).toMatch(/^canary reviews-v2 is already progressing \(10%\); following it\n\s+0\.\ds \[██░+\]  10%  start: 10% of traffic to reviews-v2\n$/);
    expect(follow.stderr).toBe('meshctl: stopped following canary reviews-v2 after 1s; it is still progressing at 10% (the control plane keeps running it)\n');
    const a = await meshctl(['canary', 'abort', 'reviews-v2']);
    expect(a).toMatchObject({ code: 0, stdout: 'canary reviews-v2 aborted: all traffic to reviews-v1\n' });
    expect((await meshctl(['get', 'httproute', 'reviews', '-o', 'yaml'])).stdout).toMatch(/name: reviews-v2\n\s+port: 9080\n\s+weight: 0/);
  });

  it('watch draws every step until the verdict: a canary nobody calls is rolled back (exit 1)', async () => {
    await meshctl(['apply', '-f', '-'], route);
    expect((await meshctl(['apply', '-f', '-'], canary('1s'))).code).toBe(0); // a new spec: a new run
    const w = await meshctl(['canary', 'watch', 'reviews-v2']);
    expect(w.code).toBe(1);
    const lines = w.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\s+0\.\ds \[██░+\]  10%  start: 10% of traffic to reviews-v2$/);
    expect(lines.slice(1, 5).every((l) => /  10%  no requests reached reviews-v2 in the last interval; holding at 10%$/.test(l))).toBe(true);
    expect(lines[5]).toMatch(/^\s+\d\.\ds \[░+\]   0%  rolled back: no requests reached reviews-v2 for 5 intervals \(1\/1 failed checks\); all traffic to reviews-v1$/);
    expect(w.stderr).toBe('meshctl: canary reviews-v2 rolled back: no requests reached reviews-v2 for 5 intervals (1/1 failed checks); all traffic to reviews-v1\n');
    const s = await meshctl(['canary', 'status']);
    expect(s.stdout).toMatch(/reviews-v2\s+HTTPRoute\/reviews\s+reviews-v1\s+reviews-v2\s+0%\s+RolledBack/);
  }, 30_000);

  it('an unreachable control plane: exit 3', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, [meshctlBin, 'canary', 'watch', 'reviews-v2', '--control-plane', `http://127.0.0.1:${port}`, '--token', 't'], (err, _o, stderr) => resolve({ code: (err as { code?: number } | null)?.code ?? 0, stderr })),
    );
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`meshctl: cannot reach the control plane admin API at http://127.0.0.1:${port} (ECONNREFUSED); is mesh-control-plane running?\n`);
  });
});
