/**
 * @module core/ports
 * The interfaces the engine needs from the outside world. Backends implement them; each has a
 * shared contract suite (`*-suite.ts` under `testing/`) that every implementation runs.
 *
 *   Catalog      durable metadata (SQL: SQLite embedded, PostgreSQL for scale-out)
 *   BlobStore    immutable objects of one zone (pack files): a directory, a bucket
 *   ChunkStore   content-addressed chunks of one region, on top of BlobStores + the catalog index
 *   VolumeStore  live disk heads with their persistent bitmaps and copy-on-write logs
 *   Clock        time, injectable for tests
 */

import type { Bitmap } from './bitmap.js';
import { SnapdiskError } from './errors.js';
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
} from './model.js';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

// ---------------------------------------------------------------------------------------------
// Blob and chunk storage

export interface BlobInfo {
  key: string;
  size: number;
  modified: Date;
}

/**
 * Immutable objects in one zone. Keys are `/`-separated paths without a leading slash.
 * Contract:
 * - `put` is atomic and durable when it resolves: a reader sees the whole object or nothing,
 *   also after a crash. Putting an existing key with the same bytes is a successful no-op.
 * - `read` returns exactly `length` bytes; a missing key rejects with code `ChunkNotFound`;
 *   a range past the end rejects with `IntegrityError` (never a short buffer). With `into` (at
 *   least `length` bytes) a backend may fill it and return a view of it instead of allocating;
 *   callers always use the returned buffer.
 * - `delete` of a missing key succeeds (idempotent).
 * - No method retries: retries and timeouts are decorators.
 */
export interface BlobStore {
  readonly name: string;
  put(key: string, data: Uint8Array): Promise<void>;
  read(key: string, offset: number, length: number, into?: Buffer): Promise<Buffer>;
  stat(key: string): Promise<BlobInfo | null>;
  delete(key: string): Promise<void>;
  list(prefix: string): AsyncIterable<BlobInfo>;
  /** Releases handles and connections. */
  close(): Promise<void>;
}

export interface StoredChunk {
  id: number;
  /** True when the chunk was already in the region (no bytes written). */
  deduplicated: boolean;
  storedLength: number;
}

/**
 * Content-addressed storage for the blocks of one region. Contract:
 * - `put` stores every block durably (in one or more packs) and indexes it before resolving;
 *   identical blocks (same SHA-256) are stored once; an all-zero block must never be passed.
 * - `read` returns the block's bytes verified against their hash; a mismatch is an
 *   `IntegrityError` naming the chunk (or is healed from another zone), never wrong bytes;
 *   a missing pack is `ChunkNotFound`.
 */
/** Where a chunk must live: every zone of its region (ZRS) or a single zone (LRS). */
export type Redundancy = 'zone' | 'local';

export interface ChunkStore {
  readonly region: string;
  /**
   * `redundancy` (default 'zone'): new packs go to every zone, or to one zone for 'local'; a
   * deduplicated chunk whose pack lives in fewer zones than asked is replicated first.
   */
  put(blocks: ReadonlyArray<Uint8Array>, redundancy?: Redundancy): Promise<StoredChunk[]>;
  /** Makes sure these packs live in every zone (chunks reused by a zone-redundant snapshot). */
  replicate(packs: ReadonlyArray<string>): Promise<void>;
  read(chunk: ChunkLocation): Promise<Buffer>;
  /** Several chunks at once (adjacent chunks of one pack are read in one request); same order. */
  readMany(chunks: ReadonlyArray<ChunkLocation>): Promise<Buffer[]>;
  /**
   * Decoded, verified bytes of each chunk written into the matching target (`rawLength` bytes
   * each, or fewer: the first `target.length` bytes). Adjacent chunks are read with one request
   * into a pooled buffer; nothing is allocated per chunk.
   */
  readInto(chunks: ReadonlyArray<ChunkLocation>, targets: ReadonlyArray<Buffer>): Promise<void>;
  /** Bytes of pack objects in this region (the physical footprint of one replica). */
  storedBytes(): Promise<number>;
  /** Removes a pack object from every zone (GC, after its chunks left the index). */
  deletePack(key: string): Promise<void>;
  /** Pack objects present in any zone, for GC of packs a crash left unindexed. */
  listPacks(): AsyncIterable<BlobInfo>;
  /**
   * Checks one pack in every zone against the chunks the index lists for it, and rewrites missing
   * or damaged copies from intact bytes (taken chunk by chunk from whichever zone has them).
   * Returns the zones repaired and the chunks no zone holds intact.
   */
  scrubPack(key: string, chunks: ReadonlyArray<ChunkLocation>): Promise<{ repairedZones: string[]; lost: ChunkLocation[] }>;
  close(): Promise<void>;
}

