/**
 * @module engine/resolver
 * Answers "what are the bytes of block b at point p of family F": the newest entry of F at or
 * before p, unless a pending (still copying) point of F at or before p froze b and has not
 * committed it yet — then the bytes are still in the disk head or its cow log — and when F has
 * no entry, the base (family, point) F was restored from, recursively; otherwise zeros.
 *
 *   sources(F, p, [from, to)) ──► pending frozen & uncommitted?  → live (head / cow log)
 *                              └► catalog newest entry ≤ p        → chunk | zero
 *                              └► F.base                          → recurse
 *                              └► nothing                         → zero
 *
 * A live source is re-checked when read: if the copier committed the block in the meantime the
 * block is resolved again from the catalog, so a read never returns bytes written after the point.
 */

import { SnapdiskError } from '../core/errors.js';
import type { ChunkLocation, Family } from '../core/model.js';
import { sharedPool } from '../core/buffer-pool.js';
import { BLOCK_SIZE } from '../core/units.js';
import type { EngineContext } from './context.js';
import type { DiskRuntime } from './runtime.js';

export type Source =
  | { kind: 'zero' }
  | { kind: 'chunk'; chunk: ChunkLocation; region: string }
  | { kind: 'live'; runtime: DiskRuntime; seq: number };

export interface RuntimeLookup {
  /** The loaded runtime of the disk that owns `familyId`, if it has pending points. */
  runtimeForFamily(familyId: string): DiskRuntime | null;
}

const ZERO: Source = { kind: 'zero' };
const READ_CONCURRENCY = 16;

export class Resolver {
  private readonly families = new Map<string, Family>();

  constructor(
    private readonly ctx: EngineContext,
    private readonly runtimes: RuntimeLookup,
  ) {}

  async family(id: string): Promise<Family> {
    let f = this.families.get(id);
    if (!f) {
      const row = await this.ctx.catalog.getFamily(id);
      if (!row) throw new SnapdiskError('InternalError', `family ${id} is missing from the catalog`);
      f = row;
      this.families.set(id, f);
    }
    return f;
  }

  forgetFamily(id: string): void {
    this.families.delete(id);
  }

  /** Sources of blocks [from, to) at (familyId, point); index i is block from + i. */
  async sources(familyId: string, point: number, from: number, to: number): Promise<Source[]> {
    const fam = await this.family(familyId);
    const out: (Source | undefined)[] = new Array<Source | undefined>(to - from);
    const rt = this.runtimes.runtimeForFamily(familyId);
    if (rt && rt.pending.some((p) => p.familyId === familyId && p.seq <= point)) {
      for (let b = from; b < to; b++) {
        const p = rt.pendingFor(familyId, point, b);
        if (p) out[b - from] = { kind: 'live', runtime: rt, seq: p.seq };
      }
    }
    const rows = await this.ctx.catalog.resolveEntries(familyId, point, from, to);
    for (const r of rows) {
      const i = r.block - from;
      if (out[i] === undefined) out[i] = r.chunk ? { kind: 'chunk', chunk: r.chunk, region: fam.region } : ZERO;
    }
    let lo = -1;
    let hi = -1;
    for (let i = 0; i < out.length; i++) {
      if (out[i] === undefined) {
        if (lo === -1) lo = i;
        hi = i;
      }
    }
    if (lo !== -1 && fam.baseFamilyId) {
      const base = await this.sources(fam.baseFamilyId, fam.basePoint, from + lo, from + hi + 1);
      for (let i = lo; i <= hi; i++) if (out[i] === undefined) out[i] = base[i - lo] ?? ZERO;
    }
    return out.map((s) => s ?? ZERO);
  }

