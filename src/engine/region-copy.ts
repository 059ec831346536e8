/**
 * @module engine/region-copy
 * Cross-region copies of incremental snapshots (`createOption: CopyStart`).
 *
 * Each source family has at most one mirror family per target region (`family_replicas`). Every
 * copy adds a point to the mirror that records which source point it reproduces. The copy job of
 * mirror point t (source point s) moves only what changed since the mirror's previous point t−1
 * (source point s′): the newest source entries in (s′, s]. For each changed block the target
 * region's index is asked for the chunk's hash first, so bytes cross regions only when the target
 * lacks them — the copy of a family's next snapshot moves its delta and nothing more.
 *
 *   source family F (region A)         mirror family M (region B)
 *   s′ ── … ── s                       t−1 (mirrors s′) ── t (mirrors s, copying)
 *        entries in (s′, s] ──────────►  entries of t, chunks put in B only when B lacks them
 *
 * The request returns at once (`completionPercent` 0); the mirror point is unusable until ready.
 * Copies of one mirror family run one at a time in creation order (job lane), on any node. If the
 * source snapshot disappears mid-copy, the copy fails with `CopySourceNotFound`; any other failure
 * that ends the job fails the target with its error.
 *
 * Each batch commits in one transaction that (1) checks the job's claim (a node that lost the job
 * to another one commits nothing), (2) re-checks that every chunk the batch refers to still
 * exists, locking the rows against GC (`existingChunks`, `FOR SHARE` on PostgreSQL): the target's
 * chunks were looked up or stored before the transaction, and a chunk nobody references yet may be
 * collected meanwhile. If one is gone, nothing is committed and the batch is copied again (the
 * lookup then misses it and its bytes are moved anew).
 */

import { isNotFound, notAllowed, SnapdiskError } from '../core/errors.js';
import { resourceId } from '../core/ids.js';
import type { ChunkLocation, Job, Point, SnapshotRecord } from '../core/model.js';
import type { Catalog, NewEntry, Redundancy } from '../core/ports.js';
import { incrementalSnapshotSku } from '../core/rules.js';
import type { EngineContext } from './context.js';
import { parsePointTarget, type JobRunner } from './jobs.js';
import { FencedOut } from './leases.js';
import type { Maps } from './maps.js';
import type { Points } from './points.js';
import type { Resolver } from './resolver.js';
import type { SnapshotSpec } from './snapshots.js';

const PAGE = 512;

export class RegionCopies {
  constructor(
    private readonly ctx: EngineContext,
    private readonly resolver: Resolver,
    private readonly maps: Maps,
    private readonly points: Points,
    private readonly jobs: JobRunner,
  ) {}

  /** Creates the target snapshot and queues its copy. */
  async start(spec: SnapshotSpec, location: string, source: SnapshotRecord, base: SnapshotRecord): Promise<SnapshotRecord> {
    if (!source.incremental) {
      throw notAllowed(
        `The snapshot ${source.name} is a full snapshot: only incremental snapshots can be copied across regions with CopyStart.`,
        'Create an incremental snapshot of the disk and copy that one.',
      );
    }
    const region = this.ctx.region(location);
    const sku = incrementalSnapshotSku(spec.sku, region);
    const now = this.ctx.nowIso();
    let job: Job | null = null;
    const record = await this.ctx.catalog.transaction(async (tx) => {
      await this.checkConcurrency(tx, spec.subscriptionId, location);
      let familyId = await tx.getReplicaFamily(source.familyId, location);
      if (!familyId || !(await tx.getFamily(familyId))) {
        familyId = this.ctx.newId();
        await tx.insertFamily({ id: familyId, region: location, diskId: null, baseFamilyId: null, basePoint: 0, createdAt: now, replicaOf: source.familyId });
        await tx.setReplicaFamily(source.familyId, location, familyId);
      }
      const existing = await tx.listPoints(familyId);
      const last = existing[existing.length - 1];
      const lastSource = Math.max(0, ...existing.map((p) => p.sourceSeq ?? 0));
      if (lastSource > source.point) {
        throw notAllowed(
          `Snapshots of a family are copied to a region in creation order: a newer snapshot of this family was already copied to ${location}, so ${source.name} cannot be copied there now.`,
          'Copy the snapshots of a disk oldest first.',
        );
      }
      const seq = (last?.seq ?? 0) + 1;
      await tx.insertPoint(mirrorPoint(familyId, seq, source, now));
      const rec: SnapshotRecord = {
        ...base,
        sku,
        incremental: true,
        location,
        sizeBytes: source.sizeBytes,
        logicalSectorSize: source.logicalSectorSize,
        sourceDiskSku: source.sourceDiskSku,
        creationData: {
          createOption: 'CopyStart',
          sourceResourceId: resourceId('snapshots', source),
          sourceUniqueId: source.uniqueId,
          ...(source.creationData.logicalSectorSize ? { logicalSectorSize: source.creationData.logicalSectorSize } : {}),
        },
        familyId,
        point: seq,
      };
      await tx.insertSnapshot(rec);
      job = await tx.enqueueJob('region-copy', `${familyId}:${seq}`, { source: source.uniqueId }, this.ctx.now());
      return rec;
    });
    if (job) this.jobs.schedule(job);
    return record;
  }