/** The part of the catalog a ChunkStore needs: where each chunk of a region lives. */
export interface ChunkIndex {
  /** Existing chunks among `hashes` (hex keys), for deduplication. */
  lookupChunks(region: string, hashes: ReadonlyArray<Buffer>): Promise<Map<string, ChunkLocation>>;
  /** Records a new pack and its chunks; chunks that appeared meanwhile keep their first copy. */
  addPack(region: string, pack: PackRecord, chunks: ReadonlyArray<NewChunk>): Promise<Map<string, ChunkLocation>>;
  packBytes(region: string): Promise<number>;
  /** Bytes of a pack as written (null when the pack is not indexed). */
  packSize(region: string, key: string): Promise<number | null>;
  /** The indexed chunks of a pack, by offset. */
  chunksOfPack(region: string, key: string): Promise<ChunkLocation[]>;
  /** The zones a pack was written to (empty when unknown). */
  packZones(region: string, key: string): Promise<string[]>;
  setPackZones(region: string, key: string, zones: ReadonlyArray<string>): Promise<void>;
}

export interface PackRecord {
  key: string;
  sizeBytes: number;
  zones: string[];
}

export interface NewChunk {
  hash: Buffer;
  offset: number;
  storedLength: number;
  rawLength: number;
  codec: number;
}

// ---------------------------------------------------------------------------------------------
// Volumes (disk heads)

/** A bitmap whose changes are written through to its file before the call returns. */
export interface PersistentBitmap {
  readonly bits: Bitmap;
  /** Sets [from, to); returns how many bits were newly set. */
  setRange(from: number, to: number): number;
  /** Clears [from, to); returns how many bits were cleared. */
  clearRange(from: number, to: number): number;
}

/** Old contents of blocks saved before an overwrite (copy-on-write for a pending snapshot). */
export interface CowLog {
  has(block: number): boolean;
  /** Fills `target` (one block) with the saved bytes. */
  read(block: number, target: Uint8Array): void;
  /** Saves one block's old bytes; a second append of the same block is ignored. */
  append(block: number, data: Uint8Array): void;
  readonly size: number;
}

/**
 * One disk head: a sparse file plus named bitmaps and cow logs kept beside it. All data methods
 * are synchronous so that the engine can make multi-step updates atomic with respect to other
 * requests (the event loop does not interleave them); `flush` is the durability barrier.
 * Process crashes lose nothing that a method has returned from (data sits in the page cache);
 * power loss is detected at open (`reopenedAfterReboot`) and handled by the engine.
 */
