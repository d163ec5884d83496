// fast-check options for the suite's fuzz tests: a fixed seed, so CI runs the
// same sequences every time, unless told otherwise. To hunt for more:
// FUZZ_SEED=<n> or FUZZ_SEED=random, and FUZZ_RUNS=<count> (every fuzz test
// then runs that many sequences, and its time limit grows with the count).

export function fuzzOptions(runs: number): { numRuns: number; seed?: number } {
  const seed = process.env.FUZZ_SEED ?? '20261124';
  return { numRuns: fuzzRuns(runs), ...(seed === 'random' ? {} : { seed: Number(seed) }) };
}

/** The test's time limit for `runs` default sequences taking up to `timeoutMs`, scaled to FUZZ_RUNS. */
export function fuzzTimeout(runs: number, timeoutMs: number): number {
  return Math.max(timeoutMs, Math.ceil((timeoutMs * fuzzRuns(runs)) / runs));
}

function fuzzRuns(runs: number): number {
  const n = Number(process.env.FUZZ_RUNS ?? runs);
  if (!Number.isInteger(n) || n < 1) throw new Error(`FUZZ_RUNS must be a positive integer, got ${process.env.FUZZ_RUNS}`);
  return n;
}
