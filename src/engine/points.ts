/**
 * @module engine/points
 * Life of a point (one moment of a family): creation by freezing a disk's change set, the
 * background copy of its frozen blocks into the chunk store, completion, failure, and release
 * when nothing needs it any more (merge into its successor, or removal).
 *
 * Copy of point p of family F (job "snapshot-copy", target "F:p", lane "copy:F" so the points of
 * one family are copied oldest first):
 *
 *   frozen bits ≥ cursor ──batch of ≤ 256 blocks──► read (cow log or head) ──► zero? ─► ZERO entry
 *                                                                           └► data ─► ChunkStore.put
 *   one catalog transaction: entries + cursor + copied count ──► in-memory cursor advances
 *
 * A crash anywhere leaves the cursor at the last committed batch; the frozen bitmap and the cow
 * log are on disk, so the copy resumes and produces the same content.
 */

import { sharedMemoryPool } from '../core/buffer-pool.js';
import { SnapdiskError } from '../core/errors.js';
import type { DiskRecord, Point } from '../core/model.js';
import type { Catalog, NewEntry, Redundancy } from '../core/ports.js';
import { BLOCK_SIZE } from '../core/units.js';
import type { EngineContext } from './context.js';
import { parsePointTarget, type JobRunner } from './jobs.js';
import type { KeyedMutex } from './locks.js';
import { isZero, type Maps } from './maps.js';
import type { Resolver } from './resolver.js';
import type { Runtimes } from './runtimes.js';
import type { DiskRuntime } from './runtime.js';

const BATCH_BLOCKS = 256;

export interface NewPointInfo {
  familyId: string;
  seq: number;
  disk: DiskRecord;
  frozenBlocks: number;
}

export interface CreatePointOptions<T> {
  hidden: boolean;
  /** Runs first inside the transaction: limit checks that must be atomic with the creation. */
  check?: (tx: Catalog, disk: DiskRecord) => Promise<void>;
  /** Runs last inside the transaction: the snapshot rows that reference the point. */
  extra?: (tx: Catalog, info: NewPointInfo) => Promise<T>;
}

export class Points {
  constructor(
    private readonly ctx: EngineContext,
    private readonly resolver: Resolver,
    private readonly maps: Maps,
    private readonly runtimes: Runtimes,
    private readonly jobs: JobRunner,
    private readonly diskLocks: KeyedMutex,
  ) {}

  /** Freezes the disk's changes into a new point of its family (creating the family if needed). */
  async create<T>(diskId: string, opts: CreatePointOptions<T>): Promise<NewPointInfo & { extra: T | undefined }> {
    return this.diskLocks.run(diskId, async () => {
      const disk = await this.ctx.catalog.getDiskById(diskId);
      if (!disk) throw new SnapdiskError('ResourceNotFound', `disk ${diskId} no longer exists`);
      const rt = await this.runtimes.get(disk);
      const familyId = disk.familyId ?? this.ctx.newId();
      const seq = disk.trackingPoint + 1;
      const now = this.ctx.now();
      let jobId: number | null = null;
      const result = await rt.freeze(familyId, seq, (frozen) =>
        this.runtimes.commitFenced(rt, async (tx) => {
          if (opts.check) await opts.check(tx, disk);
          if (!disk.familyId) {
            await tx.insertFamily({
              id: familyId,
              region: disk.location,
              diskId: disk.uniqueId,
              baseFamilyId: disk.baseFamilyId,
              basePoint: disk.basePoint,
              createdAt: now.toISOString(),
            });
          }
          const copying = frozen.count > 0;
          await tx.insertPoint(newPoint(familyId, seq, disk.sizeBytes, opts.hidden, frozen, copying, now));
          const updated: DiskRecord = { ...disk, familyId, trackingPoint: seq };
          await tx.updateDisk(updated);
          if (copying) jobId = (await tx.enqueueJob('snapshot-copy', `${familyId}:${seq}`, {}, now)).id;
          const info: NewPointInfo = { familyId, seq, disk: updated, frozenBlocks: frozen.count };
          const extra = opts.extra ? await opts.extra(tx, info) : undefined;
          return { info, extra };
        }),
      );
      rt.disk = result.info.disk;
      if (jobId !== null) {
        for (const job of await this.ctx.catalog.openJobs()) if (job.id === jobId) this.jobs.schedule(job);
      } else {
        await this.afterReady(familyId, seq);
      }
      return { ...result.info, extra: result.extra };
    });
  }