  /** The CopyStart limit, counted in the creating transaction (serialised across nodes). */
  private async checkConcurrency(tx: Catalog, subscriptionId: string, location: string): Promise<void> {
    const limit = this.ctx.limits.copyStartPerSubscriptionPerRegion;
    const running = await tx.countRegionCopies(subscriptionId, location);
    if (running >= limit) {
      throw notAllowed(
        `${running} cross-region copies into ${location} are already running in this subscription: at most ${limit} at once (copyStartPerSubscriptionPerRegion).`,
        'Wait for one to reach completionPercent 100, then retry.',
      );
    }
  }

  /** The copy job of mirror point `familyId:seq` (`job.target`). */
  async run(job: Job, signal: AbortSignal): Promise<void> {
    const { familyId, seq } = parsePointTarget(job.target);
    const point = await this.ctx.catalog.getPoint(familyId, seq);
    if (!point || point.state !== 'copying' || !point.sourceFamilyId) return;
    const sourceId = typeof job.payload.source === 'string' ? job.payload.source : '';
    const srcFamily = point.sourceFamilyId;
    const srcSeq = point.sourceSeq ?? 0;
    if (!(await this.waitForSource(familyId, seq, srcFamily, srcSeq, sourceId, signal))) return;
    const previous = (await this.ctx.catalog.listPoints(familyId)).filter((p) => p.seq < seq && p.state === 'ready').pop();
    const prevSrc = previous?.sourceSeq ?? 0;
    if (point.frozenBlocks === 0 && point.cursor === 0) {
      await this.ctx.catalog.setPointFrozen(familyId, seq, await this.countWork(srcFamily, prevSrc, srcSeq, previous !== undefined));
    }
    const fam = await this.resolver.family(familyId);
    const srcFam = await this.resolver.family(srcFamily);
    const redundancy = await this.points.redundancyOf(familyId, seq);
    let cursor = point.cursor;
    let copied = point.copiedBlocks;
    while (!signal.aborted) {
      let page: { items: Array<{ block: number; chunk: ChunkLocation | null }>; end: number };
      try {
        page = previous ? await this.changedPage(srcFamily, prevSrc, srcSeq, cursor) : await this.allocatedPage(srcFamily, srcSeq, cursor);
      } catch (err) {
        if (await this.sourceGone(familyId, seq, sourceId, err)) return;
        throw err;
      }
      if (page.items.length > 0) {
        const next = page.end === Infinity ? Number.MAX_SAFE_INTEGER : page.end;
        const done = copied + page.items.length;
        for (let attempt = 1; ; attempt++) {
          let batch: { rows: NewEntry[]; moved: number };
          try {
            batch = await this.copyBlocks(page.items, srcFam.region, fam.region, redundancy);
          } catch (err) {
            if (await this.sourceGone(familyId, seq, sourceId, err)) return;
            throw err;
          }
          if (!(await this.sourceAlive(sourceId))) return this.fail(familyId, seq, 'CopySourceNotFound', 'The source snapshot was deleted before the copy finished.');
          if (await this.commit(job, familyId, seq, batch, next, done)) break;
          // GC collected a chunk of the target region this batch refers to: copy it again
          if (attempt === 3) throw new SnapdiskError('Unavailable', `chunks of the target region keep being collected while the copy of ${job.target} commits; retrying`);
          this.ctx.log.warn('a chunk of a cross-region copy was collected before its commit: copying the batch again', { target: job.target });
        }
        copied = done;
      }
      if (page.end === Infinity) break;
      cursor = page.end;
    }
    if (signal.aborted) return;
    if (!(await this.ctx.catalog.touchClaimedJob(job.id, job.attempts, job.payload, this.ctx.now()))) {
      throw new FencedOut(`another node took over the cross-region copy ${job.target}`);
    }
    await this.points.finish(familyId, seq, null);
  }

