/**
 * @module core/model
 * The domain records the engine keeps in the catalog. Field names follow the Azure resource
 * model where one exists, so that the ARM adapter maps them almost one to one.
 *
 * Storage vocabulary (see docs/ARCHITECTURE.md):
 * - block: 64 KiB of a disk; the unit of change tracking, chunking and diffs.
 * - family: the ordered history of one disk's incremental snapshots (`incrementalSnapshotFamilyId`),
 *   optionally on top of a base (family, point) the disk was restored from.
 * - point: one moment of a family; snapshots reference points (several snapshots may share one,
 *   e.g. a copy to another resource group). Entries map (family, block, point) → chunk or zero;
 *   the content of block b at point p is the newest entry at or before p, else the base's.
 * - chunk: the content-addressed bytes of one non-zero block, stored in a pack of its region.
 */

export const DISK_SKUS = [
  'Standard_LRS',
  'Premium_LRS',
  'StandardSSD_LRS',
  'UltraSSD_LRS',
  'Premium_ZRS',
  'StandardSSD_ZRS',
  'PremiumV2_LRS',
] as const;
export type DiskSku = (typeof DISK_SKUS)[number];

export const SNAPSHOT_SKUS = ['Standard_LRS', 'Premium_LRS', 'Standard_ZRS'] as const;
export type SnapshotSku = (typeof SNAPSHOT_SKUS)[number];

export const DISK_STATES = [
  'Unattached',
  'Attached',
  'Reserved',
  'Frozen',
  'ActiveSAS',
  'ActiveSASFrozen',
  'ReadyToUpload',
  'ActiveUpload',
] as const;
export type DiskState = (typeof DISK_STATES)[number];

export const CREATE_OPTIONS = ['Empty', 'Copy', 'Upload', 'CopyStart', 'Import', 'Restore'] as const;
export type CreateOption = (typeof CREATE_OPTIONS)[number];

export type SectorSize = 512 | 4096;

export interface CreationData {
  createOption: CreateOption;
  sourceResourceId?: string;
  sourceUniqueId?: string;
  sourceUri?: string;
  storageAccountId?: string;
  uploadSizeBytes?: number;
  logicalSectorSize?: SectorSize;
  /** Other creation fields the engine stores and echoes without interpreting. */
  extra?: Record<string, unknown>;
}

