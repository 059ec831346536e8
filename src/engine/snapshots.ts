/**
 * @module engine/snapshots
 * Snapshots: incremental (a point of the source disk's family) and full (a family of their own
 * whose base is a point), created instantly; copies within a region; deletion that never changes
 * another snapshot; reads, page lists and diffs.
 *
 *   incremental of disk D   → new point of D's family (freeze D's changed blocks, copy in background)
 *   full of disk D          → hidden point of D's family + new family with that point as base
 *   incremental of snap S   → another snapshot row on S's point (same family, shares everything)
 *   full of snap S          → new family with S's point as base
 *   for upload (Upload)     → no point until the upload is complete, then a full snapshot of the
 *                             hidden disk that received it (engine/snapshot-uploads)
 */

import { invalid, notAllowed, SnapdiskError } from '../core/errors.js';
import { parseResourceId, resourceId } from '../core/ids.js';
import type { CopyCompletionError, DiskRecord, ResourceKey, SnapshotRecord, SnapshotSku } from '../core/model.js';
import type { ByteRange, DiffRange } from '../core/ranges.js';
import {
  assertUnchangedCreation,
  incrementalSnapshotSku,
  isUltraClass,
  provenance,
  RATE_WINDOW_MS,
  validateDiskSizeGb,
  validateResourceName,
} from '../core/rules.js';
import type { Catalog } from '../core/ports.js';
import { BLOCK_SIZE, DIFF_RESIZE_BOUNDARY_BYTES, GiB } from '../core/units.js';
import type { EngineContext } from './context.js';
import { notFound } from './disks.js';
import { KeyedMutex } from './locks.js';
import type { BlockPage, Maps } from './maps.js';
import type { Points } from './points.js';
import type { RegionCopies } from './region-copy.js';
import type { Resolver } from './resolver.js';
import { nameKey, nameTaken, type Resources } from './resources.js';
import type { Runtimes } from './runtimes.js';
import type { SnapshotUploads } from './snapshot-uploads.js';
import { assertNotFailed, assertUsable, isUploadPending, snapshotHealth, type SnapshotHealth } from './usability.js';
import type { CreationData } from '../core/model.js';

export interface SnapshotSpec extends ResourceKey {
  location?: string;
  sku?: SnapshotSku;
  incremental?: boolean;
  creationData: CreationData;
  tags?: Record<string, string>;
  properties?: Record<string, unknown>;
  /** On an existing snapshot only its current size is accepted (snapshots do not resize). */
  sizeGb?: number;
}

export interface SnapshotPatch {
  sku?: SnapshotSku;
  tags?: Record<string, string>;
  properties?: Record<string, unknown>;
  /** Accepted when it is the current size; snapshots do not resize. */
  sizeGb?: number;
}

export interface SnapshotStatus {
  completionPercent: number;
  provisioningState: 'Succeeded' | 'Failed';
  copyCompletionError: CopyCompletionError | null;
  usedBytes: number;
}

export interface RangeQuery {
  /** First byte of interest (rounded down to a page by callers). */
  start?: number;
  /** Exclusive end of interest. */
  end?: number;
  /** Most ranges in one page (merged ranges). */
  maxRanges?: number;
}

export interface RangePage<T extends ByteRange> {
  ranges: T[];
  /** Byte offset to continue from, absent on the last page. */
  next?: number;
}

export class Snapshots {
  /** One create-or-update at a time per snapshot name: a second PUT of a new name updates. */
  private readonly names = new KeyedMutex();

  constructor(
    private readonly ctx: EngineContext,
    private readonly resources: Resources,
    private readonly points: Points,
    private readonly resolver: Resolver,
    private readonly maps: Maps,
    private readonly runtimes: Runtimes,
  ) {}

  find(key: ResourceKey): Promise<SnapshotRecord | null> {
    return this.ctx.catalog.getSnapshot(key.subscriptionId, key.resourceGroup, key.name);
  }

  async get(key: ResourceKey): Promise<SnapshotRecord> {
    await this.resources.requireGroup(key.subscriptionId, key.resourceGroup);
    const s = await this.find(key);
    if (!s) throw notFound('snapshots', key);
    return s;
  }

