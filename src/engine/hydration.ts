/**
 * @module engine/hydration
 * Background hydration of a restored disk: copies every data block of its base (the snapshot or
 * disk it was created from) into the head, so that reads stop going to the chunk store.
 * Reads and writes during hydration are served by the runtime (fetch on demand); this job only
 * fills what nobody touched. Progress (`completionPercent` of the disk) is checkpointed in the
 * disk record; a restart resumes from the hydrated bitmap, which is persistent.
 */

import { sharedPool } from '../core/buffer-pool.js';
import { isNotFound } from '../core/errors.js';
import { BLOCK_SIZE } from '../core/units.js';
import type { EngineContext } from './context.js';
import type { DiskRecords } from './disk-records.js';
import type { Maps } from './maps.js';
import type { Resolver } from './resolver.js';
import { forEachLimited } from './resolver.js';
import type { Runtimes } from './runtimes.js';

const PAGE_BLOCKS = 2048;
const CONCURRENCY = 3;

export class Hydrator {
  constructor(
    private readonly ctx: EngineContext,
    private readonly resolver: Resolver,
    private readonly maps: Maps,
    private readonly runtimes: Runtimes,
    private readonly records: DiskRecords,
  ) {}

  /** Number of data blocks in the base of a disk (the hydration total). */
  async countBaseBlocks(baseFamilyId: string, basePoint: number, maxBlock: number): Promise<number> {
    let n = 0;
    let from = 0;
    for (;;) {
      const page = await this.maps.allocated(baseFamilyId, basePoint, from, 10_000);
      for (const i of page.items) if (i.block < maxBlock) n++;
      if (page.end === Infinity || page.end >= maxBlock) return n;
      from = page.end;
    }
  }

  async run(diskId: string, signal: AbortSignal): Promise<void> {
    const disk = await this.ctx.catalog.getDiskById(diskId);
    if (!disk || disk.hydration !== 'hydrating' || !disk.baseFamilyId) return;
    const rt = await this.runtimes.get(disk);
    const baseFamily = disk.baseFamilyId;
    const basePoint = disk.basePoint;
    let done = disk.hydrationDoneBlocks;
    let from = 0;
    let lastSave = Date.now();
    while (!signal.aborted && !rt.closed) {
      const page = await this.maps.allocated(baseFamily, basePoint, from, PAGE_BLOCKS);
      const todo = page.items.map((i) => i.block).filter((b) => b < rt.blocks && !rt.isHydrated(b));
      await forEachLimited(chunked(todo, 256), CONCURRENCY, async (group) => {
        if (signal.aborted || rt.closed) return;
        const buf = sharedPool.acquire(group.length * BLOCK_SIZE);
        try {
          const targets = group.map((_, i) => buf.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE));
          const hasData = await this.resolver.readBlocksInto(baseFamily, basePoint, group, targets);
          done += rt.hydrateFrom(group, buf, hasData);
        } finally {
          sharedPool.release(buf);
        }
      });
      if (Date.now() - lastSave > 500) {
        await this.saveProgress(diskId, done);
        lastSave = Date.now();
      }
      if (page.end === Infinity) break;
      from = page.end;
    }
    if (rt.closed) return; // the disk was deleted meanwhile
    if (signal.aborted) {
      await this.saveProgress(diskId, done);
      return;
    }
    // durable order: head and bitmaps, then the catalog says "done", then the bitmap goes away
    await rt.flush();
    await this.records.mutate(diskId, (d) => ({ ...d, hydration: 'done', hydrationDoneBlocks: d.hydrationTotalBlocks }));
    rt.finishHydration();
  }

  private async saveProgress(diskId: string, done: number): Promise<void> {
    try {
      await this.records.mutate(diskId, (d) => ({ ...d, hydrationDoneBlocks: Math.min(done, d.hydrationTotalBlocks) }));
    } catch (err) {
      if (!isNotFound(err)) throw err; // deleted meanwhile: nothing left to record
    }
  }
}

function chunked<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