  /** Full-block contents of `blocks` (sorted) at (familyId, point): Buffer, or null for zeros. */
  async readBlocks(familyId: string, point: number, blocks: ReadonlyArray<number>): Promise<Map<number, Buffer | null>> {
    const out = new Map<number, Buffer | null>();
    if (blocks.length === 0) return out;
    const first = blocks[0] ?? 0;
    const last = blocks[blocks.length - 1] ?? 0;
    const wanted = new Set(blocks);
    for (let from = first; from <= last; from += 4096) {
      const to = Math.min(last + 1, from + 4096);
      const srcs = await this.sources(familyId, point, from, to);
      const work: Array<{ block: number; source: Source }> = [];
      const chunked = new Map<string, Array<{ block: number; chunk: ChunkLocation }>>();
      for (let b = from; b < to; b++) {
        if (!wanted.has(b)) continue;
        const source = srcs[b - from] ?? ZERO;
        if (source.kind === 'zero') out.set(b, null);
        else if (source.kind === 'chunk') {
          const list = chunked.get(source.region) ?? [];
          list.push({ block: b, chunk: source.chunk });
          chunked.set(source.region, list);
        } else work.push({ block: b, source });
      }
      for (const [region, list] of chunked) {
        const store = this.ctx.chunks(region);
        for (let i = 0; i < list.length; i += 256) {
          const part = list.slice(i, i + 256);
          const bytes = await store.readMany(part.map((x) => x.chunk));
          part.forEach((x, k) => out.set(x.block, bytes[k] ?? null));
        }
      }
      await forEachLimited(work, READ_CONCURRENCY, async ({ block, source }) => {
        out.set(block, await this.readSource(familyId, point, block, source));
      });
    }
    return out;
  }

  /**
   * Fills `targets[i]` (one block each) with block `blocks[i]` (sorted) at (familyId, point);
   * returns for each whether it holds data (false: zeros, the target is zero-filled).
   */
  async readBlocksInto(familyId: string, point: number, blocks: ReadonlyArray<number>, targets: ReadonlyArray<Buffer>): Promise<boolean[]> {
    const hasData = new Array<boolean>(blocks.length).fill(false);
    if (blocks.length === 0) return hasData;
    const first = blocks[0] ?? 0;
    const last = blocks[blocks.length - 1] ?? 0;
    let i = 0;
    for (let from = first; from <= last; from += 4096) {
      const to = Math.min(last + 1, from + 4096);
      const srcs = await this.sources(familyId, point, from, to);
      const byRegion = new Map<string, { chunks: ChunkLocation[]; targets: Buffer[] }>();
      const live: Array<{ k: number; source: Source }> = [];
      for (; i < blocks.length && (blocks[i] ?? 0) < to; i++) {
        const b = blocks[i] ?? 0;
        const target = targets[i];
        if (!target) continue;
        const source = srcs[b - from] ?? ZERO;
        if (source.kind === 'zero') target.fill(0);
        else if (source.kind === 'live') live.push({ k: i, source });
        else {
          hasData[i] = true;
          if (source.chunk.rawLength < target.length) target.fill(0, source.chunk.rawLength);
          const g = byRegion.get(source.region) ?? { chunks: [], targets: [] };
          g.chunks.push(source.chunk);
          g.targets.push(target);
          byRegion.set(source.region, g);
        }
      }
      for (const [region, g] of byRegion) await this.ctx.chunks(region).readInto(g.chunks, g.targets);
      await forEachLimited(live, READ_CONCURRENCY, async ({ k, source }) => {
        const target = targets[k];
        const data = await this.readSource(familyId, point, blocks[k] ?? 0, source);
        if (!target) return;
        if (data) {
          hasData[k] = true;
          target.fill(0, data.copy(target));
        } else target.fill(0);
      });
    }
    return hasData;
  }

  /** Bytes [offset, offset + length) of (familyId, point). */
  async readRange(familyId: string, point: number, offset: number, length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    await this.readRangeInto(familyId, point, offset, out);
    return out;
  }

