import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Lab tests share one kernel; run test files one at a time so namespaces never race.
    fileParallelism: false,
    pool: 'forks',
  },
});
