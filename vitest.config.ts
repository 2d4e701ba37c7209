import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: git- and HTTP-heavy suites contend when run wider than this.
    maxWorkers: 2,
  },
});
