// The bench run: start the upstream and every configuration on loopback, then
// measure them interleaved (A B C A B C …) so slow drifts of a shared machine
// hit all configurations alike, and collect every raw repetition.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allConfigs } from './configs.js';
import { runH2load, runOpenLoop, runWrk } from './lib/measure.js';
import { probeHttp1, probeHttp2 } from './lib/probe.js';
import { coreCount, installExitHooks } from './lib/processes.js';
import { makeCerts } from './peers/certs.js';
import { ensurePeers, findTools } from './peers/install.js';
import { BENCH_HOST, type BenchEnv, type ConfigDef, type RunningTarget } from './peers/types.js';
import { startUpstream } from './peers/upstream.js';
import { probeGrpc, startGrpcUpstream, type GrpcUpstream } from './peers/grpc-upstream.js';
import { grpcMax, grpcRequest } from './lib/grpc-load.js';
import type { BenchOptions, Protocol } from './options.js';
import type { RunRecord } from './report/summary.js';

export interface HarnessOutput {
  startedAt: string;
  finishedAt: string;
  env: { upstream: string; proxyCore: number; clientCore: number; tools: Record<string, string | null> };
  configs: { id: string; label: string; proxy: string; hops: number; mtls: boolean; policies: boolean; protocol: 'http' | 'grpc'; skipped: string | null }[];
  runs: RunRecord[];
  notes: string[];
}

