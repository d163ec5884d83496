// `npm run bench`: tsmesh versus direct, nginx and HAProxy on loopback.
// See bench/README.md for the method and what each number means.
import path from 'node:path';
import { CommanderError } from 'commander';
import { controlPlaneOptions, runControlPlaneBench } from './control-plane.js';
import { runHarness } from './harness.js';
import { parseOptions } from './options.js';
import { writeResults } from './report/write.js';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');

async function main(): Promise<void> {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2), repoRoot);
  } catch (e) {
    if (e instanceof CommanderError) process.exit(e.exitCode);
    throw e;
  }
  const out = await runHarness(opts, repoRoot);
  // After the proxies (nothing else of the bench runs meanwhile); --no-control-plane skips it.
  const cp = opts.controlPlane ? await runControlPlaneBench(controlPlaneOptions(opts), (l) => process.stdout.write(`${l}\n`)) : { skipped: '--no-control-plane' };
  const { jsonPath, summary, byProtocol } = writeResults(out, opts, cp);
  for (const s of summary)
    process.stdout.write(
      `${s.config.padEnd(24)} cpu ${String(s.cpuUsPerRequest ?? '–').padStart(6)} µs/req  +p50 ${String(s.addedUs?.p50 ?? '–').padStart(6)} µs  +p99 ${String(s.addedUs?.p99 ?? '–').padStart(6)} µs  max ${s.maxRpsHttp1 ?? '–'} req/s\n`,
    );
  for (const protocol of ['h2', 'grpc'] as const)
    for (const r of byProtocol[protocol])
      process.stdout.write(
        `${`${r.config} (${protocol})`.padEnd(30)} p50 ${String(r.latencyUs.p50).padStart(6)} µs  +p50 ${String(r.addedUs?.p50 ?? '–').padStart(6)} µs  +p99 ${String(r.addedUs?.p99 ?? '–').padStart(6)} µs  cpu ${String(r.cpuUsPerRequest ?? '–').padStart(6)} µs/req  errors ${r.errors}\n`,
      );
  process.stdout.write(`results: ${jsonPath} (and latest.md, *.svg)\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