  /**
   * Fills `target` with bytes [offset, offset + target.length) of (familyId, point). Whole blocks
   * are decoded straight into `target`; only the partial blocks at the edges use a scratch block.
   */
  async readRangeInto(familyId: string, point: number, offset: number, target: Buffer): Promise<void> {
    const end = offset + target.length;
    if (target.length === 0) return;
    const first = Math.floor(offset / BLOCK_SIZE);
    const last = Math.floor((end - 1) / BLOCK_SIZE);
    for (let from = first; from <= last; from += 4096) {
      const to = Math.min(last + 1, from + 4096);
      const srcs = await this.sources(familyId, point, from, to);
      const byRegion = new Map<string, { chunks: ChunkLocation[]; targets: Buffer[] }>();
      const edges: Array<{ block: number; scratch: Buffer }> = [];
      const live: Array<{ block: number; source: Source }> = [];
      for (let b = from; b < to; b++) {
        const source = srcs[b - from] ?? ZERO;
        const s = Math.max(b * BLOCK_SIZE, offset);
        const e = Math.min((b + 1) * BLOCK_SIZE, end);
        if (source.kind === 'zero') target.fill(0, s - offset, e - offset);
        else if (source.kind === 'live') live.push({ block: b, source });
        else {
          const whole = s === b * BLOCK_SIZE && e - s === source.chunk.rawLength;
          const dest = whole ? target.subarray(s - offset, e - offset) : sharedPool.acquire(BLOCK_SIZE).subarray(0, source.chunk.rawLength);
          if (!whole) edges.push({ block: b, scratch: dest });
          const g = byRegion.get(source.region) ?? { chunks: [], targets: [] };
          g.chunks.push(source.chunk);
          g.targets.push(dest);
          byRegion.set(source.region, g);
        }
      }
      try {
        for (const [region, g] of byRegion) await this.ctx.chunks(region).readInto(g.chunks, g.targets);
        for (const { block, scratch } of edges) copyPart(scratch, block, offset, end, target);
      } finally {
        for (const { scratch } of edges) sharedPool.release(scratch);
      }
      await forEachLimited(live, READ_CONCURRENCY, async ({ block, source }) => {
        const data = await this.readSource(familyId, point, block, source);
        if (data) copyPart(data, block, offset, end, target);
        else target.fill(0, Math.max(block * BLOCK_SIZE, offset) - offset, Math.min((block + 1) * BLOCK_SIZE, end) - offset);
      });
    }
  }

  /** Reads one block from its source; a live source that got committed meanwhile is re-resolved. */
  async readSource(familyId: string, point: number, block: number, source: Source): Promise<Buffer | null> {
    let src = source;
    for (let attempt = 0; attempt < 5; attempt++) {
      if (src.kind === 'zero') return null;
      if (src.kind === 'chunk') return this.ctx.chunks(src.region).read(src.chunk);
      const buf = Buffer.allocUnsafe(BLOCK_SIZE);
      const r = src.runtime.readPending(src.seq, block, buf);
      if (r === 'ok') return buf;
      if (r === 'base') {
        const d = src.runtime.disk;
        if (!d.baseFamilyId) return null;
        return (await this.readBlocks(d.baseFamilyId, d.basePoint, [block])).get(block) ?? null;
      }
      src = (await this.sources(familyId, point, block, block + 1))[0] ?? ZERO;
    }
    throw new SnapdiskError('Unavailable', `block ${block} of family ${familyId} kept changing while being read; try again`);
  }

  /** For each block: true when it reads as zeros at (familyId, point) (no data). */
  async holes(familyId: string, point: number, blocks: ReadonlyArray<number>): Promise<Map<number, boolean>> {
    const out = new Map<number, boolean>();
    if (blocks.length === 0) return out;
    const first = blocks[0] ?? 0;
    const last = blocks[blocks.length - 1] ?? 0;
    const srcs = await this.sources(familyId, point, first, last + 1);
    for (const b of blocks) {
      const s = srcs[b - first] ?? ZERO;
      out.set(b, s.kind === 'zero');
    }
    return out;
  }
}

/** Copies the part of block `block` (its bytes in `data`) that falls in [offset, end) into target. */
function copyPart(data: Buffer, block: number, offset: number, end: number, target: Buffer): void {
  const s = Math.max(block * BLOCK_SIZE, offset);
  const e = Math.min((block + 1) * BLOCK_SIZE, end);
  const from = s - block * BLOCK_SIZE;
  const n = data.copy(target, s - offset, from, Math.min(data.length, from + (e - s)));
  if (n < e - s) target.fill(0, s - offset + n, e - offset);
}

export async function forEachLimited<T>(items: ReadonlyArray<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      const item = items[i];
      if (item !== undefined) await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
