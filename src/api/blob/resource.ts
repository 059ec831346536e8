/**
 * @module api/blob/resource
 * The bytes of the resource behind a grant, whatever it is: a snapshot (through the engine's
 * snapshot reads and page lists) or a disk (through a `DiskHandle`; page lists from the runs of
 * its allocation bitmap). `formats.ts` then wraps these bytes into a VHD, a VHDX or the raw upload area.
 *
 * `RangeCollector` is the one place ranges are merged and paged: adjacent ranges of the same kind
 * merge, and once `max` ranges are held the next unmergeable range ends the page, its start being
 * the continuation offset. Every page-list path (disk extents, VHD footer, VHDX file mapping,
 * diffs) goes through it, so pages never split a merged range.
 */

import type { ByteRange, DiffRange } from '../../core/ranges.js';
import { BLOCK_SIZE } from '../../core/units.js';
import type { DiskHandle } from '../../engine/disks.js';
import { sharedMemoryPool, sharedPool, type BufferPool } from '../../core/buffer-pool.js';
import type { Engine } from '../../engine/engine.js';
import type { RangePage, RangeQuery } from '../../engine/snapshots.js';
import type { BlobResource } from './auth.js';

/** The data of a disk or snapshot, as the blob formats see it. */
export interface ResourceData {
  /** Readable bytes: the disk size, or for an upload disk the upload size (footer included). */
  readonly size: number;
  /** Bytes of [offset, offset + length), unwritten parts as zeros; the range lies inside `size`. */
  read(offset: number, length: number): Promise<Buffer>;
  /** Merged ranges holding data inside [start, end), at most `maxRanges`; `next` continues. */
  allocated(q: RangeQuery): Promise<RangePage<ByteRange>>;
}

/** Bytes a disk extent scan (hydrating disks) covers per call (4096 blocks: a few ms, a small array). */
const EXTENT_WINDOW = 4096 * BLOCK_SIZE;

/** Opens the data of `resource`. A disk is opened through `engine.disks.open` (no attach). */
export async function openResourceData(engine: Engine, resource: BlobResource): Promise<ResourceData> {
  if (resource.kind === 'snapshot') {
    const s = resource.snapshot;
    return {
      size: s.sizeBytes,
      // shared memory: the chunk store checks the chunks' hashes on its worker threads in place
      read: (offset, length) => pooledRead(length, (into) => engine.snapshots.readInto(s, offset, into), sharedMemoryPool),
      allocated: (q) => engine.snapshots.allocatedRanges(s, q),
    };
  }
  const handle = await engine.disks.open(resource.disk.uniqueId, resource.disk);
  return {
    size: handle.sizeBytes,
    read: (offset, length) => pooledRead(length, (into) => handle.readInto(into, offset)),
    allocated: (q) => diskAllocated(handle, q),
  };
}

const pooled = new WeakMap<Buffer, { buf: Buffer; pool: BufferPool }>();

/**
 * Reads into a recycled buffer (fresh pages cost a page fault each on some VMs). The returned
 * buffer goes back to the pool through `releasePiece` once the socket took it; a piece that is
 * never released is simply left to the GC.
 */
async function pooledRead(length: number, fill: (into: Buffer) => Promise<void>, pool: BufferPool = sharedPool): Promise<Buffer> {
  const buf = pool.acquire(length);
  const view = buf.subarray(0, length);
  try {
    await fill(view);
  } catch (err) {
    pool.release(buf);
    throw err;
  }
  pooled.set(view, { buf, pool });
  return view;
}

/** Gives a piece read by `ResourceData.read` back to the pool (no-op for other buffers). */
export function releasePiece(piece: Buffer): void {
  const entry = pooled.get(piece);
  if (!entry) return;
  pooled.delete(piece);
  entry.pool.release(entry.buf);
}

/**
 * Allocated ranges of a disk: the runs of its allocation bitmap (`allocatedRuns`, cost follows
 * the runs); a disk still hydrating has base blocks outside the bitmap and is scanned from its
 * block extents window by window instead.
 */
async function diskAllocated(handle: DiskHandle, q: RangeQuery): Promise<RangePage<ByteRange>> {
  const start = Math.max(0, q.start ?? 0);
  const end = Math.min(handle.sizeBytes, q.end ?? handle.sizeBytes);
  const out = new RangeCollector(q.maxRanges ?? Infinity);
  if (start >= end) return out.page();
  const fromBlock = Math.floor(start / BLOCK_SIZE);
  const toBlock = Math.ceil(end / BLOCK_SIZE);
  const add = (first: number, last: number): boolean =>
    out.add({ start: Math.max(start, first * BLOCK_SIZE), end: Math.min(end, last * BLOCK_SIZE), clear: false });
  if (handle.allocatedRuns(fromBlock, toBlock, add)) return out.page();
  for (let pos = start; pos < end; ) {
    const windowEnd = Math.min(end, (Math.floor(pos / EXTENT_WINDOW) + 1) * EXTENT_WINDOW);
    for (const x of await handle.extents(pos, windowEnd - pos)) {
      if (!x.hole && !out.add({ start: x.offset, end: x.offset + x.length, clear: false })) return out.page();
    }
    pos = windowEnd;
  }
  return out.page();
}

/** Merges and pages ranges given in ascending order (see the module notes). */
export class RangeCollector {
  readonly ranges: DiffRange[] = [];
  private next: number | undefined;

  constructor(private readonly max: number) {}

  /** True when added or merged; false when the page is full (the range becomes `next`). */
  add(r: DiffRange): boolean {
    if (this.next !== undefined) return false;
    if (r.end <= r.start) return true;
    const last = this.ranges[this.ranges.length - 1];
    if (last && last.end === r.start && last.clear === r.clear) {
      last.end = r.end;
      return true;
    }
    if (this.ranges.length >= this.max) {
      this.next = r.start;
      return false;
    }
    this.ranges.push({ start: r.start, end: r.end, clear: r.clear });
    return true;
  }

  /** Ends the page early at `offset` (a source had more than fitted). */
  stopAt(offset: number): void {
    this.next ??= offset;
  }

  get full(): boolean {
    return this.next !== undefined;
  }

  page(): RangePage<DiffRange> {
    return this.next === undefined ? { ranges: this.ranges } : { ranges: this.ranges, next: this.next };
  }
}
