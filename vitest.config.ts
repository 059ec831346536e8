import { defineConfig } from 'vitest/config';

// Three projects: `unit` (pure and in-process, fast), `integration` (real servers on port 0,
// real SQLite, temporary directories) and `e2e` (real clients installed from Debian packages:
// az, qemu-img, nbdinfo, postgresql). `npm test` runs the first two, `npm run test:e2e` the third.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