const log = (msg: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

export async function runHarness(opts: BenchOptions, repoRoot: string): Promise<HarnessOutput> {
  installExitHooks();
  const startedAt = new Date().toISOString();
  const notes: string[] = [];
  if (opts.install) {
    const note = ensurePeers(repoRoot);
    if (note !== 'peers present') notes.push(note);
  }
  const tools = findTools();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsmesh-bench-'));
  const cores = coreCount();
  const proxyCore = 0;
  const clientCore = cores > 1 ? 1 : 0;
  if (cores < 2) notes.push('single core: the load generator and the proxies share it');
  const certs = tools.openssl ? makeCerts(dir, tools.openssl) : undefined;
  const upstream = await startUpstream({ dir, tools, clientCore });
  if (upstream.kind === 'node') notes.push('nginx missing: the upstream is a Node http server in the harness process');
  const env: BenchEnv = {
    repoRoot,
    dir,
    tools,
    proxyCore,
    clientCore,
    upstreamPort: upstream.port,
    upstreamPids: upstream.kind === 'nginx' ? upstream.pids : [],
    ...(upstream.h2Port ? { upstreamH2Port: upstream.h2Port } : {}),
    ...(certs ? { certs } : {}),
  };

  // --only <id> also selects the gRPC variant of that path (`<id>-grpc`), measured when --protocols has grpc.
  const selected = (c: ConfigDef): boolean => !opts.only || opts.only.includes(c.id) || (c.protocol === 'grpc' && opts.only.includes(c.id.replace(/-grpc$/, '')));
  const wanted = allConfigs().filter((c) => selected(c) && (c.protocol !== 'grpc' || opts.protocols.includes('grpc')));
  if (opts.only) for (const id of opts.only) if (!allConfigs().some((c) => c.id === id)) throw new Error(`unknown configuration '${id}'; known: ${allConfigs().map((c) => c.id).join(', ')}`);
  let grpcUpstream: GrpcUpstream | null = null;
  if (wanted.some((c) => c.protocol === 'grpc')) {
    grpcUpstream = await startGrpcUpstream(clientCore);
    env.grpcUpstreamPort = grpcUpstream.port;
    env.grpcUpstreamPids = grpcUpstream.pids;
  }
  const skipped = new Map<string, string>();
  const running: { def: ConfigDef; target: RunningTarget }[] = [];
  const runs: RunRecord[] = [];
  try {
    for (const def of wanted) {
      const why = def.unavailable(env);
      if (why) {
        skipped.set(def.id, why);
        log(`skip ${def.id}: ${why}`);
        continue;
      }
      try {
        const target = await def.start(env);
        const bad = def.protocol === 'grpc' ? await probeGrpc(target.port) : await probeHttp1(target.port);
        if (bad) {
          await target.stop();
          throw new Error(bad);
        }
        if (target.h2Port) {
          const bad2 = await probeHttp2(target.h2Port);
          if (bad2) {
            notes.push(`${def.id}: no HTTP/2 runs (${bad2})`);
            delete target.h2Port;
          }
        }
        running.push({ def, target });
      } catch (e) {
        const msg = `failed to start: ${(e as Error).message.slice(0, 500)}`;
        skipped.set(def.id, msg);
        log(`skip ${def.id}: ${msg}`);
      }
    }
    // A proxy that died mid-run leaves only failed requests (or, in the mesh, a control plane that dropped its
    // workload and 404s): the path is not measured further, and the report says which process exited when.
    const dead = new Set<string>();
    const died = (def: ConfigDef, target: RunningTarget, when: string): boolean => {
      if (dead.has(def.id)) return true;
      const gone = target.proxyPids.filter((pid) => !alive(pid));
      if (gone.length === 0) return false;
      dead.add(def.id);
      notes.push(`${def.id}: proxy process ${gone.join(', ')} exited (found ${when}); not measured further, and the failures of its last run are that, not the path's behaviour`);
      log(`${def.id}: proxy process ${gone.join(', ')} exited`);
      return true;
    };
    for (let rep = 1; rep <= opts.reps; rep++) {
      // One protocol at a time, every configuration in turn (interleaved within each protocol).
      for (const protocol of opts.protocols)
        for (const { def, target } of running) {
          const port = entryFor(def, target, protocol);
          if (port === null || died(def, target, `before rep ${rep}'s open-loop ${protocol} run`)) continue;
          log(`rep ${rep}/${opts.reps} open-loop ${protocol} ${def.id}`);
          runs.push(await openLoopRun(opts, def, target, port, protocol, rep, clientCore));
        }
      if (tools.wrk && opts.maxDuration > 0)
        for (const { def, target } of running) {
          if (def.protocol === 'grpc' || died(def, target, `before rep ${rep}'s wrk run`)) continue;
          log(`rep ${rep}/${opts.reps} max-throughput http1 ${def.id}`);
          const w = await runWrk(tools.wrk, target.port, opts.connections, opts.maxDuration, target.proxyPids, clientCore);
          runs.push({ ...w, kind: 'closed-loop', protocol: 'http1', rep, config: def.id, cpuUsPerRequest: perReq(w.window.proxyCpuUs, w.requests) });
        }
      if (tools.h2load && opts.h2 && opts.maxDuration > 0)
        for (const { def, target } of running) {
          if (died(def, target, `before rep ${rep}'s h2load run`)) continue;
          if (def.protocol === 'grpc') {
            log(`rep ${rep}/${opts.reps} max-throughput grpc ${def.id}`);
            const g = grpcMax(await runH2load(tools.h2load, target.port, opts.connections, opts.maxDuration, target.proxyPids, clientCore, grpcRequest(dir)));
            runs.push({ ...g, kind: 'closed-loop', protocol: 'grpc', rep, config: def.id, cpuUsPerRequest: perReq(g.window.proxyCpuUs, g.requests) });
            continue;
          }
          if (!target.h2Port) continue;
          log(`rep ${rep}/${opts.reps} max-throughput http2 ${def.id}`);
          const h = await runH2load(tools.h2load, target.h2Port, opts.connections, opts.maxDuration, target.proxyPids, clientCore);
          runs.push({ ...h, kind: 'closed-loop', protocol: 'http2', rep, config: def.id, cpuUsPerRequest: perReq(h.window.proxyCpuUs, h.requests) });
        }
    }
    for (const { def, target } of running) died(def, target, 'after the last run');
  } finally {
    await Promise.all(running.map((r) => r.target.stop().catch(() => {})));
    await upstream.stop().catch(() => {});
    await grpcUpstream?.stop().catch(() => {});
    if (opts.keepConfigs) log(`generated configs kept in ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
  if (!tools.wrk) notes.push('wrk missing: no closed-loop HTTP/1.1 max-throughput runs');
  if (!tools.h2load) notes.push('h2load missing: no HTTP/2 runs');
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    env: { upstream: upstream.kind, proxyCore, clientCore, tools: { ...tools } },
    configs: wanted.map((d) => ({ id: d.id, label: d.label, proxy: d.proxy, hops: d.hops, mtls: d.mtls, policies: d.policies, protocol: d.protocol ?? 'http', skipped: skipped.get(d.id) ?? null })),
    runs,
    notes,
  };
}

/** null when the window's CPU could not be counted (a proxy exited in it). */
function perReq(cpuUs: number | null, requests: number): number | null {
  if (cpuUs === null) return null;
  return requests ? Math.round((cpuUs / requests) * 10) / 10 : 0;
}

/** The port a protocol's open-loop run enters a path by, or null when the path has none for it. */
function entryFor(def: ConfigDef, target: RunningTarget, protocol: Protocol): number | null {
  if (def.protocol === 'grpc') return protocol === 'grpc' ? target.port : null;
  if (protocol === 'http1') return target.port;
  if (protocol === 'h2') return target.h2Port ?? null;
  return null;
}

async function openLoopRun(opts: BenchOptions, def: ConfigDef, target: RunningTarget, port: number, protocol: Protocol, rep: number, clientCore: number): Promise<RunRecord> {
  const r = await runOpenLoop(
    {
      host: '127.0.0.1',
      port,
      path: protocol === 'grpc' ? '/bench.Echo/Call' : '/',
      hostHeader: BENCH_HOST,
      rate: opts.rate,
      connections: opts.connections,
      warmupMs: Math.round(opts.warmup * 1000),
      durationMs: Math.round(opts.duration * 1000),
      drainMs: 5000,
      ...(protocol === 'http1' ? {} : { protocol }),
    },
    target.proxyPids,
    clientCore,
  );
  const lg = r.loadgen;
  return {
    kind: 'open-loop',
    protocol,
    rep,
    config: def.id,
    latencyUs: lg.latencyUs,
    serviceTimeUs: lg.serviceTimeUs,
    dispatchLagUs: lg.dispatchLagUs,
    sent: lg.sent,
    completed: lg.completed,
    errors: lg.non2xx + lg.socketErrors + lg.timeouts,
    errorKinds: { non2xx: lg.non2xx, non2xxStatuses: lg.non2xxStatuses, socketErrors: lg.socketErrors, timeouts: lg.timeouts },
    achievedRate: lg.achievedRate,
    generatorCpuUsPerRequest: lg.generatorCpuUsPerRequest,
    cpuUsPerRequest: perReq(r.window.proxyCpuUs, lg.completed),
    window: r.window,
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
