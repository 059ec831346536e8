/**
 * @module engine/grants
 * Access grants (beginGetAccess / endGetAccess): the record behind each SAS URL, the disk and
 * snapshot state transitions (ActiveSAS, ReadyToUpload → ActiveUpload → Unattached), the limit of
 * snapshots with an active SAS per family, and the finalisation of uploads (VHD footer check).
 *
 * A snapshot created for upload is uploaded through its hidden upload disk (engine/snapshot-uploads):
 * its Write grant is a grant on that disk (so the data plane writes into it as into any upload
 * disk), and its endGetAccess checks that disk's footer exactly as a disk's, then hands over to
 * `SnapshotUploads.complete`.
 */

import { invalid, isNotFound, notAllowed, SnapdiskError } from '../core/errors.js';
import type { DiskRecord, Grant, SnapshotRecord } from '../core/model.js';
import { checkSasDuration } from '../core/rules.js';
import { parseVhdFooter } from '../core/vhd.js';
import type { EngineContext } from './context.js';
import type { DiskRecords } from './disk-records.js';
import type { Runtimes } from './runtimes.js';
import type { SnapshotUploads } from './snapshot-uploads.js';
import type { Snapshots } from './snapshots.js';
import { isUploadPending } from './usability.js';

export type GrantTarget = { kind: 'disk'; disk: DiskRecord } | { kind: 'snapshot'; snapshot: SnapshotRecord };

export interface GrantRequest {
  access: string;
  durationInSeconds: unknown;
  fileFormat?: string;
}

export class Grants {
  constructor(
    private readonly ctx: EngineContext,
    private readonly records: DiskRecords,
    private readonly runtimes: Runtimes,
    private readonly snapshots: Snapshots,
    private readonly uploads: SnapshotUploads,
  ) {}

