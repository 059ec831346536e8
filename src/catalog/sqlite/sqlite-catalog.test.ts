import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrate, SCHEMA_VERSION } from '../migrations.js';
import { describeCatalog } from '../testing/catalog-suite.js';
import { openSqliteCatalog } from './sqlite-catalog.js';
import { openSqlite } from './sqlite-client.js';

describeCatalog('sqlite (file, WAL)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'snapdisk-cat-'));
  const catalog = await openSqliteCatalog(join(dir, 'c.db'), { durable: false });
  return {
    catalog,
    dispose: async () => {
      await catalog.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('sqlite migrations', () => {
  it('are versioned and idempotent', async () => {
    const client = openSqlite(':memory:');
    expect(await migrate(client)).toBe(SCHEMA_VERSION);
    expect(await migrate(client)).toBe(SCHEMA_VERSION);
    const rows = await client.all<{ version: number }>('SELECT version FROM schema_migrations');
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3, 4]);
    const mode = await client.get<{ journal_mode: string }>('PRAGMA journal_mode');
    expect(mode?.journal_mode).toBe('memory');
    await client.close();
  });
});
