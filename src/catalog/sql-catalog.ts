/**
 * @module catalog/sql-catalog
 * The one Catalog implementation, written against SqlClient so that SQLite and PostgreSQL share
 * it. Resources (disks, snapshots, operations) are stored as JSON documents with the columns
 * needed for lookups beside them; the storage map (families, points, entries, chunks, packs) is
 * fully relational because the engine queries it by range.
 *
 * Rows are snake_case; this file is the only place that turns them into domain objects.
 */

import type {
  ChunkLocation,
  DiskRecord,
  Family,
  Grant,
  Job,
  JobKind,
  OperationRecord,
  Point,
  ResourceGroup,
  SnapshotRecord,
  Subscription,
} from '../core/model.js';
import type { Catalog, EntryRow, JobClaimRequest, Lease, NewChunk, NewEntry, NodeInfo, PackRecord } from '../core/ports.js';
import { jobLane } from '../core/ports.js';
import { SnapdiskError } from '../core/errors.js';
import type { SqlClient, SqlValue } from './sql-client.js';

const key = (s: string): string => s.toLowerCase();

interface ChunkCols {
  chunk_id: number | null;
  hash: Buffer | null;
  pack: string | null;
  pack_offset: number | null;
  stored_length: number | null;
  raw_length: number | null;
  codec: number | null;
}

interface EntryCols extends ChunkCols {
  block: number;
  point: number;
  /** The entry's own reference (chunk_id comes from the joined chunk row, null when it is gone). */
  entry_chunk?: number | null;
}

interface PointRow {
  family_id: string;
  seq: number;
  size_bytes: number;
  state: string;
  hidden: number;
  frozen_blocks: number;
  copied_blocks: number;
  cursor: number;
  frozen_map: string | null;
  used_bytes: number;
  created_at: string;
  completed_at: string | null;
  error_code: string | null;
  error_message: string | null;
  source_family_id: string | null;
  source_seq: number | null;
  bytes_moved: number | null;
}

interface JobRow {
  id: number;
  kind: string;
  target: string;
  state: string;
  payload: string;
  attempts: number;
  error: string | null;
  created_at: string;
  updated_at: string;
  node_id?: string | null;
}

interface GrantRow {
  id: string;
  resource_kind: string;
  resource_id: string;
  access: string;
  file_format: string;
  family_id: string | null;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

const CHUNK_SELECT = 'c.id AS chunk_id, c.hash, c.pack, c.pack_offset, c.stored_length, c.raw_length, c.codec';

function toChunk(r: ChunkCols): ChunkLocation | null {
  if (r.chunk_id === null || r.hash === null || r.pack === null) return null;
  return {
    id: Number(r.chunk_id),
    hash: Buffer.from(r.hash),
    pack: r.pack,
    offset: Number(r.pack_offset),
    storedLength: Number(r.stored_length),
    rawLength: Number(r.raw_length),
    codec: Number(r.codec),
  };
}

function toEntry(r: EntryCols): EntryRow {
  const chunk = toChunk(r);
  if (chunk === null && r.entry_chunk !== null && r.entry_chunk !== undefined) throw lostChunk(r.block, r.point, r.entry_chunk);
  return { block: Number(r.block), point: Number(r.point), chunk };
}

/** An entry whose chunk row is gone: its data is lost, which a read must never turn into zeros. */
export function lostChunk(block: number, point: number, chunkId: number): SnapdiskError {
  return new SnapdiskError('IntegrityError', `block ${block} of point ${point} refers to chunk #${chunkId}, which is no longer in the catalog`, {
    hint: 'Run `snapdisk verify` to find the snapshots affected; restore them from another copy.',
  });
}

function toPoint(r: PointRow): Point {
  return {
    familyId: r.family_id,
    seq: Number(r.seq),
    sizeBytes: Number(r.size_bytes),
    state: r.state as Point['state'],
    hidden: Number(r.hidden) === 1,
    frozenBlocks: Number(r.frozen_blocks),
    copiedBlocks: Number(r.copied_blocks),
    cursor: Number(r.cursor),
    frozenMap: r.frozen_map,
    usedBytes: Number(r.used_bytes),
    createdAt: r.created_at,
    completedAt: r.completed_at,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    sourceFamilyId: r.source_family_id,
    sourceSeq: Number(r.source_seq ?? 0),
    bytesMoved: Number(r.bytes_moved ?? 0),
  };
}

function toJob(r: JobRow): Job {
  return {
    id: Number(r.id),
    kind: r.kind as JobKind,
    target: r.target,
    state: r.state as Job['state'],
    payload: JSON.parse(r.payload) as Record<string, unknown>,
    attempts: Number(r.attempts),
    error: r.error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    nodeId: r.node_id ?? null,
  };
}

/** A released lease: expired at the epoch, never mistaken for a node that stopped renewing. */
const RELEASED = new Date(0).toISOString();

interface LeaseRow {
  disk_id: string;
  node_id: string;
  epoch: number;
  expires_at: string;
}

const toLease = (r: LeaseRow): Lease => ({ diskId: r.disk_id, nodeId: r.node_id, epoch: Number(r.epoch), expiresAt: r.expires_at });

function toGrant(r: GrantRow): Grant {
  return {
    id: r.id,
    resourceKind: r.resource_kind as Grant['resourceKind'],
    resourceUniqueId: r.resource_id,
    access: r.access as Grant['access'],
    fileFormat: r.file_format as Grant['fileFormat'],
    familyId: r.family_id,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
  };
}

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

export class SqlCatalog implements Catalog {
  constructor(private readonly db: SqlClient) {}

