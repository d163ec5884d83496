// `node dist/bench/profile.js [--only tsmesh-1hop] [--seconds 15] [--rate 1000 | --max] [--syscalls] [--perf] [--no-cpu-prof]`
// Runs one tsmesh configuration under load with `node --cpu-prof`, then prints
// its hottest functions and files and leaves the .cpuprofile files for a flame
// graph (Chrome DevTools → Performance → Load profile, or speedscope).
// --syscalls counts the sidecar's system calls per request with `strace -c -f`
// over the middle of the run (reads, writes and epoll waits per request are
// what a Node proxy's CPU at moderate load is made of); strace slows the
// process, so the CPU figure of such a run is not comparable.
// --perf samples the sidecars' user-space CPU time with `perf record` over the
// middle third of the load (JIT frames named via --perf-basic-prof): unlike
// V8's profiler, which samples wall-clock time and charges a descheduled
// process's waiting to whatever ran last, it counts only time on the CPU, so
// it stays comparable on a busy machine; native code (OpenSSL, malloc, libuv)
// is broken out by function.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { allConfigs } from './configs.js';
import { grpcMax, grpcRequest } from './lib/grpc-load.js';
import { runH2load, runOpenLoop, runWrk, type ProcWindow } from './lib/measure.js';
import { startGrpcUpstream } from './peers/grpc-upstream.js';
import { coreCount, installExitHooks } from './lib/processes.js';
import { makeCerts } from './peers/certs.js';
import { findTools } from './peers/install.js';
import { BENCH_HOST, type BenchEnv } from './peers/types.js';
import { startUpstream } from './peers/upstream.js';
import { hotSpots } from './report/cpu-profile.js';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');

