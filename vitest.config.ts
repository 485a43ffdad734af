import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Model-heavy files run in separate forks; 2 cores on CI.
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