  async getById(uniqueId: string): Promise<SnapshotRecord> {
    const s = await this.ctx.catalog.getSnapshotById(uniqueId);
    if (!s) throw new SnapdiskError('ResourceNotFound', `The snapshot with unique id ${uniqueId} was not found.`);
    return s;
  }

  async list(filter: { subscriptionId: string; resourceGroup?: string }): Promise<SnapshotRecord[]> {
    if (filter.resourceGroup) await this.resources.requireGroup(filter.subscriptionId, filter.resourceGroup);
    else await this.resources.requireSubscription(filter.subscriptionId);
    return this.ctx.catalog.listSnapshots(filter);
  }

  async status(s: SnapshotRecord): Promise<SnapshotStatus> {
    // created for upload and not uploaded yet: no content, nothing copied, nothing used
    if (isUploadPending(s)) return { completionPercent: 0, provisioningState: 'Succeeded', copyCompletionError: null, usedBytes: 0 };
    try {
      const h = await this.health(s);
      const failed = h.failed;
      return {
        completionPercent: h.completionPercent,
        provisioningState: failed ? 'Failed' : 'Succeeded',
        copyCompletionError:
          s.copyCompletionError ??
          (failed ? { errorCode: failed.errorCode ?? 'CopyFailed', errorMessage: failed.errorMessage ?? 'the background copy failed' } : null),
        usedBytes: s.incremental ? (h.point?.usedBytes ?? 0) : await this.fullUsedBytes(s, h),
      };
    } catch (err) {
      throw await this.goneOr(s, err);
    }
  }

  /**
   * The used (billed) bytes of `status`, without the rest: one point read for an incremental
   * snapshot or a full one already measured (usage reports read it for every snapshot).
   */
  async usedBytes(s: SnapshotRecord): Promise<number> {
    if (isUploadPending(s)) return 0;
    try {
      const point = await this.ctx.catalog.getPoint(s.familyId, s.point);
      if (s.incremental) return point?.usedBytes ?? 0;
      if (point && point.usedBytes > 0) return point.usedBytes;
      return await this.fullUsedBytes(s, await this.health(s));
    } catch (err) {
      throw await this.goneOr(s, err);
    }
  }

  private async health(s: SnapshotRecord): Promise<SnapshotHealth> {
    try {
      return await snapshotHealth(this.ctx, this.resolver, s);
    } catch (err) {
      throw await this.goneOr(s, err);
    }
  }

  /** A snapshot deleted meanwhile may have lost its points (and family): that is ResourceNotFound. */
  private async goneOr(s: SnapshotRecord, err: unknown): Promise<unknown> {
    if (err instanceof SnapdiskError && err.code === 'ResourceNotFound') return err;
    return (await this.ctx.catalog.getSnapshotById(s.uniqueId)) ? err : notFound('snapshots', s);
  }

  /** A full snapshot's used bytes: measured once its content is complete, then kept on its point. */
  private async fullUsedBytes(s: SnapshotRecord, h: SnapshotHealth): Promise<number> {
    if (h.point && h.point.usedBytes > 0) return h.point.usedBytes;
    if (h.completionPercent < 100) return 0;
    const used = await this.maps.allocatedBytes(s.familyId, s.point);
    await this.ctx.catalog.setPointUsed(s.familyId, s.point, used);
    return used;
  }

  /** Refuses use (restore, SAS) of a snapshot that cannot be used yet. */
  async assertUsable(s: SnapshotRecord, purpose: string): Promise<void> {
    assertUsable(s, await this.health(s), purpose);
  }

  /** Refuses use of a snapshot whose content (or that of a point it builds on) failed. */
  async assertNotFailed(s: SnapshotRecord, purpose: string): Promise<void> {
    assertNotFailed(s, await this.health(s), purpose);
  }

  /**
   * Read-modify-write of a live snapshot record in one transaction: `fn` sees the current record
   * (never a copy read earlier) and only its changes are written. A deleted snapshot is
   * ResourceNotFound and is never written back.
   */
  async mutate(
    s: SnapshotRecord,
    fn: (current: SnapshotRecord, tx: Catalog) => SnapshotRecord | Promise<SnapshotRecord>,
  ): Promise<SnapshotRecord> {
    return this.ctx.catalog.transaction(async (tx) => {
      const current = await tx.getSnapshotForUpdate(s.uniqueId);
      if (!current) throw notFound('snapshots', s);
      const updated = await fn(current, tx);
      if (updated !== current) await tx.updateSnapshot(updated);
      return updated;
    });
  }

