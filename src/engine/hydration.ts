/**
 * @module engine/hydration
 * Background hydration of a restored disk: copies every data block of its base (the snapshot or
 * disk it was created from) into the head, so that reads stop going to the chunk store.
 * Reads and writes during hydration are served by the runtime (fetch on demand); this job only
 * fills what nobody touched. Progress (`completionPercent` of the disk) is checkpointed in the
 * disk record; a restart resumes from the hydrated bitmap, which is persistent.
 *
 *   pages of the base's data blocks ─► groups of 256 ─► CONCURRENCY groups in flight:
 *       chunk runs read into one shared buffer ─► hashed on a worker ─► head written from it
 *
 * Design notes:
 * - Groups flow across page boundaries (no barrier per page), so the head write of one group
 *   overlaps the reads and hashes of the others.
 * - Group buffers are recycled shared memory (`sharedMemoryPool`): chunk runs land there once,
 *   are verified there by a worker thread, and are written to the head from there.
 * - Safety net: the job counts the base's data blocks it saw hydrated; before the blocks never
 *   hydrated are declared zeros, that count must equal the total counted when the job began
 *   (or a fresh count when the base was still copying and lost blocks that turned out zero).
 *   A mismatch fails the job: the disk stays hydrating and keeps reading from its base.
 */

import { sharedMemoryPool } from '../core/buffer-pool.js';
import { SnapdiskError, isNotFound } from '../core/errors.js';
import { BLOCK_SIZE } from '../core/units.js';
import type { EngineContext } from './context.js';
import type { DiskRecords } from './disk-records.js';
import type { Maps } from './maps.js';
import type { Resolver } from './resolver.js';
import type { DiskRuntime } from './runtime.js';
import type { Runtimes } from './runtimes.js';

