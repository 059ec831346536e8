/**
 * @module engine/disks
 * Managed disks: creation (empty, for upload, as an instant copy of a snapshot or another disk),
 * updates (grow-only resize, sku, tags), deletion, attach state, and the data path that NBD and
 * the page-blob surface use.
 *
 * A disk created from a snapshot gets an empty head and the snapshot's (family, point) as its
 * base: reads of blocks not hydrated yet fetch from the chunk store, and a background job copies
 * the rest (`completionPercent`). A disk copied from a disk first takes a hidden point of the
 * source (a snapshot nobody sees) and then restores from it, so both are instant. The hidden upload
 * disk of a snapshot created for upload (engine/snapshot-uploads) is a disk record too, never
 * listed nor found by name.
 */

import { invalid, isNotFound, notAllowed, SnapdiskError } from '../core/errors.js';
import { parseResourceId, resourceId } from '../core/ids.js';
import type { CreationData, DiskRecord, DiskSku, ResourceKey, SectorSize, SnapshotRecord } from '../core/model.js';
import type { Catalog } from '../core/ports.js';
import {
  assertUnchangedCreation,
  isUltraClass,
  provenance,
  validateDiskSizeGb,
  validateResourceName,
  validateSectorSize,
  validateUploadSize,
  withoutDefaultTier,
} from '../core/rules.js';
import { GiB } from '../core/units.js';
import type { EngineContext } from './context.js';
import type { DiskRecords } from './disk-records.js';
import type { Hydrator } from './hydration.js';
import type { JobRunner } from './jobs.js';
import { KeyedMutex } from './locks.js';
import type { Points } from './points.js';
import { nameKey, nameTaken, type Resources } from './resources.js';
import type { DiskRuntime, Extent } from './runtime.js';
import type { Resolver } from './resolver.js';
import type { Runtimes } from './runtimes.js';
import { assertUsable, snapshotHealth } from './usability.js';

export interface DiskSpec extends ResourceKey {
  location?: string;
  sku?: DiskSku;
  zones?: string[];
  sizeGb?: number;
  creationData: CreationData;
  tags?: Record<string, string>;
  properties?: Record<string, unknown>;
  maxShares?: number;
}

export interface DiskPatch {
  sku?: DiskSku;
  sizeGb?: number;
  tags?: Record<string, string>;
  properties?: Record<string, unknown>;
  maxShares?: number;
}

/** What the data surfaces hold while they use a disk. */
export interface DiskHandle {
  readonly disk: DiskRecord;
  readonly sizeBytes: number;
  read(offset: number, length: number): Promise<Buffer>;
  /** Fills `target` from `offset`: the hot-path variant that allocates nothing. */
  readInto(target: Buffer, offset: number): Promise<void>;
  write(offset: number, data: Uint8Array): Promise<void>;
  zero(offset: number, length: number): Promise<void>;
  flush(): Promise<void>;
  extents(offset: number, length: number): Promise<Extent[]>;
  /** `DiskRuntime.allocatedRuns`: allocated block runs from the bitmap; false while hydrating. */
  allocatedRuns(fromBlock: number, toBlock: number, fn: (start: number, end: number) => boolean): boolean;
}

/**
 * The write version of an upload disk (the page blob's ETag): `generation` is persisted in the
 * disk record and bumped before the first Put Page of each loading of its runtime; `writes`
 * counts the Put Pages since (null: none since the disk was loaded). `at` is the last Put Page,
 * or the time the disk was loaded when none followed (never earlier than the last write).
 */
export interface UploadVersion {
  generation: number;
  writes: number | null;
  at: Date;
}

const UPLOAD_STATES = new Set(['ReadyToUpload', 'ActiveUpload']);

/**
 * The resource group of the hidden upload disks of snapshots created for upload: not a valid
 * group name, so no request can create, name or list it.
 */
export const HIDDEN_UPLOAD_GROUP = '$snapshot-uploads';

/** A new disk and, for a restore from an Ultra/PremiumV2 snapshot, the snapshot whose concurrent restores are limited. */
interface Initialized {
  disk: DiskRecord;
  limitedBy?: SnapshotRecord;
}

