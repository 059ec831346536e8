/**
 * @module catalog/postgres/postgres-catalog
 * The scale-out catalog: the same SqlCatalog and the same migrations as SQLite, over PostgreSQL.
 * Several snapdisk nodes open it at once; opening migrates the schema under an advisory lock so
 * that two nodes starting together never run a migration twice. An unreachable server, a wrong
 * password or a missing database is a start-up error that names the server and what to check.
 *
 * Several nodes: job claims (`FOR UPDATE SKIP LOCKED`, fencing token) and lease fencing
 * (`FOR SHARE`) are in SqlCatalog, chosen by dialect; what PostgreSQL needs beyond that is here.
 */

import { SnapdiskError } from '../../core/errors.js';
import type { Catalog, EntryRow } from '../../core/ports.js';
import { migrate } from '../migrations.js';
import { SqlCatalog } from '../sql-catalog.js';
import type { SqlClient } from '../sql-client.js';
import * as entryQueries from './entry-queries.js';
import { isTransientPgError, maskUrl } from './errors.js';
import { createPool, PostgresClient, type PostgresOptions } from './postgres-client.js';

export type { PostgresOptions } from './postgres-client.js';

/** First key of the two-key advisory lock that serialises migrations ('snap'). */
const MIGRATION_LOCK = 0x736e6170;
/** First key of the transaction lock around a CopyStart limit check ('copy'). */
const COPY_QUOTA_LOCK = 0x636f7079;

const START_HINTS: Record<string, string> = {
  '28P01': 'The password was refused: check the user and password in "catalog.url".',
  '28000': 'The server refused this user or host: check "catalog.url" and pg_hba.conf.',
  '3D000': 'The database does not exist: create it first (CREATE DATABASE snapdisk).',
  '42501': 'The user may not create tables here: grant CREATE on the database or schema.',
};

export class PostgresCatalog extends SqlCatalog {
  /** The pool (outside a transaction) or the transaction's connection. */
  constructor(readonly client: SqlClient) {
    super(client);
  }

  override transaction<T>(fn: (tx: Catalog) => Promise<T>): Promise<T> {
    return this.client.transaction((tx) => fn(new PostgresCatalog(tx)));
  }

  // -- newest-entry queries in the GROUP BY form (entry-queries.ts explains why) ---------------

  override resolveEntries(familyId: string, point: number, fromBlock: number, toBlock: number): Promise<EntryRow[]> {
    return entryQueries.resolveEntries(this.client, familyId, point, fromBlock, toBlock);
  }

  override changedEntries(familyId: string, afterPoint: number, upToPoint: number, fromBlock: number, limit: number): Promise<EntryRow[]> {
    return entryQueries.changedEntries(this.client, familyId, afterPoint, upToPoint, fromBlock, limit);
  }

  override changedBytes(familyId: string, afterPoint: number, upToPoint: number): Promise<number> {
    return entryQueries.changedBytes(this.client, familyId, afterPoint, upToPoint);
  }

  // -- GC against writers on other nodes ------------------------------------------------------
  //
  // A writer commits entries that reuse deduplicated chunks after `existingChunks` inside its
  // transaction; GC deletes chunks no entry references. Under READ COMMITTED two nodes could
  // interleave (GC's NOT EXISTS does not see the writer's uncommitted entry). Row locks order them:
  //   writer  SELECT … FOR SHARE (existingChunks)  → insert entries → COMMIT
  //   GC      SELECT … FOR UPDATE (same rows)      → DELETE … NOT EXISTS (a new statement: it sees
  //           every entry committed before the lock was granted) → COMMIT
  // If the writer locks first, GC waits and then sees its entries; if GC locks first, the writer's
  // FOR SHARE skips the deleted rows, `existingChunks` reports them missing and the batch retries.