  /** PUT: creates the snapshot, or updates the updatable fields of an existing one. */
  async createOrUpdate(spec: SnapshotSpec): Promise<{ snapshot: SnapshotRecord; created: boolean }> {
    validateResourceName(spec.name, 'snapshot');
    return this.names.run(nameKey(spec), () => this.createOrUpdateLocked(spec));
  }

  private async createOrUpdateLocked(spec: SnapshotSpec): Promise<{ snapshot: SnapshotRecord; created: boolean }> {
    const existing = await this.find(spec);
    const group = existing ? await this.resources.requireGroup(spec.subscriptionId, spec.resourceGroup) : await this.resources.requireWritableGroup(spec.subscriptionId, spec.resourceGroup);
    if (existing) {
      if (spec.incremental !== undefined && spec.incremental !== existing.incremental) {
        throw invalid(`The property 'incremental' of snapshot ${existing.name} cannot change after creation.`, 'properties.incremental');
      }
      assertUnchangedCreation(existing, spec);
      const patch: SnapshotPatch = {};
      if (spec.tags) patch.tags = spec.tags;
      if (spec.properties) patch.properties = spec.properties;
      if (spec.sku) patch.sku = spec.sku;
      if (spec.sizeGb !== undefined) patch.sizeGb = spec.sizeGb;
      return { snapshot: await this.update(existing, patch), created: false };
    }
    try {
      return { snapshot: await this.create(spec, group.location), created: true };
    } catch (err) {
      throw nameTaken(err, 'snapshot', spec) ?? err;
    }
  }

  private async create(spec: SnapshotSpec, groupLocation: string): Promise<SnapshotRecord> {
    const location = (spec.location ?? groupLocation).toLowerCase();
    this.ctx.region(location);
    const cd = spec.creationData;
    if (cd.createOption === 'CopyStart') return this.copyStart(spec, location);
    if (cd.createOption === 'Upload') {
      if (!this.uploads) throw new SnapdiskError('InternalError', 'snapshot uploads are not wired');
      return this.uploads.create(spec, this.newRecord(spec, location, spec.sku ?? 'Standard_LRS', false, null));
    }
    if (cd.createOption !== 'Copy' && cd.createOption !== 'Import') {
      throw invalid(
        `createOption '${cd.createOption}' is not supported for snapshots.`,
        'properties.creationData.createOption',
        'Use Copy with sourceResourceId naming a disk or a snapshot, or Upload with uploadSizeBytes.',
      );
    }
    if (!cd.sourceResourceId) throw invalid('sourceResourceId is required when createOption is Copy.', 'properties.creationData.sourceResourceId');
    const src = parseResourceId(cd.sourceResourceId);
    return src.kind === 'disks' ? this.fromDisk(spec, location, src) : this.fromSnapshot(spec, location, src);
  }

  /** CopyStart: a background copy of an incremental snapshot into (usually) another region. */
  private async copyStart(spec: SnapshotSpec, location: string): Promise<SnapshotRecord> {
    const id = spec.creationData.sourceResourceId;
    if (!id) throw invalid('sourceResourceId is required when createOption is CopyStart.', 'properties.creationData.sourceResourceId');
    const src = parseResourceId(id);
    if (src.kind !== 'snapshots') {
      throw invalid('CopyStart copies a snapshot: sourceResourceId must name a snapshot, not a disk.', 'properties.creationData.sourceResourceId', 'Snapshot the disk first, then copy the snapshot.');
    }
    const source = await this.ctx.catalog.getSnapshot(src.subscriptionId, src.resourceGroup, src.name);
    if (!source) throw notFound('snapshots', src);
    if (!this.regionCopies) throw new SnapdiskError('InternalError', 'cross-region copies are not wired');
    if (spec.incremental === false) {
      throw notAllowed('A CopyStart copy is always incremental: incremental must be true (or omitted).');
    }
    await this.assertNotFailed(source, 'a cross-region copy');
    const base = this.newRecord(spec, location, spec.sku ?? 'Standard_LRS', true, null);
    return this.regionCopies.start(spec, location, source, base);
  }

