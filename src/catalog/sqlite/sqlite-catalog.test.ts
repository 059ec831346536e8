import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SnapdiskError } from '../../core/errors.js';
import type { SnapshotRecord } from '../../core/model.js';
import { UniqueViolation } from '../../core/ports.js';
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

const SUB = 'aaaaaaaa-0000-4000-8000-000000000001';

function snapshot(name: string, uniqueId: string): SnapshotRecord {
  return {
    subscriptionId: SUB,
    resourceGroup: 'RG',
    name,
    uniqueId,
    location: 'eastus',
    sku: 'Standard_LRS',
    incremental: true,
    sizeBytes: 1 << 30,
    logicalSectorSize: 512,
    diskState: 'Unattached',
    provisioningState: 'Succeeded',
    creationData: { createOption: 'Copy' },
    tags: {},
    properties: {},
    timeCreated: '2026-01-01T00:00:00.000Z',
    familyId: 'f',
    point: 1,
    sourceDiskSku: null,
    copyCompletionError: null,
    deletedAt: null,
  };
}

/** The error a promise rejects with. */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('sqlite errors', () => {
  it('a unique violation is UniqueViolation (nameKey only for a live name); NOT NULL and foreign keys pass through', async () => {
    const catalog = await openSqliteCatalog(':memory:', { durable: false });
    try {
      await catalog.insertSnapshot(snapshot('s1', 'u1'));
      const taken = await failure(catalog.insertSnapshot(snapshot('S1', 'u2')));
      expect(taken).toBeInstanceOf(UniqueViolation);
      expect((taken as UniqueViolation).code).toBe('Conflict');
      expect((taken as UniqueViolation).nameKey).toBe(true);
      expect((taken as UniqueViolation).message).toMatch(/^catalog \(SQLite\): UNIQUE constraint failed: snapshots\.live_key$/);
      // inside a transaction the same
      const inTx = await failure(catalog.transaction((tx) => tx.insertSnapshot(snapshot('s1', 'u3'))));
      expect(inTx instanceof UniqueViolation && inTx.nameKey).toBe(true);
      // a deleted snapshot's name is free again
      await catalog.updateSnapshot({ ...snapshot('s1', 'u1'), deletedAt: '2026-01-02T00:00:00.000Z' });
      await catalog.insertSnapshot(snapshot('s1', 'u5'));
      // the same id under another name: a unique violation, not of the name
      const sameId = await failure(catalog.insertSnapshot(snapshot('s2', 'u1')));
      expect(sameId instanceof UniqueViolation && !sameId.nameKey).toBe(true);
      // NOT NULL: the driver's error, unchanged
      const notNull = await failure(catalog.insertSnapshot({ ...snapshot('s3', 'u4'), familyId: null as unknown as string }));
      expect(notNull).not.toBeInstanceOf(SnapdiskError);
      expect((notNull as { code?: string }).code).toBe('SQLITE_CONSTRAINT_NOTNULL');
      // a foreign key: a group of a subscription that does not exist
      const fk = await failure(
        catalog.putResourceGroup({ subscriptionId: 'nope', name: 'rg', location: 'eastus', tags: {}, provisioningState: 'Succeeded', createdAt: '2026-01-01T00:00:00.000Z' }),
      );
      expect(fk).not.toBeInstanceOf(SnapdiskError);
      expect((fk as { code?: string }).code).toBe('SQLITE_CONSTRAINT_FOREIGNKEY');
      // the refused statements wrote nothing
      expect((await catalog.listSnapshots({ subscriptionId: SUB, includeDeleted: true })).map((s) => s.uniqueId).sort()).toEqual(['u1', 'u5']);
    } finally {
      await catalog.close();
    }
  });
});