  async begin(target: GrantTarget, req: GrantRequest): Promise<Grant> {
    const seconds = checkSasDuration(req.durationInSeconds, this.ctx.limits);
    const access = req.access;
    if (access !== 'Read' && access !== 'Write') {
      throw invalid(`access '${access}' is invalid: use Read, or Write for an upload.`, 'access');
    }
    const fileFormat = this.fileFormat(target, req.fileFormat);
    const now = this.ctx.now();
    const grant: Grant = {
      id: this.ctx.newId(),
      resourceKind: target.kind,
      resourceUniqueId: target.kind === 'disk' ? target.disk.uniqueId : target.snapshot.uniqueId,
      access,
      fileFormat,
      familyId: target.kind === 'snapshot' ? target.snapshot.familyId : null,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + seconds * 1000).toISOString(),
      revokedAt: null,
    };
    if (target.kind === 'snapshot') return this.beginSnapshot(target.snapshot, grant);
    await this.beginDisk(target.disk, grant);
    return grant;
  }

  private fileFormat(target: GrantTarget, requested: string | undefined): 'VHD' | 'VHDX' {
    const sector = target.kind === 'disk' ? target.disk.logicalSectorSize : target.snapshot.logicalSectorSize;
    if (requested === undefined || requested === null) return sector === 4096 ? 'VHDX' : 'VHD';
    if (requested.toUpperCase() === 'VHD') {
      if (sector === 4096) {
        throw invalid('A resource with 4096-byte logical sectors is served as VHDX, not VHD.', 'fileFormat', 'Ask for fileFormat VHDX or omit it.');
      }
      return 'VHD';
    }
    if (requested.toUpperCase() === 'VHDX') return 'VHDX';
    throw invalid(`fileFormat '${requested}' is invalid: use VHD or VHDX.`, 'fileFormat');
  }

  private async beginDisk(disk: DiskRecord, grant: Grant): Promise<void> {
    await this.records.mutate(disk.uniqueId, async (d) => {
      const upload = d.diskState === 'ReadyToUpload' || d.diskState === 'ActiveUpload';
      if (grant.access === 'Write') {
        if (!upload) {
          throw notAllowed(`Write access is only granted to disks created for upload; disk ${d.name} is ${d.diskState}.`, 'Create the disk with createOption Upload to upload a VHD.');
        }
        if (grant.fileFormat !== 'VHD') throw invalid('Uploads take a fixed VHD: fileFormat must be VHD.', 'fileFormat');
      } else {
        if (upload) {
          throw notAllowed(`Disk ${d.name} is waiting for an upload (${d.diskState}): grant Write access to upload, then endGetAccess.`);
        }
        if (d.diskState === 'Attached' || this.records.clients(d.uniqueId).length > 0) {
          throw notAllowed(`Disk ${d.name} is attached (${d.managedBy ?? 'NBD'}): a SAS can only be granted on a detached disk.`, 'Disconnect its NBD clients first.');
        }
      }
      if (grant.access === 'Read') {
        const rt = await this.runtimes.get(d);
        await rt.flush();
      }
      await this.ctx.catalog.insertGrant(grant);
      return { ...d, diskState: grant.access === 'Write' ? 'ActiveUpload' : 'ActiveSAS' };
    });
  }

  /** Returns the grant stored: for a snapshot being uploaded, a Write grant on its upload disk. */
  private async beginSnapshot(s: SnapshotRecord, grant: Grant): Promise<Grant> {
    if (s.uploadDiskId) {
      const current = await this.snapshots.getById(s.uniqueId);
      if (isUploadPending(current)) return this.beginUpload(current, grant);
    }
    if (grant.access === 'Write') throw notAllowed(`Snapshot ${s.name} is read-only: only Read access can be granted.`);
    await this.snapshots.assertUsable(s, 'a SAS');
    // the record is read again inside the transaction: a snapshot deleted meanwhile is not found,
    // and only diskState changes
    await this.snapshots.mutate(s, async (current, tx) => {
      const active = await tx.listActiveGrants({ familyId: current.familyId }, this.ctx.now());
      const others = new Set(active.filter((g) => g.resourceUniqueId !== s.uniqueId).map((g) => g.resourceUniqueId));
      const limit = this.ctx.limits.activeSasPerSnapshotFamily;
      if (s.incremental && others.size >= limit) {
        throw notAllowed(
          `${others.size} snapshots of this snapshot family already have an active SAS: at most ${limit} snapshots of a family may have one at a time (activeSasPerSnapshotFamily).`,
          'Revoke access to a snapshot you no longer read (endGetAccess), then retry.',
        );
      }
      await tx.insertGrant(grant);
      return current.diskState === 'ActiveSAS' ? current : { ...current, diskState: 'ActiveSAS' };
    });
    return grant;
  }

  /**
   * Write access to a snapshot created for upload: a grant on its upload disk, both ActiveUpload
   * (the snapshot first, under the disk's lock: a snapshot deleted meanwhile grants nothing). A
   * Read grant before the upload is complete is refused (Azure: the snapshot is being uploaded).
   */
  private async beginUpload(s: SnapshotRecord, grant: Grant): Promise<Grant> {
    if (grant.access !== 'Write') {
      throw notAllowed(
        `Snapshot ${s.name} is being uploaded (${s.diskState}): it cannot be read before its upload is complete.`,
        'Grant Write access to upload the VHD, call endGetAccess, then grant Read access.',
      );
    }
    if (grant.fileFormat !== 'VHD') throw invalid('Uploads take a fixed VHD: fileFormat must be VHD.', 'fileFormat');
    const diskId = s.uploadDiskId ?? '';
    const upload: Grant = { ...grant, resourceKind: 'disk', resourceUniqueId: diskId, familyId: null };
    await this.records.mutate(diskId, async (d) => {
      if (d.diskState !== 'ReadyToUpload' && d.diskState !== 'ActiveUpload') {
        throw notAllowed(`The upload of snapshot ${s.name} was already accepted: it no longer takes writes.`, 'Call endGetAccess to complete it.');
      }
      await this.snapshots.mutate(s, (current) => {
        if (!isUploadPending(current)) throw notAllowed(`Snapshot ${s.name} is no longer waiting for its upload (${current.diskState}).`);
        return current.diskState === 'ActiveUpload' ? current : { ...current, diskState: 'ActiveUpload' };
      });
      await this.ctx.catalog.insertGrant(upload);
      return d.diskState === 'ActiveUpload' ? d : { ...d, diskState: 'ActiveUpload' };
    });
    return upload;
  }

  /** endGetAccess. For an upload disk it validates the uploaded VHD and makes the disk usable. */
  async end(target: GrantTarget): Promise<void> {
    if (target.kind === 'snapshot') {
      if (target.snapshot.uploadDiskId) {
        const current = await this.snapshots.getById(target.snapshot.uniqueId);
        if (isUploadPending(current)) return this.endUpload(current);
      }
      await this.snapshots.mutate(target.snapshot, async (current, tx) => {
        await tx.revokeGrants(current.uniqueId, this.ctx.now());
        return current.diskState === 'ActiveSAS' ? { ...current, diskState: 'Unattached' } : current;
      });
      return;
    }
    await this.records.mutate(target.disk.uniqueId, async (d) => {
      if (d.diskState === 'ActiveUpload') return this.finishUpload(d);
      await this.ctx.catalog.revokeGrants(d.uniqueId, this.ctx.now());
      return d.diskState === 'ActiveSAS' ? { ...d, diskState: 'Unattached' as const } : d;
    });
  }

  /**
   * endGetAccess of a snapshot being uploaded: its upload disk's footer is checked as a disk's
   * (a bad one: 409, both stay ActiveUpload), then the snapshot takes the uploaded bytes. Without
   * a Write grant before (ReadyToUpload) nothing is uploaded and both stay ReadyToUpload.
   */
  private async endUpload(s: SnapshotRecord): Promise<void> {
    const disk = await this.records.mutate(s.uploadDiskId ?? '', async (d) => {
      if (d.diskState === 'ActiveUpload') return this.finishUpload(d, 'snapshot', s.name);
      await this.ctx.catalog.revokeGrants(d.uniqueId, this.ctx.now());
      return d;
    });
    if (disk.diskState === 'ReadyToUpload') {
      await this.snapshots.mutate(s, (current) => (current.diskState === 'ActiveUpload' ? { ...current, diskState: 'ReadyToUpload' } : current));
      return;
    }
    await this.uploads.complete(s, disk);
  }

  /** Checks the footer of an upload (`kind`, `name`: the resource errors name) and makes the disk usable. */
  private async finishUpload(d: DiskRecord, kind = 'disk', name = d.name): Promise<DiskRecord> {
    const upload = d.creationData.uploadSizeBytes ?? d.sizeBytes + 512;
    const rt = await this.runtimes.get(d);
    const footer = await rt.read(upload - 512, 512);
    const info = parseVhdFooter(footer, { expectedSizeBytes: upload - 512 });
    if (!info.valid) {
      throw new SnapdiskError(
        'OperationNotAllowed',
        `The upload to ${kind} ${name} is not a valid fixed VHD of ${upload} bytes: ${info.reason ?? 'invalid footer'}. The ${kind} stays in ActiveUpload.`,
        { hint: 'Write the correct 512-byte VHD footer at the end (or the missing data) with the same SAS, then call endGetAccess again.' },
      );
    }
    await rt.flush();
    rt.setVisibleSize(upload - 512);
    await this.ctx.catalog.revokeGrants(d.uniqueId, this.ctx.now());
    return { ...d, diskState: 'Unattached', sizeBytes: upload - 512 };
  }

  /** The grant record as stored, without any check (the data plane verifies the signature first). */
  peek(grantId: string): Promise<Grant | null> {
    return this.ctx.catalog.getGrant(grantId);
  }

  /**
   * The data plane's check: the grant exists, is neither revoked nor expired, and allows `access`.
   * Returns the grant; the caller then loads the resource by `resourceUniqueId`.
   */
  async validate(grantId: string, access: 'Read' | 'Write'): Promise<Grant> {
    return this.check(await this.ctx.catalog.getGrant(grantId), access);
  }

  /**
   * The rule of `validate` on a grant record already read (`peek`; null: there is none), so that
   * a caller that needed the record first (the data plane verifies the signature with it) does
   * not read it twice.
   */
  check(g: Grant | null, access: 'Read' | 'Write'): Grant {
    if (!g) throw new SnapdiskError('AuthenticationFailed', 'The SAS does not name an access grant of this server.');
    if (g.revokedAt) throw new SnapdiskError('AuthenticationFailed', 'The SAS was revoked (endGetAccess).');
    if (new Date(g.expiresAt) <= this.ctx.now()) throw new SnapdiskError('AuthenticationFailed', `The SAS expired at ${g.expiresAt}.`);
    if (access === 'Write' && g.access !== 'Write') {
      throw new SnapdiskError('AuthorizationFailed', 'This SAS grants read access only.');
    }
    return g;
  }

  /** Returns disks and snapshots whose every grant expired to their idle state. */
  async sweepExpired(): Promise<void> {
    const now = this.ctx.now();
    for (const d of await this.ctx.catalog.listDisks({})) {
      if (d.diskState !== 'ActiveSAS') continue;
      if ((await this.ctx.catalog.listActiveGrants({ resourceUniqueId: d.uniqueId }, now)).length > 0) continue;
      try {
        await this.records.mutate(d.uniqueId, async (x) => {
          if (x.diskState !== 'ActiveSAS') return x;
          if ((await this.ctx.catalog.listActiveGrants({ resourceUniqueId: x.uniqueId }, now)).length > 0) return x; // granted again meanwhile
          return { ...x, diskState: 'Unattached' };
        });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    for (const s of await this.ctx.catalog.listSnapshots({})) {
      if (s.diskState !== 'ActiveSAS') continue;
      try {
        await this.snapshots.mutate(s, async (current, tx) => {
          if (current.diskState !== 'ActiveSAS') return current;
          if ((await tx.listActiveGrants({ resourceUniqueId: current.uniqueId }, now)).length > 0) return current; // granted again meanwhile
          return { ...current, diskState: 'Unattached' };
        });
      } catch (err) {
        if (!isNotFound(err)) throw err; // deleted meanwhile: nothing to return to idle
      }
    }
  }
}
