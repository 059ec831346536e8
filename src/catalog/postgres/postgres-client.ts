/**
 * @module catalog/postgres/postgres-client
 * SqlClient over `pg` (a connection pool). What it adapts so that the shared catalog SQL and
 * migrations run unchanged:
 *
 *   `?` placeholders        → `$1…$n` (sql-text.ts), each text a named prepared statement
 *   BIGINT / COUNT (int8)   → JS number (pg returns strings); NUMERIC (SUM of BIGINT) too;
 *                             a value past 2^53 is an error, never a silently rounded number
 *   BYTEA                   ↔ Buffer (pg's default both ways)
 *   runMany                 → multi-row INSERTs of up to 500 rows (one round trip each)
 *   transaction             → BEGIN/COMMIT on one pooled connection
 *   driver errors           → `Unavailable` (retryable) / `Conflict` / unchanged (errors.ts)
 *
 * Design notes:
 * - The SqlClient contract says outer statements wait while a transaction is open. SQLite gets
 *   that for free; here a process-local gate gives the same behaviour, so one node sees its own
 *   catalog exactly as it does on SQLite (transactions of one node run one at a time). Other
 *   nodes are not gated: between nodes PostgreSQL's row locks and READ COMMITTED apply.
 * - Unlike SQLite, a failed statement inside a PostgreSQL transaction aborts the transaction: the
 *   error propagates and the transaction rolls back (no caller catches inside a transaction).
 * - `ON CONFLICT … DO UPDATE` with the same key twice in one multi-row INSERT is an error in
 *   PostgreSQL (21000); those batches run under a savepoint and fall back to one row at a time,
 *   which keeps SQLite's "last row wins".
 */

import pg from 'pg';
import type { PoolClient, QueryResult } from 'pg';
import type { SqlClient, SqlValue } from '../sql-client.js';
import { SnapdiskError } from '../../core/errors.js';
import { isTransientPgError, mapPgError, maskUrl } from './errors.js';
import { expandValues, toPositional, type MultiRowInsert } from './sql-text.js';

export interface PostgresOptions {
  /** Schema for every table (`search_path`), created when absent. Default: the server's (`public`). */
  schema?: string;
  /** Pooled connections of this process (default 10). */
  poolSize?: number;
  /** Give up connecting after this long (default 10 s). */
  connectTimeoutMs?: number;
  /** Server-side `statement_timeout` (default 120 s; 0 disables). */
  statementTimeoutMs?: number;
  /** `application_name` seen in `pg_stat_activity` (default `snapdisk`). */
  applicationName?: string;
  /**
   * Named server-side prepared statements (default true). Set false behind a pooler that cannot
   * track them (PgBouncer in transaction mode before 1.21, or without max_prepared_statements).
   */
  preparedStatements?: boolean;
}

const INT8 = 20;
const NUMERIC = 1700;
const MAX_ROWS_PER_INSERT = 500;
const MAX_PARAMS = 65535;

function toSafeNumber(text: string): number {
  const n = Number(text);
  if (/^-?\d+$/.test(text) && !Number.isSafeInteger(n)) {
    throw new RangeError(`PostgreSQL value ${text} does not fit a JavaScript number`);
  }
  return n;
}

const typeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === INT8 || oid === NUMERIC) return (value: string) => toSafeNumber(value);
    return pg.types.getTypeParser(oid, format as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function createPool(url: string, options: PostgresOptions = {}): pg.Pool {
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new RangeError(`schema ${JSON.stringify(options.schema)} must be lowercase letters, digits and _`);
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    statement_timeout: options.statementTimeoutMs ?? 120_000,
    application_name: options.applicationName ?? 'snapdisk',
    idleTimeoutMillis: 30_000,
    types: typeParsers,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  // an idle connection that the server drops emits 'error' on the pool; without a listener
  // Node would crash the process. The next checkout simply opens a new connection.
  pool.on('error', () => undefined);
  return pool;
}

interface Prepared {
  text: string;
  name: string;
  count: number;
}

/** Statement texts turned into positional form, shared by every client of the process. */
class StatementCache {
  private readonly map = new Map<string, Prepared>();

  constructor(readonly named = true) {}
  private readonly multi = new Map<string, MultiRowInsert | null>();

  get(sql: string): Prepared {
    let p = this.map.get(sql);
    if (!p) {
      const { text, count } = toPositional(sql);
      p = { text, count, name: `sd${this.map.size}` };
      this.map.set(sql, p);
    }
    return p;
  }

  insert(sql: string): MultiRowInsert | null {
    if (!this.multi.has(sql)) this.multi.set(sql, expandValues(sql));
    return this.multi.get(sql) ?? null;
  }
}

/** Something that runs one query: the pool or one checked-out connection. */
interface Queryable {
  query(config: { name?: string; text: string; values?: unknown[] }): Promise<QueryResult>;
}

async function runQuery(on: Queryable, cache: StatementCache, where: string, sql: string, params: ReadonlyArray<SqlValue>): Promise<QueryResult> {
  const p = cache.get(sql);
  if (p.count !== params.length) {
    throw new RangeError(`statement has ${p.count} placeholders but ${params.length} values: ${sql.slice(0, 120)}`);
  }
  try {
    return await on.query({ ...(cache.named ? { name: p.name } : {}), text: p.text, values: params as unknown[] });
  } catch (err) {
    throw mapPgError(err, where);
  }
}

/** runMany on one connection that is already inside a transaction. */
async function runManyOn(on: Queryable, cache: StatementCache, where: string, sql: string, rows: ReadonlyArray<ReadonlyArray<SqlValue>>): Promise<void> {
  const multi = rows.length > 1 ? cache.insert(sql) : null;
  if (!multi) {
    for (const row of rows) await runQuery(on, cache, where, sql, row);
    return;
  }
  const perStatement = Math.max(1, Math.min(MAX_ROWS_PER_INSERT, Math.floor(MAX_PARAMS / multi.width)));
  const upsert = /\bDO\s+UPDATE\b/i.test(sql);
  for (let i = 0; i < rows.length; i += perStatement) {
    const part = rows.slice(i, i + perStatement);
    const text = part.length === 1 ? sql : multi.build(part.length);
    const values = part.flat();
    if (!upsert) {
      await runQuery(on, cache, where, text, values);
      continue;
    }
    await runQuery(on, cache, where, 'SAVEPOINT sd_many', []);
    try {
      await runQuery(on, cache, where, text, values);
      await runQuery(on, cache, where, 'RELEASE SAVEPOINT sd_many', []);
    } catch (err) {
      if ((err as { code?: string }).code !== '21000') throw err;
      // the same key twice in one statement: replay row by row (last one wins, as in SQLite)
      await runQuery(on, cache, where, 'ROLLBACK TO SAVEPOINT sd_many', []);
      for (const row of part) await runQuery(on, cache, where, sql, row);
      await runQuery(on, cache, where, 'RELEASE SAVEPOINT sd_many', []);
    }
  }
}

export class PostgresClient implements SqlClient {
  readonly dialect = 'postgres' as const;
  /** The server, password masked, for messages. */
  readonly where: string;
  private readonly cache: StatementCache;
  /** Resolves when the open transaction ends; null when none is open. */
  private txDone: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    url: string,
    options: Pick<PostgresOptions, 'preparedStatements'> = {},
  ) {
    this.where = maskUrl(url);
    this.cache = new StatementCache(options.preparedStatements ?? true);
  }

  async all<T>(sql: string, params: ReadonlyArray<SqlValue> = []): Promise<T[]> {
    await this.idle();
    return (await runQuery(this.pool, this.cache, this.where, sql, params)).rows as T[];
  }

  async get<T>(sql: string, params: ReadonlyArray<SqlValue> = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  async run(sql: string, params: ReadonlyArray<SqlValue> = []): Promise<{ changes: number }> {
    await this.idle();
    const r = await runQuery(this.pool, this.cache, this.where, sql, params);
    return { changes: r.rowCount ?? 0 };
  }

  async runMany(sql: string, rows: ReadonlyArray<ReadonlyArray<SqlValue>>): Promise<void> {
    if (rows.length === 0) return;
    // atomic like SQLite's runMany: one transaction on one connection
    await this.withConnection(async (conn) => {
      await runQuery(conn, this.cache, this.where, 'BEGIN', []);
      try {
        await runManyOn(conn, this.cache, this.where, sql, rows);
        await runQuery(conn, this.cache, this.where, 'COMMIT', []);
      } catch (err) {
        await conn.query({ text: 'ROLLBACK' }).catch(() => undefined);
        throw err;
      }
    });
  }

  async exec(sql: string): Promise<void> {
    await this.idle();
    try {
      await this.pool.query(sql); // simple protocol: several statements allowed
    } catch (err) {
      throw mapPgError(err, this.where);
    }
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    // no await between the check and taking the gate: two callers can never both pass
    while (this.txDone) await this.txDone;
    let release: () => void = () => undefined;
    this.txDone = new Promise<void>((resolve) => (release = resolve));
    try {
      const conn = await this.connect();
      const tx = new PostgresTxClient(conn, this.cache, this.where);
      let broken = false;
      try {
        await runQuery(conn, this.cache, this.where, 'BEGIN', []);
        try {
          const result = await fn(tx);
          await runQuery(conn, this.cache, this.where, 'COMMIT', []);
          return result;
        } catch (err) {
          await conn.query({ text: 'ROLLBACK' }).catch(() => {
            broken = true; // the connection itself failed: do not hand it out again
          });
          throw err;
        }
      } finally {
        tx.ended = true;
        conn.release(broken);
      }
    } finally {
      this.txDone = null;
      release();
    }
  }

  /**
   * Runs `fn` with one pooled connection held for its duration, outside the transaction gate
   * (session-level work such as advisory locks, `LISTEN`, or `FOR UPDATE SKIP LOCKED` claims).
   */
  async withConnection<T>(fn: (conn: PoolClient) => Promise<T>): Promise<T> {
    await this.idle();
    const conn = await this.connect();
    let broken = false;
    try {
      return await fn(conn);
    } catch (err) {
      broken = isTransientPgError(err instanceof SnapdiskError && err.cause !== undefined ? err.cause : err);
      throw err;
    } finally {
      conn.release(broken);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.idle();
    await this.pool.end();
  }

  private async connect(): Promise<PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw mapPgError(err, this.where);
    }
  }

  private async idle(): Promise<void> {
    while (this.txDone) await this.txDone;
  }
}

/** The handle given to a transaction body: statements run at once on the transaction's connection. */
class PostgresTxClient implements SqlClient {
  readonly dialect = 'postgres' as const;
  ended = false;

  constructor(
    private readonly conn: PoolClient,
    private readonly cache: StatementCache,
    private readonly where: string,
  ) {}

  async all<T>(sql: string, params: ReadonlyArray<SqlValue> = []): Promise<T[]> {
    this.check();
    return (await runQuery(this.conn, this.cache, this.where, sql, params)).rows as T[];
  }

  async get<T>(sql: string, params: ReadonlyArray<SqlValue> = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  async run(sql: string, params: ReadonlyArray<SqlValue> = []): Promise<{ changes: number }> {
    this.check();
    return { changes: (await runQuery(this.conn, this.cache, this.where, sql, params)).rowCount ?? 0 };
  }

  async runMany(sql: string, rows: ReadonlyArray<ReadonlyArray<SqlValue>>): Promise<void> {
    this.check();
    if (rows.length > 0) await runManyOn(this.conn, this.cache, this.where, sql, rows);
  }

  async exec(sql: string): Promise<void> {
    this.check();
    try {
      await this.conn.query(sql);
    } catch (err) {
      throw mapPgError(err, this.where);
    }
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
