/**
 * @module engine/runtimes
 * The registry of loaded disk runtimes. A runtime is loaded on the first data access to a disk,
 * or at start-up when the disk has snapshots still copying or is still hydrating, and stays
 * loaded while it has pending work or connections.
 */

import { SnapdiskError } from '../core/errors.js';
import type { DiskRecord } from '../core/model.js';
import { BLOCK_SIZE, blockCount } from '../core/units.js';
import type { EngineContext } from './context.js';
import type { Leases } from './leases.js';
import type { Resolver, RuntimeLookup } from './resolver.js';
import { DiskRuntime } from './runtime.js';

/** The size of a disk's head volume: an upload disk keeps room for the VHD footer until finalised. */
export function volumeSize(d: DiskRecord): number {
  if ((d.diskState === 'ReadyToUpload' || d.diskState === 'ActiveUpload') && d.creationData.uploadSizeBytes) {
    return d.creationData.uploadSizeBytes;
  }
  return d.sizeBytes;
}

export class Runtimes implements RuntimeLookup {
  private readonly byDisk = new Map<string, DiskRuntime>();
  private readonly loading = new Map<string, Promise<DiskRuntime>>();
  /** Called once per load when the volume was not closed cleanly before a reboot. */
  onPowerLoss: (rt: DiskRuntime) => Promise<void> = async () => undefined;

  constructor(
    private readonly ctx: EngineContext,
    private readonly resolver: Resolver,
    private readonly leases: Leases,
  ) {
    leases.onLost = (diskId) => this.fence(diskId);
  }

  /**
   * The runtime of a disk, loading it (and taking its lease) on first use. `create` is for a new
   * disk only: any other load of a disk whose head is not on this node is an error, never an
   * empty head.
   */
  async get(disk: DiskRecord, opts: { create?: boolean } = {}): Promise<DiskRuntime> {
    const loaded = this.byDisk.get(disk.uniqueId);
    if (loaded && !loaded.closed) return loaded;
    let p = this.loading.get(disk.uniqueId);
    if (!p) {
      p = this.load(disk, opts.create === true).finally(() => this.loading.delete(disk.uniqueId));
      this.loading.set(disk.uniqueId, p);
    }
    return p;
  }

  /** Another node took the disk over: stop serving it at once. */
  fence(diskId: string): void {
    const rt = this.byDisk.get(diskId);
    if (!rt) return;
    this.byDisk.delete(diskId);
    rt.close();
  }

  peek(diskId: string): DiskRuntime | null {
    return this.byDisk.get(diskId) ?? null;
  }

  runtimeForFamily(familyId: string): DiskRuntime | null {
    for (const rt of this.byDisk.values()) if (rt.disk.familyId === familyId) return rt;
    return null;
  }

  all(): DiskRuntime[] {
    return [...this.byDisk.values()];
  }

  /** Takes the disk's lease for an operation on a disk whose head may be gone (deletion). */
  async claim(diskId: string): Promise<void> {
    await this.leases.acquire(diskId);
  }

  /** Closes the runtime and hands its lease back (the disk was deleted). */
  async unload(diskId: string): Promise<void> {
    const rt = this.byDisk.get(diskId);
    if (rt) {
      this.byDisk.delete(diskId);
      rt.close();
    }
    await this.leases.release(diskId);
  }

  closeAll(): void {
    for (const rt of this.byDisk.values()) rt.close();
    this.byDisk.clear();
  }

  private async load(disk: DiskRecord, create: boolean): Promise<DiskRuntime> {
    const lease = await this.leases.acquire(disk.uniqueId);
    if (!create && !this.ctx.volumes.exists(disk.uniqueId)) {
      const previous = lease.epoch > 1 ? ' (its lease moved here from a node that is gone)' : '';
      throw new SnapdiskError('NotFound', `The head of disk ${disk.name} is not on this node${previous}: its live data is lost with the node that served it.`, {
        hint: 'Create a new disk from its latest snapshot (createOption Copy) on any node; completed snapshots are intact.',
      });
    }
    const size = volumeSize(disk);
    const volume = this.ctx.volumes.open(disk.uniqueId, size);
    const fetchBase = async (blocks: ReadonlyArray<number>): Promise<Map<number, Buffer | null>> => {
      const d = rt.disk;
      if (!d.baseFamilyId) return new Map(blocks.map((b) => [b, null]));
      return this.resolver.readBlocks(d.baseFamilyId, d.basePoint, blocks);
    };
    const rt = new DiskRuntime(disk, volume, fetchBase, size, () => this.leases.serving(disk.uniqueId));
    rt.leaseEpoch = lease.epoch;
    if (disk.familyId) {
      for (const p of await this.ctx.catalog.listPoints(disk.familyId)) {
        if (p.state !== 'copying' || !p.frozenMap) continue;
        rt.restorePending(p.familyId, p.seq, p.frozenMap, blockCount(p.sizeBytes), p.cursor);
      }
    }
    this.byDisk.set(disk.uniqueId, rt);
    if (volume.reopenedAfterReboot) {
      this.ctx.log.warn('disk head was not closed cleanly before a reboot: rescanning conservatively', {
        disk: disk.uniqueId,
      });
      await this.onPowerLoss(rt);
    }
    return rt;
  }
}

export const BLOCK_BYTES = BLOCK_SIZE;