  /** Set by the engine after construction (the two services refer to each other). */
  regionCopies: RegionCopies | null = null;

  /** Set by the engine after construction: snapshots created for upload. */
  uploads: SnapshotUploads | null = null;

  private async fromDisk(spec: SnapshotSpec, location: string, src: ResourceKey): Promise<SnapshotRecord> {
    const disk = await this.ctx.catalog.getDisk(src.subscriptionId, src.resourceGroup, src.name);
    if (!disk || disk.uploadFor) throw notFound('disks', src);
    if (disk.location !== location) {
      throw invalid(
        `The disk ${disk.name} is in ${disk.location} but the snapshot would be in ${location}.`,
        'location',
        'Create the snapshot in the disk\'s region, then copy it across regions with createOption CopyStart.',
      );
    }
    if (disk.diskState === 'ReadyToUpload' || disk.diskState === 'ActiveUpload') {
      throw notAllowed(`The disk ${disk.name} is waiting for an upload (${disk.diskState}); snapshot it after endGetAccess.`);
    }
    const incremental = spec.incremental === true;
    if (incremental && disk.subscriptionId !== spec.subscriptionId.toLowerCase()) {
      throw invalid(
        `An incremental snapshot of disk ${disk.name} cannot be created outside the disk's subscription (${disk.subscriptionId}); this request is in ${spec.subscriptionId}.`,
        'properties.creationData.sourceResourceId',
        'Create the snapshot in the disk\'s subscription, then copy it.',
      );
    }
    const region = this.ctx.region(location);
    const sku: SnapshotSku = incremental ? incrementalSnapshotSku(spec.sku, region) : (spec.sku ?? 'Standard_LRS');
    // a quick check before waiting for the disk's lock (a refusal stays a synchronous 409/429);
    // the same checks run again, authoritatively, under the lock inside the creating transaction
    if (incremental) {
      if (isUltraClass(disk.sku)) this.checkUltraRules(disk);
      await this.checkIncrementalLimits(this.ctx.catalog, disk);
    }
    const base = this.newRecord(spec, location, sku, incremental, disk);
    const result = await this.points.create(disk.uniqueId, {
      hidden: !incremental,
      check: incremental
        ? async (tx, d) => {
            if (isUltraClass(d.sku)) this.checkUltraRules(d);
            await this.checkIncrementalLimits(tx, d);
          }
        : undefined,
      extra: async (tx, info) => {
        let record: SnapshotRecord;
        if (incremental) {
          record = { ...base, familyId: info.familyId, point: info.seq };
          await tx.logSnapshotCreation(disk.uniqueId, this.ctx.now());
        } else {
          const familyId = this.ctx.newId();
          await tx.insertFamily({
            id: familyId,
            region: location,
            diskId: null,
            baseFamilyId: info.familyId,
            basePoint: info.seq,
            createdAt: this.ctx.nowIso(),
          });
          await tx.insertPoint(readyPoint(familyId, disk.sizeBytes, this.ctx.nowIso()));
          record = { ...base, familyId, point: 1 };
        }
        await tx.insertSnapshot(record);
        return record;
      },
    });
    if (!result.extra) throw new SnapdiskError('InternalError', 'snapshot creation returned no record');
    return result.extra;
  }

  private checkUltraRules(disk: DiskRecord): void {
    if (disk.hydration === 'hydrating') {
      throw notAllowed(
        `Disk ${disk.name} (${disk.sku}) is still being copied from its source (completionPercent below 100): incremental snapshots of Ultra Disks and Premium SSD v2 disks need completionPercent 100.`,
        'Wait for the disk background copy to finish, then retry.',
      );
    }
    const rt = this.runtimes.peek(disk.uniqueId);
    const pending = rt ? rt.pending.length : 0;
    const limit = this.ctx.limits.pendingSnapshotsPerDiskDuringBackgroundCopy;
    if (pending >= limit) {
      throw notAllowed(
        `Disk ${disk.name} already has ${pending} snapshots in background copy: at most ${limit} may be pending for an Ultra Disk or Premium SSD v2 disk (pendingSnapshotsPerDiskDuringBackgroundCopy).`,
        'Wait until one reaches completionPercent 100, then retry.',
      );
    }
  }

