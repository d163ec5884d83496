// Smoke test of the benchmark harness: runs `npm run bench` in quick mode on
// the paths available here (direct always; nginx/HAProxy when installed; one
// tsmesh hop and the mesh path — control plane, two ADS sidecars, mTLS — when
// they are built) and checks the results it writes are
// complete and carry real, non-zero counts. No timing assertions: speed is
// what the bench reports, not what a test may judge.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const runJs = path.join(root, 'dist', 'bench', 'run.js');
const has = (bin: string): boolean => ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/sbin', '/bin'].some((d) => fs.existsSync(path.join(d, bin)));

interface Json {
  schema: number;
  machine: { cpus: number };
  steal: { medianPct: number | null };
  configs: { id: string; skipped: string | null }[];
  summary: { config: string; latencyUs: { p50: number; p99: number } | null; cpuUsPerRequest: number | null; rssKb: number | null; maxRpsHttp1: number | null }[];
  controlPlane: {
    ca: { signOnly: { perCpuSecond: number }; grpc: { perCpuSecond: number; errors: number }; runs: { grpc: { ops: number; stealPct: number } }[] };
    xds: { summary: { clients: number; p50Ms: number; p99Ms: number; controlPlaneCpuUsPerProxy: number; rssPerProxyKiB: number }[]; runs: { acked?: number; runs: { p99Ms: number }[] }[] };
    apply: { summary: { nodes: number; applyToPublishedMs: number }[]; runs: { published: number; nodes: number }[] };
  };
  latencyByProtocol: Record<'http1' | 'h2' | 'grpc', { config: string; latencyUs: { p50: number; p99: number }; addedUs: { p50: number } | null; errors: number }[]>;
  runs: { kind: string; protocol?: string; config: string; completed?: number; sent?: number; errors: number; requests?: number; window: { stealPct: number; memory: { rssKb: number } } }[];
}