export interface Volume {
  readonly id: string;
  readonly sizeBytes: number;
  /**
   * True when the volume was not closed cleanly and the machine has rebooted since. It stays true
   * on every open, even in the same boot, until `acknowledgeReboot` records the rescan.
   */
  readonly reopenedAfterReboot: boolean;
  /** After the engine's rescan: makes everything durable, then records this boot as handled. */
  acknowledgeReboot(): Promise<void>;
  read(target: Uint8Array, offset: number): void;
  write(data: Uint8Array, offset: number): void;
  /** Grow only. */
  resize(sizeBytes: number): void;
  /** Makes every write, bitmap change and cow append so far durable (files created too). Throws once closed. */
  flush(): Promise<void>;
  /** Opens (creating when absent) a bitmap of `length` bits. Re-opening returns the same object. */
  bitmap(name: string, length: number): PersistentBitmap;
  hasBitmap(name: string): boolean;
  dropBitmap(name: string): void;
  cowLog(name: string): CowLog;
  dropCowLog(name: string): void;
  /** Releases file handles; marks a clean shutdown. */
  close(): void;
}

export interface VolumeStore {
  open(id: string, sizeBytes: number): Volume;
  exists(id: string): boolean;
  remove(id: string): Promise<void>;
  list(): string[];
}

// ---------------------------------------------------------------------------------------------
// Catalog

export interface ListPage<T> {
  items: T[];
  /** Opaque continuation, absent on the last page. */
  next?: string;
}

export interface EntryRow {
  block: number;
  point: number;
  /** Null: the block became zero at this point. */
  chunk: ChunkLocation | null;
}

export interface NewEntry {
  block: number;
  chunkId: number | null;
}

/**
 * The catalog refused a row because a unique or primary key already holds its value (`Conflict`;
 * each SQL adapter raises it for its driver's unique violation). `nameKey`: the key is the live
 * name of a disk or snapshot in its group, which a concurrent create or a move took first.
 */
export class UniqueViolation extends SnapdiskError {
  constructor(
    message: string,
    readonly nameKey: boolean,
    cause: unknown,
  ) {
    super('Conflict', message, { cause });
  }
}

export interface ResourceCatalog {
  putSubscription(s: Subscription): Promise<void>;
  getSubscription(id: string): Promise<Subscription | null>;
  listSubscriptions(): Promise<Subscription[]>;

  putResourceGroup(g: ResourceGroup): Promise<void>;
  getResourceGroup(subscriptionId: string, name: string): Promise<ResourceGroup | null>;
  listResourceGroups(subscriptionId: string): Promise<ResourceGroup[]>;
  deleteResourceGroup(subscriptionId: string, name: string): Promise<void>;

  insertDisk(d: DiskRecord): Promise<void>;
  updateDisk(d: DiskRecord): Promise<void>;
  getDisk(subscriptionId: string, resourceGroup: string, name: string): Promise<DiskRecord | null>;
  getDiskById(uniqueId: string): Promise<DiskRecord | null>;
  listDisks(filter: { subscriptionId?: string; resourceGroup?: string }): Promise<DiskRecord[]>;
  /** Disks created from the snapshot `sourceUniqueId` that are still hydrating (a COUNT, no rows read). */
  countHydratingDisksFrom(sourceUniqueId: string): Promise<number>;
  deleteDisk(uniqueId: string): Promise<void>;

  insertSnapshot(s: SnapshotRecord): Promise<void>;
  /** Rewrites a live snapshot's row; a deleted one is left as it is. */
  updateSnapshot(s: SnapshotRecord): Promise<void>;
  /** A live snapshot read for a read-modify-write inside a transaction (row-locked where the database can). */
  getSnapshotForUpdate(uniqueId: string): Promise<SnapshotRecord | null>;
  getSnapshot(subscriptionId: string, resourceGroup: string, name: string): Promise<SnapshotRecord | null>;
  getSnapshotById(uniqueId: string): Promise<SnapshotRecord | null>;
  /** Live (not deleted) snapshots; `includeDeleted` for usage reports. */
  listSnapshots(filter: {
    subscriptionId?: string;
    resourceGroup?: string;
    familyId?: string;
    includeDeleted?: boolean;
  }): Promise<SnapshotRecord[]>;

