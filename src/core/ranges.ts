/**
 * @module core/ranges
 * Byte ranges and the conversions between block indexes and the page ranges a client sees.
 * Ranges here are half-open `[start, end)`; the page-blob wire form (inclusive `End`) is produced
 * only at the edge.
 */

import { BLOCK_SIZE } from './units.js';

export interface ByteRange {
  start: number;
  /** Exclusive. */
  end: number;
}

/** A changed range between two snapshots: `clear` ranges read as zeros in the newer one. */
export interface DiffRange extends ByteRange {
  clear: boolean;
}

/**
 * Turns a sorted list of block indexes (with a per-block kind) into merged byte ranges, clipped
 * to `sizeBytes` (the last block of a disk may be partial).
 */
export function blocksToRanges(
  blocks: ReadonlyArray<{ block: number; clear: boolean }>,
  sizeBytes: number,
): DiffRange[] {
  const out: DiffRange[] = [];
  for (const { block, clear } of blocks) {
    const start = block * BLOCK_SIZE;
    const end = Math.min(start + BLOCK_SIZE, sizeBytes);
    if (start >= end) continue;
    const last = out[out.length - 1];
    if (last && last.end === start && last.clear === clear) last.end = end;
    else out.push({ start, end, clear });
  }
  return out;
}

/** Merges touching or overlapping ranges of a sorted list (kind-agnostic). */
export function mergeRanges(ranges: ReadonlyArray<ByteRange>): ByteRange[] {
  const out: ByteRange[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ start: r.start, end: r.end });
  }
  return out;
}

/** Clips ranges to [start, end). */
export function clipRanges<T extends ByteRange>(ranges: ReadonlyArray<T>, start: number, end: number): T[] {
  const out: T[] = [];
  for (const r of ranges) {
    const s = Math.max(r.start, start);
    const e = Math.min(r.end, end);
    if (s < e) out.push({ ...r, start: s, end: e });
  }
  return out;
}

/** Blocks overlapped by [offset, offset+length): `[first, last]` inclusive, or null for length 0. */
export function blockSpan(offset: number, length: number): { first: number; last: number } | null {
  if (length <= 0) return null;
  return { first: Math.floor(offset / BLOCK_SIZE), last: Math.floor((offset + length - 1) / BLOCK_SIZE) };
}
