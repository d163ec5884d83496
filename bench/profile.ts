// `node dist/bench/profile.js [--only tsmesh-1hop] [--seconds 15] [--rate 1000 | --max]`
// Runs one tsmesh configuration under load with `node --cpu-prof`, then prints
// its hottest functions and files and leaves the .cpuprofile files for a flame
// graph (Chrome DevTools → Performance → Load profile, or speedscope).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { allConfigs } from './configs.js';
import { runOpenLoop, runWrk } from './lib/measure.js';
import { startGrpcUpstream } from './peers/grpc-upstream.js';
import { coreCount, installExitHooks } from './lib/processes.js';
import { makeCerts } from './peers/certs.js';
import { findTools } from './peers/install.js';
import type { BenchEnv } from './peers/types.js';
import { startUpstream } from './peers/upstream.js';
import { hotSpots } from './report/cpu-profile.js';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');

async function main(): Promise<void> {
  const o = new Command('profile')
    .option('--only <id>', 'tsmesh configuration', 'tsmesh-1hop')
    .option('--seconds <s>', 'seconds of load', '15')
    .option('--rate <n>', 'open-loop rate (req/s)', '1000')
    .option('--max', 'closed-loop wrk instead of a fixed rate', false)
    .option('--protocol <p>', 'open-loop protocol: http1, h2 (h2c into the sidecar) or grpc (needs a *-grpc configuration)', 'http1')
    .option('--out <dir>', 'where the .cpuprofile files go', path.join(os.tmpdir(), 'tsmesh-prof'))
    .option('--skip <ms>', 'leave out the first milliseconds of each profile (start-up, module loading)', '4000')
    .parse()
    .opts<{ only: string; seconds: string; rate: string; max: boolean; out: string; skip: string; protocol: string }>();
  const protocol = o.protocol as 'http1' | 'h2' | 'grpc';
  if (!['http1', 'h2', 'grpc'].includes(protocol)) throw new Error(`--protocol must be http1, h2 or grpc, not '${o.protocol}'`);
  installExitHooks();
  const def = allConfigs().find((c) => c.id === o.only);
  if (!def || def.proxy !== 'tsmesh') throw new Error(`--only must name a tsmesh configuration: ${allConfigs().filter((c) => c.proxy === 'tsmesh').map((c) => c.id).join(', ')}`);
  const tools = findTools();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsmesh-prof-'));
  fs.mkdirSync(o.out, { recursive: true });
  const before = new Set(fs.readdirSync(o.out));
  const clientCore = coreCount() > 1 ? 1 : 0;
  const upstream = await startUpstream({ dir, tools, clientCore });
  const env: BenchEnv = {
    repoRoot, dir, tools, proxyCore: 0, clientCore, upstreamPort: upstream.port, upstreamPids: upstream.pids,
    proxyNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${o.out}`],
    ...(tools.openssl ? { certs: makeCerts(dir, tools.openssl) } : {}),
  };
  const grpcUpstream = def.protocol === 'grpc' ? await startGrpcUpstream(clientCore) : null;
  if (grpcUpstream) Object.assign(env, { grpcUpstreamPort: grpcUpstream.port, grpcUpstreamPids: grpcUpstream.pids });
  const why = def.unavailable(env);
  if (why) throw new Error(`${def.id}: ${why}`);
  const target = await def.start(env);
  const seconds = Number(o.seconds);
  if (o.max && tools.wrk) {
    const w = await runWrk(tools.wrk, target.port, 16, seconds, target.proxyPids, clientCore);
    process.stdout.write(`${w.requestsPerSec} req/s, ${(w.window.proxyCpuUs / w.requests).toFixed(1)} µs CPU/request\n`);
  } else {
    const port = protocol === 'h2' ? target.h2Port : target.port;
    if (port === undefined) throw new Error(`${def.id} has no h2c entry`);
    const r = await runOpenLoop({ host: '127.0.0.1', port, path: protocol === 'grpc' ? '/bench.Echo/Call' : '/', hostHeader: 'upstream.bench', rate: Number(o.rate), connections: 16, warmupMs: 1000, durationMs: seconds * 1000, drainMs: 5000, ...(protocol === 'http1' ? {} : { protocol }) }, target.proxyPids, clientCore);
    process.stdout.write(`${r.loadgen.completed} requests, ${(r.window.proxyCpuUs / r.loadgen.completed).toFixed(1)} µs CPU/request, p50 ${r.loadgen.latencyUs.p50} µs\n`);
  }
  await target.stop(); // SIGTERM: the proxy drains and exits, and V8 writes the profile
  await upstream.stop();
  await grpcUpstream?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  const fresh = fs.readdirSync(o.out).filter((f) => f.endsWith('.cpuprofile') && !before.has(f));
  for (const f of fresh) {
    const file = path.join(o.out, f);
    const h = hotSpots(JSON.parse(fs.readFileSync(file, 'utf8')), 25, Number(o.skip));
    process.stdout.write(`\n${file} (${h.totalMs} ms profiled, ${h.busyMs} ms busy; % of busy time)\n-- self time by file --\n`);
    for (const s of h.byFile.slice(0, 12)) process.stdout.write(`${String(s.selfPct).padStart(5)} %  ${s.name}\n`);
    process.stdout.write('-- self time by function --\n');
    for (const s of h.byFunction) process.stdout.write(`${String(s.selfPct).padStart(5)} %  ${s.name}\n`);
  }
  if (fresh.length === 0) process.stdout.write(`no profile written to ${o.out} (did the proxy exit cleanly on SIGTERM?)\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`profile failed: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
