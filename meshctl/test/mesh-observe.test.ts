// meshctl bench / top / tap against real processes: mesh-control-plane and two
// mesh-proxy sidecars (a → b), apps that count what reached them.
// Needs the build: `npx tsc -p .` first.

import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Load, Mesh, eventually, get, type App, type SidecarProc } from '../../proxy/test/mesh-harness.js';

const meshctlBin = join(import.meta.dirname, '..', '..', 'dist', 'meshctl', 'main.js');

function meshctl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [meshctlBin, ...args], { timeout: 30_000, env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** An app that counts the requests it answered. */
async function countingApp(name: string): Promise<App & { count: () => number }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    n++;
    req.resume();
    res.end(JSON.stringify({ app: name }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { name, port: (server.address() as AddressInfo).port, server, count: () => n };
}

describe('meshctl bench', () => {
  const mesh = new Mesh();
  let a: SidecarProc;
  let appB: Awaited<ReturnType<typeof countingApp>>;

  beforeAll(async () => {
    await mesh.startControlPlane();
    appB = await countingApp('b');
    mesh.apps.push(appB);
    const appA = await mesh.app('a');
    [a] = await Promise.all([mesh.sidecar('a', 'v1', appA), mesh.sidecar('b', 'v1', appB)]);
    await mesh.waitConnected(2);
    await eventually('a → b', async () => expect((await get(a.outbound, 'b:8080')).status).toBe(200));
  }, 30_000);
  afterAll(() => mesh.close());

  it('runs an open-loop benchmark through a sidecar and prints percentiles, throughput and errors; the requests reach the app', async () => {
    const before = appB.count();
    const r = await meshctl(['bench', 'b:8080', '--via', `127.0.0.1:${a.outbound}`, '--rate', '200', '--duration', '1s', '--warmup', '0', '--connections', '2', '--path', '/bench']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^bench b:8080 via 127\\.0\\.0\\.1:${a.outbound}/bench: open loop at 200 req/s for 1s over 2 connections\\n`));
    const m = /^ {2}requests {4}(\d+) sent, (\d+) completed\n {2}errors {6}0 \(0 non-2xx, 0 socket errors, 0 timeouts\)\n {2}throughput {2}(\d+) req\/s\n {2}latency {5}p50 [\d.]+ms {2}p90 [\d.]+ms {2}p99 [\d.]+ms {2}p99\.9 [\d.]+ms {2}max [\d.]+ms\n/m.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    const [sent, completed, throughput] = [Number(m![1]), Number(m![2]), Number(m![3])];
    expect(sent).toBeGreaterThanOrEqual(190);
    expect(completed).toBe(sent);
    expect(throughput).toBeGreaterThan(100);
    expect(appB.count() - before).toBeGreaterThanOrEqual(completed);
  }, 20_000);

  it('-o json gives the same fields as numbers; an unreachable sidecar is exit 3, bad options exit 2', async () => {
    const r = await meshctl(['bench', 'b:8080', '--via', `127.0.0.1:${a.outbound}`, '--rate', '100', '--duration', '500ms', '--warmup', '0', '-o', 'json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { sent: number; completed: number; errors: { total: number }; throughput: number; latencyMs: Record<string, number> };
    expect(j.completed).toBe(j.sent);
    expect(j.errors.total).toBe(0);
    expect(Object.keys(j.latencyMs).sort()).toEqual(['max', 'mean', 'p50', 'p90', 'p99', 'p999']);
    expect(j.latencyMs.p50).toBeGreaterThan(0);
    expect(j.latencyMs.p99).toBeGreaterThanOrEqual(j.latencyMs.p50!);

    // --url: the same through a URL (path from the URL, the service still the Host).
    const before = appB.count();
    const u = await meshctl(['bench', 'b:8080', '--url', `http://127.0.0.1:${a.outbound}/via-url?x=1`, '--rate', '50', '--duration', '500ms', '--warmup', '0', '-o', 'json']);
    expect(u.stderr).toBe('');
    const uj = JSON.parse(u.stdout) as { path: string; completed: number; errors: { total: number } };
    expect(uj).toMatchObject({ path: '/via-url?x=1', errors: { total: 0 } });
    expect(appB.count() - before).toBeGreaterThanOrEqual(uj.completed);
    const https = await meshctl(['bench', 'b:8080', '--url', 'https://127.0.0.1:8443/']);
    expect(https.code).toBe(2);
    expect(https.stderr).toBe('meshctl: --url must be http:// (the generator speaks HTTP/1.1 in plaintext; mTLS is the sidecars\' job), got https:\n');

    const refused = await meshctl(['bench', 'b:8080', '--via', '127.0.0.1:1']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toBe('meshctl: cannot connect to 127.0.0.1:1 (ECONNREFUSED); is the sidecar running and is this its outbound listener?\n');
    const bad = await meshctl(['bench', 'b:8080', '--via', `127.0.0.1:${a.outbound}`, '--duration', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('meshctl: --duration "soon" must be a duration from 0.5s to 3600s (e.g. 10s)\n');
  }, 20_000);

  it('top and tap without --admin find the sidecars through the control plane (their TSMESH_ADMIN)', async () => {
    const { items } = await mesh.admin.proxies();
    const admins = items.map((p) => p.admin);
    expect(admins).toHaveLength(2);
    expect(admins).toContain(`http://127.0.0.1:${a.admin}`);
    for (const u of admins) expect(u).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const load = new Load(a.outbound, 'b:8080', 2);
    load.start();
    try {
      const t = await meshctl(['top', '--window', '1', '-o', 'json'], { TSMESH_STATE_DIR: mesh.stateDir });
      expect(t.stderr).toBe('');
      const rows = JSON.parse(t.stdout) as { service: string; version: string; rps: number; successRate?: number }[];
      const b = rows.find((r) => r.service === 'b' && r.version === 'v1');
      expect(b?.rps, t.stdout).toBeGreaterThan(0);
      expect(b!.successRate).toBe(100);

      // --count 2: two refreshes, each one window, each a table after its time line.
      const w = await meshctl(['top', '--window', '0.5', '--count', '2'], { TSMESH_STATE_DIR: mesh.stateDir });
      expect(w.stderr).toBe('');
      expect(w.stdout).toMatch(/^(\d\d:\d\d:\d\d {2}\(every 0\.5s\)\nSERVICE\s+VERSION\s+RPS\s+SUCCESS\s+P50\s+P99\n(.+\n)*?b\s+v1\s+\d+\.\d\s+100\.0%\s+\d+ms\s+\d+ms\n(.+\n)*\n){2}$/);

      const tap = await meshctl(['tap', 'b', '--direction', 'inbound', '--limit', '3', '-o', 'json'], { TSMESH_STATE_DIR: mesh.stateDir });
      expect(tap.stderr).toBe('');
      expect(tap.code).toBe(0);
      const records = tap.stdout.trim().split('\n').map((l) => JSON.parse(l) as { direction: string; status: number; mtls: boolean; source: { principal: string } });
      expect(records).toHaveLength(3);
      for (const r of records) expect(r).toMatchObject({ direction: 'inbound', status: 200, mtls: true, source: { principal: 'spiffe://cluster.local/ns/default/sa/a' } });
    } finally {
      await load.stop();
    }
  }, 30_000);
});