  /** The 500-per-disk and 7-per-5-minutes limits, checked inside the creating transaction. */
  private async checkIncrementalLimits(tx: Catalog, disk: DiskRecord): Promise<void> {
    const limits = this.ctx.limits;
    if (disk.familyId) {
      const live = await tx.listSnapshots({ familyId: disk.familyId });
      const own = live.filter((s) => s.incremental && s.creationData.sourceUniqueId === disk.uniqueId).length;
      if (own >= limits.incrementalSnapshotsPerDisk) {
        throw notAllowed(
          `Disk ${disk.name} already has ${own} incremental snapshots: at most ${limits.incrementalSnapshotsPerDisk} may exist per disk at a time (incrementalSnapshotsPerDisk).`,
          'Delete older snapshots of this disk to make room.',
        );
      }
    }
    const now = this.ctx.now();
    const recent = await tx.countSnapshotCreations(disk.uniqueId, new Date(now.getTime() - RATE_WINDOW_MS));
    const max = limits.incrementalSnapshotsPerDiskPer5Minutes;
    if (recent.length >= max) {
      const oldest = recent[recent.length - max] ?? now;
      const retryAfter = Math.max(1, Math.ceil((oldest.getTime() + RATE_WINDOW_MS - now.getTime()) / 1000));
      throw new SnapdiskError(
        'TooManyRequests',
        `Disk ${disk.name} had ${recent.length} incremental snapshots created in the last 5 minutes: at most ${max} per disk per 5 minutes (incrementalSnapshotsPerDiskPer5Minutes).`,
        { retryAfterSeconds: retryAfter, hint: `Retry after ${retryAfter} seconds.` },
      );
    }
  }

  private async fromSnapshot(spec: SnapshotSpec, location: string, src: ResourceKey): Promise<SnapshotRecord> {
    const source = await this.ctx.catalog.getSnapshot(src.subscriptionId, src.resourceGroup, src.name);
    if (!source) throw notFound('snapshots', src);
    if (source.location !== location) {
      throw invalid(
        `The snapshot ${source.name} is in ${source.location}; copying it to ${location} needs createOption CopyStart.`,
        'properties.creationData.createOption',
      );
    }
    await this.assertUsable(source, 'a copy');
    const incremental = spec.incremental === true;
    const region = this.ctx.region(location);
    if (incremental && !source.incremental) {
      throw notAllowed(
        `The snapshot ${source.name} is a full snapshot: an incremental snapshot can only be copied from an incremental snapshot.`,
        'Create a full copy (incremental: false), or snapshot the disk itself.',
      );
    }
    const sku: SnapshotSku = incremental ? incrementalSnapshotSku(spec.sku, region) : (spec.sku ?? 'Standard_LRS');
    const base = this.newRecord(spec, location, sku, incremental, null);
    const record: SnapshotRecord = {
      ...base,
      sizeBytes: source.sizeBytes,
      logicalSectorSize: source.logicalSectorSize,
      sourceDiskSku: source.sourceDiskSku,
      creationData: {
        createOption: spec.creationData.createOption === 'Import' ? 'Import' : 'Copy',
        ...provenance(spec.creationData),
        sourceResourceId: resourceId('snapshots', source),
        sourceUniqueId: source.uniqueId,
        ...(source.creationData.logicalSectorSize ? { logicalSectorSize: source.creationData.logicalSectorSize } : {}),
      },
      familyId: source.familyId,
      point: source.point,
    };
    await this.ctx.catalog.transaction(async (tx) => {
      if (!incremental) {
        const familyId = this.ctx.newId();
        await tx.insertFamily({
          id: familyId,
          region: location,
          diskId: null,
          baseFamilyId: source.familyId,
          basePoint: source.point,
          createdAt: this.ctx.nowIso(),
        });
        await tx.insertPoint(readyPoint(familyId, source.sizeBytes, this.ctx.nowIso()));
        record.familyId = familyId;
        record.point = 1;
      }
      await tx.insertSnapshot(record);
      if (incremental) await tx.setPointHidden(source.familyId, source.point, false);
    });
    return record;
  }