  override async existingChunks(ids: ReadonlyArray<number>): Promise<Set<number>> {
    const out = new Set<number>();
    const sorted = [...new Set(ids)].sort((a, b) => a - b);
    for (let i = 0; i < sorted.length; i += 500) {
      const part = sorted.slice(i, i + 500);
      const rows = await this.client.all<{ id: number }>(
        `SELECT id FROM chunks WHERE id IN (${part.map(() => '?').join(', ')}) ORDER BY id FOR SHARE`,
        part,
      );
      for (const r of rows) out.add(Number(r.id));
    }
    return out;
  }

  override async deleteChunksIfUnreferenced(ids: ReadonlyArray<number>): Promise<number[]> {
    const deleted: number[] = [];
    const sorted = [...new Set(ids)].sort((a, b) => a - b);
    for (let i = 0; i < sorted.length; i += 500) {
      const part = sorted.slice(i, i + 500);
      const marks = part.map(() => '?').join(', ');
      await this.client.transaction(async (tx) => {
        await tx.all(`SELECT id FROM chunks WHERE id IN (${marks}) ORDER BY id FOR UPDATE`, part);
        const rows = await tx.all<{ id: number }>(
          `DELETE FROM chunks WHERE id IN (${marks}) AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.chunk_id = chunks.id) RETURNING id`,
          part,
        );
        for (const r of rows) deleted.push(Number(r.id));
      });
    }
    return deleted.sort((a, b) => a - b);
  }

  // -- several nodes ---------------------------------------------------------------------------

  /**
   * The CopyStart limit is checked by counting inside the transaction that inserts the copy.
   * Under READ COMMITTED two nodes could both count 99 and both insert; a transaction-scoped
   * advisory lock per (subscription, region) makes count-then-insert atomic across nodes.
   */
  override async countRegionCopies(subscriptionId: string, region: string): Promise<number> {
    await this.client.get('SELECT pg_advisory_xact_lock(?, hashtext(?))', [COPY_QUOTA_LOCK, `${subscriptionId.toLowerCase()}|${region}`]);
    return super.countRegionCopies(subscriptionId, region);
  }
}

/**
 * Connects, migrates and returns the catalog. `url` is a libpq-style URL
 * (`postgres://user:password@host:5432/snapdisk`).
 */
export async function openPostgresCatalog(url: string, options: PostgresOptions = {}): Promise<PostgresCatalog> {
  const where = maskUrl(url);
  let client: PostgresClient;
  try {
    // migrations hold one connection for the lock and use another: at least two
    client = new PostgresClient(createPool(url, { ...options, poolSize: Math.max(2, options.poolSize ?? 10) }), url, options);
  } catch (err) {
    throw new SnapdiskError('InvalidParameter', `config: catalog.url ${where} is not usable: ${messageOf(err)}`, { cause: err });
  }
  const schema = options.schema ?? 'public';
  try {
    await client.withConnection(async (conn) => {
      await conn.query('SELECT pg_advisory_lock($1, hashtext($2))', [MIGRATION_LOCK, schema]);
      try {
        if (options.schema) await conn.query(`CREATE SCHEMA IF NOT EXISTS ${options.schema}`);
        await migrate(client);
      } finally {
        await conn.query('SELECT pg_advisory_unlock($1, hashtext($2))', [MIGRATION_LOCK, schema]).catch(() => undefined);
      }
    });
  } catch (err) {
    await client.close().catch(() => undefined);
    throw startError(err, where);
  }
  return new PostgresCatalog(client);
}

function startError(err: unknown, where: string): SnapdiskError {
  const cause = err instanceof SnapdiskError && err.cause !== undefined ? err.cause : err;
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  const hint =
    (typeof code === 'string' ? START_HINTS[code] : undefined) ??
    'Check "catalog.url" in config.json and that PostgreSQL is running and reachable from this node.';
  const transient = isTransientPgError(cause);
  return new SnapdiskError(
    'Unavailable',
    `cannot open the PostgreSQL catalog at ${where}: ${transient ? 'unreachable: ' : ''}${messageOf(cause)}`,
    { cause: err, hint },
  );
}

function messageOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(messageOf).join('; ');
  if (err instanceof Error) return err.message || ((err as { code?: string }).code ?? err.name);
  return String(err);
}
