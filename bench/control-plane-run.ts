// The control-plane/CA section of `npm run bench` on its own (no proxies,
// nginx or HAProxy needed): writes control-plane.json, control-plane.md,
// control-plane-acks.svg and ca-rate.svg into --out (default bench/results).
//
//   node --expose-gc dist/bench/control-plane-run.js [--reps 3] [--cp-clients 100,1000] [--cp-pushes 5] [--cp-seconds 3] [--out dir]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { runControlPlaneBench } from './control-plane.js';
import { controlPlaneCharts, controlPlaneMarkdown } from './report/control-plane.js';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

async function main(): Promise<void> {
  const o = new Command('control-plane-run')
    .option('--reps <n>', 'repetitions (measurements interleaved within each)', positive, 3)
    .option('--cp-clients <list>', 'proxy counts for the xDS ACK bench', (v) => v.split(',').map((x) => positive(x.trim())), [100, 1000])
    .option('--cp-pushes <n>', 'changes pushed per xDS ACK run', positive, 5)
    .option('--cp-seconds <s>', 'seconds of each CA measurement', positive, 3)
    .option('--out <dir>', 'output directory', path.join(repoRoot, 'bench', 'results'))
    .parse()
    .opts<{ reps: number; cpClients: number[]; cpPushes: number; cpSeconds: number; out: string }>();
  const startedAt = new Date().toISOString();
  const cp = await runControlPlaneBench(
    { clients: o.cpClients, pushes: o.cpPushes, caSeconds: o.cpSeconds, caConcurrency: 8, reps: o.reps, clusters: 20 },
    (l) => process.stdout.write(`${l}\n`),
  );
  const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', kernel: os.release(), node: process.version, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100) };
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(path.join(o.out, 'control-plane.json'), JSON.stringify({ schema: 1, startedAt, finishedAt: new Date().toISOString(), machine, controlPlane: cp }, null, 2) + '\n');
  const head = `# tsmesh control plane and CA\n\nRun ${startedAt} on ${machine.cpus}× ${machine.model}, Linux ${machine.kernel}, Node ${machine.node}; load average at the end ${machine.loadavg.join(' ')}.\n\n`;
  fs.writeFileSync(path.join(o.out, 'control-plane.md'), head + controlPlaneMarkdown(cp).replace('Raw repetitions: `latest.json` → `controlPlane`', 'Raw repetitions: `control-plane.json`'));
  for (const [f, svg] of Object.entries(controlPlaneCharts(cp))) fs.writeFileSync(path.join(o.out, f), svg);
  process.stdout.write(`results: ${path.join(o.out, 'control-plane.json')} (and control-plane.md, control-plane-acks.svg, ca-rate.svg)\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`control-plane bench failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