export class Disks {
  /** One create-or-update at a time per disk name: a second PUT of a new name updates. */
  private readonly names = new KeyedMutex();

  constructor(
    private readonly ctx: EngineContext,
    private readonly resources: Resources,
    private readonly runtimes: Runtimes,
    private readonly records: DiskRecords,
    private readonly points: Points,
    private readonly resolver: Resolver,
    private readonly hydrator: Hydrator,
    private readonly jobs: JobRunner,
  ) {}

  /** A disk by name; the hidden upload disk of a snapshot is never found this way. */
  async find(key: ResourceKey): Promise<DiskRecord | null> {
    const d = await this.ctx.catalog.getDisk(key.subscriptionId, key.resourceGroup, key.name);
    return d && !d.uploadFor ? d : null;
  }

  async get(key: ResourceKey): Promise<DiskRecord> {
    await this.resources.requireGroup(key.subscriptionId, key.resourceGroup);
    const d = await this.find(key);
    if (!d) throw notFound('disks', key);
    return d;
  }

  async getById(uniqueId: string): Promise<DiskRecord> {
    const d = await this.ctx.catalog.getDiskById(uniqueId);
    if (!d) throw new SnapdiskError('ResourceNotFound', `The disk with unique id ${uniqueId} was not found.`);
    return d;
  }

  async list(filter: { subscriptionId: string; resourceGroup?: string }): Promise<DiskRecord[]> {
    if (filter.resourceGroup) await this.resources.requireGroup(filter.subscriptionId, filter.resourceGroup);
    else await this.resources.requireSubscription(filter.subscriptionId);
    return (await this.ctx.catalog.listDisks(filter)).filter((d) => !d.uploadFor);
  }

  /**
   * The record of the hidden disk that receives the upload of a snapshot created for upload
   * (engine/snapshot-uploads): in HIDDEN_UPLOAD_GROUP, named after the snapshot's uniqueId with a
   * character disk names cannot have, ReadyToUpload with room for the footer. Not inserted yet.
   */
  hiddenUploadDisk(owner: SnapshotRecord, uploadSizeBytes: number): DiskRecord {
    const key = { subscriptionId: owner.subscriptionId, resourceGroup: HIDDEN_UPLOAD_GROUP, name: `upload.${owner.uniqueId}` };
    return {
      ...this.newRecord({ ...key, creationData: { createOption: 'Upload' } }, owner.location, 'Standard_LRS', []),
      sizeBytes: uploadSizeBytes - 512,
      diskState: 'ReadyToUpload',
      creationData: { createOption: 'Upload', uploadSizeBytes },
      uploadFor: owner.uniqueId,
    };
  }

  /** Creates the head volume of a disk just inserted into the catalog. */
  async createHead(disk: DiskRecord): Promise<void> {
    const rt = await this.runtimes.get(disk, { create: true });
    await rt.flush();
  }

  /** Background copy progress of a restored disk in percent (100 when there is nothing to copy). */
  completionPercent(d: DiskRecord): number {
    if (d.hydration !== 'hydrating') return 100;
    if (d.hydrationTotalBlocks <= 0) return 0;
    return Math.min(100, Math.floor((d.hydrationDoneBlocks / d.hydrationTotalBlocks) * 1000) / 10);
  }

  /** PUT: creates the disk, or updates the updatable fields of an existing one. */
  async createOrUpdate(spec: DiskSpec): Promise<{ disk: DiskRecord; created: boolean }> {
    validateResourceName(spec.name, 'disk');
    return this.names.run(nameKey(spec), () => this.createOrUpdateLocked(spec));
  }

