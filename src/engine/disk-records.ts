/**
 * @module engine/disk-records
 * Read-modify-write of disk records under the disk's lock, so that concurrent updates (tags,
 * attach state, hydration progress, new points) never overwrite each other, and the loaded
 * runtime always sees the record the catalog holds.
 */

import { SnapdiskError } from '../core/errors.js';
import type { DiskRecord } from '../core/model.js';
import type { EngineContext } from './context.js';
import type { KeyedMutex } from './locks.js';
import type { Runtimes } from './runtimes.js';

export class DiskRecords {
  constructor(
    private readonly ctx: EngineContext,
    private readonly runtimes: Runtimes,
    readonly locks: KeyedMutex,
  ) {}

  async mutate(diskId: string, fn: (d: DiskRecord) => DiskRecord | Promise<DiskRecord>): Promise<DiskRecord> {
    return this.locks.run(diskId, () => this.mutateLocked(diskId, fn));
  }

  /** The same, for callers that already hold the disk's lock. */
  async mutateLocked(diskId: string, fn: (d: DiskRecord) => DiskRecord | Promise<DiskRecord>): Promise<DiskRecord> {
    const current = await this.ctx.catalog.getDiskById(diskId);
    if (!current) throw new SnapdiskError('ResourceNotFound', `disk ${diskId} no longer exists`);
    const updated = await fn(current);
    if (updated !== current) await this.ctx.catalog.updateDisk(updated);
    const rt = this.runtimes.peek(diskId);
    if (rt) rt.disk = updated;
    return updated;
  }
}