export interface ResourceKey {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

export interface Subscription {
  subscriptionId: string;
  displayName: string;
  tenantId: string;
  state: 'Enabled';
}

export interface ResourceGroup {
  subscriptionId: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  provisioningState: 'Succeeded' | 'Deleting';
  createdAt: string;
}

export type HydrationState = 'none' | 'hydrating' | 'done';

export interface DiskRecord extends ResourceKey {
  uniqueId: string;
  location: string;
  zones: string[];
  sku: DiskSku;
  sizeBytes: number;
  logicalSectorSize: SectorSize;
  diskState: DiskState;
  provisioningState: 'Succeeded' | 'Updating' | 'Failed';
  creationData: CreationData;
  tags: Record<string, string>;
  /** ARM properties the engine keeps verbatim (osType, hyperVGeneration, encryption, ...). */
  properties: Record<string, unknown>;
  managedBy: string | null;
  maxShares: number;
  timeCreated: string;
  /** The incremental snapshot family of this disk, created with its first snapshot. */
  familyId: string | null;
  /** The point of `familyId` that the live change tracking is relative to (0: none yet). */
  trackingPoint: number;
  /** Where a restored disk's bytes come from until hydrated. */
  baseFamilyId: string | null;
  basePoint: number;
  hydration: HydrationState;
  hydrationTotalBlocks: number;
  hydrationDoneBlocks: number;
  /**
   * Several nodes: the head (live data) was on a node that stopped, and no running node can reach
   * it; the disk shows `provisioningState: Failed` until that node serves it again.
   */
  headLost?: HeadLost | null;
  /**
   * Upload disks: bumped (persisted) before the first Put Page of each loading of the disk's
   * runtime, so the page blob's ETags never repeat across restarts and nodes (absent: 0).
   */
  writeGeneration?: number;
  /**
   * The hidden upload disk of a snapshot created for upload (engine/snapshot-uploads): the
   * snapshot's uniqueId. Such a disk is never listed, found by name, exported or billed.
   */
  uploadFor?: string;
}

export interface HeadLost {
  /** The node that last served the disk. */
  node: string;
  /** When the loss was declared. */
  since: string;
  message: string;
}

export interface CopyCompletionError {
  errorCode: string;
  errorMessage: string;
}

export interface SnapshotRecord extends ResourceKey {
  uniqueId: string;
  location: string;
  sku: SnapshotSku;
  incremental: boolean;
  sizeBytes: number;
  logicalSectorSize: SectorSize;
  diskState: DiskState;
  provisioningState: 'Succeeded' | 'Updating' | 'Failed';
  creationData: CreationData;
  tags: Record<string, string>;
  properties: Record<string, unknown>;
  timeCreated: string;
  familyId: string;
  point: number;
  /** Sku of the disk the data came from: Ultra/PremiumV2 rules depend on it. */
  sourceDiskSku: DiskSku | null;
  copyCompletionError: CopyCompletionError | null;
  deletedAt: string | null;
  /** Used bytes when the snapshot was deleted (usage reports of the days it still existed). */
  usedBytesAtDeletion?: number;
  /**
   * A snapshot created for upload (`createOption: Upload`): the hidden disk that receives the
   * upload and then holds its data until the background copy took it into the chunk store.
   */
  uploadDiskId?: string;
}

export interface Family {
  id: string;
  region: string;
  /** The disk whose changes this family records (null for a family of a full snapshot). */
  diskId: string | null;
  baseFamilyId: string | null;
  basePoint: number;
  createdAt: string;
  /** For a family made by cross-region copies (CopyStart): the source family it mirrors. */
  replicaOf?: string | null;
}

export type PointState = 'copying' | 'ready' | 'failed';

export interface Point {
  familyId: string;
  seq: number;
  sizeBytes: number;
  state: PointState;
  /** Deleted by the user but still needed (a later point's tracking, a base of another family). */
  hidden: boolean;
  /** Blocks frozen at creation (the background copy's work list). */
  frozenBlocks: number;
  /** Frozen blocks copied so far (completionPercent = copied / frozen). */
  copiedBlocks: number;
  /** Every frozen block below this index is committed. */
  cursor: number;
  /** Name of the volume bitmap holding the frozen set while copying. */
  frozenMap: string | null;
  /** Logical bytes this point adds over the previous visible point (billing "used size"). */
  usedBytes: number;
  createdAt: string;
  completedAt: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  /** Cross-region copies: the source point this point mirrors. */
  sourceFamilyId?: string | null;
  sourceSeq?: number;
  /** Cross-region copies: bytes written into this region's chunk store for this point. */
  bytesMoved?: number;
}

/** Where one chunk's bytes are: the pack object and the span inside it. */
export interface ChunkLocation {
  id: number;
  hash: Buffer;
  pack: string;
  offset: number;
  storedLength: number;
  rawLength: number;
  codec: number;
}

/** The content of a block at a point: a chunk, zeros, or "not known here" (look in the base). */
export type BlockSource = { kind: 'chunk'; chunk: ChunkLocation } | { kind: 'zero' };

export interface Grant {
  id: string;
  resourceKind: 'disk' | 'snapshot';
  resourceUniqueId: string;
  access: 'Read' | 'Write';
  fileFormat: 'VHD' | 'VHDX';
  familyId: string | null;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

export interface OperationRecord {
  id: string;
  subscriptionId: string;
  location: string;
  kind: string;
  status: 'InProgress' | 'Succeeded' | 'Failed' | 'Canceled';
  startTime: string;
  endTime: string | null;
  /** The final result (resource JSON, AccessUri, ...) or the error, as the surface stored it. */
  result: unknown;
  error: { code: string; message: string } | null;
}

export type JobKind = 'snapshot-copy' | 'hydrate' | 'gc' | 'scrub' | 'delete-group' | 'region-copy';

export interface Job {
  id: number;
  kind: JobKind;
  /** What the job works on: a disk id, "family:point", a group key... unique per kind while open. */
  target: string;
  state: 'queued' | 'running' | 'done' | 'failed';
  payload: Record<string, unknown>;
  /** Times the job was claimed; the current claim's fencing token (see JobCatalog). */
  attempts: number;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  /** The node holding the claim (several nodes), null when none does. */
  nodeId?: string | null;
}