  private async createOrUpdateLocked(spec: DiskSpec): Promise<{ disk: DiskRecord; created: boolean }> {
    const existing = await this.find(spec);
    const group = existing ? await this.resources.requireGroup(spec.subscriptionId, spec.resourceGroup) : await this.resources.requireWritableGroup(spec.subscriptionId, spec.resourceGroup);
    if (existing) {
      assertUnchangedCreation(existing, spec);
      const patch: DiskPatch = {};
      if (spec.tags) patch.tags = spec.tags;
      if (spec.properties) patch.properties = spec.properties;
      if (spec.sku && spec.sku !== existing.sku) patch.sku = spec.sku;
      if (spec.sizeGb !== undefined && spec.sizeGb * GiB !== existing.sizeBytes) patch.sizeGb = spec.sizeGb;
      if (spec.maxShares !== undefined && spec.maxShares !== existing.maxShares) patch.maxShares = spec.maxShares;
      return { disk: await this.update(existing, patch), created: false };
    }
    const location = (spec.location ?? group.location).toLowerCase();
    const region = this.ctx.region(location);
    const sku = spec.sku ?? 'Standard_LRS';
    const zones = spec.zones ?? [];
    for (const z of zones) {
      if (!region.zones.includes(z)) {
        throw invalid(`Zone '${z}' is not available in ${location}.`, 'zones', region.zones.length ? `Use one of ${region.zones.join(', ')}.` : `${location} has no availability zones.`);
      }
    }
    if (zones.length > 1) throw invalid('A disk can be placed in at most one zone.', 'zones');
    if ((sku === 'Premium_ZRS' || sku === 'StandardSSD_ZRS') && region.zones.length === 0) {
      throw invalid(`Zone-redundant disks (${sku}) are not available in ${location}: it has no zones.`, 'sku.name');
    }
    const base = this.newRecord(spec, location, sku, zones);
    const init = await this.initialize(base, spec);
    const disk: DiskRecord = { ...init.disk, properties: withoutDefaultTier(init.disk.properties, init.disk.sku, init.disk.sizeBytes) };
    try {
      await this.ctx.catalog.transaction(async (tx) => {
        // the limit and the new row in one transaction: concurrent restores cannot all pass the check
        if (init.limitedBy) await this.checkConcurrentCreations(tx, init.limitedBy);
        await tx.insertDisk(disk);
      });
    } catch (err) {
      // nothing references the hidden point taken of a source disk: let it go
      if (disk.baseFamilyId && disk.creationData.sourceResourceId && parseResourceId(disk.creationData.sourceResourceId).kind === 'disks') {
        await this.points.release(disk.baseFamilyId, disk.basePoint).catch(() => undefined);
      }
      throw nameTaken(err, 'disk', spec) ?? err;
    }
    await this.createHead(disk);
    if (disk.hydration === 'hydrating') {
      const job = await this.ctx.catalog.enqueueJob('hydrate', disk.uniqueId, {}, this.ctx.now());
      this.jobs.schedule(job);
    }
    return { disk, created: true };
  }

  private newRecord(spec: DiskSpec, location: string, sku: DiskSku, zones: string[]): DiskRecord {
    return {
      subscriptionId: spec.subscriptionId.toLowerCase(),
      resourceGroup: spec.resourceGroup,
      name: spec.name,
      uniqueId: this.ctx.newId(),
      location,
      zones,
      sku,
      sizeBytes: 0,
      logicalSectorSize: 512,
      diskState: 'Unattached',
      provisioningState: 'Succeeded',
      creationData: { createOption: spec.creationData.createOption },
      tags: spec.tags ?? {},
      properties: spec.properties ?? {},
      managedBy: null,
      maxShares: spec.maxShares ?? 1,
      timeCreated: this.ctx.nowIso(),
      familyId: null,
      trackingPoint: 0,
      baseFamilyId: null,
      basePoint: 0,
      hydration: 'none',
      hydrationTotalBlocks: 0,
      hydrationDoneBlocks: 0,
    };
  }