  /** Records an accepted incremental snapshot creation (for the per-5-minutes rate). */
  logSnapshotCreation(diskId: string, at: Date): Promise<void>;
  countSnapshotCreations(diskId: string, since: Date): Promise<Date[]>;

  insertGrant(g: Grant): Promise<void>;
  getGrant(id: string): Promise<Grant | null>;
  listActiveGrants(filter: { resourceUniqueId?: string; familyId?: string }, now: Date): Promise<Grant[]>;
  revokeGrants(resourceUniqueId: string, at: Date): Promise<number>;

  putOperation(op: OperationRecord): Promise<void>;
  getOperation(id: string): Promise<OperationRecord | null>;
}

export interface MapCatalog {
  insertFamily(f: Family): Promise<void>;
  getFamily(id: string): Promise<Family | null>;
  deleteFamily(id: string): Promise<void>;

  insertPoint(p: Point): Promise<void>;
  /** Progress of a copying point (targeted update: other fields may change concurrently). */
  setPointProgress(familyId: string, seq: number, cursor: number, copiedBlocks: number): Promise<void>;
  completePoint(familyId: string, seq: number, usedBytes: number, at: Date): Promise<void>;
  failPoint(familyId: string, seq: number, code: string, message: string, at: Date): Promise<void>;
  setPointHidden(familyId: string, seq: number, hidden: boolean): Promise<void>;
  setPointUsed(familyId: string, seq: number, usedBytes: number): Promise<void>;
  updateFamilyDisk(id: string, diskId: string | null): Promise<void>;
  /** The family mirroring `sourceFamilyId` in `region` (cross-region copies), if any. */
  getReplicaFamily(sourceFamilyId: string, region: string): Promise<string | null>;
  setReplicaFamily(sourceFamilyId: string, region: string, targetFamilyId: string): Promise<void>;
  addPointBytesMoved(familyId: string, seq: number, bytes: number): Promise<void>;
  setPointFrozen(familyId: string, seq: number, frozenBlocks: number): Promise<void>;
  getPoint(familyId: string, seq: number): Promise<Point | null>;
  listPoints(familyId: string): Promise<Point[]>;
  deletePoint(familyId: string, seq: number): Promise<void>;
  /** Whether anything other than the family's own chain still needs the point. */
  pointReferences(familyId: string, seq: number): Promise<{ snapshots: number; bases: number }>;

  insertEntries(familyId: string, point: number, entries: ReadonlyArray<NewEntry>): Promise<void>;
  /**
   * The newest entry at or before `point` for every block in [fromBlock, toBlock) that has one
   * in this family (not following the base), ordered by block.
   */
  resolveEntries(familyId: string, point: number, fromBlock: number, toBlock: number): Promise<EntryRow[]>;
  /**
   * For blocks ≥ fromBlock that have an entry in (afterPoint, upToPoint], the newest such entry,
   * ordered by block, at most `limit` blocks.
   */
  changedEntries(
    familyId: string,
    afterPoint: number,
    upToPoint: number,
    fromBlock: number,
    limit: number,
  ): Promise<EntryRow[]>;
  /** Moves the entries of `point` that `successor` lacks onto it, then drops the rest. */
  mergePointInto(familyId: string, point: number, successor: number): Promise<void>;
  deletePointEntries(familyId: string, point: number): Promise<void>;
  /** Sum of raw bytes of non-zero newest entries in (afterPoint, upToPoint]. */
  changedBytes(familyId: string, afterPoint: number, upToPoint: number): Promise<number>;
  /**
   * Chunk ids among `ids` that still exist (a sweep may have removed a dedup hit). Inside a
   * transaction the rows are locked against GC (`FOR SHARE`) where the database can.
   */
  existingChunks(ids: ReadonlyArray<number>): Promise<Set<number>>;
  /**
   * Cross-region copies (CopyStart) of a subscription still copying into `region`, in one query.
   * Inside a transaction, calls for the same subscription and region are serialised where the
   * database needs it (PostgreSQL), so a limit check and the insert after it are atomic.
   */
  countRegionCopies(subscriptionId: string, region: string): Promise<number>;
  /** Every point still copying (start-up: background work whose job ended or vanished). */
  copyingPoints(): Promise<Point[]>;
}

