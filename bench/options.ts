// Command-line flags of `npm run bench`.
import { Command, InvalidArgumentError } from 'commander';
import path from 'node:path';

export const PROTOCOLS = ['http1', 'h2', 'grpc'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

function protocolList(v: string): Protocol[] {
  const list = v.split(',').map((x) => x.trim()).filter(Boolean);
  for (const p of list) if (!(PROTOCOLS as readonly string[]).includes(p)) throw new InvalidArgumentError(`unknown protocol '${p}' (known: ${PROTOCOLS.join(', ')})`);
  if (list.length === 0) throw new InvalidArgumentError('--protocols needs at least one of http1, h2, grpc');
  return [...new Set(list)] as Protocol[];
}

export interface BenchOptions {
  quick: boolean;
  /** Open-loop measured seconds per repetition. */
  duration: number;
  warmup: number;
  /** Closed-loop (max throughput) seconds per repetition; 0 skips it. */
  maxDuration: number;
  rate: number;
  connections: number;
  reps: number;
  only: string[] | null;
  out: string;
  install: boolean;
  h2: boolean;
  /** Open-loop latency protocols: http1 (raw HTTP/1.1), h2 (h2c to the first hop), grpc (unary gRPC paths). Default all. */
  protocols: Protocol[];
  /** Keep the temp dir with the generated configs (to rerun or profile exactly what was measured). */
  keepConfigs: boolean;
  /** The control-plane/CA section (bench/control-plane.ts); false with --no-control-plane. */
  controlPlane: boolean;
  cpClients: number[];
  cpPushes: number;
  cpSeconds: number;
}

function positive(name: string, int: boolean) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || (int && !Number.isInteger(n))) throw new InvalidArgumentError(`${name} must be a positive ${int ? 'integer' : 'number'}`);
    return n;
  };
}

export function parseOptions(argv: string[], repoRoot: string): BenchOptions {
  const cmd = new Command('bench')
    .description('tsmesh benchmarks: added latency, throughput, CPU and memory versus direct, nginx and HAProxy')
    .option('--quick', 'a few seconds in all: short runs, one repetition', false)
    .option('--duration <s>', 'measured seconds of each open-loop run', positive('--duration', false))
    .option('--warmup <s>', 'warm-up seconds before each measured run (excluded)', positive('--warmup', false))
    .option('--max-duration <s>', 'seconds of each closed-loop max-throughput run (0 = skip)', (v) => Number(v))
    .option('--rate <n>', 'open-loop request rate, requests/s', positive('--rate', true))
    .option('--connections <n>', 'keep-alive connections', positive('--connections', true))
    .option('--reps <n>', 'repetitions (configurations interleaved within each)', positive('--reps', true))
    .option('--only <ids>', 'comma-separated configuration ids (direct is always added as the baseline; each also selects its *-grpc variant when --protocols has grpc)')
    .option('--out <dir>', 'output directory', path.join(repoRoot, 'bench', 'results'))
    .option('--no-install', 'do not try to install missing peers')
    .option('--no-h2', 'skip the HTTP/2 (h2load) runs')
    .option('--protocols <list>', 'open-loop latency protocols: http1,h2,grpc (default all)', protocolList)
    .option('--keep-configs', 'keep the generated configs (printed path) after the run', false)
    .option('--no-control-plane', 'skip the control-plane and CA measurements')
    .option('--cp-clients <list>', 'proxy counts for the xDS ACK bench (default 100,1000)', (v) =>
      v.split(',').map((x) => positive('--cp-clients', true)(x.trim())),
    )
    .option('--cp-pushes <n>', 'changes pushed per xDS ACK run (default 5, quick 2)', positive('--cp-pushes', true))
    .option('--cp-seconds <s>', 'seconds of each CA measurement (default 3, quick 1)', positive('--cp-seconds', false))
    .exitOverride();
  cmd.parse(argv, { from: 'user' });
  const o = cmd.opts<Record<string, unknown>>();
  const quick = o.quick === true;
  const only = typeof o.only === 'string' ? o.only.split(',').map((s) => s.trim()).filter(Boolean) : null;
  return {
    quick,
    duration: (o.duration as number | undefined) ?? (quick ? 1.5 : 10),
    warmup: (o.warmup as number | undefined) ?? (quick ? 0.5 : 2),
    maxDuration: (o.maxDuration as number | undefined) ?? (quick ? 1 : 5),
    rate: (o.rate as number | undefined) ?? 1000,
    connections: (o.connections as number | undefined) ?? 16,
    reps: (o.reps as number | undefined) ?? (quick ? 1 : 3),
    only: only ? [...new Set(['direct', ...only])] : null,
    out: path.resolve(o.out as string),
    install: o.install !== false,
    h2: o.h2 !== false,
    protocols: (o.protocols as Protocol[] | undefined) ?? [...PROTOCOLS],
    keepConfigs: o.keepConfigs === true,
    controlPlane: o.controlPlane !== false,
    cpClients: (o.cpClients as number[] | undefined) ?? [100, 1000],
    cpPushes: (o.cpPushes as number | undefined) ?? (quick ? 2 : 5),
    cpSeconds: (o.cpSeconds as number | undefined) ?? (quick ? 1 : 3),
  };
}
