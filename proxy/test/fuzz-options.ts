// fast-check options for the suite's fuzz tests: a fixed seed, so CI runs the
// same sequences every time, unless told otherwise. To hunt for more:
// FUZZ_SEED=<n> or FUZZ_SEED=random, and FUZZ_RUNS=<count>.

export function fuzzOptions(runs: number): { numRuns: number; seed?: number } {
  const seed = process.env.FUZZ_SEED ?? '20261124';
  return { numRuns: Number(process.env.FUZZ_RUNS ?? runs), ...(seed === 'random' ? {} : { seed: Number(seed) }) };
}
