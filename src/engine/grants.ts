/**
 * @module engine/grants
 * Access grants (beginGetAccess / endGetAccess): the record behind each SAS URL, the disk and
 * snapshot state transitions (ActiveSAS, ReadyToUpload → ActiveUpload → Unattached), the limit of
 * snapshots with an active SAS per family, and the finalisation of uploads (VHD footer check).
 */

import { invalid, notAllowed, SnapdiskError } from '../core/errors.js';
import type { DiskRecord, Grant, SnapshotRecord } from '../core/model.js';
import { checkSasDuration } from '../core/rules.js';
import { parseVhdFooter } from '../core/vhd.js';
import type { EngineContext } from './context.js';
import type { DiskRecords } from './disk-records.js';
import type { Runtimes } from './runtimes.js';
import type { Snapshots } from './snapshots.js';

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
    if (target.kind === 'disk') await this.beginDisk(target.disk, grant);
    else await this.beginSnapshot(target.snapshot, grant);
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
        const rt = this.runtimes.peek(d.uniqueId);
        if (d.diskState === 'Attached' || (rt && rt.connections > 0)) {
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

  private async beginSnapshot(s: SnapshotRecord, grant: Grant): Promise<void> {
    if (grant.access === 'Write') throw notAllowed(`Snapshot ${s.name} is read-only: only Read access can be granted.`);
    await this.snapshots.assertUsable(s, 'a SAS');
    await this.ctx.catalog.transaction(async (tx) => {
      const active = await tx.listActiveGrants({ familyId: s.familyId }, this.ctx.now());
      const others = new Set(active.filter((g) => g.resourceUniqueId !== s.uniqueId).map((g) => g.resourceUniqueId));
      const limit = this.ctx.limits.activeSasPerSnapshotFamily;
      if (s.incremental && others.size >= limit) {
        throw notAllowed(
          `${others.size} snapshots of this snapshot family already have an active SAS: at most ${limit} snapshots of a family may have one at a time (activeSasPerSnapshotFamily).`,
          'Revoke access to a snapshot you no longer read (endGetAccess), then retry.',
        );
      }
      await tx.insertGrant(grant);
      await tx.updateSnapshot({ ...s, diskState: 'ActiveSAS' });
    });
  }

  /** endGetAccess. For an upload disk it validates the uploaded VHD and makes the disk usable. */
  async end(target: GrantTarget): Promise<void> {
    if (target.kind === 'snapshot') {
      const s = target.snapshot;
      await this.ctx.catalog.transaction(async (tx) => {
        await tx.revokeGrants(s.uniqueId, this.ctx.now());
        if (s.diskState === 'ActiveSAS') await tx.updateSnapshot({ ...s, diskState: 'Unattached' });
      });
      return;
    }
    await this.records.mutate(target.disk.uniqueId, async (d) => {
      if (d.diskState === 'ActiveUpload') return this.finishUpload(d);
      await this.ctx.catalog.revokeGrants(d.uniqueId, this.ctx.now());
      return d.diskState === 'ActiveSAS' ? { ...d, diskState: 'Unattached' as const } : d;
    });
  }

  private async finishUpload(d: DiskRecord): Promise<DiskRecord> {
    const upload = d.creationData.uploadSizeBytes ?? d.sizeBytes + 512;
    const rt = await this.runtimes.get(d);
    const footer = await rt.read(upload - 512, 512);
    const info = parseVhdFooter(footer, { expectedSizeBytes: upload - 512 });
    if (!info.valid) {
      throw new SnapdiskError(
        'OperationNotAllowed',
        `The upload to disk ${d.name} is not a valid fixed VHD of ${upload} bytes: ${info.reason ?? 'invalid footer'}. The disk stays in ActiveUpload.`,
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
    const g = await this.ctx.catalog.getGrant(grantId);
    const now = this.ctx.now();
    if (!g) throw new SnapdiskError('AuthenticationFailed', 'The SAS does not name an access grant of this server.');
    if (g.revokedAt) throw new SnapdiskError('AuthenticationFailed', 'The SAS was revoked (endGetAccess).');
    if (new Date(g.expiresAt) <= now) throw new SnapdiskError('AuthenticationFailed', `The SAS expired at ${g.expiresAt}.`);
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
      await this.records.mutate(d.uniqueId, (x) => (x.diskState === 'ActiveSAS' ? { ...x, diskState: 'Unattached' } : x));
    }
    for (const s of await this.ctx.catalog.listSnapshots({})) {
      if (s.diskState !== 'ActiveSAS') continue;
      if ((await this.ctx.catalog.listActiveGrants({ resourceUniqueId: s.uniqueId }, now)).length > 0) continue;
      await this.ctx.catalog.updateSnapshot({ ...s, diskState: 'Unattached' });
    }
  }
}