export interface GcCatalog {
  /** Chunks of a region no entry references, created before `olderThan`. */
  unreferencedChunks(region: string, olderThan: Date, limit: number): Promise<number[]>;
  /** Deletes chunk rows that are still unreferenced; returns the ids really deleted. */
  deleteChunksIfUnreferenced(ids: ReadonlyArray<number>): Promise<number[]>;
  /** Packs of a region without any chunk row, created before `olderThan`. */
  emptyPacks(region: string, olderThan: Date): Promise<{ key: string; zones: string[] }[]>;
  deletePack(region: string, key: string): Promise<void>;
  knownPackKeys(region: string): Promise<Set<string>>;
  chunksOfPack(region: string, key: string): Promise<ChunkLocation[]>;
  /** Families and the lowest point at which an entry references one of the chunks. */
  entriesUsingChunks(ids: ReadonlyArray<number>): Promise<Array<{ familyId: string; point: number; block: number; chunkId: number }>>;
}

/**
 * The lane of a job: the jobs of one lane run one at a time, in creation order, on one node at a
 * time. A target `F:n` (point n of family F) shares the lane of F with the other points of F;
 * any other target is a lane of its own.
 */
export function jobLane(kind: JobKind, target: string): string {
  const i = target.lastIndexOf(':');
  return i > 0 && /^\d+$/.test(target.slice(i + 1)) ? `${kind}|${target.slice(0, i)}` : `${kind}|${target}`;
}

/** One claim pass of a node (see `JobCatalog.claimJobs`). */
export interface JobClaimRequest {
  nodeId: string;
  at: Date;
  /** Claims not renewed since this instant are stale: their node is presumed dead or stalled. */
  staleBefore: Date;
  limit: number;
  /** Only jobs of these kinds. */
  kinds?: ReadonlyArray<JobKind>;
  /** Only jobs of these lanes (`jobLane`). */
  lanes?: ReadonlyArray<string>;
  /** Also take back this node's own running jobs (start-up: the previous process is gone). */
  reclaimOwn?: boolean;
}

/**
 * Background jobs as catalog rows, claimed by one node at a time (several nodes share a catalog).
 * A claim sets `state = 'running'`, the node and a fresh `updated_at`, and increments `attempts`:
 * the returned `attempts` is the claim's fencing token. Every later renewal, checkpoint and finish
 * names it and changes nothing once another node re-claimed the job (it returns false), so a node
 * that stalled past the stale interval can never finish or checkpoint a job it lost.
 */
