/**
 * @module engine/snapshot-uploads
 * Snapshots created for upload (`createOption: Upload`, what `az snapshot create --for-upload` and
 * `@azure/arm-compute` send), on the machinery of upload disks rather than a second upload path:
 *
 *   PUT Upload (uploadSizeBytes N)   snapshot S ReadyToUpload, no point yet, and in the same
 *                                    transaction a hidden upload disk D of N bytes (ReadyToUpload)
 *   beginGetAccess Write on S        a Write grant on D (Grants): the SAS is D's upload area, Put
 *                                    Page writes into D exactly as into an upload disk; S and D
 *                                    become ActiveUpload. A Read grant is refused (409) meanwhile.
 *   endGetAccess on S                D's footer is checked and D shrinks to N − 512, as a disk's
 *                                    upload is finalised (a bad footer: 409, both stay ActiveUpload
 *                                    for another try); then one transaction takes a hidden point P
 *                                    of D's family F (D's written blocks, frozen), a family G with
 *                                    base F:P and S on G:1, Unattached: a full snapshot of D, read
 *                                    at once (from D's head until copied), copied in the background
 *                                    (completionPercent climbs)
 *   copy of F:P done                 D is deleted; P stays as the base of G
 *
 * D is never visible: it lives in HIDDEN_UPLOAD_GROUP (no request can name that group), its name is
 * not a valid disk name, and disk lists, lookups by name, sources and NBD exports skip records with
 * `uploadFor`. Usage bills snapshots only, so D is never billed.
 *
 * `settle(D)` is idempotent and finishes whatever a crash interrupted: run after endGetAccess, after
 * each copy of D's family, after S was deleted, and at start-up for every hidden disk. It takes the
 * point if the footer was accepted but the point was not taken yet, and deletes D once nothing
 * needs it (S deleted before its upload completed, or S's copy no longer running).
 */

import { invalid, isNotFound } from '../core/errors.js';
import type { DiskRecord, SnapshotRecord } from '../core/model.js';
import type { Catalog } from '../core/ports.js';
import { validateUploadSize } from '../core/rules.js';
import type { EngineContext } from './context.js';
import type { DiskRecords } from './disk-records.js';
import { notFound, type Disks } from './disks.js';
import { parsePointTarget } from './jobs.js';
import type { Points } from './points.js';
import { readyPoint, type SnapshotSpec } from './snapshots.js';
import { isUploadPending } from './usability.js';

/** Thrown inside the point's transaction when another endGetAccess completed the upload first. */
class AlreadyComplete extends Error {}

export class SnapshotUploads {
  constructor(
    private readonly ctx: EngineContext,
    private readonly disks: Disks,
    private readonly records: DiskRecords,
    private readonly points: Points,
  ) {}

  /** A new snapshot for upload: `base` is the record as any new snapshot starts. */
  async create(spec: SnapshotSpec, base: SnapshotRecord): Promise<SnapshotRecord> {
    const cd = spec.creationData;
    if (spec.incremental === true) {
      throw invalid(
        'A snapshot created for upload (createOption Upload) is a full snapshot: incremental must be false or omitted.',
        'properties.incremental',
        'Upload to a disk (createOption Upload) instead and take incremental snapshots of it.',
      );
    }
    const upload = validateUploadSize(cd.uploadSizeBytes);
    if (cd.logicalSectorSize === 4096) {
      throw invalid('A snapshot created for upload receives a VHD, which has 512-byte sectors: logicalSectorSize 4096 is not possible.', 'properties.creationData.logicalSectorSize');
    }
    const disk = this.disks.hiddenUploadDisk(base, upload);
    const record: SnapshotRecord = {
      ...base,
      sizeBytes: upload - 512,
      logicalSectorSize: 512,
      diskState: 'ReadyToUpload',
      creationData: { createOption: 'Upload', uploadSizeBytes: upload, logicalSectorSize: 512, ...(cd.extra ? { extra: cd.extra } : {}) },
      familyId: '',
      point: 0,
      uploadDiskId: disk.uniqueId,
    };
    await this.ctx.catalog.transaction(async (tx) => {
      await tx.insertDisk(disk);
      await tx.insertSnapshot(record);
    });
    await this.disks.createHead(disk);
    return record;
  }