  /** Fills size, sector size, state and base according to the create option. */
  private async initialize(d: DiskRecord, spec: DiskSpec): Promise<Initialized> {
    const cd = spec.creationData;
    const extra = cd.extra ? { extra: cd.extra } : {};
    switch (cd.createOption) {
      case 'Empty': {
        if (spec.sizeGb === undefined) {
          throw invalid('diskSizeGB is required when createOption is Empty.', 'properties.diskSizeGB');
        }
        const sector = validateSectorSize(cd.logicalSectorSize, d.sku);
        return {
          disk: {
            ...d,
            sizeBytes: validateDiskSizeGb(spec.sizeGb),
            logicalSectorSize: sector,
            creationData: { createOption: 'Empty', ...(isUltraClass(d.sku) ? { logicalSectorSize: sector } : {}), ...extra },
          },
        };
      }
      case 'Upload': {
        const upload = validateUploadSize(cd.uploadSizeBytes);
        if (cd.logicalSectorSize === 4096) {
          throw invalid('An upload disk receives a VHD, which has 512-byte sectors: logicalSectorSize 4096 is not possible.', 'properties.creationData.logicalSectorSize');
        }
        return {
          disk: {
            ...d,
            sizeBytes: upload - 512,
            logicalSectorSize: 512,
            diskState: 'ReadyToUpload',
            creationData: { createOption: 'Upload', uploadSizeBytes: upload, ...extra },
          },
        };
      }
      case 'Copy':
      case 'Import':
        return this.initializeCopy(d, spec);
      default:
        throw invalid(
          `createOption '${cd.createOption}' is not supported for disks.`,
          'properties.creationData.createOption',
          'Use Empty, Upload, Copy (from a disk or snapshot) or Import (from a SAS URL of this server).',
        );
    }
  }

  private async initializeCopy(d: DiskRecord, spec: DiskSpec): Promise<Initialized> {
    const cd = spec.creationData;
    if (!cd.sourceResourceId) {
      throw invalid(`sourceResourceId is required when createOption is ${cd.createOption}.`, 'properties.creationData.sourceResourceId');
    }
    const src = parseResourceId(cd.sourceResourceId);
    if (src.kind === 'snapshots') {
      const snap = await this.ctx.catalog.getSnapshot(src.subscriptionId, src.resourceGroup, src.name);
      if (!snap) throw notFound('snapshots', src);
      return this.fromSnapshot(d, spec, snap);
    }
    const source = await this.ctx.catalog.getDisk(src.subscriptionId, src.resourceGroup, src.name);
    if (!source || source.uploadFor) throw notFound('disks', src);
    return { disk: await this.fromDisk(d, spec, source) };
  }

  private async fromSnapshot(d: DiskRecord, spec: DiskSpec, snap: SnapshotRecord): Promise<Initialized> {
    if (snap.location !== d.location) {
      throw invalid(
        `The snapshot ${snap.name} is in ${snap.location}; a disk created from it must be in the same region, not ${d.location}.`,
        'location',
        'Copy the snapshot to the target region first (createOption CopyStart), then create the disk there.',
      );
    }
    if (snap.logicalSectorSize === 4096 && !isUltraClass(d.sku)) {
      throw notAllowed(
        `The snapshot ${snap.name} has a 4096-byte logical sector size (VHDX): it can only create UltraSSD_LRS or PremiumV2_LRS disks, not ${d.sku}.`,
      );
    }
    // a failed snapshot (or one built on a failed point), an unfinished Ultra/PremiumV2 snapshot or CopyStart copy
    assertUsable(snap, await snapshotHealth(this.ctx, this.resolver, snap), 'creating a disk');
    const limited = isUltraClass(snap.sourceDiskSku);
    if (limited) await this.checkConcurrentCreations(this.ctx.catalog, snap); // quick check; again when inserting
    const sizeBytes = spec.sizeGb !== undefined ? validateDiskSizeGb(spec.sizeGb) : snap.sizeBytes;
    if (sizeBytes < snap.sizeBytes) {
      throw invalid(
        `diskSizeGB ${spec.sizeGb} is smaller than the snapshot ${snap.name} (${snap.sizeBytes / GiB} GiB).`,
        'properties.diskSizeGB',
      );
    }
    const sector: SectorSize = snap.logicalSectorSize;
    const disk: DiskRecord = {
      ...d,
      sizeBytes,
      logicalSectorSize: sector,
      creationData: {
        createOption: spec.creationData.createOption,
        sourceResourceId: resourceId('snapshots', snap),
        sourceUniqueId: snap.uniqueId,
        ...provenance(spec.creationData),
        ...(isUltraClass(d.sku) ? { logicalSectorSize: sector } : {}),
      },
      baseFamilyId: snap.familyId,
      basePoint: snap.point,
      hydration: 'hydrating',
      hydrationTotalBlocks: -1,
      hydrationDoneBlocks: 0,
    };
    return limited ? { disk, limitedBy: snap } : { disk };
  }

