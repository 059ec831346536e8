/**
 * @module engine/runtimes
 * The registry of loaded disk runtimes. A runtime is loaded on the first data access to a disk,
 * or at start-up when the disk has snapshots still copying or is still hydrating, and stays
 * loaded while it has pending work or connections.
 */

import type { DiskRecord } from '../core/model.js';
import { BLOCK_SIZE, blockCount } from '../core/units.js';
import type { EngineContext } from './context.js';
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
  ) {}

  async get(disk: DiskRecord): Promise<DiskRuntime> {
    const loaded = this.byDisk.get(disk.uniqueId);
    if (loaded) return loaded;
    let p = this.loading.get(disk.uniqueId);
    if (!p) {
      p = this.load(disk).finally(() => this.loading.delete(disk.uniqueId));
      this.loading.set(disk.uniqueId, p);
    }
    return p;
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

  unload(diskId: string): void {
    const rt = this.byDisk.get(diskId);
    if (!rt) return;
    this.byDisk.delete(diskId);
    rt.close();
  }

  closeAll(): void {
    for (const id of [...this.byDisk.keys()]) this.unload(id);
  }

  private async load(disk: DiskRecord): Promise<DiskRuntime> {
    const size = volumeSize(disk);
    const volume = this.ctx.volumes.open(disk.uniqueId, size);
    const fetchBase = async (blocks: ReadonlyArray<number>): Promise<Map<number, Buffer | null>> => {
      const d = rt.disk;
      if (!d.baseFamilyId) return new Map(blocks.map((b) => [b, null]));
      return this.resolver.readBlocks(d.baseFamilyId, d.basePoint, blocks);
    };
    const rt = new DiskRuntime(disk, volume, fetchBase, size);
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