  /** The background copy of one point (job handler). */
  async copy(target: string, signal: AbortSignal): Promise<void> {
    const { familyId, seq } = parsePointTarget(target);
    const point = await this.ctx.catalog.getPoint(familyId, seq);
    if (!point || point.state !== 'copying') return;
    const fam = await this.resolver.family(familyId);
    const disk = fam.diskId ? await this.ctx.catalog.getDiskById(fam.diskId) : null;
    if (!disk) {
      await this.failFrom(familyId, seq, null, 'CopySourceNotFound', 'the source disk disappeared before the copy finished');
      return;
    }
    let rt: DiskRuntime;
    try {
      rt = await this.runtimes.get(disk);
    } catch (err) {
      if (err instanceof SnapdiskError && err.code === 'NotFound') {
        // the head (and the frozen blocks not copied yet) went away with the node that served it
        await this.failFrom(familyId, seq, null, 'HeadLost', err.message);
        return;
      }
      throw err;
    }
    const store = this.ctx.chunks(fam.region);
    const redundancy = await this.redundancyOf(familyId, seq);
    const put = (blocks: Uint8Array[]) => store.put(blocks, redundancy);
    // Two batches in flight: while one is being written and synced, the next one is read and
    // hashed. Commits happen strictly in order, so the cursor only moves over committed blocks.
    // batches in recycled shared memory: the chunk store hashes them on its worker threads
    const buffers = [sharedMemoryPool.acquire(BATCH_BLOCKS * BLOCK_SIZE), sharedMemoryPool.acquire(BATCH_BLOCKS * BLOCK_SIZE)];
    const inflight: Promise<void>[] = [];
    let chain: Promise<void> = Promise.resolve();
    let copied = point.copiedBlocks;
    let readFrom = -1;
    let turn = 0;
    const current = () => rt.pending.find((q) => q.seq === seq && q.familyId === familyId);
    try {
      while (!signal.aborted) {
        const p = current();
        if (!p) return; // failed meanwhile (resize of an Ultra disk)
        const blocks: number[] = [];
        for (let b = p.frozen.nextSet(Math.max(p.cursor, readFrom)); b !== -1 && blocks.length < BATCH_BLOCKS; b = p.frozen.nextSet(b + 1)) blocks.push(b);
        if (blocks.length === 0) break;
        const end = (blocks[blocks.length - 1] ?? 0) + 1;
        readFrom = end;
        if (inflight.length >= buffers.length) await inflight.shift();
        const buffer = buffers[turn++ % buffers.length] ?? Buffer.allocUnsafe(BATCH_BLOCKS * BLOCK_SIZE);
        const views = await this.readFrozen(rt, familyId, seq, blocks, buffer);
        const stored = this.storeBatch(familyId, seq, blocks, views, put);
        stored.catch(() => undefined); // observed through the chain below
        chain = chain.then(async () => {
          let entries = await stored;
          copied += blocks.length;
          for (let attempt = 1; ; attempt++) {
            const missing = await this.commitBatch(familyId, seq, entries, end, copied, rt);
            if (missing.size === 0) break;
            // garbage collection took chunks this batch refers to: store those blocks again (the
            // batch buffer is intact until this commit is done)
            if (attempt === 3) throw new SnapdiskError('Unavailable', `chunks of ${familyId}:${seq} keep being collected while the copy commits; retrying the copy`);
            entries = await this.restoreMissing(entries, missing, blocks, views, put);
          }
          const still = current();
          if (still) still.cursor = end;
        });
        inflight.push(chain);
      }
      await Promise.all(inflight);
    } finally {
      await Promise.allSettled(inflight);
      for (const b of buffers) sharedMemoryPool.release(b);
    }
    if (signal.aborted || !current()) return;
    await this.finish(familyId, seq, rt);
  }

  /** LRS snapshots keep one copy in the region, ZRS (and hidden points) one per zone. */
  async redundancyOf(familyId: string, seq: number): Promise<Redundancy> {
    const snaps = (await this.ctx.catalog.listSnapshots({ familyId })).filter((s) => s.point === seq);
    if (snaps.length > 0 && snaps.every((s) => s.sku.endsWith('_LRS'))) return 'local';
    return 'zone';
  }