  private async checkConcurrentCreations(catalog: Catalog, snap: SnapshotRecord): Promise<void> {
    const limit = this.ctx.limits.concurrentDiskCreationsPerSnapshot;
    const active = await catalog.countHydratingDisksFrom(snap.uniqueId);
    if (active >= limit) {
      throw notAllowed(
        `At most ${limit} disks can be created at the same time from a snapshot of an Ultra Disk or Premium SSD v2 (concurrentDiskCreationsPerSnapshot); ${active} are still being created from ${snap.name}.`,
        'Wait until one of them reaches completionPercent 100, then retry.',
      );
    }
  }

  private async fromDisk(d: DiskRecord, spec: DiskSpec, source: DiskRecord): Promise<DiskRecord> {
    if (source.location !== d.location) {
      throw invalid(`The source disk ${source.name} is in ${source.location}; a copy must be in the same region, not ${d.location}.`, 'location');
    }
    if (UPLOAD_STATES.has(source.diskState)) {
      throw notAllowed(`The disk ${source.name} is waiting for an upload (${source.diskState}) and cannot be copied yet.`);
    }
    if (source.logicalSectorSize === 4096 && !isUltraClass(d.sku)) {
      throw notAllowed(`The disk ${source.name} has 4096-byte sectors: copies of it must be UltraSSD_LRS or PremiumV2_LRS disks.`);
    }
    const sizeBytes = spec.sizeGb !== undefined ? validateDiskSizeGb(spec.sizeGb) : source.sizeBytes;
    if (sizeBytes < source.sizeBytes) {
      throw invalid(`diskSizeGB ${spec.sizeGb} is smaller than the source disk ${source.name}.`, 'properties.diskSizeGB');
    }
    const point = await this.points.create(source.uniqueId, { hidden: true });
    return {
      ...d,
      sizeBytes,
      logicalSectorSize: source.logicalSectorSize,
      creationData: {
        createOption: spec.creationData.createOption,
        sourceResourceId: resourceId('disks', source),
        sourceUniqueId: source.uniqueId,
        ...provenance(spec.creationData),
      },
      baseFamilyId: point.familyId,
      basePoint: point.seq,
      hydration: 'hydrating',
      hydrationTotalBlocks: -1,
      hydrationDoneBlocks: 0,
    };
  }

  /**
   * PATCH: tags, properties, sku, maxShares and a grow-only resize. Everything is checked before
   * anything changes; then one write under the disk's lock (a refused PATCH changes nothing).
   */
  async update(key: ResourceKey, patch: DiskPatch): Promise<DiskRecord> {
    const disk = await this.get(key);
    const sizeBytes = patch.sizeGb !== undefined ? validateDiskSizeGb(patch.sizeGb) : undefined;
    this.checkPatch(disk, patch, sizeBytes ?? disk.sizeBytes);
    return this.records.locks.run(disk.uniqueId, async () => {
      const current = await this.ctx.catalog.getDiskById(disk.uniqueId);
      if (!current) throw notFound('disks', key);
      const size = sizeBytes ?? current.sizeBytes;
      this.checkPatch(current, patch, size);
      if (size !== current.sizeBytes) await this.growLocked(current, size);
      return this.records.mutateLocked(current.uniqueId, (d) => {
        const sku = patch.sku ?? d.sku;
        const properties = patch.properties ? { ...d.properties, ...patch.properties } : d.properties;
        return {
          ...d,
          ...(patch.tags ? { tags: patch.tags } : {}),
          ...(patch.maxShares !== undefined ? { maxShares: patch.maxShares } : {}),
          sku,
          sizeBytes: size,
          properties: withoutDefaultTier(properties, sku, size),
        };
      });
    });
  }

