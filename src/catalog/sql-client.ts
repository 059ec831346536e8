/**
 * @module catalog/sql-client
 * The minimal SQL interface the catalog is written against, so that one catalog implementation
 * serves SQLite (better-sqlite3, embedded) and PostgreSQL (pg, scale-out). SQL text uses `?`
 * placeholders and the common subset of both dialects; a dialect adapter rewrites what it must.
 * No driver type leaves this folder's adapters.
 */

export type SqlValue = number | string | Buffer | null;

export type Dialect = 'sqlite' | 'postgres';

export interface SqlClient {
  readonly dialect: Dialect;
  all<T>(sql: string, params?: ReadonlyArray<SqlValue>): Promise<T[]>;
  get<T>(sql: string, params?: ReadonlyArray<SqlValue>): Promise<T | undefined>;
  run(sql: string, params?: ReadonlyArray<SqlValue>): Promise<{ changes: number }>;
  /** Runs one statement once per parameter row, as fast as the driver allows. */
  runMany(sql: string, rows: ReadonlyArray<ReadonlyArray<SqlValue>>): Promise<void>;
  /** Several statements without parameters (DDL). */
  exec(sql: string): Promise<void>;
  /**
   * Runs `fn` inside BEGIN/COMMIT (ROLLBACK when it throws). Statements issued on the outer client
   * while the transaction is open wait for it to end; nested calls on `tx` join the transaction.
   */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