  /**
   * One batch: entries, progress and bytes moved, if this node still holds the job and every chunk
   * the entries refer to still exists (locked against GC until the commit). False: a chunk was
   * gone and nothing was committed.
   */
  private async commit(job: Job, familyId: string, seq: number, batch: { rows: NewEntry[]; moved: number }, cursor: number, copied: number): Promise<boolean> {
    const ids = new Set<number>();
    for (const r of batch.rows) if (r.chunkId !== null) ids.add(r.chunkId);
    return this.ctx.catalog.transaction(async (tx) => {
      if (!(await tx.touchClaimedJob(job.id, job.attempts, job.payload, this.ctx.now()))) {
        throw new FencedOut(`another node took over the cross-region copy ${job.target}; this batch was not committed`);
      }
      if (ids.size > 0 && (await tx.existingChunks([...ids])).size !== ids.size) return false;
      await tx.insertEntries(familyId, seq, batch.rows);
      await tx.setPointProgress(familyId, seq, cursor, copied);
      await tx.addPointBytesMoved(familyId, seq, batch.moved);
      return true;
    });
  }

  /** After a failed read of the source: if the source snapshot is gone, the copy fails with CopySourceNotFound. */
  private async sourceGone(familyId: string, seq: number, sourceId: string, err: unknown): Promise<boolean> {
    if (await this.sourceAlive(sourceId)) return false;
    await this.fail(familyId, seq, 'CopySourceNotFound', `The source snapshot was deleted before the copy finished${isNotFound(err) ? '' : ` (${err instanceof Error ? err.message : String(err)})`}.`);
    return true;
  }

  /** A copy job that ended failed (the runner gave up on it): the target fails with the error. */
  async failCopy(job: Job, err: unknown): Promise<void> {
    const { familyId, seq } = parsePointTarget(job.target);
    const code = err instanceof SnapdiskError && err.code !== 'InternalError' ? err.code : 'CopyFailed';
    await this.fail(familyId, seq, code, `The cross-region copy failed: ${err instanceof Error ? err.message : String(err)}`);
  }