const PAGE_BLOCKS = 2048;
const GROUP_BLOCKS = 256;
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
    return (await this.scanBase(baseFamilyId, basePoint, maxBlock)).count;
  }

  async run(diskId: string, signal: AbortSignal): Promise<void> {
    const disk = await this.ctx.catalog.getDiskById(diskId);
    if (!disk || disk.hydration !== 'hydrating' || !disk.baseFamilyId) return;
    const rt = await this.runtimes.get(disk);
    const baseFamily = disk.baseFamilyId;
    const basePoint = disk.basePoint;
    let failure: { error: unknown } | null = null;
    const stopped = (): boolean => signal.aborted || rt.closed || failure !== null;
    /** Data blocks of the base found hydrated after their group, in this pass. */
    let seen = 0;
    let saving: Promise<void> | null = null;
    let lastSave = Date.now();
    const progress = (): number => Math.max(disk.hydrationDoneBlocks, seen);
    const groups = this.groups(baseFamily, basePoint, rt, stopped);
    const worker = async (): Promise<void> => {
      try {
        for (;;) {
          const next = await groups.next();
          if (next.done || stopped()) return;
          const hydrated = await this.hydrateGroup(rt, baseFamily, basePoint, next.value);
          seen += hydrated; // not `seen += await`: that would add to the value read before the await
          if (!saving && Date.now() - lastSave > 500) {
            saving = this.saveProgress(rt, progress())
              .catch((error: unknown) => void (failure ??= { error }))
              .finally(() => {
                saving = null;
                lastSave = Date.now();
              });
          }
        }
      } catch (error) {
        failure ??= { error }; // the other groups stop too: nothing runs once the job has failed
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await saving;
    if (failure) throw (failure as { error: unknown }).error;
    if (rt.closed) return; // the disk was deleted meanwhile
    if (signal.aborted) {
      await this.saveProgress(rt, progress());
      return;
    }
    await this.checkComplete(diskId, rt, baseFamily, basePoint, seen);
    // durable order: head and bitmaps, then the catalog says "done", then the bitmap goes away
    await rt.flush();
    await this.records.mutate(rt.disk.uniqueId, (d) => ({ ...d, hydration: 'done', hydrationDoneBlocks: d.hydrationTotalBlocks }), rt);
    rt.finishHydration();
  }

  /** Groups of the base's data blocks (all of them, hydrated or not), page after page. */
  private async *groups(baseFamily: string, basePoint: number, rt: DiskRuntime, stopped: () => boolean): AsyncGenerator<number[]> {
    let from = 0;
    while (!stopped()) {
      const page = await this.maps.allocated(baseFamily, basePoint, from, PAGE_BLOCKS);
      const blocks = page.items.map((i) => i.block).filter((b) => b < rt.blocks);
      for (let i = 0; i < blocks.length; i += GROUP_BLOCKS) yield blocks.slice(i, i + GROUP_BLOCKS);
      if (page.end === Infinity) return;
      from = page.end;
    }
  }

  /** Copies the blocks of a group nobody hydrated yet; returns how many of its blocks are hydrated now. */
  private async hydrateGroup(rt: DiskRuntime, baseFamily: string, basePoint: number, group: number[]): Promise<number> {
    const todo = group.filter((b) => !rt.isHydrated(b));
    if (todo.length > 0) {
      const buf = sharedMemoryPool.acquire(todo.length * BLOCK_SIZE);
      try {
        const targets = todo.map((_, i) => buf.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE));
        const hasData = await this.resolver.readBlocksInto(baseFamily, basePoint, todo, targets);
        rt.hydrateFrom(todo, buf, hasData);
      } finally {
        sharedMemoryPool.release(buf);
      }
    }
    let n = 0;
    for (const b of group) if (rt.isHydrated(b)) n++;
    return n;
  }

  /**
   * Before the blocks never hydrated are declared zeros: the pass must have seen every data block
   * of the base. When its count differs from the total, the base is listed again: every data
   * block must be hydrated and the pass must have seen at least as many as there are now (a base
   * still copying may lose blocks that turned out to be zeros); then the total is corrected.
   */
  private async checkComplete(diskId: string, rt: DiskRuntime, baseFamily: string, basePoint: number, seen: number): Promise<void> {
    const total = (await this.ctx.catalog.getDiskById(diskId))?.hydrationTotalBlocks ?? -1;
    if (seen === total) return;
    const now = await this.scanBase(baseFamily, basePoint, rt.blocks, (b) => !rt.isHydrated(b));
    if (now.matched.length === 0 && seen >= now.count) {
      await this.records.mutate(rt.disk.uniqueId, (d) => ({ ...d, hydrationTotalBlocks: now.count }), rt);
      return;
    }
    throw new SnapdiskError(
      'InternalError',
      `hydration of disk ${rt.disk.name} saw ${seen} data blocks of its base, ${total} were counted when it began and ${now.count} are listed now` +
        (now.matched.length > 0 ? `; blocks ${now.matched.slice(0, 5).join(', ')}${now.matched.length > 5 ? ', …' : ''} are not in the head` : '') +
        ': not finishing (those blocks would read as zeros)',
      { hint: 'The disk keeps reading from its source snapshot; the hydration job is retried.' },
    );
  }

  /** Data blocks of the base below `maxBlock`: how many, and those `pick` selects (none without it: a count holds no list). */
  private async scanBase(baseFamily: string, basePoint: number, maxBlock: number, pick?: (block: number) => boolean): Promise<{ count: number; matched: number[] }> {
    let count = 0;
    const matched: number[] = [];
    let from = 0;
    for (;;) {
      const page = await this.maps.allocated(baseFamily, basePoint, from, 10_000);
      for (const i of page.items) {
        if (i.block >= maxBlock) continue;
        count++;
        if (pick?.(i.block)) matched.push(i.block);
      }
      if (page.end === Infinity || page.end >= maxBlock) return { count, matched };
      from = page.end;
    }
  }

  /** Progress in the disk record, fenced by this node's lease on the disk. */
  private async saveProgress(rt: DiskRuntime, done: number): Promise<void> {
    try {
      await this.records.mutate(rt.disk.uniqueId, (d) => ({ ...d, hydrationDoneBlocks: Math.min(done, d.hydrationTotalBlocks) }), rt);
    } catch (err) {
      if (!isNotFound(err)) throw err; // deleted meanwhile: nothing left to record
    }
  }
}
