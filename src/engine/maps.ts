/**
 * @module engine/maps
 * Range queries over block maps, with cost proportional to the entries involved, never to the
 * disk size: the allocated blocks of a point (page list, accounting) and the changed blocks
 * between two points of a family (diff).
 *
 * Both page by block index: a call returns blocks ≥ `from` in order plus `end`, the exclusive
 * block bound up to which the answer is complete; the next page starts at `end`.
 *
 *   allocated(F, q):   F's own entries ≤ q  ⊕  allocated(F.base)  ⊕  pending frozen blocks ≤ q
 *                      (an entry of F hides the base's; a zero entry hides it too)
 *   changed(F, a, b):  newest entry per block in (a, b]  ⊕  pending frozen blocks in (a, b]
 */

import type { Bitmap } from '../core/bitmap.js';
import type { EngineContext } from './context.js';
import type { Resolver } from './resolver.js';
import type { RuntimeLookup } from './resolver.js';

export interface BlockInfo {
  block: number;
  /** True when the block reads as zeros. */
  zero: boolean;
  /** Raw bytes of its chunk (0 for zeros; a whole block for data not yet copied). */
  bytes: number;
}

export interface BlockPage {
  items: BlockInfo[];
  /** Exclusive bound of the blocks this page covers; Infinity when nothing follows. */
  end: number;
}

const BLOCK_BYTES = 65536;
/** At most this many uncommitted blocks are read per page of `changed` (32 MiB). */
const LIVE_READ_BLOCKS = 512;

export class Maps {
  constructor(
    private readonly ctx: EngineContext,
    private readonly resolver: Resolver,
    private readonly runtimes: RuntimeLookup,
  ) {}

  /** Blocks with data at (familyId, point), from `from`, at most about `limit` per page. */
  async allocated(familyId: string, point: number, from: number, limit: number): Promise<BlockPage> {
    const page = await this.resolvedPage(familyId, point, from, limit);
    return { items: page.items.filter((i) => !i.zero), end: page.end };
  }

  /** Every block with an entry in the resolution (zeros included), merged down the base chain. */
  private async resolvedPage(familyId: string, point: number, from: number, limit: number): Promise<BlockPage> {
    const fam = await this.resolver.family(familyId);
    const live = this.pendingCursors(familyId, 0, point);
    const own = await this.ctx.catalog.changedEntries(familyId, 0, point, from, limit);
    let end = own.length >= limit ? (own[own.length - 1]?.block ?? from) + 1 : Infinity;
    let base: BlockInfo[] = [];
    if (fam.baseFamilyId) {
      const b = await this.resolvedPage(fam.baseFamilyId, fam.basePoint, from, limit);
      base = b.items;
      end = Math.min(end, b.end);
    }
    const pending = pendingBlocks(live, from, end, limit);
    end = pending.end;
    const merged = new Map<number, BlockInfo>();
    for (const i of base) if (i.block < end) merged.set(i.block, i);
    for (const e of own) {
      if (e.block >= end) continue;
      merged.set(e.block, { block: e.block, zero: e.chunk === null, bytes: e.chunk?.rawLength ?? 0 });
    }
    for (const b of pending.blocks) merged.set(b, { block: b, zero: false, bytes: BLOCK_BYTES });
    const items = [...merged.values()].sort((a, b) => a.block - b.block);
    return { items, end };
  }

  /**
   * Blocks changed in (afterPoint, upToPoint] of one family. Blocks frozen by a pending point and
   * not yet copied are read to tell data from zeros.
   */
  async changed(familyId: string, afterPoint: number, upToPoint: number, from: number, limit: number): Promise<BlockPage> {
    const pendingNow = this.pendingCursors(familyId, afterPoint, upToPoint);
    const rows = await this.ctx.catalog.changedEntries(familyId, afterPoint, upToPoint, from, limit);
    // pending blocks are read to tell data from zeros: a smaller page bounds the memory held
    const rowsEnd = rows.length >= limit ? (rows[rows.length - 1]?.block ?? from) + 1 : Infinity;
    const pending = pendingBlocks(pendingNow, from, rowsEnd, Math.min(limit, LIVE_READ_BLOCKS));
    const end = pending.end;
    const merged = new Map<number, BlockInfo>();
    for (const e of rows) {
      if (e.block < end) merged.set(e.block, { block: e.block, zero: e.chunk === null, bytes: e.chunk?.rawLength ?? 0 });
    }
    const live = pending.blocks;
    if (live.length > 0) {
      const contents = await this.resolver.readBlocks(familyId, upToPoint, live);
      for (const b of live) {
        const data = contents.get(b) ?? null;
        const zero = data === null || isZero(data);
        merged.set(b, { block: b, zero, bytes: zero ? 0 : BLOCK_BYTES });
      }
    }
    return { items: [...merged.values()].sort((a, b) => a.block - b.block), end };
  }

  /** Sum of raw bytes of the data blocks of (familyId, point). */
  async allocatedBytes(familyId: string, point: number): Promise<number> {
    let total = 0;
    let from = 0;
    for (;;) {
      const page = await this.allocated(familyId, point, from, 10_000);
      for (const i of page.items) total += i.bytes;
      if (page.end === Infinity) return total;
      from = page.end;
    }
  }

  /**
   * Pending points of the family in (after, upTo] with their cursors, taken before the catalog is
   * asked: a batch committed while the query runs is then listed from its frozen set, never lost
   * between the two.
   */
  private pendingCursors(familyId: string, after: number, upTo: number): PendingSlice[] {
    const rt = this.runtimes.runtimeForFamily(familyId);
    if (!rt) return [];
    const out: PendingSlice[] = [];
    for (const p of rt.pending) {
      if (p.familyId === familyId && p.seq > after && p.seq <= upTo) out.push({ frozen: p.frozen, cursor: p.cursor });
    }
    return out;
  }
}

interface PendingSlice {
  frozen: Bitmap;
  cursor: number;
}

/**
 * Frozen, uncommitted blocks of `slices` in [from, end), at most `limit` of each point. When a
 * point has more, the page ends after its last block listed, so the next page goes on from there.
 */
function pendingBlocks(slices: PendingSlice[], from: number, end: number, limit: number): { blocks: number[]; end: number } {
  const out = new Set<number>();
  for (const p of slices) {
    let n = 0;
    for (let b = p.frozen.nextSet(Math.max(from, p.cursor)); b !== -1 && b < end; b = p.frozen.nextSet(b + 1)) {
      if (n === limit) {
        end = b;
        break;
      }
      out.add(b);
      n++;
    }
  }
  const blocks = [...out].filter((b) => b < end).sort((a, b) => a - b);
  return { blocks, end };
}

const ZEROS = Buffer.alloc(BLOCK_BYTES);

/** True when every byte is zero (memcmp against a shared zero block). */
export function isZero(buf: Uint8Array): boolean {
  for (let at = 0; at < buf.length; at += BLOCK_BYTES) {
    const part = buf.subarray(at, Math.min(buf.length, at + BLOCK_BYTES));
    if (Buffer.compare(part, ZEROS.subarray(0, part.length)) !== 0) return false;
  }
  return true;
}
