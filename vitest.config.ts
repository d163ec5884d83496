import { defineConfig } from 'vitest/config';

// Tests run against real sockets and child processes; keep parallelism modest
// on 2-core CI machines so timing-sensitive end-to-end tests stay stable.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
  },
});