describe('bench harness (quick mode)', () => {
  let out: string;
  let json: Json;
  const only = ['direct', 'tsmesh-1hop', 'tsmesh-2hop-mtls-mesh', ...(has('nginx') ? ['nginx-1hop'] : []), ...(has('haproxy') ? ['haproxy-1hop'] : [])];

  beforeAll(async () => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-smoke-'));
    await promisify(execFile)(
      process.execPath,
      [runJs, '--quick', '--no-install', '--reps', '1', '--duration', '1', '--warmup', '0.3', '--max-duration', '1', '--rate', '300', '--connections', '4', '--only', [...only, 'node-h2-floor-1hop-grpc'].join(','), '--out', out, '--cp-clients', '10', '--cp-seconds', '0.3', '--cp-pushes', '1'],
      { cwd: root, timeout: 90_000 },
    );
    json = JSON.parse(fs.readFileSync(path.join(out, 'latest.json'), 'utf8')) as Json;
  }, 100_000);

  afterAll(() => {
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('measures the direct baseline with real, complete open-loop runs', () => {
    expect(json.schema).toBe(1);
    expect(json.machine.cpus).toBeGreaterThan(0);
    const direct = json.runs.filter((r) => r.kind === 'open-loop' && r.protocol === 'http1' && r.config === 'direct');
    expect(direct).toHaveLength(1);
    expect(direct[0]!.sent).toBeGreaterThan(100);
    expect(direct[0]!.completed).toBe(direct[0]!.sent);
    expect(direct[0]!.errors).toBe(0);
    expect(typeof direct[0]!.window.stealPct).toBe('number');
    const s = json.summary.find((x) => x.config === 'direct')!;
    expect(s.latencyUs!.p50).toBeGreaterThan(0);
    expect(s.latencyUs!.p99).toBeGreaterThanOrEqual(s.latencyUs!.p50);
  });

  it('measures each available proxy path, or records why it was skipped', () => {
    for (const id of only) {
      const c = json.configs.find((x) => x.id === id)!;
      expect(c, id).toBeDefined();
      if (c.skipped) {
        // Installed peers must run; tsmesh may only be skipped while the proxy is not built.
        expect(id).toMatch(/^tsmesh-/);
        expect(fs.existsSync(path.join(root, 'dist', 'proxy', 'main.js')), c.skipped).toBe(false);
        expect(c.skipped).toContain('not built');
        continue;
      }
      const open = json.runs.find((r) => r.kind === 'open-loop' && r.protocol === 'http1' && r.config === id)!;
      expect(open.completed, id).toBeGreaterThan(100);
      expect(open.errors, id).toBe(0);
      const s = json.summary.find((x) => x.config === id)!;
      if (id !== 'direct' || has('nginx')) {
        expect(s.rssKb, id).toBeGreaterThan(1000);
        expect(s.cpuUsPerRequest, id).not.toBeNull();
      }
      if (has('wrk')) expect(s.maxRpsHttp1, id).toBeGreaterThan(0);
    }
  });

  it('measures the same paths open-loop over HTTP/2 (h2c to the first hop), every request answered', () => {
    for (const id of only) {
      if (json.configs.find((x) => x.id === id)?.skipped) continue;
      const h2 = json.runs.filter((r) => r.kind === 'open-loop' && r.protocol === 'h2' && r.config === id);
      expect(h2, id).toHaveLength(1);
      expect(h2[0]!.completed, id).toBe(h2[0]!.sent);
      expect(h2[0]!.sent, id).toBeGreaterThan(100);
      expect(h2[0]!.errors, id).toBe(0);
    }
    const rows = json.latencyByProtocol.h2;
    expect(rows.map((r) => r.config)).toContain('direct');
    expect(rows.find((r) => r.config === 'direct')!.addedUs!.p50).toBe(0);
  });

  it('measures real unary gRPC exchanges (grpc-status 0 trailers) direct and through the paths that support it', () => {
    const grpcIds = json.configs.filter((c) => c.id.endsWith('-grpc'));
    expect(grpcIds.map((c) => c.id)).toEqual(expect.arrayContaining(['direct-grpc', 'tsmesh-1hop-grpc', 'tsmesh-2hop-mtls-mesh-grpc', 'node-h2-floor-1hop-grpc']));
    expect(json.configs.find((c) => c.id === 'node-h2-floor-1hop-grpc')!.skipped).toBeNull(); // Node's own HTTP/2 floor always runs
    for (const c of grpcIds) {
      if (c.skipped) continue;
      const runs = json.runs.filter((r) => r.kind === 'open-loop' && r.config === c.id);
      expect(runs.map((r) => r.protocol), c.id).toEqual(['grpc']); // gRPC paths get only the gRPC load, and no wrk/h2load
      expect(runs[0]!.completed, c.id).toBe(runs[0]!.sent);
      expect(runs[0]!.sent, c.id).toBeGreaterThan(100);
      expect(runs[0]!.errors, c.id).toBe(0);
    }
    expect(json.configs.find((c) => c.id === 'direct-grpc')!.skipped).toBeNull();
    if (has('h2load')) {
      // closed loop: h2load unary calls, counted only when the whole response message arrived
      const max = json.runs.find((r) => r.kind === 'closed-loop' && r.protocol === 'grpc' && r.config === 'direct-grpc')!;
      expect(max.requests).toBeGreaterThan(0);
      expect(max.errors).toBe(0);
    }
    expect(json.latencyByProtocol.grpc.find((r) => r.config === 'direct-grpc')!.addedUs!.p50).toBe(0);
  });

  it('writes the markdown table and the four SVG charts', () => {
    const md = fs.readFileSync(path.join(out, 'latest.md'), 'utf8');
    expect(md).toContain('| configuration | p50 added (ms) | p99 added (ms) |');
    expect(md).toContain('steal');
    expect(md).toContain('### HTTP/2 (prior-knowledge h2c');
    expect(md).toContain('### gRPC unary');
    expect(fs.readFileSync(path.join(out, 'latency.svg'), 'utf8')).toContain('· HTTP/2');
    for (const f of ['latency.svg', 'throughput.svg', 'cpu.svg', 'rss.svg']) {
      const svg = fs.readFileSync(path.join(out, f), 'utf8');
      expect(svg.startsWith('<svg'), f).toBe(true);
      expect(svg).toContain('direct');
    }
  });

  it('measures the control plane and CA: CSRs per CPU-second both ways, ACK times and memory per proxy, with a table and charts', () => {
    const cp = json.controlPlane;
    expect(cp.ca.signOnly.perCpuSecond).toBeGreaterThan(0);
    expect(cp.ca.grpc.errors).toBe(0);
    expect(cp.ca.runs[0]!.grpc.ops).toBeGreaterThan(0);
    expect(cp.ca.runs[0]!.grpcFreshChannel!.ops).toBeGreaterThan(0); // a new TLS connection per CSR
    expect(typeof cp.ca.runs[0]!.grpc.stealPct).toBe('number');
    const row = cp.xds.summary.find((r) => r.clients === 10)!;
    expect(row.p99Ms).toBeGreaterThanOrEqual(row.p50Ms);
    expect(row.controlPlaneCpuUsPerProxy).toBeGreaterThan(0);
    expect(cp.xds.runs[0]!.runs).toHaveLength(1);
    expect(cp.apply.runs.length).toBeGreaterThan(0);
    for (const a of cp.apply.runs) expect(a.published).toBe(a.nodes); // every proxy got its new snapshot
    expect(cp.apply.summary[0]!.applyToPublishedMs).toBeGreaterThanOrEqual(0);
    const md = fs.readFileSync(path.join(out, 'latest.md'), 'utf8');
    expect(md).toContain('## Control plane and CA');
    expect(md).toContain('### Apply → every proxy');
    expect(md).toMatch(/\| 10 \| \d+ \| \d+ \|/);
    for (const f of ['control-plane-acks.svg', 'ca-rate.svg']) expect(fs.readFileSync(path.join(out, f), 'utf8').startsWith('<svg'), f).toBe(true);
  });
});
