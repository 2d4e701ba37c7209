import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // CI runs on a loaded 2-core machine: under two full suites and two busy loops, tests that take
    // 3-4 s idle took 14-16 s (half of the old 30 s). A timeout only reports a hang; no test
    // asserts with it, so room here costs nothing when tests pass.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: git- and HTTP-heavy suites contend when run wider than this.
    maxWorkers: 2,
  },
});
