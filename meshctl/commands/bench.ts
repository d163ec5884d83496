// meshctl bench <service>: an open-loop latency benchmark against one service
// through the mesh — by default into a sidecar's outbound listener with the
// service as Host, or against a given URL. The load comes from
// bench/loadgen/open-loop.ts (fixed rate, latency from each request's intended
// send time, so a stalled service is not hidden by coordinated omission), run
// as its own process so it does not share an event loop with this one.

import { spawn } from 'node:child_process';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDuration } from '../../common/duration.js';
import type { LatencySummary, LoadgenOptions, LoadgenResult } from '../../bench/loadgen/open-loop.js';
import { CliError, EXIT } from '../context.js';

const GENERATOR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'loadgen', 'open-loop.js');

export interface BenchOptions {
  via?: string;
  url?: string;
  rate: string;
  duration: string;
  warmup: string;
  connections: string;
  path: string;
  output: string;
}

interface Target {
  host: string;
  port: number;
  hostHeader: string;
  path: string;
  label: string;
}

function number(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!(Number.isInteger(n) && n >= min && n <= max)) throw new CliError(`--${name} must be an integer from ${min} to ${max}, got "${v}"`, EXIT.USAGE);
  return n;
}

function duration(name: string, v: string, minMs: number, maxMs: number): number {
  const ms = parseDuration(v);
  if (ms === undefined || ms < minMs || ms > maxMs) throw new CliError(`--${name} "${v}" must be a duration from ${minMs / 1000}s to ${maxMs / 1000}s (e.g. 10s)`, EXIT.USAGE);
  return ms;
}

function target(service: string, o: BenchOptions): Target {
  if (o.url) {
    let u: URL;
    try {
      u = new URL(o.url);
    } catch {
      throw new CliError(`--url "${o.url}" is not a URL (e.g. http://127.0.0.1:15001/)`, EXIT.USAGE);
    }
    if (u.protocol !== 'http:') throw new CliError(`--url must be http:// (the generator speaks HTTP/1.1 in plaintext; mTLS is the sidecars' job), got ${u.protocol}`, EXIT.USAGE);
    const port = Number(u.port || 80);
    return { host: u.hostname.replace(/^\[|\]$/g, ''), port, hostHeader: service || u.host, path: `${u.pathname}${u.search}`, label: `${service} at ${u.host}` };
  }
  const via = o.via ?? process.env.TSMESH_OUTBOUND;
  if (!via) throw new CliError('no way into the mesh given: pass --via <host:port> (a sidecar\'s outbound listener, or set TSMESH_OUTBOUND) or --url <http://…>', EXIT.USAGE);
  const i = via.lastIndexOf(':');
  const port = Number(via.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new CliError(`--via "${via}" is not host:port`, EXIT.USAGE);
  if (!o.path.startsWith('/')) throw new CliError(`--path must start with /, got "${o.path}"`, EXIT.USAGE);
  return { host: via.slice(0, i).replace(/^\[|\]$/g, ''), port, hostHeader: service, path: o.path, label: `${service} via ${via}` };
}

function reachable(t: Target): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: t.host, port: t.port, timeout: 3000 }, () => (s.destroy(), resolve()));
    const fail = (why: string) => (s.destroy(), reject(new CliError(`cannot connect to ${t.host}:${t.port} (${why}); is the sidecar running and is this its outbound listener?`, EXIT.UNREACHABLE)));
    s.once('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    s.once('timeout', () => fail('timeout'));
  });
}

function runGenerator(opts: LoadgenOptions): Promise<LoadgenResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GENERATOR, JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err = (err + d).slice(-2000)));
    const stop = () => child.kill('SIGTERM');
    process.once('SIGINT', stop);
    child.once('error', (e) => reject(new CliError(`cannot start the load generator ${GENERATOR}: ${e.message}`, EXIT.FAILURE)));
    child.once('exit', (code) => {
      process.off('SIGINT', stop);
      const line = out.split('\n').find((l) => l.includes('"event":"result"'));
      if (!line) return reject(new CliError(`the load generator stopped (exit ${code}) without a result${err ? `: ${err.trim()}` : ''}`, EXIT.FAILURE));
      resolve(JSON.parse(line) as LoadgenResult);
    });
  });
}

const ms = (us: number) => us / 1000;
const msSummary = (l: LatencySummary) => ({ p50: ms(l.p50), p90: ms(l.p90), p99: ms(l.p99), p999: ms(l.p999), max: ms(l.max), mean: ms(l.mean) });
const fmt = (us: number) => (us >= 10_000 ? `${(us / 1000).toFixed(0)}ms` : `${(us / 1000).toFixed(2)}ms`);

export async function bench(service: string, o: BenchOptions): Promise<string> {
  if (!service) throw new CliError('name the service to benchmark, e.g. meshctl bench reviews:9080 --via 127.0.0.1:15001', EXIT.USAGE);
  if (o.output !== 'table' && o.output !== 'json') throw new CliError(`-o must be table or json, got "${o.output}"`, EXIT.USAGE);
  const rate = number('rate', o.rate, 1, 100_000);
  const connections = number('connections', o.connections, 1, 1000);
  const durationMs = duration('duration', o.duration, 500, 3_600_000);
  const warmupMs = o.warmup === '0' ? 0 : duration('warmup', o.warmup, 0, 600_000);
  const t = target(service, o);
  await reachable(t);
  // A long run says what it is doing (on a terminal; stdout stays the result).
  if (process.stderr.isTTY) process.stderr.write(`benchmarking ${t.label}${t.path}: ${warmupMs / 1000}s warm-up, then ${durationMs / 1000}s at ${rate} req/s …\n`);
  const r = await runGenerator({ host: t.host, port: t.port, path: t.path, hostHeader: t.hostHeader, rate, connections, warmupMs, durationMs, drainMs: 5000 });
  const errors = r.non2xx + r.socketErrors + r.timeouts;
  const result = {
    service,
    target: `${t.host}:${t.port}`,
    path: t.path,
    rate,
    connections,
    durationMs,
    sent: r.sent,
    completed: r.completed,
    errors: { total: errors, non2xx: r.non2xx, socketErrors: r.socketErrors, timeouts: r.timeouts },
    throughput: r.achievedRate,
    latencyMs: msSummary(r.latencyUs),
    serviceTimeMs: msSummary(r.serviceTimeUs),
  };
  if (r.completed === 0) throw new CliError(`no request to ${t.label} completed (${r.socketErrors} socket errors, ${r.timeouts} timeouts)`, EXIT.FAILURE);
  if (o.output === 'json') return JSON.stringify(result, null, 2) + '\n';
  const l = r.latencyUs;
  return (
    `bench ${t.label}${t.path}: open loop at ${rate} req/s for ${durationMs / 1000}s over ${connections} connection${connections === 1 ? '' : 's'}\n` +
    `  requests    ${r.sent} sent, ${r.completed} completed\n` +
    `  errors      ${errors} (${r.non2xx} non-2xx, ${r.socketErrors} socket errors, ${r.timeouts} timeouts)\n` +
    `  throughput  ${r.achievedRate} req/s\n` +
    `  latency     p50 ${fmt(l.p50)}  p90 ${fmt(l.p90)}  p99 ${fmt(l.p99)}  p99.9 ${fmt(l.p999)}  max ${fmt(l.max)}\n` +
    `              (from each request's intended send time: queueing behind a slow response counts)\n`
  );
}