  transaction<T>(fn: (tx: Catalog) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new SqlCatalog(tx)));
  }

  close(): Promise<void> {
    return this.db.close();
  }

  // -- subscriptions and resource groups ------------------------------------------------------

  async putSubscription(s: Subscription): Promise<void> {
    await this.db.run(
      `INSERT INTO subscriptions (id, display_name, tenant_id, state) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, tenant_id = excluded.tenant_id, state = excluded.state`,
      [key(s.subscriptionId), s.displayName, s.tenantId, s.state],
    );
  }

  async getSubscription(id: string): Promise<Subscription | null> {
    const r = await this.db.get<{ id: string; display_name: string; tenant_id: string; state: string }>(
      'SELECT * FROM subscriptions WHERE id = ?',
      [key(id)],
    );
    return r ? { subscriptionId: r.id, displayName: r.display_name, tenantId: r.tenant_id, state: 'Enabled' } : null;
  }

  async listSubscriptions(): Promise<Subscription[]> {
    const rows = await this.db.all<{ id: string; display_name: string; tenant_id: string }>(
      'SELECT * FROM subscriptions ORDER BY display_name, id',
    );
    return rows.map((r) => ({ subscriptionId: r.id, displayName: r.display_name, tenantId: r.tenant_id, state: 'Enabled' }));
  }

  async putResourceGroup(g: ResourceGroup): Promise<void> {
    await this.db.run(
      `INSERT INTO resource_groups (subscription_id, name_key, name, location, tags, provisioning_state, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (subscription_id, name_key) DO UPDATE SET tags = excluded.tags, provisioning_state = excluded.provisioning_state`,
      [key(g.subscriptionId), key(g.name), g.name, g.location, JSON.stringify(g.tags), g.provisioningState, g.createdAt],
    );
  }

  async getResourceGroup(subscriptionId: string, name: string): Promise<ResourceGroup | null> {
    const r = await this.db.get<RgRow>('SELECT * FROM resource_groups WHERE subscription_id = ? AND name_key = ?', [
      key(subscriptionId),
      key(name),
    ]);
    return r ? toRg(r) : null;
  }

  async listResourceGroups(subscriptionId: string): Promise<ResourceGroup[]> {
    const rows = await this.db.all<RgRow>('SELECT * FROM resource_groups WHERE subscription_id = ? ORDER BY name_key', [
      key(subscriptionId),
    ]);
    return rows.map(toRg);
  }

  async deleteResourceGroup(subscriptionId: string, name: string): Promise<void> {
    await this.db.run('DELETE FROM resource_groups WHERE subscription_id = ? AND name_key = ?', [
      key(subscriptionId),
      key(name),
    ]);
  }

  // -- disks ------------------------------------------------------------------------------------

  async insertDisk(d: DiskRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO disks (unique_id, subscription_id, rg_key, name_key, doc, family_id, base_family_id, base_point)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [d.uniqueId, key(d.subscriptionId), key(d.resourceGroup), key(d.name), JSON.stringify(d), d.familyId, d.baseFamilyId, d.basePoint],
    );
  }

  async updateDisk(d: DiskRecord): Promise<void> {
    await this.db.run(
      `UPDATE disks SET subscription_id = ?, rg_key = ?, name_key = ?, doc = ?, family_id = ?, base_family_id = ?, base_point = ?
       WHERE unique_id = ?`,
      [key(d.subscriptionId), key(d.resourceGroup), key(d.name), JSON.stringify(d), d.familyId, d.baseFamilyId, d.basePoint, d.uniqueId],
    );
  }

  async getDisk(subscriptionId: string, resourceGroup: string, name: string): Promise<DiskRecord | null> {
    const r = await this.db.get<{ doc: string }>(
      'SELECT doc FROM disks WHERE subscription_id = ? AND rg_key = ? AND name_key = ?',
      [key(subscriptionId), key(resourceGroup), key(name)],
    );
    return r ? (JSON.parse(r.doc) as DiskRecord) : null;
  }

  async getDiskById(uniqueId: string): Promise<DiskRecord | null> {
    const r = await this.db.get<{ doc: string }>('SELECT doc FROM disks WHERE unique_id = ?', [uniqueId]);
    return r ? (JSON.parse(r.doc) as DiskRecord) : null;
  }

  async listDisks(filter: { subscriptionId?: string; resourceGroup?: string }): Promise<DiskRecord[]> {
    const { where, params } = scope(filter);
    const rows = await this.db.all<{ doc: string }>(
      `SELECT doc FROM disks ${where} ORDER BY subscription_id, rg_key, name_key`,
      params,
    );
    return rows.map((r) => JSON.parse(r.doc) as DiskRecord);
  }

  async countHydratingDisksFrom(sourceUniqueId: string): Promise<number> {
    const field = (path: string[]): string =>
      this.db.dialect === 'postgres' ? `(doc::jsonb #>> '{${path.join(',')}}')` : `json_extract(doc, '$.${path.join('.')}')`;
    const r = await this.db.get<{ n: number }>(
      `SELECT COUNT(*) AS n FROM disks WHERE ${field(['creationData', 'sourceUniqueId'])} = ? AND ${field(['hydration'])} = 'hydrating'`,
      [sourceUniqueId],
    );
    return Number(r?.n ?? 0);
  }

  async deleteDisk(uniqueId: string): Promise<void> {
    await this.db.run('DELETE FROM disks WHERE unique_id = ?', [uniqueId]);
  }

  // -- snapshots --------------------------------------------------------------------------------

  async insertSnapshot(s: SnapshotRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO snapshots (unique_id, subscription_id, rg_key, name_key, doc, family_id, point, deleted_at, live_key)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [s.uniqueId, key(s.subscriptionId), key(s.resourceGroup), key(s.name), JSON.stringify(s), s.familyId, s.point, s.deletedAt, liveKey(s)],
    );
  }

  async updateSnapshot(s: SnapshotRecord): Promise<void> {
    // a deleted row is never written back: a stale copy cannot bring the snapshot back
    await this.db.run(
      `UPDATE snapshots SET subscription_id = ?, rg_key = ?, name_key = ?, doc = ?, family_id = ?, point = ?, deleted_at = ?, live_key = ?
       WHERE unique_id = ? AND deleted_at IS NULL`,
      [key(s.subscriptionId), key(s.resourceGroup), key(s.name), JSON.stringify(s), s.familyId, s.point, s.deletedAt, liveKey(s), s.uniqueId],
    );
  }

  async getSnapshot(subscriptionId: string, resourceGroup: string, name: string): Promise<SnapshotRecord | null> {
    const r = await this.db.get<{ doc: string }>('SELECT doc FROM snapshots WHERE live_key = ?', [
      `${key(subscriptionId)}|${key(resourceGroup)}|${key(name)}`,
    ]);
    return r ? (JSON.parse(r.doc) as SnapshotRecord) : null;
  }

  async getSnapshotForUpdate(uniqueId: string): Promise<SnapshotRecord | null> {
    const lock = this.db.dialect === 'postgres' ? ' FOR UPDATE' : '';
    const r = await this.db.get<{ doc: string }>(`SELECT doc FROM snapshots WHERE unique_id = ? AND deleted_at IS NULL${lock}`, [uniqueId]);
    return r ? (JSON.parse(r.doc) as SnapshotRecord) : null;
  }

  async getSnapshotById(uniqueId: string): Promise<SnapshotRecord | null> {
    const r = await this.db.get<{ doc: string }>('SELECT doc FROM snapshots WHERE unique_id = ? AND deleted_at IS NULL', [
      uniqueId,
    ]);
    return r ? (JSON.parse(r.doc) as SnapshotRecord) : null;
  }

  async listSnapshots(filter: {
    subscriptionId?: string;
    resourceGroup?: string;
    familyId?: string;
    includeDeleted?: boolean;
  }): Promise<SnapshotRecord[]> {
    const { where, params } = scope(filter);
    const clauses = where ? [where.replace(/^WHERE /, '')] : [];
    if (filter.familyId) {
      clauses.push('family_id = ?');
      params.push(filter.familyId);
    }
    if (!filter.includeDeleted) clauses.push('deleted_at IS NULL');
    const sql = `SELECT doc FROM snapshots ${clauses.length ? 'WHERE ' + clauses.join(' AND ') : ''} ORDER BY subscription_id, rg_key, name_key, point`;
    const rows = await this.db.all<{ doc: string }>(sql, params);
    return rows.map((r) => JSON.parse(r.doc) as SnapshotRecord);
  }

  async logSnapshotCreation(diskId: string, at: Date): Promise<void> {
    await this.db.run('INSERT INTO snapshot_creations (disk_id, created_at) VALUES (?, ?)', [diskId, at.toISOString()]);
  }

  async countSnapshotCreations(diskId: string, since: Date): Promise<Date[]> {
    const rows = await this.db.all<{ created_at: string }>(
      'SELECT created_at FROM snapshot_creations WHERE disk_id = ? AND created_at > ? ORDER BY created_at',
      [diskId, since.toISOString()],
    );
    return rows.map((r) => new Date(r.created_at));
  }

  // -- grants and operations --------------------------------------------------------------------

  async insertGrant(g: Grant): Promise<void> {
    await this.db.run(
      `INSERT INTO grants (id, resource_kind, resource_id, access, file_format, family_id, created_at, expires_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [g.id, g.resourceKind, g.resourceUniqueId, g.access, g.fileFormat, g.familyId, g.createdAt, g.expiresAt, g.revokedAt],
    );
  }

  async getGrant(id: string): Promise<Grant | null> {
    const r = await this.db.get<GrantRow>('SELECT * FROM grants WHERE id = ?', [id]);
    return r ? toGrant(r) : null;
  }

  async listActiveGrants(filter: { resourceUniqueId?: string; familyId?: string }, now: Date): Promise<Grant[]> {
    const clauses = ['revoked_at IS NULL', 'expires_at > ?'];
    const params: SqlValue[] = [now.toISOString()];
    if (filter.resourceUniqueId) {
      clauses.push('resource_id = ?');
      params.push(filter.resourceUniqueId);
    }
    if (filter.familyId) {
      clauses.push('family_id = ?');
      params.push(filter.familyId);
    }
    const rows = await this.db.all<GrantRow>(`SELECT * FROM grants WHERE ${clauses.join(' AND ')} ORDER BY created_at`, params);
    return rows.map(toGrant);
  }

  async revokeGrants(resourceUniqueId: string, at: Date): Promise<number> {
    const r = await this.db.run('UPDATE grants SET revoked_at = ? WHERE resource_id = ? AND revoked_at IS NULL', [
      at.toISOString(),
      resourceUniqueId,
    ]);
    return r.changes;
  }

  async putOperation(op: OperationRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO operations (id, subscription_id, doc, start_time) VALUES (?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET doc = excluded.doc`,
      [op.id, key(op.subscriptionId), JSON.stringify(op), op.startTime],
    );
  }

  async getOperation(id: string): Promise<OperationRecord | null> {
    const r = await this.db.get<{ doc: string }>('SELECT doc FROM operations WHERE id = ?', [id]);
    return r ? (JSON.parse(r.doc) as OperationRecord) : null;
  }

  // -- families and points ----------------------------------------------------------------------

  async insertFamily(f: Family): Promise<void> {
    await this.db.run(
      'INSERT INTO families (id, region, disk_id, base_family_id, base_point, created_at, replica_of) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [f.id, f.region, f.diskId, f.baseFamilyId, f.basePoint, f.createdAt, f.replicaOf ?? null],
    );
  }

  async countRegionCopies(subscriptionId: string, region: string): Promise<number> {
    const r = await this.db.get<{ n: number }>(
      `SELECT COUNT(*) AS n FROM points p
       JOIN families f ON f.id = p.family_id
       JOIN snapshots s ON s.family_id = p.family_id AND s.point = p.seq
       WHERE p.state = 'copying' AND f.replica_of IS NOT NULL AND f.region = ? AND s.subscription_id = ? AND s.deleted_at IS NULL`,
      [region, key(subscriptionId)],
    );
    return Number(r?.n ?? 0);
  }

  async copyingPoints(): Promise<Point[]> {
    const rows = await this.db.all<PointRow>("SELECT * FROM points WHERE state = 'copying' ORDER BY family_id, seq");
    return rows.map(toPoint);
  }

  async getReplicaFamily(sourceFamilyId: string, region: string): Promise<string | null> {
    const r = await this.db.get<{ target_family_id: string }>(
      'SELECT target_family_id FROM family_replicas WHERE source_family_id = ? AND region = ?',
      [sourceFamilyId, region],
    );
    return r?.target_family_id ?? null;
  }

  async setReplicaFamily(sourceFamilyId: string, region: string, targetFamilyId: string): Promise<void> {
    await this.db.run(
      `INSERT INTO family_replicas (source_family_id, region, target_family_id) VALUES (?, ?, ?)
       ON CONFLICT (source_family_id, region) DO UPDATE SET target_family_id = excluded.target_family_id`,
      [sourceFamilyId, region, targetFamilyId],
    );
  }

  async addPointBytesMoved(familyId: string, seq: number, bytes: number): Promise<void> {
    await this.db.run('UPDATE points SET bytes_moved = bytes_moved + ? WHERE family_id = ? AND seq = ?', [bytes, familyId, seq]);
  }

  async setPointFrozen(familyId: string, seq: number, frozenBlocks: number): Promise<void> {
    await this.db.run('UPDATE points SET frozen_blocks = ? WHERE family_id = ? AND seq = ?', [frozenBlocks, familyId, seq]);
  }

  async getFamily(id: string): Promise<Family | null> {
    const r = await this.db.get<{
      id: string;
      region: string;
      disk_id: string | null;
      base_family_id: string | null;
      base_point: number;
      created_at: string;
      replica_of: string | null;
    }>('SELECT * FROM families WHERE id = ?', [id]);
    return r
      ? {
          id: r.id,
          region: r.region,
          diskId: r.disk_id,
          baseFamilyId: r.base_family_id,
          basePoint: Number(r.base_point),
          createdAt: r.created_at,
          replicaOf: r.replica_of,
        }
      : null;
  }

  async updateFamilyDisk(id: string, diskId: string | null): Promise<void> {
    await this.db.run('UPDATE families SET disk_id = ? WHERE id = ?', [diskId, id]);
  }

  async deleteFamily(id: string): Promise<void> {
    await this.db.run('DELETE FROM entries WHERE family_id = ?', [id]);
    await this.db.run('DELETE FROM points WHERE family_id = ?', [id]);
    await this.db.run('DELETE FROM family_replicas WHERE target_family_id = ?', [id]);
    await this.db.run('DELETE FROM families WHERE id = ?', [id]);
  }

  async insertPoint(p: Point): Promise<void> {
    await this.db.run(
      `INSERT INTO points (family_id, seq, size_bytes, state, hidden, frozen_blocks, copied_blocks, cursor, frozen_map,
         used_bytes, created_at, completed_at, error_code, error_message, source_family_id, source_seq, bytes_moved)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [...pointParams(p), p.sourceFamilyId ?? null, p.sourceSeq ?? 0, p.bytesMoved ?? 0],
    );
  }

  async setPointProgress(familyId: string, seq: number, cursor: number, copiedBlocks: number): Promise<void> {
    await this.db.run('UPDATE points SET cursor = ?, copied_blocks = ? WHERE family_id = ? AND seq = ?', [
      cursor,
      copiedBlocks,
      familyId,
      seq,
    ]);
  }

  async completePoint(familyId: string, seq: number, usedBytes: number, at: Date): Promise<void> {
    await this.db.run(
      `UPDATE points SET state = 'ready', copied_blocks = frozen_blocks, frozen_map = NULL, used_bytes = ?, completed_at = ?
       WHERE family_id = ? AND seq = ?`,
      [usedBytes, at.toISOString(), familyId, seq],
    );
  }

  async failPoint(familyId: string, seq: number, code: string, message: string, at: Date): Promise<void> {
    await this.db.run(
      `UPDATE points SET state = 'failed', frozen_map = NULL, error_code = ?, error_message = ?, completed_at = ?
       WHERE family_id = ? AND seq = ?`,
      [code, message, at.toISOString(), familyId, seq],
    );
  }

  async setPointHidden(familyId: string, seq: number, hidden: boolean): Promise<void> {
    await this.db.run('UPDATE points SET hidden = ? WHERE family_id = ? AND seq = ?', [hidden ? 1 : 0, familyId, seq]);
  }

  async setPointUsed(familyId: string, seq: number, usedBytes: number): Promise<void> {
    await this.db.run('UPDATE points SET used_bytes = ? WHERE family_id = ? AND seq = ?', [usedBytes, familyId, seq]);
  }

  async getPoint(familyId: string, seq: number): Promise<Point | null> {
    const r = await this.db.get<PointRow>('SELECT * FROM points WHERE family_id = ? AND seq = ?', [familyId, seq]);
    return r ? toPoint(r) : null;
  }

  async listPoints(familyId: string): Promise<Point[]> {
    const rows = await this.db.all<PointRow>('SELECT * FROM points WHERE family_id = ? ORDER BY seq', [familyId]);
    return rows.map(toPoint);
  }

  async deletePoint(familyId: string, seq: number): Promise<void> {
    await this.db.run('DELETE FROM entries WHERE family_id = ? AND point = ?', [familyId, seq]);
    await this.db.run('DELETE FROM points WHERE family_id = ? AND seq = ?', [familyId, seq]);
  }

  async pointReferences(familyId: string, seq: number): Promise<{ snapshots: number; bases: number }> {
    const s = await this.db.get<{ n: number }>(
      'SELECT COUNT(*) AS n FROM snapshots WHERE family_id = ? AND point = ? AND deleted_at IS NULL',
      [familyId, seq],
    );
    const f = await this.db.get<{ n: number }>(
      'SELECT COUNT(*) AS n FROM families WHERE base_family_id = ? AND base_point = ?',
      [familyId, seq],
    );
    const d = await this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM disks WHERE base_family_id = ? AND base_point = ?', [
      familyId,
      seq,
    ]);
    return { snapshots: Number(s?.n ?? 0), bases: Number(f?.n ?? 0) + Number(d?.n ?? 0) };
  }

  // -- entries ----------------------------------------------------------------------------------

  async insertEntries(familyId: string, point: number, entries: ReadonlyArray<NewEntry>): Promise<void> {
    if (entries.length === 0) return;
    await this.db.runMany(
      `INSERT INTO entries (family_id, block, point, chunk_id) VALUES (?, ?, ?, ?)
       ON CONFLICT (family_id, block, point) DO UPDATE SET chunk_id = excluded.chunk_id`,
      entries.map((e) => [familyId, e.block, point, e.chunkId]),
    );
  }

  async resolveEntries(familyId: string, point: number, fromBlock: number, toBlock: number): Promise<EntryRow[]> {
    const rows = await this.db.all<EntryCols>(
      `SELECT e.block, e.point, e.chunk_id AS entry_chunk, ${CHUNK_SELECT}
       FROM entries e LEFT JOIN chunks c ON c.id = e.chunk_id
       WHERE e.family_id = ? AND e.block >= ? AND e.block < ? AND e.point <= ?
         AND e.point = (SELECT MAX(e2.point) FROM entries e2
                        WHERE e2.family_id = e.family_id AND e2.block = e.block AND e2.point <= ?)
       ORDER BY e.block`,
      [familyId, fromBlock, toBlock, point, point],
    );
    return rows.map(toEntry);
  }

  async changedEntries(
    familyId: string,
    afterPoint: number,
    upToPoint: number,
    fromBlock: number,
    limit: number,
  ): Promise<EntryRow[]> {
    const rows = await this.db.all<EntryCols>(
      `SELECT e.block, e.point, e.chunk_id AS entry_chunk, ${CHUNK_SELECT}
       FROM entries e LEFT JOIN chunks c ON c.id = e.chunk_id
       WHERE e.family_id = ? AND e.point > ? AND e.point <= ? AND e.block >= ?
         AND e.point = (SELECT MAX(e2.point) FROM entries e2
                        WHERE e2.family_id = e.family_id AND e2.block = e.block AND e2.point > ? AND e2.point <= ?)
       ORDER BY e.block
       LIMIT ?`,
      [familyId, afterPoint, upToPoint, fromBlock, afterPoint, upToPoint, limit],
    );
    return rows.map(toEntry);
  }

  async mergePointInto(familyId: string, point: number, successor: number): Promise<void> {
    await this.db.run(
      `UPDATE entries SET point = ?
       WHERE family_id = ? AND point = ?
         AND NOT EXISTS (SELECT 1 FROM entries e2 WHERE e2.family_id = entries.family_id AND e2.block = entries.block AND e2.point = ?)`,
      [successor, familyId, point, successor],
    );
    await this.db.run('DELETE FROM entries WHERE family_id = ? AND point = ?', [familyId, point]);
  }

  async deletePointEntries(familyId: string, point: number): Promise<void> {
    await this.db.run('DELETE FROM entries WHERE family_id = ? AND point = ?', [familyId, point]);
  }

  async changedBytes(familyId: string, afterPoint: number, upToPoint: number): Promise<number> {
    const r = await this.db.get<{ bytes: number | null }>(
      `SELECT SUM(c.raw_length) AS bytes
       FROM entries e JOIN chunks c ON c.id = e.chunk_id
       WHERE e.family_id = ? AND e.point > ? AND e.point <= ?
         AND e.point = (SELECT MAX(e2.point) FROM entries e2
                        WHERE e2.family_id = e.family_id AND e2.block = e.block AND e2.point > ? AND e2.point <= ?)`,
      [familyId, afterPoint, upToPoint, afterPoint, upToPoint],
    );
    return Number(r?.bytes ?? 0);
  }

  async existingChunks(ids: ReadonlyArray<number>): Promise<Set<number>> {
    const out = new Set<number>();
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      const rows = await this.db.all<{ id: number }>(`SELECT id FROM chunks WHERE id IN (${placeholders(part.length)})`, part);
      for (const r of rows) out.add(Number(r.id));
    }
    return out;
  }

  // -- chunk index ------------------------------------------------------------------------------

  async lookupChunks(region: string, hashes: ReadonlyArray<Buffer>): Promise<Map<string, ChunkLocation>> {
    const out = new Map<string, ChunkLocation>();
    for (let i = 0; i < hashes.length; i += 500) {
      const part = hashes.slice(i, i + 500);
      const rows = await this.db.all<ChunkCols>(
        `SELECT ${CHUNK_SELECT} FROM chunks c WHERE c.region = ? AND c.hash IN (${placeholders(part.length)})`,
        [region, ...part],
      );
      for (const r of rows) {
        const loc = toChunk(r);
        if (loc) out.set(loc.hash.toString('hex'), loc);
      }
    }
    return out;
  }

  async addPack(region: string, pack: PackRecord, chunks: ReadonlyArray<NewChunk>): Promise<Map<string, ChunkLocation>> {
    return this.transaction(async (tx) => {
      const self = tx as SqlCatalog;
      const now = new Date().toISOString();
      await self.db.run(
        `INSERT INTO packs (region, key, size_bytes, zones, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (region, key) DO NOTHING`,
        [region, pack.key, pack.sizeBytes, pack.zones.join(','), now],
      );
      await self.db.runMany(
        `INSERT INTO chunks (region, hash, pack, pack_offset, stored_length, raw_length, codec, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (region, hash) DO NOTHING`,
        chunks.map((c) => [region, c.hash, pack.key, c.offset, c.storedLength, c.rawLength, c.codec, now]),
      );
      return self.lookupChunks(
        region,
        chunks.map((c) => c.hash),
      );
    });
  }

  async packZones(region: string, packKey: string): Promise<string[]> {
    const r = await this.db.get<{ zones: string }>('SELECT zones FROM packs WHERE region = ? AND key = ?', [region, packKey]);
    return r?.zones ? r.zones.split(',') : [];
  }

  async setPackZones(region: string, packKey: string, zones: ReadonlyArray<string>): Promise<void> {
    await this.db.run('UPDATE packs SET zones = ? WHERE region = ? AND key = ?', [zones.join(','), region, packKey]);
  }

  async packSize(region: string, packKey: string): Promise<number | null> {
    const r = await this.db.get<{ size_bytes: number }>('SELECT size_bytes FROM packs WHERE region = ? AND key = ?', [region, packKey]);
    return r ? Number(r.size_bytes) : null;
  }

  async packBytes(region: string): Promise<number> {
    const r = await this.db.get<{ n: number | null }>('SELECT SUM(size_bytes) AS n FROM packs WHERE region = ?', [region]);
    return Number(r?.n ?? 0);
  }

  // -- garbage collection -----------------------------------------------------------------------

  async unreferencedChunks(region: string, olderThan: Date, limit: number): Promise<number[]> {
    const rows = await this.db.all<{ id: number }>(
      `SELECT c.id FROM chunks c
       WHERE c.region = ? AND c.created_at < ? AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.chunk_id = c.id)
       LIMIT ?`,
      [region, olderThan.toISOString(), limit],
    );
    return rows.map((r) => Number(r.id));
  }

  async deleteChunksIfUnreferenced(ids: ReadonlyArray<number>): Promise<number[]> {
    const deleted: number[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      const rows = await this.db.all<{ id: number }>(
        `DELETE FROM chunks WHERE id IN (${placeholders(part.length)})
           AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.chunk_id = chunks.id)
         RETURNING id`,
        part,
      );
      for (const r of rows) deleted.push(Number(r.id));
    }
    return deleted;
  }

  async emptyPacks(region: string, olderThan: Date): Promise<{ key: string; zones: string[] }[]> {
    const rows = await this.db.all<{ key: string; zones: string }>(
      `SELECT p.key, p.zones FROM packs p
       WHERE p.region = ? AND p.created_at < ? AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.region = p.region AND c.pack = p.key)`,
      [region, olderThan.toISOString()],
    );
    return rows.map((r) => ({ key: r.key, zones: r.zones ? r.zones.split(',') : [] }));
  }

  async deletePack(region: string, packKey: string): Promise<void> {
    await this.db.run('DELETE FROM packs WHERE region = ? AND key = ?', [region, packKey]);
  }

  async knownPackKeys(region: string): Promise<Set<string>> {
    const rows = await this.db.all<{ key: string }>('SELECT key FROM packs WHERE region = ?', [region]);
    return new Set(rows.map((r) => r.key));
  }

  async chunksOfPack(region: string, packKey: string): Promise<ChunkLocation[]> {
    const rows = await this.db.all<ChunkCols>(`SELECT ${CHUNK_SELECT} FROM chunks c WHERE c.region = ? AND c.pack = ? ORDER BY c.pack_offset`, [
      region,
      packKey,
    ]);
    return rows.map(toChunk).filter((c): c is ChunkLocation => c !== null);
  }

  async entriesUsingChunks(ids: ReadonlyArray<number>): Promise<Array<{ familyId: string; point: number; block: number; chunkId: number }>> {
    const out: Array<{ familyId: string; point: number; block: number; chunkId: number }> = [];
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      const rows = await this.db.all<{ family_id: string; point: number; block: number; chunk_id: number }>(
        `SELECT family_id, point, block, chunk_id FROM entries WHERE chunk_id IN (${placeholders(part.length)})`,
        part,
      );
      for (const r of rows) out.push({ familyId: r.family_id, point: Number(r.point), block: Number(r.block), chunkId: Number(r.chunk_id) });
    }
    return out;
  }

  // -- nodes and leases ---------------------------------------------------------------------

  async heartbeat(node: NodeInfo): Promise<void> {
    await this.db.run(
      `INSERT INTO nodes (id, url, nbd, heartbeat_at, incarnation) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET url = excluded.url, nbd = excluded.nbd, heartbeat_at = excluded.heartbeat_at,
         incarnation = excluded.incarnation`,
      [node.id, node.url, node.nbd, node.heartbeatAt, node.incarnation ?? null],
    );
  }

  async getNode(id: string): Promise<NodeInfo | null> {
    const r = await this.db.get<{ id: string; url: string | null; nbd: string | null; heartbeat_at: string; incarnation: string | null }>(
      'SELECT * FROM nodes WHERE id = ?',
      [id],
    );
    return r ? { id: r.id, url: r.url, nbd: r.nbd, heartbeatAt: r.heartbeat_at, incarnation: r.incarnation ?? null } : null;
  }

  async acquireLease(diskId: string, nodeId: string, expiresAt: Date, now: Date): Promise<Lease | null> {
    // a renewal keeps the epoch; taking the lease anew (other node, expired, released) bumps it
    const row = await this.db.get<LeaseRow>(
      `INSERT INTO disk_leases (disk_id, node_id, epoch, expires_at) VALUES (?, ?, 1, ?)
       ON CONFLICT (disk_id) DO UPDATE SET
         epoch = disk_leases.epoch + CASE WHEN disk_leases.node_id = excluded.node_id AND disk_leases.expires_at >= ? THEN 0 ELSE 1 END,
         node_id = excluded.node_id,
         expires_at = excluded.expires_at
       WHERE disk_leases.node_id = excluded.node_id OR disk_leases.expires_at < ?
       RETURNING *`,
      [diskId, nodeId, expiresAt.toISOString(), now.toISOString(), now.toISOString()],
    );
    return row ? toLease(row) : null;
  }

  async renewLeases(nodeId: string, diskIds: ReadonlyArray<string>, expiresAt: Date): Promise<Set<string>> {
    const held = new Set<string>();
    for (let i = 0; i < diskIds.length; i += 500) {
      const part = diskIds.slice(i, i + 500);
      const rows = await this.db.all<{ disk_id: string }>(
        `UPDATE disk_leases SET expires_at = ? WHERE node_id = ? AND expires_at > ? AND disk_id IN (${placeholders(part.length)}) RETURNING disk_id`,
        [expiresAt.toISOString(), nodeId, RELEASED, ...part],
      );
      for (const r of rows) held.add(r.disk_id);
    }
    return held;
  }

  async getLease(diskId: string): Promise<Lease | null> {
    const r = await this.db.get<LeaseRow>('SELECT * FROM disk_leases WHERE disk_id = ?', [diskId]);
    return r ? toLease(r) : null;
  }

  async releaseLease(diskId: string, nodeId: string): Promise<void> {
    await this.db.run('UPDATE disk_leases SET expires_at = ? WHERE disk_id = ? AND node_id = ?', [RELEASED, diskId, nodeId]);
  }

  async holdsLease(diskId: string, nodeId: string, epoch: number): Promise<boolean> {
    // FOR SHARE: a node taking the lease over (an UPDATE of this row) waits for our commit
    const lock = this.db.dialect === 'postgres' ? ' FOR SHARE' : '';
    const r = await this.db.get<{ n: number }>(
      `SELECT 1 AS n FROM disk_leases WHERE disk_id = ? AND node_id = ? AND epoch = ? AND expires_at > ?${lock}`,
      [diskId, nodeId, epoch, RELEASED],
    );
    return r !== undefined;
  }

  async lapsedLeases(before: Date, limit: number): Promise<Lease[]> {
    const rows = await this.db.all<LeaseRow>(
      'SELECT * FROM disk_leases WHERE expires_at < ? AND expires_at > ? ORDER BY expires_at LIMIT ?',
      [before.toISOString(), RELEASED, limit],
    );
    return rows.map(toLease);
  }

  // -- jobs -------------------------------------------------------------------------------------

  async enqueueJob(kind: JobKind, target: string, payload: Record<string, unknown>, at: Date): Promise<Job> {
    const openKey = `${kind}|${target}`;
    const now = at.toISOString();
    // one statement: two nodes enqueueing the same work at once get the same open job
    const row = await this.db.get<JobRow>(
      `INSERT INTO jobs (kind, target, state, payload, attempts, error, open_key, lane, created_at, updated_at)
       VALUES (?, ?, 'queued', ?, 0, NULL, ?, ?, ?, ?) ON CONFLICT (open_key) DO NOTHING RETURNING *`,
      [kind, target, JSON.stringify(payload), openKey, jobLane(kind, target), now, now],
    );
    if (row) return toJob(row);
    const existing = await this.db.get<JobRow>('SELECT * FROM jobs WHERE open_key = ?', [openKey]);
    if (!existing) throw new Error(`job ${openKey} vanished while being enqueued`);
    return toJob(existing);
  }

  async enqueueJobIfDue(kind: JobKind, target: string, payload: Record<string, unknown>, at: Date, doneSince: Date): Promise<Job | null> {
    const openKey = `${kind}|${target}`;
    const now = at.toISOString();
    // (the WHERE also tells SQLite's parser that ON CONFLICT is the upsert, not a join)
    const row = await this.db.get<JobRow>(
      `INSERT INTO jobs (kind, target, state, payload, attempts, error, open_key, lane, created_at, updated_at)
       SELECT ?, ?, 'queued', ?, 0, NULL, ?, ?, ?, ?
       WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE kind = ? AND state = 'done' AND updated_at >= ?)
       ON CONFLICT (open_key) DO NOTHING RETURNING *`,
      [kind, target, JSON.stringify(payload), openKey, jobLane(kind, target), now, now, kind, doneSince.toISOString()],
    );
    if (row) return toJob(row);
    const existing = await this.db.get<JobRow>('SELECT * FROM jobs WHERE open_key = ?', [openKey]);
    return existing ? toJob(existing) : null;
  }

  async lastJobDone(kind: JobKind): Promise<string | null> {
    const r = await this.db.get<{ t: string | null }>("SELECT MAX(updated_at) AS t FROM jobs WHERE kind = ? AND state = 'done'", [kind]);
    return r?.t ?? null;
  }

  async openJobs(): Promise<Job[]> {
    const rows = await this.db.all<JobRow>("SELECT * FROM jobs WHERE state IN ('queued', 'running') ORDER BY id");
    return rows.map(toJob);
  }

  async claimJobs(c: JobClaimRequest): Promise<Job[]> {
    const params: SqlValue[] = [c.nodeId, c.at.toISOString(), c.staleBefore.toISOString(), c.reclaimOwn ? c.nodeId : null];
    let filter = '';
    if (c.kinds) {
      if (c.kinds.length === 0) return [];
      filter += ` AND j.kind IN (${placeholders(c.kinds.length)})`;
      params.push(...c.kinds);
    }
    if (c.lanes) {
      if (c.lanes.length === 0) return [];
      filter += ` AND j.lane IN (${placeholders(c.lanes.length)})`;
      params.push(...c.lanes);
    }
    params.push(c.limit);
    // SKIP LOCKED: a row another node is claiming right now is left to it, without waiting
    const lock = this.db.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    const rows = await this.db.all<JobRow>(
      `UPDATE jobs SET state = 'running', attempts = attempts + 1, node_id = ?, updated_at = ?
       WHERE id IN (
         SELECT j.id FROM jobs j
         WHERE j.state IN ('queued', 'running')
           AND (j.state = 'queued' OR j.updated_at < ? OR j.node_id = ?)
           AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.lane = j.lane AND o.id < j.id AND o.state IN ('queued', 'running'))${filter}
         ORDER BY j.id LIMIT ?${lock})
       RETURNING *`,
      params,
    );
    return rows.map(toJob).sort((a, b) => a.id - b.id);
  }

  async renewJobClaims(nodeId: string, claims: ReadonlyArray<{ id: number; fence: number }>, at: Date): Promise<Set<number>> {
    const held = new Set<number>();
    for (let i = 0; i < claims.length; i += 200) {
      const part = claims.slice(i, i + 200);
      const rows = await this.db.all<{ id: number }>(
        `UPDATE jobs SET updated_at = ? WHERE node_id = ? AND state = 'running' AND (${part.map(() => '(id = ? AND attempts = ?)').join(' OR ')})
         RETURNING id`,
        [at.toISOString(), nodeId, ...part.flatMap((c) => [c.id, c.fence])],
      );
      for (const r of rows) held.add(Number(r.id));
    }
    return held;
  }

  async touchClaimedJob(id: number, fence: number, payload: Record<string, unknown>, at: Date): Promise<boolean> {
    const r = await this.db.run("UPDATE jobs SET payload = ?, updated_at = ? WHERE id = ? AND attempts = ? AND state = 'running'", [
      JSON.stringify(payload),
      at.toISOString(),
      id,
      fence,
    ]);
    return r.changes === 1;
  }

  async finishClaimedJob(id: number, fence: number, state: 'done' | 'failed', error: string | null, at: Date): Promise<boolean> {
    const r = await this.db.run(
      "UPDATE jobs SET state = ?, error = ?, open_key = NULL, updated_at = ? WHERE id = ? AND attempts = ? AND state = 'running'",
      [state, error, at.toISOString(), id, fence],
    );
    return r.changes === 1;
  }

  async releaseClaimedJob(id: number, fence: number, at: Date): Promise<boolean> {
    const r = await this.db.run(
      "UPDATE jobs SET state = 'queued', node_id = NULL, updated_at = ? WHERE id = ? AND attempts = ? AND state = 'running'",
      [at.toISOString(), id, fence],
    );
    return r.changes === 1;
  }

  async staleJobs(kinds: ReadonlyArray<JobKind>, staleBefore: Date, limit: number): Promise<Job[]> {
    if (kinds.length === 0) return [];
    const rows = await this.db.all<JobRow>(
      `SELECT * FROM jobs j
       WHERE j.state IN ('queued', 'running') AND j.updated_at < ? AND j.kind IN (${placeholders(kinds.length)})
         AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.lane = j.lane AND o.id < j.id AND o.state IN ('queued', 'running'))
       ORDER BY j.id LIMIT ?`,
      [staleBefore.toISOString(), ...kinds, limit],
    );
    return rows.map(toJob);
  }

  async finishJob(id: number, state: 'done' | 'failed', error: string | null, at: Date): Promise<void> {
    await this.db.run('UPDATE jobs SET state = ?, error = ?, open_key = NULL, updated_at = ? WHERE id = ?', [
      state,
      error,
      at.toISOString(),
      id,
    ]);
  }

  async touchJob(id: number, payload: Record<string, unknown>, at: Date): Promise<void> {
    await this.db.run("UPDATE jobs SET payload = ?, state = 'running', updated_at = ? WHERE id = ?", [
      JSON.stringify(payload),
      at.toISOString(),
      id,
    ]);
  }
}

interface RgRow {
  subscription_id: string;
  name: string;
  location: string;
  tags: string;
  provisioning_state: string;
  created_at: string;
}

function toRg(r: RgRow): ResourceGroup {
  return {
    subscriptionId: r.subscription_id,
    name: r.name,
    location: r.location,
    tags: JSON.parse(r.tags) as Record<string, string>,
    provisioningState: r.provisioning_state as ResourceGroup['provisioningState'],
    createdAt: r.created_at,
  };
}

function scope(filter: { subscriptionId?: string; resourceGroup?: string }): { where: string; params: SqlValue[] } {
  const clauses: string[] = [];
  const params: SqlValue[] = [];
  if (filter.subscriptionId) {
    clauses.push('subscription_id = ?');
    params.push(key(filter.subscriptionId));
  }
  if (filter.resourceGroup) {
    clauses.push('rg_key = ?');
    params.push(key(filter.resourceGroup));
  }
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

function liveKey(s: SnapshotRecord): string | null {
  return s.deletedAt ? null : `${key(s.subscriptionId)}|${key(s.resourceGroup)}|${key(s.name)}`;
}

function pointParams(p: Point): SqlValue[] {
  return [
    p.familyId,
    p.seq,
    p.sizeBytes,
    p.state,
    p.hidden ? 1 : 0,
    p.frozenBlocks,
    p.copiedBlocks,
    p.cursor,
    p.frozenMap,
    p.usedBytes,
    p.createdAt,
    p.completedAt,
    p.errorCode,
    p.errorMessage,
  ];
}