  private newRecord(
    spec: SnapshotSpec,
    location: string,
    sku: SnapshotSku,
    incremental: boolean,
    disk: DiskRecord | null,
  ): SnapshotRecord {
    return {
      subscriptionId: spec.subscriptionId.toLowerCase(),
      resourceGroup: spec.resourceGroup,
      name: spec.name,
      uniqueId: this.ctx.newId(),
      location,
      sku,
      incremental,
      sizeBytes: disk?.sizeBytes ?? 0,
      logicalSectorSize: disk?.logicalSectorSize ?? 512,
      diskState: 'Unattached',
      provisioningState: 'Succeeded',
      creationData: disk
        ? {
            createOption: spec.creationData.createOption === 'Import' ? 'Import' : 'Copy',
            ...provenance(spec.creationData),
            sourceResourceId: resourceId('disks', disk),
            sourceUniqueId: disk.uniqueId,
            logicalSectorSize: disk.logicalSectorSize,
          }
        : { createOption: 'Copy' },
      tags: spec.tags ?? {},
      properties: spec.properties ?? {},
      timeCreated: this.ctx.nowIso(),
      familyId: '',
      point: 0,
      sourceDiskSku: disk?.sku ?? null,
      copyCompletionError: null,
      deletedAt: null,
    };
  }

  /** PATCH: tags, properties, sku (an incremental snapshot stays on standard storage). */
  async update(key: ResourceKey, patch: SnapshotPatch): Promise<SnapshotRecord> {
    const s = await this.get(key);
    const check = (x: SnapshotRecord): void => {
      if (patch.sku && patch.sku !== x.sku && x.incremental) incrementalSnapshotSku(patch.sku, this.ctx.region(x.location));
      if (patch.sizeGb !== undefined && validateDiskSizeGb(patch.sizeGb) !== Math.ceil(x.sizeBytes / GiB) * GiB) {
        throw notAllowed(
          `Snapshot ${x.name} cannot be resized from ${Math.ceil(x.sizeBytes / GiB)} GiB to ${patch.sizeGb} GiB: a snapshot keeps the size of its source.`,
          'Create a disk from the snapshot with the larger diskSizeGB instead.',
        );
      }
    };
    check(s);
    return this.mutate(s, (current) => {
      check(current);
      return {
        ...current,
        ...(patch.tags ? { tags: patch.tags } : {}),
        ...(patch.properties ? { properties: { ...current.properties, ...patch.properties } } : {}),
        ...(patch.sku ? { sku: patch.sku } : {}),
      };
    });
  }

  /** DELETE: false when the snapshot does not exist. Other snapshots never change. */
  async delete(key: ResourceKey): Promise<boolean> {
    await this.resources.requireGroup(key.subscriptionId, key.resourceGroup);
    const s = await this.find(key);
    if (!s) return false;
    await this.deleteRecord(s);
    return true;
  }

  async deleteRecord(s: SnapshotRecord): Promise<void> {
    const activeSas = (x: SnapshotRecord): void => {
      if (x.diskState === 'ActiveSAS' || x.diskState === 'ActiveUpload') {
        throw notAllowed(`Snapshot ${x.name} has an active SAS (${x.diskState}) and cannot be deleted.`, 'Revoke access first (endGetAccess).');
      }
    };
    activeSas(s);
    const now = this.ctx.now();
    let usedBytesAtDeletion: number;
    try {
      usedBytesAtDeletion = await this.usedBytes(s);
    } catch (err) {
      if (err instanceof SnapdiskError && err.code === 'ResourceNotFound') return; // deleted meanwhile
      throw err;
    }
    let stillShared = false;
    // the point as the record has it now (a snapshot created for upload gets its point at endGetAccess)
    let at = { familyId: s.familyId, point: s.point };
    const deleted = await this.ctx.catalog.transaction(async (tx) => {
      // the record as it is now: a grant that won the race keeps it (active SAS), a concurrent
      // delete that won leaves nothing to do
      const current = await tx.getSnapshotForUpdate(s.uniqueId);
      if (!current) return false;
      activeSas(current);
      at = { familyId: current.familyId, point: current.point };
      await tx.updateSnapshot({ ...current, deletedAt: now.toISOString(), usedBytesAtDeletion });
      await tx.revokeGrants(s.uniqueId, now);
      if (isUploadPending(current)) return true; // no point yet
      const refs = await tx.pointReferences(at.familyId, at.point);
      stillShared = refs.snapshots > 0;
      if (!stillShared) await tx.setPointHidden(at.familyId, at.point, true);
      return true;
    });
    // a snapshot created for upload: its hidden disk goes once nothing needs it (at once while
    // not uploaded yet, else when its copy is done)
    if (deleted && s.uploadDiskId) await this.uploads?.settle(s.uploadDiskId);
    if (!deleted || stillShared || at.point === 0) return;
    await this.points.release(at.familyId, at.point);
    await this.points.refreshUsedAfter(at.familyId, at.point);
    const left = await this.ctx.catalog.listPoints(at.familyId);
    const fam = await this.ctx.catalog.getFamily(at.familyId);
    if (left.length === 0 && fam && !fam.diskId) await this.points.dropFamily(at.familyId);
  }

