import { defineConfig } from 'vitest/config';

// 2 cores: two forked workers; integration tests talk to real PostgreSQL and Redis and make
// their own databases and key prefixes, so files can run side by side.
export default defineConfig({
  test: {
    // test/** covers unit/, integration/, e2e/ and robustness/ (the bounded fast-check fuzz of the HTTP routes)
    include: ['test/**/*.test.ts', 'connectors/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