  /** The refusals of a PATCH, all before any change. */
  private checkPatch(disk: DiskRecord, patch: DiskPatch, sizeBytes: number): void {
    if (patch.sku && patch.sku !== disk.sku && (isUltraClass(patch.sku) || isUltraClass(disk.sku))) {
      throw notAllowed(`The sku of disk ${disk.name} cannot change from ${disk.sku} to ${patch.sku}.`);
    }
    if (patch.maxShares !== undefined && patch.maxShares !== disk.maxShares && (disk.diskState === 'Attached' || this.records.clients(disk.uniqueId).length > 0)) {
      throw notAllowed(`maxShares of disk ${disk.name} cannot change while it is attached.`, 'Disconnect its NBD clients first.');
    }
    if (sizeBytes === disk.sizeBytes) return;
    if (sizeBytes < disk.sizeBytes) {
      throw notAllowed(
        `Disk ${disk.name} cannot shrink from ${disk.sizeBytes / GiB} GiB to ${sizeBytes / GiB} GiB: disks only grow.`,
        'Create a new, smaller disk and copy the data instead.',
      );
    }
    if (disk.diskState !== 'Unattached' && disk.diskState !== 'Attached') {
      throw notAllowed(`Disk ${disk.name} cannot be resized while it is ${disk.diskState}.`);
    }
  }

  /** Grows the head (the caller holds the disk's lock and writes the new size). */
  private async growLocked(disk: DiskRecord, sizeBytes: number): Promise<void> {
    const rt = await this.runtimes.get(disk);
    if (isUltraClass(disk.sku) && rt.pending.length > 0) {
      await this.points.failPending(
        rt,
        'DiskResizedDuringCopy',
        `The disk ${disk.name} was resized while this snapshot was in background copy; snapshots of Ultra Disks and Premium SSD v2 disks under background copy fail when the disk grows.`,
      );
    }
    rt.resize(sizeBytes);
    await rt.flush();
  }

  /** DELETE: false when the disk does not exist. */
  async delete(key: ResourceKey): Promise<boolean> {
    await this.resources.requireGroup(key.subscriptionId, key.resourceGroup);
    const disk = await this.find(key);
    if (!disk) return false;
    await this.deleteRecord(disk);
    return true;
  }

  async deleteRecord(disk: DiskRecord): Promise<void> {
    this.checkDeletable(disk); // quick refusal; checked again on the current record under the lock
    // the node serving the head deletes it; snapshots still copying out of it finish first
    await this.runtimes.claim(disk.uniqueId);
    let deleted: DiskRecord | null = null;
    while (!deleted) {
      const waiting = this.runtimes.peek(disk.uniqueId);
      while (waiting && !waiting.closed && waiting.pending.length > 0) await new Promise((r) => setTimeout(r, 20));
      const outcome = await this.records.locks.run(disk.uniqueId, async (): Promise<DiskRecord | 'gone' | 'wait'> => {
        const current = await this.ctx.catalog.getDiskById(disk.uniqueId);
        if (!current) return 'gone';
        this.checkDeletable(current);
        const rt = this.runtimes.peek(current.uniqueId);
        if (rt && !rt.closed && rt.pending.length > 0) return 'wait'; // a snapshot was taken meanwhile
        await this.ctx.catalog.transaction(async (tx) => {
          await tx.deleteDisk(current.uniqueId);
          if (current.familyId) await tx.updateFamilyDisk(current.familyId, null);
          await tx.revokeGrants(current.uniqueId, this.ctx.now());
        });
        await this.runtimes.unload(current.uniqueId);
        await this.ctx.volumes.remove(current.uniqueId);
        return current;
      });
      if (outcome === 'gone') return;
      if (outcome !== 'wait') deleted = outcome;
    }
    if (deleted.familyId) {
      this.resolver.forgetFamily(deleted.familyId);
      await this.points.release(deleted.familyId, deleted.trackingPoint);
      const left = await this.ctx.catalog.listPoints(deleted.familyId);
      if (left.length === 0) await this.points.dropFamily(deleted.familyId);
    }
    if (deleted.baseFamilyId) await this.points.release(deleted.baseFamilyId, deleted.basePoint);
  }

