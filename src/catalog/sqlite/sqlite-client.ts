/**
 * @module catalog/sqlite/sqlite-client
 * SqlClient over better-sqlite3 (synchronous driver, WAL journal). Statements are prepared once
 * and cached. Because the driver is synchronous, a single statement never interleaves with
 * another; only an open transaction (which spans awaits) needs a lock, so outer calls queue
 * behind it while calls on the transaction's own handle go straight through.
 *
 * A unique or primary key violation becomes `UniqueViolation` (`Conflict`), as PostgreSQL's does
 * (postgres/errors.ts); other errors (NOT NULL, CHECK, foreign keys, SQL) pass through unchanged.
 */

import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import { UniqueViolation } from '../../core/ports.js';
import type { SqlClient, SqlValue } from '../sql-client.js';

/**
 * The unique keys holding live resource names (migrations.ts), as SQLite lists their columns in
 * `UNIQUE constraint failed: ...`.
 */
const NAME_KEYS = new Set(['disks.subscription_id, disks.rg_key, disks.name_key', 'snapshots.live_key']);

/** A driver error in the project's terms: unique violations become `UniqueViolation`. */
export function mapSqliteError(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== 'SQLITE_CONSTRAINT_UNIQUE' && code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') return err;
  const message = err instanceof Error ? err.message : String(err);
  const columns = /constraint failed: (.*)$/.exec(message)?.[1] ?? '';
  return new UniqueViolation(`catalog (SQLite): ${message}`, NAME_KEYS.has(columns), err);
}

/** Runs a driver call, its error mapped. */
function mapped<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw mapSqliteError(err);
  }
}

export interface SqliteOptions {
  /**
   * `fsync` on every commit (`synchronous=FULL`, the default). `false` gives NORMAL: still safe
   * against process crashes in WAL mode, but the last commits may be lost on power loss.
   */
  durable?: boolean;
}

export function openSqlite(path: string, options: SqliteOptions = {}): SqliteClient {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.durable === false ? 'NORMAL' : 'FULL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.pragma('cache_size = -65536');
  return new SqliteClient(db);
}

export class SqliteClient implements SqlClient {
  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, Statement>();
  /** Resolves when the open transaction ends; null when none is open. */
  private txDone: Promise<void> | null = null;

  constructor(private readonly db: Db) {}

  all<T>(sql: string, params: ReadonlyArray<SqlValue> = []): Promise<T[]> {
    return this.whenIdle(() => this.allNow<T>(sql, params));
  }

  get<T>(sql: string, params: ReadonlyArray<SqlValue> = []): Promise<T | undefined> {
    return this.whenIdle(() => this.prepare(sql).get(...params) as T | undefined);
  }

  run(sql: string, params: ReadonlyArray<SqlValue> = []): Promise<{ changes: number }> {
    return this.whenIdle(() => ({ changes: this.prepare(sql).run(...params).changes }));
  }

  runMany(sql: string, rows: ReadonlyArray<ReadonlyArray<SqlValue>>): Promise<void> {
    return this.whenIdle(() => this.runManyNow(sql, rows));
  }

  exec(sql: string): Promise<void> {
    return this.whenIdle(() => this.db.exec(sql)).then(() => undefined);
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    // no await between the check and taking the lock: two callers can never both pass
    while (this.txDone) await this.txDone;
    let release: () => void = () => undefined;
    this.txDone = new Promise<void>((resolve) => (release = resolve));
    const tx = new SqliteTxClient(this);
    try {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(tx);
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    } finally {
      tx.ended = true;
      this.txDone = null;
      release();
    }
  }

  async close(): Promise<void> {
    await this.whenIdle(() => this.db.close());
  }

  /** @internal used by the transaction handle */
  allNow<T>(sql: string, params: ReadonlyArray<SqlValue>): T[] {
    return this.prepare(sql).all(...params) as T[];
  }

  /** @internal */
  prepare(sql: string): Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  /** @internal */
  runManyNow(sql: string, rows: ReadonlyArray<ReadonlyArray<SqlValue>>): void {
    const st = this.prepare(sql);
    if (this.db.inTransaction) {
      for (const row of rows) st.run(...row);
      return;
    }
    this.db.transaction(() => {
      for (const row of rows) st.run(...row);
    })();
  }

  /** @internal */
  execNow(sql: string): void {
    this.db.exec(sql);
  }

  /** Runs `fn` at once when no transaction is open, else right after it ends (no gap between). */
  private async whenIdle<T>(fn: () => T): Promise<T> {
    while (this.txDone) await this.txDone;
    return mapped(fn);
  }
}

/** The handle given to a transaction body: runs statements at once, inside the transaction. */
class SqliteTxClient implements SqlClient {
  readonly dialect = 'sqlite' as const;
  ended = false;

  constructor(private readonly root: SqliteClient) {}

  async all<T>(sql: string, params: ReadonlyArray<SqlValue> = []): Promise<T[]> {
    this.check();
    return mapped(() => this.root.allNow<T>(sql, params));
  }

  async get<T>(sql: string, params: ReadonlyArray<SqlValue> = []): Promise<T | undefined> {
    this.check();
    return mapped(() => this.root.prepare(sql).get(...params) as T | undefined);
  }

  async run(sql: string, params: ReadonlyArray<SqlValue> = []): Promise<{ changes: number }> {
    this.check();
    return mapped(() => ({ changes: this.root.prepare(sql).run(...params).changes }));
  }

  async runMany(sql: string, rows: ReadonlyArray<ReadonlyArray<SqlValue>>): Promise<void> {
    this.check();
    mapped(() => this.root.runManyNow(sql, rows));
  }

  async exec(sql: string): Promise<void> {
    this.check();
    mapped(() => this.root.execNow(sql));
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    this.check();
    return fn(this);
  }

  async close(): Promise<void> {
    throw new Error('close() on a transaction handle');
  }

  private check(): void {
    if (this.ended) throw new Error('statement on a transaction handle after the transaction ended');
  }
}
