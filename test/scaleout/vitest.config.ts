import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `npm run test:scaleout`: the backend contract suites against real PostgreSQL, Ceph radosgw and
// Azurite (started by test/scaleout/run.sh, which sets the SNAPDISK_TEST_* variables), plus the
// measured figures of docs/SCALE-OUT.md. Files run one after the other: they share the servers.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: [
      'src/catalog/postgres/**/*.test.ts',
      'src/chunks/s3/**/*.test.ts',
      'src/chunks/azure/**/*.test.ts',
      'src/chunks/wrap/**/*.test.ts',
      'test/scaleout/**/*.test.ts',
    ],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
