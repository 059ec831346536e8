/**
 * @module catalog/migrations
 * Versioned schema migrations, written once for both dialects. Type tokens are replaced per
 * dialect: {{pk}} (auto-increment integer key), {{int}} (64-bit integer), {{blob}} (bytes).
 * A migration never changes after it shipped: add a new one instead.
 */

import type { Dialect, SqlClient } from './sql-client.js';

interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE subscriptions (
  id TEXT PRIMARY KEY,
  display_name TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  state TEXT NOT NULL
);

CREATE TABLE resource_groups (
  subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
  name_key TEXT NOT NULL,
  name TEXT NOT NULL,
  location TEXT NOT NULL,
  tags TEXT NOT NULL,
  provisioning_state TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (subscription_id, name_key)
);

CREATE TABLE disks (
  unique_id TEXT PRIMARY KEY,
  subscription_id TEXT NOT NULL,
  rg_key TEXT NOT NULL,
  name_key TEXT NOT NULL,
  doc TEXT NOT NULL,
  family_id TEXT,
  base_family_id TEXT,
  base_point {{int}} NOT NULL DEFAULT 0,
  UNIQUE (subscription_id, rg_key, name_key)
);
CREATE INDEX disks_by_base ON disks (base_family_id, base_point);

CREATE TABLE snapshots (
  unique_id TEXT PRIMARY KEY,
  subscription_id TEXT NOT NULL,
  rg_key TEXT NOT NULL,
  name_key TEXT NOT NULL,
  doc TEXT NOT NULL,
  family_id TEXT NOT NULL,
  point {{int}} NOT NULL,
  deleted_at TEXT,
  live_key TEXT
);
CREATE UNIQUE INDEX snapshots_live_name ON snapshots (live_key);
CREATE INDEX snapshots_by_scope ON snapshots (subscription_id, rg_key);
CREATE INDEX snapshots_by_point ON snapshots (family_id, point);