  /**
   * Commits one batch: its entries and the new cursor, in one transaction that first checks that
   * every chunk the entries refer to still exists (garbage collection deletes unreferenced chunks,
   * and a chunk stored or found by this batch is unreferenced until this commit). Returns the ids
   * that were gone; then nothing was committed.
   */
  private async commitBatch(
    familyId: string,
    seq: number,
    entries: { rows: NewEntry[] },
    cursor: number,
    copied: number,
    rt: DiskRuntime,
  ): Promise<Set<number>> {
    const ids = new Set<number>();
    for (const r of entries.rows) if (r.chunkId !== null) ids.add(r.chunkId);
    return this.runtimes.commitFenced(rt, async (tx) => {
      if (ids.size > 0) {
        const present = await tx.existingChunks([...ids]);
        if (present.size !== ids.size) {
          const missing = new Set<number>();
          for (const id of ids) if (!present.has(id)) missing.add(id);
          return missing;
        }
      }
      await tx.insertEntries(familyId, seq, entries.rows);
      await tx.setPointProgress(familyId, seq, cursor, copied);
      return new Set<number>();
    });
  }

  /** Stores again the blocks of a batch whose chunks were collected before the commit. */
  private async restoreMissing(
    entries: { rows: NewEntry[] },
    missing: Set<number>,
    blocks: number[],
    views: Buffer[],
    put: (data: Uint8Array[]) => Promise<{ id: number }[]>,
  ): Promise<{ rows: NewEntry[] }> {
    const index = new Map<number, number>();
    blocks.forEach((b, i) => index.set(b, i));
    const redo = entries.rows.filter((r) => r.chunkId !== null && missing.has(r.chunkId));
    const stored = await put(redo.map((r) => views[index.get(r.block) ?? -1] ?? Buffer.alloc(0)));
    const fresh = new Map<number, number>();
    redo.forEach((r, k) => fresh.set(r.block, stored[k]?.id ?? -1));
    return { rows: entries.rows.map((r) => (fresh.has(r.block) ? { block: r.block, chunkId: fresh.get(r.block) ?? null } : r)) };
  }

