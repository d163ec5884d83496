// A real Prometheus server (Debian's `prometheus`; .ci/apt-packages) scrapes
// two real sidecars' /stats/prometheus; PromQL on istio_requests_total gives
// back exactly the traffic sent, and `meshctl top --prometheus` reads it.
// Needs the build: `npx tsc -p .` first.

import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mesh, eventually, freePort, get, type SidecarProc } from '../../proxy/test/mesh-harness.js';
import { promQuery } from '../commands/top-prometheus.js';

const meshctlBin = join(import.meta.dirname, '..', '..', 'dist', 'meshctl', 'main.js');
const PROMETHEUS = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).stdout.trim();
if (!PROMETHEUS) console.warn('prometheus.test.ts skipped: no `prometheus` binary on PATH (Debian: scripts/install-debian-packages.sh prometheus, as .ci/run does)');

function meshctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [meshctlBin, ...args], { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** The sum of a counter's series matching `labels` in a sidecar's own /stats/prometheus. */
async function sidecarCounter(s: SidecarProc, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${s.admin}/stats/prometheus`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe.skipIf(!PROMETHEUS)('Prometheus scraping two sidecars', () => {
  const mesh = new Mesh();
  const dir = mkdtempSync(join(tmpdir(), 'tsmesh-prom-'));
  let prom: ChildProcess | undefined;
  let promLog = '';
  let url = '';
  let a: SidecarProc;
  let b: SidecarProc;
  const value = async (q: string) => Number((await promQuery(url, q))[0]?.value[1] ?? NaN);

  beforeAll(async () => {
    await mesh.startControlPlane();
    ({ a, b } = await mesh.pair());
    await eventually('a → b', async () => expect((await get(a.outbound, 'b:8080')).status).toBe(200));

    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: tsmesh-sidecars
    metrics_path: /stats/prometheus
    static_configs:
      - targets: ['127.0.0.1:${a.admin}', '127.0.0.1:${b.admin}']
`,
    );
    prom = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    prom.stderr!.on('data', (d) => (promLog = (promLog + d).slice(-4000)));
    await eventually('both sidecars scraped (up == 1)', async () => {
      if (prom!.exitCode !== null) throw new Error(`prometheus exited ${prom!.exitCode}: ${promLog}`);
      expect(await value('sum(up{job="tsmesh-sidecars"})')).toBe(2);
    }, 20_000);
  }, 40_000);

  afterAll(async () => {
    if (prom && prom.exitCode === null) await new Promise((r) => (prom!.once('exit', r), prom!.kill('SIGTERM')));
    await mesh.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a PromQL query on istio_requests_total returns exactly the requests sent, reported by both sidecars', async () => {
    const inbound = 'sum(istio_requests_total{reporter="destination",destination_service_name="b",response_code="200"})';
    const outbound = 'sum(istio_requests_total{reporter="source",destination_service_name="b",response_code="200"})';
    const labels = { destination_service_name: 'b', response_code: '200' };
    // Settle: what Prometheus has equals what the sidecars count right now.
    const [in0, out0] = [await sidecarCounter(b, 'istio_requests_total', { reporter: 'destination', ...labels }), await sidecarCounter(a, 'istio_requests_total', { reporter: 'source', ...labels })];
    expect(in0).toBeGreaterThan(0);
    await eventually('Prometheus caught up', async () => expect([await value(inbound), await value(outbound)]).toEqual([in0, out0]), 10_000);

    const sent = 37;
    for (let i = 0; i < sent; i++) expect((await get(a.outbound, 'b:8080', `/p${i}`)).status).toBe(200);
    await eventually('the new requests scraped', async () => expect([await value(inbound), await value(outbound)]).toEqual([in0 + sent, out0 + sent]), 10_000);
    // Two sidecars, two instances, each reporting its side of the same requests.
    const byInstance = await promQuery(url, 'sum by (instance, reporter) (istio_requests_total{destination_service_name="b"})');
    expect(byInstance.map((s) => `${s.metric.instance} ${s.metric.reporter}`).sort()).toEqual([`127.0.0.1:${a.admin} source`, `127.0.0.1:${b.admin} destination`].sort());
  }, 30_000);

  it('meshctl top --prometheus: requests/s, success rate and p50/p99 per service from PromQL', async () => {
    for (let i = 0; i < 20; i++) await get(a.outbound, 'b:8080');
    await new Promise((r) => setTimeout(r, 1500)); // one more scrape
    const j = await meshctl(['top', '--prometheus', url, '--window', '30', '-o', 'json']);
    expect(j.stderr).toBe('');
    expect(j.code).toBe(0);
    const rows = JSON.parse(j.stdout) as { service: string; version: string; rps: number; successRate?: number; p50?: number; p99?: number }[];
    const row = rows.find((r) => r.service === 'b' && r.version === 'v1');
    expect(row, j.stdout).toBeDefined();
    expect(row!.rps).toBeGreaterThan(0);
    expect(row!.successRate).toBe(100);
    expect(row!.p50).toBeGreaterThan(0);
    expect(row!.p99).toBeGreaterThanOrEqual(row!.p50!);
    const t = await meshctl(['top', '--prometheus', url, '--window', '30']);
    expect(t.stdout).toMatch(/^SERVICE\s+VERSION\s+RPS\s+SUCCESS\s+P50\s+P99\n(.*\n)*b\s+v1\s+\d+\.\d\s+100\.0%\s+\d+ms\s+\d+ms\n/);

    const bad = await meshctl(['top', '--prometheus', url, '--window', '0.5']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('meshctl: --window must be between 1 and 600 seconds, got 0.5\n');
    const gone = await freePort();
    const down = await meshctl(['top', '--prometheus', `http://127.0.0.1:${gone}`]);
    expect(down.code).toBe(3);
    expect(down.stderr).toBe(`meshctl: cannot reach Prometheus at http://127.0.0.1:${gone} (ECONNREFUSED)\n`);
  }, 30_000);
});
