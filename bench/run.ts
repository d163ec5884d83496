// `npm run bench`: tsmesh versus direct, nginx and HAProxy on loopback.
// See bench/README.md for the method and what each number means.
import path from 'node:path';
import { CommanderError } from 'commander';
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
  const { jsonPath, summary } = writeResults(out, opts);
  for (const s of summary)
    process.stdout.write(
      `${s.config.padEnd(24)} cpu ${String(s.cpuUsPerRequest ?? '–').padStart(6)} µs/req  +p50 ${String(s.addedUs?.p50 ?? '–').padStart(6)} µs  +p99 ${String(s.addedUs?.p99 ?? '–').padStart(6)} µs  max ${s.maxRpsHttp1 ?? '–'} req/s\n`,
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