  private async readFrozen(rt: DiskRuntime, familyId: string, seq: number, blocks: number[], batch: Buffer): Promise<Buffer[]> {
    const views: Buffer[] = [];
    const fromBase: number[] = [];
    blocks.forEach((b, i) => {
      const view = batch.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE);
      views.push(view);
      const r = rt.readPending(seq, b, view);
      if (r === 'base') fromBase.push(i);
      else if (r === 'committed') throw new SnapdiskError('InternalError', `block ${b} of ${familyId}:${seq} committed twice`);
    });
    if (fromBase.length > 0 && rt.disk.baseFamilyId) {
      const wanted = fromBase.map((i) => blocks[i] ?? 0);
      const contents = await this.resolver.readBlocks(rt.disk.baseFamilyId, rt.disk.basePoint, wanted);
      for (const i of fromBase) {
        const data = contents.get(blocks[i] ?? 0) ?? null;
        const view = views[i];
        if (!view) continue;
        if (data) data.copy(view);
        else view.fill(0);
      }
    }
    return views;
  }

  private async storeBatch(
    familyId: string,
    seq: number,
    blocks: number[],
    views: Buffer[],
    put: (data: Uint8Array[]) => Promise<{ id: number }[]>,
  ): Promise<{ rows: NewEntry[] }> {
    const dataIdx: number[] = [];
    const zeroBlocks: number[] = [];
    views.forEach((v, i) => (isZero(v) ? zeroBlocks.push(blocks[i] ?? 0) : dataIdx.push(i)));
    const rows: NewEntry[] = [];
    if (dataIdx.length > 0) {
      const stored = await put(dataIdx.map((i) => views[i] ?? Buffer.alloc(0)));
      stored.forEach((s, k) => rows.push({ block: blocks[dataIdx[k] ?? 0] ?? 0, chunkId: s.id }));
    }
    if (zeroBlocks.length > 0) {
      // a zero block is a change only if it held data before this point
      const before = await this.resolver.holes(familyId, seq - 1, zeroBlocks);
      for (const b of zeroBlocks) if (before.get(b) === false) rows.push({ block: b, chunkId: null });
    }
    rows.sort((a, b) => a.block - b.block);
    return { rows };
  }

  /** Marks a point ready, drops its frozen set, and lets hidden predecessors merge into it. */
  async finish(familyId: string, seq: number, rt: DiskRuntime | null): Promise<void> {
    const used = await this.computeUsed(familyId, seq);
    // fenced like the batches: a node that lost the disk's lease cannot mark the point ready
    const complete = (tx: Catalog): Promise<void> => tx.completePoint(familyId, seq, used, this.ctx.now());
    await (rt ? this.runtimes.commitFenced(rt, complete) : this.ctx.catalog.transaction(complete));
    rt?.completePending(seq);
    await this.afterReady(familyId, seq);
  }

  private async afterReady(familyId: string, seq: number): Promise<void> {
    for (;;) {
      const points = await this.ctx.catalog.listPoints(familyId);
      const pred = [...points].reverse().find((p) => p.seq < seq);
      if (!pred || !pred.hidden || pred.state === 'copying') break;
      if (!(await this.release(familyId, pred.seq))) break;
    }
    await this.release(familyId, seq);
  }

  /** Used bytes of a point: what it adds over the previous visible point (first: all its data). */
  async computeUsed(familyId: string, seq: number): Promise<number> {
    const points = await this.ctx.catalog.listPoints(familyId);
    const prev = [...points].reverse().find((p) => p.seq < seq && !p.hidden && p.state !== 'failed');
    if (prev) return this.ctx.catalog.changedBytes(familyId, prev.seq, seq);
    const fam = await this.resolver.family(familyId);
    if (!fam.baseFamilyId) return this.ctx.catalog.changedBytes(familyId, 0, seq);
    return this.maps.allocatedBytes(familyId, seq);
  }

  /** Recomputes the used bytes of the first visible point after `seq` (after a deletion). */
  async refreshUsedAfter(familyId: string, seq: number): Promise<void> {
    const points = await this.ctx.catalog.listPoints(familyId);
    const next = points.find((p) => p.seq > seq && !p.hidden && p.state === 'ready');
    if (next) await this.ctx.catalog.setPointUsed(familyId, next.seq, await this.computeUsed(familyId, next.seq));
  }

  /**
   * Removes a hidden point nothing needs any more: merged into a ready successor, or dropped when
   * it is the last one and no live disk tracks changes from it. Returns true when it was removed.
   */
  async release(familyId: string, seq: number): Promise<boolean> {
    const point = await this.ctx.catalog.getPoint(familyId, seq);
    if (!point || !point.hidden || point.state === 'copying') return false;
    const refs = await this.ctx.catalog.pointReferences(familyId, seq);
    if (refs.snapshots > 0 || refs.bases > 0) return false;
    const points = await this.ctx.catalog.listPoints(familyId);
    const succ = points.find((p) => p.seq > seq);
    if (succ) {
      if (succ.state === 'copying') return false;
      await this.ctx.catalog.transaction(async (tx) => {
        if (point.state === 'ready') await tx.mergePointInto(familyId, seq, succ.seq);
        await tx.deletePoint(familyId, seq);
      });
      return true;
    }
    const fam = await this.resolver.family(familyId);
    const disk = fam.diskId ? await this.ctx.catalog.getDiskById(fam.diskId) : null;
    if (disk && disk.trackingPoint === seq) return false;
    // a mirror family keeps its newest point: the next cross-region copy is a delta on top of it
    if (fam.replicaOf && point.state === 'ready') return false;
    await this.ctx.catalog.deletePoint(familyId, seq);
    if (points.length === 1 && !disk) await this.dropFamily(familyId);
    return true;
  }

  /** Deletes an empty family and releases the base point it held. */
  async dropFamily(familyId: string): Promise<void> {
    const fam = await this.ctx.catalog.getFamily(familyId);
    if (!fam) return;
    const left = await this.ctx.catalog.listPoints(familyId);
    if (left.length > 0) return;
    await this.ctx.catalog.deleteFamily(familyId);
    this.resolver.forgetFamily(familyId);
    if (fam.baseFamilyId) {
      await this.ctx.catalog.setPointHidden(fam.baseFamilyId, fam.basePoint, (await this.ctx.catalog.pointReferences(fam.baseFamilyId, fam.basePoint)).snapshots === 0);
      await this.release(fam.baseFamilyId, fam.basePoint);
    }
  }

  /** Fails every point still copying out of a disk; their changes go back to the tracking set. */
  async failPending(rt: DiskRuntime, code: string, message: string): Promise<void> {
    const oldest = new Map<string, number>();
    for (const p of rt.pending) oldest.set(p.familyId, Math.min(p.seq, oldest.get(p.familyId) ?? p.seq));
    for (const [familyId, seq] of oldest) await this.failFrom(familyId, seq, rt, code, message);
  }

  /**
   * A background copy that cannot succeed (the job gave up on it): the point fails with the
   * error, and so does every later point of its family (see `failFrom`). For the job runner,
   * with the job's target ("family:seq") and the error that ended it.
   */
  async failCopy(target: string, err: unknown): Promise<void> {
    const { familyId, seq } = parsePointTarget(target);
    const point = await this.ctx.catalog.getPoint(familyId, seq);
    if (!point || point.state !== 'copying') return;
    const fam = await this.resolver.family(familyId);
    const disk = fam.diskId ? await this.ctx.catalog.getDiskById(fam.diskId) : null;
    let rt: DiskRuntime | null = null;
    if (disk) {
      try {
        rt = await this.runtimes.get(disk); // the frozen blocks go back to its change tracking
      } catch (e) {
        // a head lost with its node has nothing to give back; otherwise the point stays copying
        // (and is retried at the next start) rather than lose its changes
        if (!(e instanceof SnapdiskError && e.code === 'NotFound')) throw e;
      }
    }
    const code = err instanceof SnapdiskError ? err.code : 'CopyFailed';
    const message = `The background copy of this snapshot failed: ${err instanceof Error ? err.message : String(err)}`;
    await this.failFrom(familyId, seq, rt, code, message);
  }

  /**
   * Fails point `seq` of a family and every later one that has not failed yet: their content
   * builds on the blocks of `seq` (entries and frozen blocks), which go away. The frozen blocks
   * of the failed points go back to the disk's change tracking first, and only then does the
   * catalog say "failed": a crash in between leaves a point still copying whose blocks are also
   * marked changed (a superset), never a change that no snapshot will hold.
   */
  private async failFrom(familyId: string, seq: number, rt: DiskRuntime | null, code: string, message: string): Promise<void> {
    const points = (await this.ctx.catalog.listPoints(familyId)).filter((p) => p.seq >= seq && p.state !== 'failed');
    if (points.length === 0) return;
    if (rt) for (const p of points) rt.returnPending(p.seq);
    const now = this.ctx.now();
    await this.ctx.catalog.transaction(async (tx) => {
      for (const p of points) {
        await tx.deletePointEntries(familyId, p.seq);
        await tx.failPoint(familyId, p.seq, code, message, now);
      }
    });
    if (rt) for (const p of points) rt.completePending(p.seq);
  }

  /** Progress of a point in percent, the lowest along its base chain. */
  async progress(familyId: string, seq: number): Promise<number> {
    const p = await this.ctx.catalog.getPoint(familyId, seq);
    let pct = p ? pointPercent(p) : 100;
    const fam = await this.resolver.family(familyId);
    if (fam.baseFamilyId) pct = Math.min(pct, await this.progress(fam.baseFamilyId, fam.basePoint));
    return pct;
  }
}

export function pointPercent(p: Point): number {
  if (p.state === 'ready') return 100;
  if (p.frozenBlocks === 0) return 0;
  return Math.floor((p.copiedBlocks / p.frozenBlocks) * 1000) / 10;
}

function newPoint(
  familyId: string,
  seq: number,
  sizeBytes: number,
  hidden: boolean,
  frozen: { name: string; count: number },
  copying: boolean,
  now: Date,
): Point {
  return {
    familyId,
    seq,
    sizeBytes,
    state: copying ? 'copying' : 'ready',
    hidden,
    frozenBlocks: frozen.count,
    copiedBlocks: 0,
    cursor: 0,
    frozenMap: copying ? frozen.name : null,
    usedBytes: 0,
    createdAt: now.toISOString(),
    completedAt: copying ? null : now.toISOString(),
    errorCode: null,
    errorMessage: null,
  };
}