  // -- data ----------------------------------------------------------------------------------------

  async read(s: SnapshotRecord, offset: number, length: number): Promise<Buffer> {
    checkRange(s, offset, length); // before allocating: a negative or fractional length is the caller's error
    const out = Buffer.allocUnsafe(length);
    await this.readInto(s, offset, out);
    return out;
  }

  /** Fills `target` with the snapshot's bytes at `offset` (the hot-path variant). */
  async readInto(s: SnapshotRecord, offset: number, target: Buffer): Promise<void> {
    const length = target.length;
    checkRange(s, offset, length);
    try {
      await this.resolver.readRangeInto(s.familyId, s.point, offset, target);
    } catch (err) {
      if (err instanceof SnapdiskError && (err.code === 'IntegrityError' || err.code === 'ChunkNotFound')) {
        throw new SnapdiskError(err.code, `Snapshot ${s.name} cannot be read at ${offset}+${length}: ${err.message}`, {
          cause: err,
          hint: 'No intact copy of this data is left in the region; `snapdisk verify` lists every snapshot affected.',
        });
      }
      throw err;
    }
  }

  /** Allocation of a range at block granularity (true holes read as zeros). */
  async extents(s: SnapshotRecord, offset: number, length: number): Promise<{ offset: number; length: number; hole: boolean }[]> {
    checkRange(s, offset, length);
    const out: { offset: number; length: number; hole: boolean }[] = [];
    if (length === 0) return out;
    const first = Math.floor(offset / BLOCK_SIZE);
    const last = Math.floor((offset + length - 1) / BLOCK_SIZE);
    const blocks = Array.from({ length: last - first + 1 }, (_, i) => first + i);
    const holes = await this.resolver.holes(s.familyId, s.point, blocks);
    for (const b of blocks) {
      const hole = holes.get(b) ?? true;
      const start = Math.max(b * BLOCK_SIZE, offset);
      const end = Math.min((b + 1) * BLOCK_SIZE, offset + length);
      const prev = out[out.length - 1];
      if (prev && prev.hole === hole) prev.length += end - start;
      else out.push({ offset: start, length: end - start, hole });
    }
    return out;
  }

  /** Ranges holding data (Get Page Ranges without a previous snapshot). */
  async allocatedRanges(s: SnapshotRecord, q: RangeQuery = {}): Promise<RangePage<ByteRange>> {
    checkQuery(q);
    const page = await this.collect(s.sizeBytes, q, (from, limit) => this.maps.allocated(s.familyId, s.point, from, limit));
    return { ranges: page.ranges.map(({ start, end }) => ({ start, end })), ...(page.next !== undefined ? { next: page.next } : {}) };
  }