async function main(): Promise<void> {
  const o = new Command('profile')
    .option('--only <id>', 'tsmesh configuration', 'tsmesh-1hop')
    .option('--seconds <s>', 'seconds of load', '15')
    .option('--rate <n>', 'open-loop rate (req/s)', '1000')
    .option('--max', 'closed loop instead of a fixed rate: wrk (http1) or h2load (h2, grpc), as the bench', false)
    .option('--protocol <p>', 'open-loop protocol: http1, h2 (h2c into the sidecar) or grpc (needs a *-grpc configuration)', 'http1')
    .option('--out <dir>', 'where the .cpuprofile files go', path.join(os.tmpdir(), 'tsmesh-prof'))
    .option('--skip <ms>', 'leave out the first milliseconds of each profile (start-up, module loading)', '4000')
    .option('--no-cpu-prof', 'run the sidecar without the profiler (with --syscalls: counts free of its signals)')
    .option('--node-flag <flag...>', 'extra Node flags for the sidecar (e.g. --node-flag=--single-threaded-gc), to try a flag before changing proxy/node-flags.ts')
    .option('--syscalls', 'count system calls per request (strace -c -f over the middle third of the load)', false)
    .option('--perf', 'user-space CPU time per request by function (perf record over the middle third of the load; best with --no-cpu-prof)', false)
    .option('--perf-kernel', 'with --perf: sample kernel time too (at saturation most of a proxy\'s CPU is in the kernel: socket reads, writes, epoll)', false)
    .parse()
    .opts<{ only: string; seconds: string; rate: string; max: boolean; out: string; skip: string; protocol: string; cpuProf: boolean; syscalls: boolean; perf: boolean; perfKernel: boolean; nodeFlag?: string[] }>();
  const protocol = o.protocol as 'http1' | 'h2' | 'grpc';
  if (!['http1', 'h2', 'grpc'].includes(protocol)) throw new Error(`--protocol must be http1, h2 or grpc, not '${o.protocol}'`);
  installExitHooks();
  const def = allConfigs().find((c) => c.id === o.only);
  // Without the profiler any configuration runs (a peer's CPU and system calls per request beside tsmesh's).
  if (!def || (o.cpuProf && def.proxy !== 'tsmesh')) throw new Error(`--only must name a tsmesh configuration: ${allConfigs().filter((c) => c.proxy === 'tsmesh').map((c) => c.id).join(', ')} (any configuration with --no-cpu-prof)`);
  const tools = findTools();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsmesh-prof-'));
  fs.mkdirSync(o.out, { recursive: true });
  const before = new Set(fs.readdirSync(o.out));
  const clientCore = coreCount() > 1 ? 1 : 0;
  const upstream = await startUpstream({ dir, tools, clientCore });
  const env: BenchEnv = {
    repoRoot, dir, tools, proxyCore: 0, clientCore, upstreamPort: upstream.port, upstreamPids: upstream.pids,
    proxyNodeArgs: [...(o.nodeFlag ?? []), ...(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${o.out}`] : []), ...(o.perf ? ['--perf-basic-prof', '--no-logfile-per-isolate', '--logfile=/dev/null'] : [])],
    ...(tools.openssl ? { certs: makeCerts(dir, tools.openssl) } : {}),
  };
  const grpcUpstream = def.protocol === 'grpc' ? await startGrpcUpstream(clientCore) : null;
  if (grpcUpstream) Object.assign(env, { grpcUpstreamPort: grpcUpstream.port, grpcUpstreamPids: grpcUpstream.pids });
  const why = def.unavailable(env);
  if (why) throw new Error(`${def.id}: ${why}`);
  const target = await def.start(env);
  const seconds = Number(o.seconds);
  const counting = o.syscalls ? countSyscalls(target.proxyPids, seconds) : undefined;
  const sampling = o.perf ? samplePerf(target.proxyPids, seconds, o.out, o.perfKernel) : undefined;
  // Requests per second of the load, for per-request figures of the system-call and perf samples.
  let rate = Number(o.rate);
  if (o.max && protocol !== 'http1') {
    // The bench's own HTTP/2 closed loop: h2load, 16 connections × 10 streams (gRPC: unary calls, whole messages counted).
    if (!tools.h2load) throw new Error('--max with --protocol h2/grpc needs h2load');
    const port = protocol === 'h2' ? target.h2Port : target.port;
    if (port === undefined) throw new Error(`${def.id} has no h2c entry`);
    const raw = await runH2load(tools.h2load, port, 16, seconds, target.proxyPids, clientCore, protocol === 'grpc' ? grpcRequest(dir) : undefined);
    const h = protocol === 'grpc' ? grpcMax(raw) : raw;
    rate = h.requestsPerSec;
    process.stdout.write(`${h.requestsPerSec} req/s (h2load), ${cpuText(h.window, h.requests)}, ${h.errors} errors, ${memoryText(h.window)}\n`);
  } else if (o.max && tools.wrk) {
    const w = await runWrk(tools.wrk, target.port, 16, seconds, target.proxyPids, clientCore);
    rate = w.requestsPerSec;
    process.stdout.write(`${w.requestsPerSec} req/s, ${cpuText(w.window, w.requests)}, ${memoryText(w.window)}\n`);
  } else {
    const port = protocol === 'h2' ? target.h2Port : target.port;
    if (port === undefined) throw new Error(`${def.id} has no h2c entry`);
    const r = await runOpenLoop({ host: '127.0.0.1', port, path: protocol === 'grpc' ? '/bench.Echo/Call' : '/', hostHeader: BENCH_HOST, rate: Number(o.rate), connections: 16, warmupMs: 1000, durationMs: seconds * 1000, drainMs: 5000, ...(protocol === 'http1' ? {} : { protocol }) }, target.proxyPids, clientCore);
    process.stdout.write(`${r.loadgen.completed} requests, ${cpuText(r.window, r.loadgen.completed)}, p50 ${r.loadgen.latencyUs.p50} µs, p99 ${r.loadgen.latencyUs.p99} µs, ${memoryText(r.window)}\n`);
  }
  // Closed loop: per request at the run's average rate (strace slows the proxy: its counts are per request of that slower run).
  if (counting) printSyscalls(await counting, rate);
  if (sampling) printPerf(await sampling, rate);
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
  if (fresh.length === 0 && o.cpuProf) process.stdout.write(`no profile written to ${o.out} (did the proxy exit cleanly on SIGTERM?)\n`);
}

interface SyscallCount {
  seconds: number;
  rows: { name: string; calls: number; errors: number }[];
}

/** The sidecars' memory at the end of the load (summed when there are two): to weigh a flag's memory cost next to its CPU. */
function memoryText(w: ProcWindow): string {
  return `RSS ${(w.memory.rssKb / 1024).toFixed(1)} MB, peak ${(w.memory.peakRssKb / 1024).toFixed(1)} MB`;
}

function cpuText(w: ProcWindow, requests: number): string {
  return w.proxyCpuUs === null ? 'CPU not counted (a sidecar exited during the load)' : `${(w.proxyCpuUs / Math.max(1, requests)).toFixed(1)} µs CPU/request`;
}

/** strace -c -f attached to the sidecar(s) over the middle third of the load (the open loop's warm-up is 1 s). */
function countSyscalls(pids: number[], seconds: number): Promise<SyscallCount> | undefined {
  if (spawnSync('strace', ['-V']).status !== 0) {
    process.stdout.write('--syscalls: strace is not installed\n');
    return undefined;
  }
  const span = Math.max(1, Math.floor(seconds / 3));
  return new Promise((resolve) => {
    setTimeout(() => {
      const out = path.join(os.tmpdir(), `tsmesh-strace-${process.pid}.txt`);
      const st = spawn('strace', ['-c', '-f', '-o', out, ...pids.flatMap((p) => ['-p', String(p)])], { stdio: 'ignore' });
      setTimeout(() => st.kill('SIGINT'), span * 1000);
      st.on('exit', () => {
        const rows: SyscallCount['rows'] = [];
        const text = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
        fs.rmSync(out, { force: true });
        for (const line of text.split('\n')) {
          // % time  seconds  usecs/call  calls  [errors]  syscall
          const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
          if (m && m[3] !== 'total') rows.push({ name: m[3]!, calls: Number(m[1]), errors: Number(m[2] ?? 0) });
        }
        resolve({ seconds: span, rows });
      });
    }, span * 1000);
  });
}

function printSyscalls(c: SyscallCount, rate: number | undefined): void {
  const requests = rate === undefined ? undefined : rate * c.seconds;
  process.stdout.write(`\n-- system calls over ${c.seconds} s in the middle of the load, all threads${requests ? `, per request (${requests} requests)` : ''} --\n`);
  for (const r of c.rows.sort((a, b) => b.calls - a.calls)) {
    const per = requests ? `${(r.calls / requests).toFixed(2).padStart(7)}/req  ` : '';
    process.stdout.write(`${per}${String(r.calls).padStart(9)}  ${r.name}${r.errors ? ` (${r.errors} failed)` : ''}\n`);
  }
}

const PERF_HZ = 1999;

/** perf record (user space, or with `kernel` user and kernel; CPU-time clock) on the sidecar(s) over the middle third of the load. */
function samplePerf(pids: number[], seconds: number, out: string, kernel: boolean): Promise<{ seconds: number; file: string }> | undefined {
  if (spawnSync('perf', ['--version']).status !== 0) {
    process.stdout.write('--perf: perf is not installed\n');
    return undefined;
  }
  const span = Math.max(1, Math.floor(seconds / 3));
  const file = path.join(out, `perf-${pids.join('-')}.data`);
  return new Promise((resolve) => {
    setTimeout(() => {
      const rec = spawn('perf', ['record', '-q', '-e', kernel ? 'cpu-clock' : 'cpu-clock:u', '-F', String(PERF_HZ), '-p', pids.join(','), '-o', file], { stdio: 'ignore' });
      setTimeout(() => rec.kill('SIGINT'), span * 1000);
      rec.on('exit', () => resolve({ seconds: span, file }));
    }, span * 1000);
  });
}

function printPerf(p: { seconds: number; file: string }, rate: number | undefined): void {
  const r = spawnSync('perf', ['report', '-i', p.file, '--stdio', '--no-children', '--sort', 'sym', '-F', 'sample,sym'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  // One row per name: each sidecar's JIT code has its own addresses.
  const bySym = new Map<string, number>();
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^\s+(\d+)\s+\[[.k]\]\s+(.+?)\s*$/.exec(line);
    if (m) bySym.set(m[2]!, (bySym.get(m[2]!) ?? 0) + Number(m[1]));
  }
  const rows = [...bySym].map(([sym, samples]) => ({ sym, samples })).sort((a, b) => b.samples - a.samples);
  const total = rows.reduce((a, x) => a + x.samples, 0);
  const requests = rate === undefined ? undefined : rate * p.seconds;
  const us = (n: number): string => (requests ? `${((n * 1e6) / PERF_HZ / requests).toFixed(2).padStart(7)} µs/req` : `${((100 * n) / Math.max(1, total)).toFixed(1).padStart(5)} %`);
  process.stdout.write(`\n-- user-space CPU over ${p.seconds} s in the middle of the load, all sidecars: ${us(total)} (${p.file}; perf report -i it for call graphs) --\n`);
  for (const x of rows.slice(0, 40)) process.stdout.write(`${us(x.samples)}  ${x.sym}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`profile failed: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
