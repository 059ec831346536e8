/**
 * @module catalog/sqlite/sqlite-catalog
 * The embedded default catalog: one SQLite file (WAL) holding everything, migrated on open.
 */

import { migrate } from '../migrations.js';
import { SqlCatalog } from '../sql-catalog.js';
import { openSqlite, type SqliteOptions } from './sqlite-client.js';

export async function openSqliteCatalog(path: string, options: SqliteOptions = {}): Promise<SqlCatalog> {
  const client = openSqlite(path, options);
  await migrate(client);
  return new SqlCatalog(client);
}