export interface JobCatalog {
  /** Inserts a job unless an open one of the same kind and target exists; returns the open job. */
  enqueueJob(kind: JobKind, target: string, payload: Record<string, unknown>, at: Date): Promise<Job>;
  /**
   * Like `enqueueJob`, unless a job of this kind finished `done` at or after `doneSince` (periodic
   * singleton work: GC, scrub); null then. One statement.
   */
  enqueueJobIfDue(kind: JobKind, target: string, payload: Record<string, unknown>, at: Date, doneSince: Date): Promise<Job | null>;
  /** When a job of this kind last finished `done` (ISO time), if ever. */
  lastJobDone(kind: JobKind): Promise<string | null>;
  openJobs(): Promise<Job[]>;
  /**
   * Claims up to `limit` runnable jobs for `nodeId`: the oldest open job of each lane, when it is
   * queued, its claim is stale, or (with `reclaimOwn`) it is this node's. `FOR UPDATE SKIP LOCKED`
   * where the database has it, so concurrent claimers take disjoint jobs without waiting.
   */
  claimJobs(request: JobClaimRequest): Promise<Job[]>;
  /** Heartbeat of this node's claims; returns the ids still held (same node, same fence). */
  renewJobClaims(nodeId: string, claims: ReadonlyArray<{ id: number; fence: number }>, at: Date): Promise<Set<number>>;
  /** Checkpoint + heartbeat of one claim; false when the claim was lost. */
  touchClaimedJob(id: number, fence: number, payload: Record<string, unknown>, at: Date): Promise<boolean>;
  /** Ends a claimed job; false when the claim was lost (the job belongs to another node now). */
  finishClaimedJob(id: number, fence: number, state: 'done' | 'failed', error: string | null, at: Date): Promise<boolean>;
  /** Hands a claimed job back (queued, no node): another node may take it. */
  releaseClaimedJob(id: number, fence: number, at: Date): Promise<boolean>;
  /**
   * Open jobs of these kinds, oldest of their lane, not claimed or renewed since `staleBefore`:
   * candidates for a takeover that needs more than the claim (a disk head and its lease).
   */
  staleJobs(kinds: ReadonlyArray<JobKind>, staleBefore: Date, limit: number): Promise<Job[]>;
  /** Unfenced finish and checkpoint (single-node tools and tests). */
  finishJob(id: number, state: 'done' | 'failed', error: string | null, at: Date): Promise<void>;
  touchJob(id: number, payload: Record<string, unknown>, at: Date): Promise<void>;
}

export interface NodeInfo {
  id: string;
  /** Base URL of its HTTPS endpoint (for redirects), when known. */
  url: string | null;
  /** host:port of its NBD server, when known. */
  nbd: string | null;
  heartbeatAt: string;
  /** Which process beats under this id (`host/pid/random`): tells a restart from a duplicate id. */
  incarnation?: string | null;
}

export interface Lease {
  diskId: string;
  nodeId: string;
  epoch: number;
  expiresAt: string;
}

/**
 * Several nodes on one catalog: each disk's head is served by the node holding its lease; the
 * epoch grows whenever the lease changes hands, and writes that change a disk's maps check it
 * (fencing), so a node that lost its lease can never commit.
 */
export interface NodeCatalog {
  heartbeat(node: NodeInfo): Promise<void>;
  getNode(id: string): Promise<NodeInfo | null>;
  /**
   * Takes or renews the lease when free, expired or already ours; null when another node holds it.
   * The epoch grows whenever the lease is taken anew (another node, or after it expired or was
   * released), so a holder that lapsed can never commit under its old epoch.
   */
  acquireLease(diskId: string, nodeId: string, expiresAt: Date, now: Date): Promise<Lease | null>;
  /** Extends every lease of `nodeId` among `diskIds`; returns the disks still held. */
  renewLeases(nodeId: string, diskIds: ReadonlyArray<string>, expiresAt: Date): Promise<Set<string>>;
  getLease(diskId: string): Promise<Lease | null>;
  /** Hands the lease back (it stays as an expired row: the next holder gets a new epoch). */
  releaseLease(diskId: string, nodeId: string): Promise<void>;
  /**
   * Fencing check inside a transaction: the lease is still (nodeId, epoch). Locks the lease row
   * (`FOR SHARE`) where the database can, so no other node takes the lease before the commit.
   */
  holdsLease(diskId: string, nodeId: string, epoch: number): Promise<boolean>;
  /** Leases that expired before `before` without being released (their node stopped renewing). */
  lapsedLeases(before: Date, limit: number): Promise<Lease[]>;
}

export interface Catalog extends ResourceCatalog, MapCatalog, GcCatalog, JobCatalog, ChunkIndex, NodeCatalog {
  /**
   * Runs `fn` in one transaction: all its writes commit together or not at all. Calls on the
   * outer catalog wait until the transaction ends. Do not do slow I/O inside.
   */
  transaction<T>(fn: (tx: Catalog) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