  /**
   * endGetAccess of a snapshot whose hidden disk passed the footer check (`disk` is Unattached):
   * the snapshot becomes a full snapshot of the disk, and the disk goes when nothing needs it.
   */
  async complete(s: SnapshotRecord, disk: DiskRecord): Promise<void> {
    await this.freeze(s, disk);
    await this.settle(disk.uniqueId);
  }

  /** The point of the uploaded bytes and the snapshot on it, in one transaction (see the module notes). */
  private async freeze(s: SnapshotRecord, disk: DiskRecord): Promise<void> {
    const current = async (tx: Catalog): Promise<SnapshotRecord> => {
      const x = await tx.getSnapshotForUpdate(s.uniqueId);
      if (!x) throw notFound('snapshots', s);
      if (!isUploadPending(x)) throw new AlreadyComplete();
      return x;
    };
    try {
      await this.points.create(disk.uniqueId, {
        hidden: true,
        check: async (tx) => {
          await current(tx);
        },
        extra: async (tx, info) => {
          const x = await current(tx);
          const familyId = this.ctx.newId();
          const now = this.ctx.nowIso();
          await tx.insertFamily({ id: familyId, region: x.location, diskId: null, baseFamilyId: info.familyId, basePoint: info.seq, createdAt: now });
          await tx.insertPoint(readyPoint(familyId, info.disk.sizeBytes, now));
          await tx.updateSnapshot({ ...x, familyId, point: 1, sizeBytes: info.disk.sizeBytes, diskState: 'Unattached' });
        },
      });
    } catch (err) {
      if (err instanceof AlreadyComplete) return; // a concurrent endGetAccess took the point
      throw err;
    }
  }

  /** Finishes what is left for a hidden upload disk (see the module notes); idempotent. */
  async settle(diskId: string): Promise<void> {
    const disk = await this.ctx.catalog.getDiskById(diskId);
    if (!disk?.uploadFor) return;
    const owner = await this.ctx.catalog.getSnapshotById(disk.uploadFor);
    const open = disk.diskState === 'ReadyToUpload' || disk.diskState === 'ActiveUpload';
    if (owner && open) return; // the upload is still going on
    if (owner && isUploadPending(owner)) {
      // the footer was accepted, then the process stopped before the point was taken
      try {
        await this.freeze(owner, disk);
      } catch (err) {
        if (!isNotFound(err)) throw err; // deleted meanwhile: the disk goes below
      }
      return this.settle(diskId);
    }
    if (disk.familyId && (await this.ctx.catalog.listPoints(disk.familyId)).some((p) => p.state === 'copying')) return; // its copy settles it when done
    try {
      if (open) {
        // the snapshot is gone and its upload was never finalised: nothing reads this disk
        await this.records.mutate(diskId, async (d) => {
          await this.ctx.catalog.revokeGrants(d.uniqueId, this.ctx.now());
          return { ...d, diskState: 'Unattached' };
        });
      }
      await this.disks.deleteRecord(await this.disks.getById(diskId));
    } catch (err) {
      if (!isNotFound(err)) throw err; // settled meanwhile
    }
  }

  /** After a background copy of a point of family `F` (the job's target "F:seq"): settles F's hidden upload disk, if it is one. */
  async afterCopy(target: string): Promise<void> {
    const fam = await this.ctx.catalog.getFamily(parsePointTarget(target).familyId);
    if (!fam?.diskId) return;
    const disk = await this.ctx.catalog.getDiskById(fam.diskId);
    if (disk?.uploadFor) await this.settle(disk.uniqueId);
  }

  /** Start-up: settles every hidden upload disk this node may serve. */
  async resume(mine: (diskId: string) => Promise<boolean>): Promise<void> {
    for (const d of await this.ctx.catalog.listDisks({})) {
      if (!d.uploadFor || !(await mine(d.uniqueId))) continue;
      try {
        await this.settle(d.uniqueId);
      } catch (err) {
        this.ctx.log.warn('cannot settle the upload disk of a snapshot', { disk: d.uniqueId, snapshot: d.uploadFor, error: String(err) });
      }
    }
  }
}
