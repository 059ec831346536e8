import { describe, expect, it } from 'vitest';
import { SnapdiskError } from '../core/errors.js';
import { UniqueViolation } from '../core/ports.js';
import { nameTaken } from './resources.js';

describe('nameTaken', () => {
  const key = { subscriptionId: 'aaaaaaaa-0000-4000-8000-000000000001', resourceGroup: 'RG', name: 'S1' };

  it('a unique violation of the live-name key is a 409 naming the resource', () => {
    const cause = new UniqueViolation('catalog (SQLite): UNIQUE constraint failed: snapshots.live_key', true, new Error('driver'));
    const err = nameTaken(cause, 'snapshot', key);
    expect(err).toBeInstanceOf(SnapdiskError);
    expect(err?.code).toBe('Conflict');
    expect(err?.message).toBe('A snapshot named S1 was created in resource group RG by a concurrent request.');
    expect(err?.cause).toBe(cause);
  });

  it('any other failure is not: another unique key, NOT NULL, CHECK, foreign keys, other conflicts', () => {
    const others: unknown[] = [
      new UniqueViolation('catalog (PostgreSQL): duplicate key value violates unique constraint "disks_pkey"', false, null),
      Object.assign(new Error('NOT NULL constraint failed: snapshots.family_id'), { code: 'SQLITE_CONSTRAINT_NOTNULL' }),
      Object.assign(new Error('CHECK constraint failed: x'), { code: 'SQLITE_CONSTRAINT_CHECK' }),
      Object.assign(new Error('FOREIGN KEY constraint failed'), { code: 'SQLITE_CONSTRAINT_FOREIGNKEY' }),
      new SnapdiskError('Conflict', 'catalog (PostgreSQL): something else'),
    ];
    for (const e of others) expect(nameTaken(e, 'disk', key)).toBeNull();
  });
});