CREATE TABLE snapshot_creations (
  disk_id TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX snapshot_creations_by_disk ON snapshot_creations (disk_id, created_at);

CREATE TABLE families (
  id TEXT PRIMARY KEY,
  region TEXT NOT NULL,
  disk_id TEXT,
  base_family_id TEXT,
  base_point {{int}} NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE INDEX families_by_base ON families (base_family_id, base_point);

CREATE TABLE points (
  family_id TEXT NOT NULL REFERENCES families(id),
  seq {{int}} NOT NULL,
  size_bytes {{int}} NOT NULL,
  state TEXT NOT NULL,
  hidden {{int}} NOT NULL DEFAULT 0,
  frozen_blocks {{int}} NOT NULL,
  copied_blocks {{int}} NOT NULL,
  cursor {{int}} NOT NULL,
  frozen_map TEXT,
  used_bytes {{int}} NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  completed_at TEXT,
  error_code TEXT,
  error_message TEXT,
  PRIMARY KEY (family_id, seq)
);

CREATE TABLE packs (
  region TEXT NOT NULL,
  key TEXT NOT NULL,
  size_bytes {{int}} NOT NULL,
  zones TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (region, key)
);

CREATE TABLE chunks (
  id {{pk}},
  region TEXT NOT NULL,
  hash {{blob}} NOT NULL,
  pack TEXT NOT NULL,
  pack_offset {{int}} NOT NULL,
  stored_length {{int}} NOT NULL,
  raw_length {{int}} NOT NULL,
  codec {{int}} NOT NULL,
  created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX chunks_by_hash ON chunks (region, hash);
CREATE INDEX chunks_by_pack ON chunks (region, pack);

CREATE TABLE entries (
  family_id TEXT NOT NULL,
  block {{int}} NOT NULL,
  point {{int}} NOT NULL,
  chunk_id {{int}},
  PRIMARY KEY (family_id, block, point)
){{without_rowid}};
CREATE INDEX entries_by_point ON entries (family_id, point, block);
CREATE INDEX entries_by_chunk ON entries (chunk_id);

CREATE TABLE grants (
  id TEXT PRIMARY KEY,
  resource_kind TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  access TEXT NOT NULL,
  file_format TEXT NOT NULL,
  family_id TEXT,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  revoked_at TEXT
);
CREATE INDEX grants_by_resource ON grants (resource_id);
CREATE INDEX grants_by_family ON grants (family_id);

CREATE TABLE operations (
  id TEXT PRIMARY KEY,
  subscription_id TEXT NOT NULL,
  doc TEXT NOT NULL,
  start_time TEXT NOT NULL
);

CREATE TABLE jobs (
  id {{pk}},
  kind TEXT NOT NULL,
  target TEXT NOT NULL,
  state TEXT NOT NULL,
  payload TEXT NOT NULL,
  attempts {{int}} NOT NULL DEFAULT 0,
  error TEXT,
  open_key TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX jobs_open ON jobs (open_key);
CREATE INDEX jobs_by_state ON jobs (state);
`,
  },
  {
    version: 2,
    name: 'cross-region copies',
    sql: `
ALTER TABLE families ADD COLUMN replica_of TEXT;
ALTER TABLE points ADD COLUMN source_family_id TEXT;
ALTER TABLE points ADD COLUMN source_seq {{int}} NOT NULL DEFAULT 0;
ALTER TABLE points ADD COLUMN bytes_moved {{int}} NOT NULL DEFAULT 0;
CREATE TABLE family_replicas (
  source_family_id TEXT NOT NULL,
  region TEXT NOT NULL,
  target_family_id TEXT NOT NULL,
  PRIMARY KEY (source_family_id, region)
);
`,
  },
  {
    version: 3,
    name: 'several nodes: node registry, disk leases, job owners',
    sql: `
CREATE TABLE nodes (
  id TEXT PRIMARY KEY,
  url TEXT,
  nbd TEXT,
  heartbeat_at TEXT NOT NULL
);
CREATE TABLE disk_leases (
  disk_id TEXT PRIMARY KEY,
  node_id TEXT NOT NULL,
  epoch {{int}} NOT NULL,
  expires_at TEXT NOT NULL
);
ALTER TABLE jobs ADD COLUMN node_id TEXT;
`,
  },
  {
    version: 4,
    name: 'job claims by lane, node incarnations, copying points',
    // lane = jobLane(kind, target) of core/ports.ts; open jobs of families ("<uuid>:<point>") are
    // backfilled in SQL (family ids are UUIDs)
    sql: `
ALTER TABLE jobs ADD COLUMN lane TEXT;
UPDATE jobs SET lane = kind || '|' || CASE
    WHEN length(target) > 37 AND substr(target, 37, 1) = ':' THEN substr(target, 1, 36)
    ELSE target END
  WHERE state IN ('queued', 'running');
CREATE INDEX jobs_by_lane ON jobs (lane, id);
CREATE INDEX jobs_by_kind ON jobs (kind, state, updated_at);
ALTER TABLE nodes ADD COLUMN incarnation TEXT;
CREATE INDEX disk_leases_by_expiry ON disk_leases (expires_at);
CREATE INDEX points_by_state ON points (state);
`,
  },
];

function render(sql: string, dialect: Dialect): string {
  const tokens: Record<string, string> =
    dialect === 'sqlite'
      ? { pk: 'INTEGER PRIMARY KEY AUTOINCREMENT', int: 'INTEGER', blob: 'BLOB', without_rowid: ' WITHOUT ROWID' }
      : { pk: 'BIGSERIAL PRIMARY KEY', int: 'BIGINT', blob: 'BYTEA', without_rowid: '' };
  return sql.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = tokens[name];
    if (value === undefined) throw new Error(`unknown schema token {{${name}}}`);
    return value;
  });
}

/** Brings the schema to the newest version; each migration runs in its own transaction. */
export async function migrate(client: SqlClient): Promise<number> {
  await client.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  const rows = await client.all<{ version: number }>('SELECT version FROM schema_migrations');
  const applied = new Set(rows.map((r) => Number(r.version)));
  let current = Math.max(0, ...applied);
  for (const m of MIGRATIONS) {
    if (applied.has(m.version)) continue;
    await client.transaction(async (tx) => {
      await tx.exec(render(m.sql, client.dialect));
      await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        m.version,
        m.name,
        new Date().toISOString(),
      ]);
    });
    current = m.version;
  }
  return current;
}

export const SCHEMA_VERSION = MIGRATIONS.length;
