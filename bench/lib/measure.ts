// One measured run against one configuration: the open-loop latency run (our
// generator in its own pinned process) or a closed-loop max-throughput run
// (wrk / h2load), with the proxies' CPU, memory and the machine's steal read
// from /proc over exactly the measured window.
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { pinned } from './processes.js';
import { cpuBetween, cpuShares, machineCpu, treeCpuByPid, treeMemory, type CpuTimes, type MemoryReading } from './proc.js';
import type { LoadgenOptions, LoadgenResult } from '../loadgen/open-loop.js';
import { BENCH_HOST } from '../peers/types.js';

export interface ProcWindow {
  /** null: a proxy process exited inside the window, so its CPU cannot be counted. */
  proxyCpuUs: number | null;
  stealPct: number;
  busyPct: number;
  memory: MemoryReading;
}

class WindowProbe {
  private cpu0 = new Map<number, number>();
  private m0: CpuTimes | null = null;
  constructor(private readonly pids: number[]) {}
  start(): void {
    this.cpu0 = treeCpuByPid(this.pids);
    this.m0 = machineCpu();
  }
  end(): ProcWindow {
    const cpu = cpuBetween(this.cpu0, this.pids);
    const shares = this.m0 ? cpuShares(this.m0, machineCpu()) : { stealPct: 0, busyPct: 0 };
    return { proxyCpuUs: cpu, ...shares, memory: treeMemory(this.pids) };
  }
}

export interface OpenLoopRun {
  loadgen: LoadgenResult;
  window: ProcWindow;
}

export async function runOpenLoop(opts: LoadgenOptions, proxyPids: number[], core: number): Promise<OpenLoopRun> {
  const script = path.join(import.meta.dirname, '..', 'loadgen', 'open-loop.js');
  const argv = pinned(core, [process.execPath, script, JSON.stringify(opts)]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const probe = new WindowProbe(proxyPids);
  let window: ProcWindow | null = null;
  let result: LoadgenResult | null = null;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = readline.createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    const msg = JSON.parse(line) as { event: string };
    if (msg.event === 'measure-start') probe.start();
    else if (msg.event === 'measure-end') window = probe.end();
    else if (msg.event === 'result') result = msg as LoadgenResult;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (!result || !window) throw new Error(`load generator failed (exit ${code}): ${stderr.slice(0, 2000)}`);
  return { loadgen: result, window };
}

export interface ClosedLoopRun {
  tool: 'wrk' | 'h2load';
  requests: number;
  durationS: number;
  requestsPerSec: number;
  errors: number;
  /** Mean (h2load) or p50 (wrk) latency in µs under saturation; for information only. */
  latencyUs: number;
  /** h2load: response DATA bytes received (a gRPC run counts full answers by it: a failed call has no message). */
  dataBytes?: number;
  window: ProcWindow;
}

function runTool(argv: string[], pids: number[]): Promise<{ out: string; code: number | null; window: ProcWindow }> {
  const probe = new WindowProbe(pids);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  probe.start();
  return new Promise((resolve) =>
    child.on('close', (code) => resolve({ out, code, window: probe.end() })),
  );
}

function toUs(v: string, unit: string): number {
  const x = parseFloat(v);
  return unit === 'us' ? x : unit === 'ms' ? x * 1000 : x * 1e6;
}

export async function runWrk(wrk: string, port: number, connections: number, seconds: number, pids: number[], core: number): Promise<ClosedLoopRun> {
  const argv = pinned(core, [wrk, '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-H', `Host: ${BENCH_HOST}`, `http://127.0.0.1:${port}/`]);
  const { out, code, window } = await runTool(argv, pids);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in ([\d.]+)(\w+)/.exec(out);
  if (code !== 0 || !rps || !total) throw new Error(`wrk failed (exit ${code}): ${out.slice(0, 1000)}`);
  const p50 = /\s50%\s+([\d.]+)(us|ms|s)/.exec(out);
  const errs = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = (errs ? Number(errs[1]) : 0) + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return {
    tool: 'wrk',
    requests: Number(total[1]),
    durationS: seconds,
    requestsPerSec: Math.round(Number(rps[1])),
    errors,
    latencyUs: p50 ? Math.round(toUs(p50[1]!, p50[2]!)) : 0,
    window,
  };
}

/** `request`: another path and extra h2load arguments (the gRPC run: `-d <body file> -H content-type:…`). */
export async function runH2load(h2load: string, port: number, connections: number, seconds: number, pids: number[], core: number, request?: { path: string; args: string[] }): Promise<ClosedLoopRun> {
  // -m 10: ten concurrent streams per connection, the way gRPC clients multiplex.
  const argv = pinned(core, [h2load, '-t1', `-c${connections}`, '-m10', `-D${seconds}`, '-H', `:authority: ${BENCH_HOST}`, ...(request?.args ?? []), `http://127.0.0.1:${port}${request?.path ?? '/'}`]);
  const { out, code, window } = await runTool(argv, pids);
  const done = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  const rps = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out);
  const mean = /time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(out);
  const data = /traffic: .*?, .*?headers.*?, [\d.]+\w*B \((\d+)\) data/.exec(out);
  if (code !== 0 || !done || !rps) throw new Error(`h2load failed (exit ${code}): ${out.slice(0, 1000)}`);
  return {
    tool: 'h2load',
    requests: Number(done[1]),
    durationS: seconds,
    requestsPerSec: Math.round(Number(rps[1])),
    errors: Number(done[3]) + Number(done[4]),
    latencyUs: mean ? Math.round(toUs(mean[1]!, mean[2]!)) : 0,
    ...(data ? { dataBytes: Number(data[1]) } : {}),
    window,
  };
}