  /** Waits until the source point is ready; false when the copy cannot proceed (and was failed). */
  private async waitForSource(familyId: string, seq: number, srcFamily: string, srcSeq: number, sourceId: string, signal: AbortSignal): Promise<boolean> {
    for (;;) {
      if (!(await this.sourceAlive(sourceId))) {
        await this.fail(familyId, seq, 'CopySourceNotFound', 'The source snapshot was deleted before the copy finished.');
        return false;
      }
      const sp = await this.ctx.catalog.getPoint(srcFamily, srcSeq);
      if (!sp) {
        await this.fail(familyId, seq, 'CopySourceNotFound', 'The source snapshot no longer exists.');
        return false;
      }
      if (sp.state === 'failed') {
        await this.fail(familyId, seq, 'CopySourceFailed', `The source snapshot failed: ${sp.errorMessage ?? 'background copy failed'}.`);
        return false;
      }
      if (sp.state === 'ready' && (await this.points.progress(srcFamily, srcSeq)) >= 100) return true;
      if (signal.aborted) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async sourceAlive(uniqueId: string): Promise<boolean> {
    return uniqueId === '' || (await this.ctx.catalog.getSnapshotById(uniqueId)) !== null;
  }

  /** Fails a target still copying: its partial entries go, the snapshot shows copyCompletionError. */
  private async fail(familyId: string, seq: number, code: string, message: string): Promise<void> {
    await this.ctx.catalog.transaction(async (tx) => {
      if ((await tx.getPoint(familyId, seq))?.state !== 'copying') return;
      await tx.deletePointEntries(familyId, seq);
      await tx.failPoint(familyId, seq, code, message, this.ctx.now());
    });
  }

  private async countWork(srcFamily: string, prevSrc: number, srcSeq: number, incremental: boolean): Promise<number> {
    let n = 0;
    let from = 0;
    for (;;) {
      const page = incremental ? await this.maps.changed(srcFamily, prevSrc, srcSeq, from, 10_000) : await this.maps.allocated(srcFamily, srcSeq, from, 10_000);
      n += page.items.length;
      if (page.end === Infinity) return n;
      from = page.end;
    }
  }

  /** Changed blocks of the source in (prevSrc, srcSeq] with their chunks, from block `from`. */
  private async changedPage(srcFamily: string, prevSrc: number, srcSeq: number, from: number): Promise<{ items: Array<{ block: number; chunk: ChunkLocation | null }>; end: number }> {
    const rows = await this.ctx.catalog.changedEntries(srcFamily, prevSrc, srcSeq, from, PAGE);
    const end = rows.length >= PAGE ? (rows[rows.length - 1]?.block ?? from) + 1 : Infinity;
    return { items: rows.map((r) => ({ block: r.block, chunk: r.chunk })), end };
  }

  /** Data blocks of the source point (first copy: the whole content), with their chunks. */
  private async allocatedPage(srcFamily: string, srcSeq: number, from: number): Promise<{ items: Array<{ block: number; chunk: ChunkLocation | null }>; end: number }> {
    const page = await this.maps.allocated(srcFamily, srcSeq, from, PAGE);
    const items: Array<{ block: number; chunk: ChunkLocation | null }> = [];
    for (let k = 0; k < page.items.length; ) {
      const first = page.items[k]?.block ?? 0;
      let j = k;
      while (j < page.items.length && (page.items[j]?.block ?? 0) < first + 4096) j++;
      const last = page.items[j - 1]?.block ?? first;
      const sources = await this.resolver.sources(srcFamily, srcSeq, first, last + 1);
      for (let m = k; m < j; m++) {
        const b = page.items[m]?.block ?? 0;
        const s = sources[b - first];
        if (s?.kind === 'chunk') items.push({ block: b, chunk: s.chunk });
        else if (s?.kind === 'zero') continue;
        else throw new SnapdiskError('Unavailable', `block ${b} of the source is not copied yet`);
      }
      k = j;
    }
    return { items, end: page.end };
  }

  /** Entries for the target point; bytes cross only for chunks the target region lacks. */
  private async copyBlocks(
    items: Array<{ block: number; chunk: ChunkLocation | null }>,
    fromRegion: string,
    toRegion: string,
    redundancy: Redundancy,
  ): Promise<{ rows: NewEntry[]; moved: number }> {
    const source = this.ctx.chunks(fromRegion);
    const target = this.ctx.chunks(toRegion);
    const data = items.filter((x): x is { block: number; chunk: ChunkLocation } => x.chunk !== null);
    const known = await this.ctx.catalog.lookupChunks(toRegion, data.map((x) => x.chunk.hash));
    const missing = data.filter((x) => !known.has(x.chunk.hash.toString('hex')));
    if (redundancy === 'zone') await target.replicate([...known.values()].map((c) => c.pack));
    const bytes = await Promise.all(missing.map((x) => source.read(x.chunk)));
    const stored = bytes.length > 0 ? await target.put(bytes, redundancy) : [];
    const ids = new Map<string, number>();
    for (const [hex, loc] of known) ids.set(hex, loc.id);
    let moved = 0;
    missing.forEach((x, k) => {
      const s = stored[k];
      if (!s) return;
      ids.set(x.chunk.hash.toString('hex'), s.id);
      moved += s.storedLength;
    });
    const rows: NewEntry[] = items.map((x) => ({ block: x.block, chunkId: x.chunk ? (ids.get(x.chunk.hash.toString('hex')) ?? null) : null }));
    return { rows, moved };
  }
}

function mirrorPoint(familyId: string, seq: number, source: SnapshotRecord, now: string): Point {
  return {
    familyId,
    seq,
    sizeBytes: source.sizeBytes,
    state: 'copying',
    hidden: false,
    frozenBlocks: 0,
    copiedBlocks: 0,
    cursor: 0,
    frozenMap: null,
    usedBytes: 0,
    createdAt: now,
    completedAt: null,
    errorCode: null,
    errorMessage: null,
    sourceFamilyId: source.familyId,
    sourceSeq: source.point,
    bytesMoved: 0,
  };
}
