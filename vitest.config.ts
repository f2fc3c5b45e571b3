import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Fault tests spawn worker and coordinator processes; on 2 cores more files at once only adds contention.
    maxWorkers: 3,
  },
});
