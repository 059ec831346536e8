/**
 * @module catalog/postgres/test-database
 * Test support (no test framework imported): one throw-away database per test file on the server
 * named by `SNAPDISK_TEST_POSTGRES_URL` (`npm run test:scaleout` starts one), and a fresh schema
 * per catalog inside it, so that each contract test starts empty at a few ms instead of the
 * ~120 ms of a CREATE DATABASE.
 */

import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const POSTGRES_URL_ENV = 'SNAPDISK_TEST_POSTGRES_URL';

export const postgresSkipReason = (): string | null =>
  process.env[POSTGRES_URL_ENV]
    ? null
    : `SKIPPED: no PostgreSQL (${POSTGRES_URL_ENV} is not set; \`npm run test:scaleout\` starts one and runs these tests)`;

export interface TestDatabase {
  url: string;
  name: string;
  /** A new schema name, unique in this database. */
  schema(): string;
  drop(): Promise<void>;
}

/** Creates `sd_<label>_<random>` on the server of `adminUrl` and returns its URL. */
export async function createTestDatabase(adminUrl: string, label: string): Promise<TestDatabase> {
  const name = `sd_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`);
  } finally {
    await admin.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  let n = 0;
  return {
    url: u.toString(),
    name,
    schema: () => `s${++n}_${randomBytes(3).toString('hex')}`,
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