  /**
   * Changes from `older` to `newer`: data ranges written and ranges cleared in between. Both must
   * be of one family, `older` not newer, and no resize across the 4 TiB boundary in between.
   */
  async diff(newer: SnapshotRecord, older: SnapshotRecord, q: RangeQuery = {}): Promise<RangePage<DiffRange>> {
    checkQuery(q);
    if (older.familyId !== newer.familyId) {
      throw new SnapdiskError(
        'PreviousSnapshotNotFound',
        `The previous snapshot ${older.name} belongs to another snapshot family than ${newer.name}: changes can only be listed between snapshots of the same disk (incrementalSnapshotFamilyId).`,
      );
    }
    if (older.point > newer.point) {
      throw new SnapdiskError(
        'PreviousSnapshotCannotBeNewer',
        `The previous snapshot ${older.name} was taken after ${newer.name}.`,
        { hint: 'Swap the two snapshots.' },
      );
    }
    const [pa, pb] = await Promise.all([
      this.ctx.catalog.getPoint(older.familyId, older.point),
      this.ctx.catalog.getPoint(newer.familyId, newer.point),
    ]);
    const sizeA = pa?.sizeBytes ?? older.sizeBytes;
    const sizeB = pb?.sizeBytes ?? newer.sizeBytes;
    if (sizeA <= DIFF_RESIZE_BOUNDARY_BYTES && sizeB > DIFF_RESIZE_BOUNDARY_BYTES) {
      throw new SnapdiskError(
        'PreviousSnapshotOperationNotSupported',
        `The disk grew across the 4 TiB boundary between ${older.name} (${sizeA} bytes) and ${newer.name} (${sizeB} bytes): the changes between them cannot be listed.`,
        { hint: `Download the full copy of ${newer.name}; later snapshots can be diffed against it.` },
      );
    }
    await this.assertNotFailed(newer, 'a diff');
    if (older.uniqueId !== newer.uniqueId) await this.assertNotFailed(older, 'a diff');
    if (older.point === newer.point) return { ranges: [] };
    return this.collect(newer.sizeBytes, q, (from, limit) => this.maps.changed(newer.familyId, older.point, newer.point, from, limit));
  }

  /** Pages block listings into merged byte ranges, at most `maxRanges` per page. */
  private async collect(
    sizeBytes: number,
    q: RangeQuery,
    page: (fromBlock: number, limit: number) => Promise<BlockPage>,
  ): Promise<RangePage<DiffRange>> {
    const start = Math.max(0, q.start ?? 0);
    const end = Math.min(sizeBytes, q.end ?? sizeBytes);
    const max = q.maxRanges ?? Infinity;
    const out: DiffRange[] = [];
    let from = Math.floor(start / BLOCK_SIZE);
    const endBlock = Math.ceil(end / BLOCK_SIZE);
    while (from < endBlock) {
      const p = await page(from, 4096);
      for (const item of p.items) {
        if (item.block >= endBlock) break;
        const s = Math.max(item.block * BLOCK_SIZE, start);
        const e = Math.min((item.block + 1) * BLOCK_SIZE, end);
        if (s >= e) continue;
        const last = out[out.length - 1];
        if (last && last.end === s && last.clear === item.zero) {
          last.end = e;
          continue;
        }
        if (out.length >= max) return { ranges: out, next: s };
        out.push({ start: s, end: e, clear: item.zero });
      }
      if (p.end === Infinity) break;
      from = p.end;
    }
    return { ranges: out };
  }
}

/** The one point of a full snapshot's own family: ready at once, its content is the base's. */
export function readyPoint(familyId: string, sizeBytes: number, now: string) {
  return {
    familyId,
    seq: 1,
    sizeBytes,
    state: 'ready' as const,
    hidden: false,
    frozenBlocks: 0,
    copiedBlocks: 0,
    cursor: 0,
    frozenMap: null,
    usedBytes: 0,
    createdAt: now,
    completedAt: now,
    errorCode: null,
    errorMessage: null,
  };
}

/** Range queries: whole, non-negative byte offsets and a positive page size. */
function checkQuery(q: RangeQuery): void {
  for (const [name, v] of [['start', q.start], ['end', q.end]] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
      throw invalid(`The ${name} of a range query must be a whole, non-negative byte offset, not ${String(v)}.`, name);
    }
  }
  const max = q.maxRanges;
  if (max !== undefined && max !== Infinity && (!Number.isSafeInteger(max) || max <= 0)) {
    throw invalid(`maxRanges must be a positive whole number, not ${String(max)}.`, 'maxRanges');
  }
}

function checkRange(s: SnapshotRecord, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > s.sizeBytes) {
    throw new SnapdiskError('OutOfRange', `range ${offset}+${length} is outside snapshot ${s.name} (${s.sizeBytes} bytes)`);
  }
}
