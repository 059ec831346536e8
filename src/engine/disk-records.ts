/**
 * @module engine/disk-records
 * Read-modify-write of disk records under the disk's lock, so that concurrent updates (tags,
 * attach state, hydration progress, new points) never overwrite each other, and the loaded
 * runtime always sees the record the catalog holds.
 *
 * It also keeps the read-write NBD connections of each disk on this node (oldest first), apart
 * from the runtime: a runtime may be closed and loaded again while clients stay connected, and
 * the attach state (`Attached`, `managedBy`) follows this list. Changed under the disk's lock.
 */

import { SnapdiskError } from '../core/errors.js';
import type { DiskRecord } from '../core/model.js';
import type { Catalog } from '../core/ports.js';
import type { EngineContext } from './context.js';
import type { KeyedMutex } from './locks.js';
import type { DiskRuntime } from './runtime.js';
import type { Runtimes } from './runtimes.js';

export class DiskRecords {
  private readonly attached = new Map<string, string[]>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly runtimes: Runtimes,
    readonly locks: KeyedMutex,
  ) {}

  /**
   * With `fence`, the read-modify-write is one catalog transaction fenced by this node's lease
   * on the disk (progress of work on its head, such as hydration): a node that lost the disk
   * commits nothing.
   */
  async mutate(diskId: string, fn: (d: DiskRecord) => DiskRecord | Promise<DiskRecord>, fence?: DiskRuntime): Promise<DiskRecord> {
    return this.locks.run(diskId, () => this.mutateLocked(diskId, fn, fence));
  }

  /** The same, for callers that already hold the disk's lock. */
  async mutateLocked(diskId: string, fn: (d: DiskRecord) => DiskRecord | Promise<DiskRecord>, fence?: DiskRuntime): Promise<DiskRecord> {
    const apply = async (catalog: Catalog): Promise<DiskRecord> => {
      const current = await catalog.getDiskById(diskId);
      if (!current) throw new SnapdiskError('ResourceNotFound', `disk ${diskId} no longer exists`);
      const updated = await fn(current);
      if (updated !== current) await catalog.updateDisk(updated);
      return updated;
    };
    const updated = fence ? await this.runtimes.commitFenced(fence, apply) : await apply(this.ctx.catalog);
    const rt = this.runtimes.peek(diskId);
    if (rt) rt.disk = updated;
    return updated;
  }

  /** The clients connected to a disk read-write, oldest first. */
  clients(diskId: string): readonly string[] {
    return this.attached.get(diskId) ?? [];
  }

  /** Records a connection (call under the disk's lock, once the record says Attached). */
  addClient(diskId: string, client: string): void {
    const list = this.attached.get(diskId);
    if (list) list.push(client);
    else this.attached.set(diskId, [client]);
  }

  /** Forgets one connection of `client` (the oldest one when absent); false when none was known. */
  removeClient(diskId: string, client?: string): boolean {
    const list = this.attached.get(diskId);
    if (!list || list.length === 0) return false;
    const i = client === undefined ? 0 : list.indexOf(client);
    if (i < 0) return false;
    list.splice(i, 1);
    if (list.length === 0) this.attached.delete(diskId);
    return true;
  }
}