  private checkDeletable(disk: DiskRecord): void {
    const clients = this.records.clients(disk.uniqueId);
    if (disk.diskState === 'Attached' || clients.length > 0) {
      throw notAllowed(`Disk ${disk.name} is attached (${disk.managedBy ?? clients[0] ?? 'NBD'}) and cannot be deleted.`, 'Disconnect its NBD clients first.');
    }
    if (disk.diskState === 'ActiveSAS' || disk.diskState === 'ActiveUpload') {
      throw notAllowed(`Disk ${disk.name} has an active SAS (${disk.diskState}) and cannot be deleted.`, 'Revoke access first (endGetAccess).');
    }
  }

  // -- data path ---------------------------------------------------------------------------------

  /** A handle for data access; it follows the disk through resizes. `known`: the record, already read. */
  async open(uniqueId: string, known?: DiskRecord): Promise<DiskHandle> {
    const disk = known?.uniqueId === uniqueId ? known : await this.getById(uniqueId);
    const rt = await this.runtimes.get(disk);
    const holes = (blocks: number[]): Promise<Map<number, boolean>> =>
      rt.disk.baseFamilyId ? this.resolver.holes(rt.disk.baseFamilyId, rt.disk.basePoint, blocks) : Promise.resolve(new Map(blocks.map((b) => [b, true])));
    return {
      get disk() {
        return rt.disk;
      },
      get sizeBytes() {
        return rt.sizeBytes;
      },
      read: (offset, length) => rt.read(offset, length),
      readInto: (target, offset) => rt.readInto(target, offset),
      write: (offset, data) => rt.write(offset, data),
      zero: (offset, length) => rt.zero(offset, length),
      flush: () => rt.flush(),
      extents: (offset, length) => rt.extents(offset, length, holes),
      allocatedRuns: (from, to, fn) => rt.allocatedRuns(from, to, fn),
    };
  }

  private readonly uploads = new WeakMap<DiskRuntime, { writes: number | null; at: Date }>();

  /**
   * A Put Page on an upload disk, under the disk's lock: it lands before an endGetAccess checks
   * the footer (endGetAccess holds the same lock), or is refused once that finalised the upload
   * (409). The first write after the runtime was loaded bumps the persisted `writeGeneration`
   * before anything is written. Returns the version after the write.
   */
  async writeUpload(uniqueId: string, write: (rt: DiskRuntime) => Promise<void>): Promise<UploadVersion> {
    return this.records.locks.run(uniqueId, async () => {
      const loaded = this.runtimes.peek(uniqueId);
      const rt = loaded && !loaded.closed ? loaded : await this.runtimes.get(await this.getById(uniqueId));
      if (rt.disk.diskState !== 'ActiveUpload') {
        throw notAllowed(`Pages can only be written to a disk awaiting its upload (ActiveUpload); disk ${rt.disk.name} is ${rt.disk.diskState}.`, 'The upload was finalised (endGetAccess): the SAS no longer writes.');
      }
      let session = this.uploads.get(rt);
      if (!session || session.writes === null) {
        const at = this.ctx.now();
        session = { writes: 0, at };
        const s = session;
        // the session exists before the new generation is visible: no ETag of the old content reuses it
        await this.records.mutateLocked(uniqueId, (d) => {
          this.uploads.set(rt, s);
          return { ...d, writeGeneration: (d.writeGeneration ?? 0) + 1 };
        });
      }
      session.writes = (session.writes ?? 0) + 1;
      session.at = this.ctx.now();
      await write(rt);
      return { generation: rt.disk.writeGeneration ?? 0, writes: session.writes, at: session.at };
    });
  }

  /** The write version of a loaded upload disk (see `UploadVersion`); null when not loaded here. */
  uploadVersion(uniqueId: string): UploadVersion | null {
    const rt = this.runtimes.peek(uniqueId);
    if (!rt || rt.closed) return null;
    let session = this.uploads.get(rt);
    if (!session) {
      session = { writes: null, at: this.ctx.now() };
      this.uploads.set(rt, session);
    }
    return { generation: rt.disk.writeGeneration ?? 0, writes: session.writes, at: session.at };
  }

