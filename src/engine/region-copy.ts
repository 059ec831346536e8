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
 * Copies of one mirror family run one at a time in creation order (job lane). If the source
 * snapshot disappears mid-copy, the copy fails with `CopySourceNotFound`.
 */

import { notAllowed, SnapdiskError } from '../core/errors.js';
import { resourceId } from '../core/ids.js';
import type { ChunkLocation, Point, SnapshotRecord } from '../core/model.js';
import type { NewEntry, Redundancy } from '../core/ports.js';
import { incrementalSnapshotSku } from '../core/rules.js';
import type { EngineContext } from './context.js';
import type { JobRunner } from './jobs.js';
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
    await this.checkConcurrency(spec.subscriptionId, location);
    const now = this.ctx.nowIso();
    let jobId = 0;
    const record = await this.ctx.catalog.transaction(async (tx) => {
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
      jobId = (await tx.enqueueJob('region-copy', `${familyId}:${seq}`, { source: source.uniqueId }, this.ctx.now())).id;
      return rec;
    });
    for (const job of await this.ctx.catalog.openJobs()) if (job.id === jobId) this.jobs.schedule(job);
    return record;
  }

  private async checkConcurrency(subscriptionId: string, location: string): Promise<void> {
    const limit = this.ctx.limits.copyStartPerSubscriptionPerRegion;
    const snaps = await this.ctx.catalog.listSnapshots({ subscriptionId });
    let running = 0;
    for (const s of snaps) {
      if (s.creationData.createOption !== 'CopyStart' || s.location !== location) continue;
      const p = await this.ctx.catalog.getPoint(s.familyId, s.point);
      if (p?.state === 'copying') running++;
    }
    if (running >= limit) {
      throw notAllowed(
        `${running} cross-region copies into ${location} are already running in this subscription: at most ${limit} at once (copyStartPerSubscriptionPerRegion).`,
        'Wait for one to reach completionPercent 100, then retry.',
      );
    }
  }

  /** The copy job of mirror point `familyId:seq`. */
  async run(target: string, payload: Record<string, unknown>, signal: AbortSignal): Promise<void> {
    const i = target.lastIndexOf(':');
    const familyId = target.slice(0, i);
    const seq = Number(target.slice(i + 1));
    const point = await this.ctx.catalog.getPoint(familyId, seq);
    if (!point || point.state !== 'copying' || !point.sourceFamilyId) return;
    const sourceId = typeof payload.source === 'string' ? payload.source : '';
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
      const page = previous
        ? await this.changedPage(srcFamily, prevSrc, srcSeq, cursor)
        : await this.allocatedPage(srcFamily, srcSeq, cursor);
      if (page.items.length > 0) {
        const { rows, moved } = await this.copyBlocks(page.items, srcFam.region, fam.region, redundancy);
        if (!(await this.sourceAlive(sourceId))) return this.fail(familyId, seq, 'CopySourceNotFound', 'The source snapshot was deleted before the copy finished.');
        const next = page.end === Infinity ? Number.MAX_SAFE_INTEGER : page.end;
        copied += page.items.length;
        await this.ctx.catalog.transaction(async (tx) => {
          await tx.insertEntries(familyId, seq, rows);
          await tx.setPointProgress(familyId, seq, next, copied);
          await tx.addPointBytesMoved(familyId, seq, moved);
        });
      }
      if (page.end === Infinity) break;
      cursor = page.end;
    }
    if (signal.aborted) return;
    await this.points.finish(familyId, seq, null);
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

  private async fail(familyId: string, seq: number, code: string, message: string): Promise<void> {
    await this.ctx.catalog.transaction(async (tx) => {
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