  /**
   * A read-write NBD connection: the disk becomes Attached, `managedBy` naming its oldest client.
   * The connection counts only once the record says so; if opening fails afterwards it is undone.
   */
  async attach(uniqueId: string, client: string): Promise<DiskHandle> {
    const disk = await this.getById(uniqueId);
    await this.runtimes.get(disk);
    await this.records.locks.run(uniqueId, async () => {
      await this.records.mutateLocked(uniqueId, (d) => {
        if (d.diskState === 'ActiveSAS' || d.diskState === 'ActiveSASFrozen') {
          throw notAllowed(`Disk ${d.name} has an active SAS and cannot be attached.`, 'Revoke access (endGetAccess) first.');
        }
        if (UPLOAD_STATES.has(d.diskState)) {
          throw notAllowed(`Disk ${d.name} is waiting for an upload (${d.diskState}) and cannot be attached.`, 'Finish the upload with endGetAccess first.');
        }
        const owner = this.records.clients(uniqueId)[0] ?? client;
        return d.diskState === 'Attached' && d.managedBy === owner ? d : { ...d, diskState: 'Attached', managedBy: owner };
      });
      this.records.addClient(uniqueId, client);
    });
    try {
      return await this.open(uniqueId);
    } catch (err) {
      await this.detach(uniqueId, client).catch(() => undefined);
      throw err;
    }
  }

  /**
   * The end of a read-write connection (of `client`; the oldest one when absent). The record
   * follows the connections left even when the final flush fails (that error is reported after)
   * or the runtime was loaded again meanwhile.
   */
  async detach(uniqueId: string, client?: string): Promise<void> {
    let flushError: unknown = null;
    const rt = this.runtimes.peek(uniqueId);
    if (rt && !rt.closed) await rt.flush().catch((err: unknown) => (flushError = err));
    await this.records.locks.run(uniqueId, async () => {
      if (!this.records.removeClient(uniqueId, client)) return;
      const owner = this.records.clients(uniqueId)[0] ?? null;
      try {
        await this.records.mutateLocked(uniqueId, (d) => {
          if (owner !== null) return d.managedBy === owner ? d : { ...d, managedBy: owner };
          if (d.diskState !== 'Attached' && d.managedBy === null) return d;
          return { ...d, diskState: d.diskState === 'Attached' ? 'Unattached' : d.diskState, managedBy: null };
        });
      } catch (err) {
        if (!isNotFound(err)) throw err; // deleted: nothing to detach from
      }
    });
    if (flushError !== null) throw flushError;
  }

  /**
   * After a restart no connection survives: Attached disks this node served (or that no live node
   * serves) go back to Unattached.
   */
  async resetAttachments(mine: (diskId: string) => Promise<boolean>): Promise<void> {
    for (const d of await this.ctx.catalog.listDisks({})) {
      if (d.diskState !== 'Attached' || !(await mine(d.uniqueId))) continue;
      await this.records.mutate(d.uniqueId, (x) => ({ ...x, diskState: 'Unattached', managedBy: null }));
    }
  }

  /** Hydration job: computes the total once, then copies. */
  async hydrate(diskId: string, signal: AbortSignal): Promise<void> {
    const disk = await this.ctx.catalog.getDiskById(diskId);
    if (!disk || disk.hydration !== 'hydrating' || !disk.baseFamilyId) return;
    try {
      if (disk.hydrationTotalBlocks < 0) {
        const rt = await this.runtimes.get(disk);
        const total = await this.hydrator.countBaseBlocks(disk.baseFamilyId, disk.basePoint, rt.blocks);
        await this.records.mutate(diskId, (d) => ({ ...d, hydrationTotalBlocks: total }));
      }
      await this.hydrator.run(diskId, signal);
    } catch (err) {
      if (isNotFound(err) && !(await this.ctx.catalog.getDiskById(diskId))) return; // deleted meanwhile
      throw err;
    }
  }
}

export function notFound(kind: 'disks' | 'snapshots', key: ResourceKey): SnapdiskError {
  return new SnapdiskError(
    'ResourceNotFound',
    `The Resource 'Microsoft.Compute/${kind}/${key.name}' under resource group '${key.resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );
}
