/**
 * @module engine/runtime
 * The live state of one disk on this node: its head volume, change tracking and the snapshots
 * still being copied out of it. Every block-level rule of the storage model is applied here.
 *
 * Per-block state (64 KiB blocks):
 *
 *   dirty      written or trimmed since the family's tracking point (the next snapshot's set)
 *   alloc      the head file holds meaningful bytes; clear = reads as zeros (trimmed or never written)
 *   hydrated   restored disks only: the head is authoritative; clear = bytes come from the base
 *   frozen[p]  pending snapshot p: blocks it still has to copy (those ≥ p.cursor are uncommitted)
 *   cow[p]     pending snapshot p: old bytes saved before an overwrite of an uncommitted frozen block
 *
 * Write of block b (the order is what makes crashes safe):
 *   1. (async) hydrate edge blocks that are partially written, and frozen-uncommitted blocks
 *      that are not hydrated, from the base
 *   2. (sync)  for every pending p with b frozen and uncommitted and not yet saved: cow[p] ← head[b]
 *   3. (sync)  dirty[b] ← 1          (before the data: a crash never hides a change)
 *   4. (sync)  head[b] ← data        (unallocated partial blocks are zero-filled first)
 *   5. (sync)  alloc[b] ← 1, hydrated[b] ← 1   (after the data: a crash never exposes stale bytes)
 * Steps 2–5 run without an await, so no other request observes a half-applied write.
 *
 * Invariant: if b is frozen and uncommitted in a pending p and cow[p] lacks b, then head[b] (as
 * read through alloc) is exactly p's content of b. Reads of pending snapshots rely on it.
 */

import type { Bitmap } from '../core/bitmap.js';
import { SnapdiskError } from '../core/errors.js';
import type { DiskRecord } from '../core/model.js';
import type { CowLog, PersistentBitmap, Volume } from '../core/ports.js';
import { BLOCK_SIZE, blockCount } from '../core/units.js';
import { FencedOut } from './leases.js';

export interface PendingPoint {
  familyId: string;
  seq: number;
  frozen: Bitmap;
  frozenName: string;
  /** Every frozen block below this index is committed to the chunk store and the catalog. */
  cursor: number;
  cow: CowLog;
  cowName: string;
}

/** Full-block contents of base blocks: a Buffer of BLOCK_SIZE bytes, or null for zeros. */
export type BaseFetcher = (blocks: ReadonlyArray<number>) => Promise<Map<number, Buffer | null>>;

export type PendingRead = 'ok' | 'committed' | 'base';

export interface Extent {
  offset: number;
  length: number;
  hole: boolean;
}

const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);

export const dirtyMapName = (seq: number): string => `dirty-${seq}`;
export const cowLogName = (seq: number): string => `cow-${seq}`;

export class DiskRuntime {
  disk: DiskRecord;
  readonly volume: Volume;
  readonly pending: PendingPoint[] = [];
  private size: number;
  private nblocks: number;
  private dirtyName: string;
  private dirty: PersistentBitmap;
  private alloc: PersistentBitmap;
  private hydrated: PersistentBitmap | null;
  private gate: Promise<void> | null = null;
  private readonly scratch = Buffer.allocUnsafe(BLOCK_SIZE);

  /** Epoch of this node's lease on the disk (fencing of catalog commits). */
  leaseEpoch = 0;

  constructor(
    disk: DiskRecord,
    volume: Volume,
    private readonly fetchBase: BaseFetcher,
    volumeSize: number,
    private readonly serving: () => boolean = () => true,
  ) {
    this.disk = disk;
    this.volume = volume;
    this.size = volumeSize;
    this.nblocks = blockCount(volumeSize);
    this.dirtyName = dirtyMapName(disk.trackingPoint);
    this.dirty = volume.bitmap(this.dirtyName, this.nblocks);
    this.alloc = volume.bitmap('alloc', this.nblocks);
    this.hydrated = disk.hydration === 'hydrating' ? volume.bitmap('hydrated', this.nblocks) : null;
    if (!this.hydrated && volume.hasBitmap('hydrated')) volume.dropBitmap('hydrated'); // finished before a crash
  }

  get sizeBytes(): number {
    return this.size;
  }

  get blocks(): number {
    return this.nblocks;
  }

  get dirtyCount(): number {
    return this.dirty.bits.count;
  }

  get isHydrating(): boolean {
    return this.hydrated !== null;
  }

  isHydrated(block: number): boolean {
    return this.hydrated === null || this.hydrated.bits.get(block);
  }

  hydratedCount(): number {
    return this.hydrated?.bits.count ?? this.nblocks;
  }

  /** Marks every block changed (conservative rescan after a power loss). */
  markAllDirty(): void {
    this.dirty.setRange(0, this.nblocks);
  }

  /** After the rescan: makes it durable, then the volume stops reporting the reboot. */
  async acknowledgeReboot(): Promise<void> {
    this.assertServing();
    await this.volume.acknowledgeReboot();
  }

  // -- reads --------------------------------------------------------------------------------------

  async read(offset: number, length: number): Promise<Buffer> {
    this.checkRange(offset, length); // before allocating: a bad length is a coded error
    const out = Buffer.allocUnsafe(length);
    await this.readInto(out, offset);
    return out;
  }

  /** Fills `out` with the disk's bytes at `offset` (no allocation on the head path). */
  async readInto(out: Buffer, offset: number): Promise<void> {
    const length = out.length;
    this.checkRange(offset, length);
    const end = offset + length;
    const fromBase: number[] = [];
    let pos = offset;
    while (pos < end) {
      const b = Math.floor(pos / BLOCK_SIZE);
      const blockEnd = Math.min((b + 1) * BLOCK_SIZE, end);
      if (!this.isHydrated(b)) {
        fromBase.push(b);
        pos = blockEnd;
        continue;
      }
      if (!this.alloc.bits.get(b)) {
        out.fill(0, pos - offset, blockEnd - offset);
        pos = blockEnd;
        continue;
      }
      let runEnd = blockEnd;
      let next = b + 1;
      while (runEnd < end && this.alloc.bits.get(next) && this.isHydrated(next)) {
        runEnd = Math.min((next + 1) * BLOCK_SIZE, end);
        next++;
      }
      this.volume.read(out.subarray(pos - offset, runEnd - offset), pos);
      pos = runEnd;
    }
    if (fromBase.length > 0) await this.fillFromBase(out, offset, fromBase);
  }

  private async fillFromBase(out: Buffer, offset: number, blocks: number[]): Promise<void> {
    const contents = await this.fetchBase(blocks);
    const end = offset + out.length;
    for (const b of blocks) {
      const start = Math.max(b * BLOCK_SIZE, offset);
      const stop = Math.min((b + 1) * BLOCK_SIZE, end);
      if (this.isHydrated(b)) {
        // written or hydrated while we fetched: the head is newer
        this.readHeadRange(out.subarray(start - offset, stop - offset), start, b);
        continue;
      }
      const data = contents.get(b) ?? null;
      if (data) data.copy(out, start - offset, start - b * BLOCK_SIZE, stop - b * BLOCK_SIZE);
      else out.fill(0, start - offset, stop - offset);
      this.hydrateBlock(b, data);
    }
  }

  private readHeadRange(target: Buffer, offset: number, block: number): void {
    if (this.alloc.bits.get(block)) this.volume.read(target, offset);
    else target.fill(0);
  }

  /** Reads one whole block of the head as the disk shows it (hydrated blocks only). */
  private readHeadBlock(block: number, target: Buffer): void {
    if (!this.alloc.bits.get(block)) {
      target.fill(0);
      return;
    }
    const start = block * BLOCK_SIZE;
    const len = Math.min(BLOCK_SIZE, this.size - start);
    this.volume.read(target.subarray(0, len), start);
    if (len < BLOCK_SIZE) target.fill(0, len);
  }

  /** Installs base content into the head (background hydration and hydrate-on-read). */
  hydrateBlock(block: number, data: Buffer | null): boolean {
    // not serving (lease lapsed): the head may be another node's now, never write into it
    if (this.closed || !this.serving() || this.isHydrated(block) || !this.hydrated) return false;
    if (data) {
      const start = block * BLOCK_SIZE;
      const len = Math.min(BLOCK_SIZE, this.size - start);
      this.volume.write(len === BLOCK_SIZE ? data : data.subarray(0, len), start);
      this.alloc.setRange(block, block + 1);
    } else {
      this.alloc.clearRange(block, block + 1);
    }
    this.hydrated.setRange(block, block + 1);
    return true;
  }

  /**
   * Installs base blocks read into one buffer (block `blocks[i]` at `buf[i * BLOCK_SIZE]`):
   * runs of consecutive blocks still not hydrated are written with one write each, straight
   * from the buffer. Throws FencedOut once this node's lease is due (not serving): the pass
   * stops and is handed back, it never goes on as if those blocks had been installed.
   */
  hydrateFrom(blocks: ReadonlyArray<number>, buf: Buffer, hasData: ReadonlyArray<boolean>): number {
    if (this.closed || !this.hydrated) return 0;
    if (!this.serving()) throw new FencedOut(`disk ${this.disk.name} is not served by this node now (its lease is due for renewal): hydration stops here`);
    let done = 0;
    let i = 0;
    while (i < blocks.length) {
      const b = blocks[i] ?? 0;
      if (this.isHydrated(b)) {
        i++;
        continue;
      }
      let j = i + 1;
      while (j < blocks.length && blocks[j] === (blocks[j - 1] ?? -2) + 1 && !this.isHydrated(blocks[j] ?? 0) && hasData[j] === hasData[i]) j++;
      const end = b + (j - i);
      if (hasData[i]) {
        const len = Math.min((j - i) * BLOCK_SIZE, this.size - b * BLOCK_SIZE);
        this.volume.write(buf.subarray(i * BLOCK_SIZE, i * BLOCK_SIZE + len), b * BLOCK_SIZE);
        this.alloc.setRange(b, end);
      } else {
        this.alloc.clearRange(b, end);
      }
      this.hydrated.setRange(b, end);
      done += j - i;
      i = j;
    }
    return done;
  }

  /** Ends hydration: every block is authoritative in the head from now on. */
  finishHydration(): void {
    if (!this.hydrated) return;
    if (this.hydrated.bits.count < this.nblocks) {
      // blocks never hydrated were zero in the base: make sure they read as zeros
      for (let b = this.hydrated.bits.nextClear(0); b !== -1; b = this.hydrated.bits.nextClear(b + 1)) {
        this.alloc.clearRange(b, b + 1);
      }
    }
    this.hydrated = null;
    this.volume.dropBitmap('hydrated');
  }

  // -- writes -------------------------------------------------------------------------------------

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.checkRange(offset, data.length);
    if (data.length === 0) return;
    this.assertWritable();
    // the last check and the write run in one turn (see `prepare`)
    for (let wait = this.prepare(offset, data.length); wait; wait = this.prepare(offset, data.length)) {
      await wait;
      this.recheck(offset, data.length);
    }
    this.applyWrite(offset, data);
  }

  /** Trim / write-zeroes: the range reads as zeros afterwards. */
  async zero(offset: number, length: number): Promise<void> {
    this.checkRange(offset, length);
    if (length === 0) return;
    this.assertWritable();
    const firstFull = Math.ceil(offset / BLOCK_SIZE);
    const endFull = Math.floor((offset + length) / BLOCK_SIZE);
    for (let wait = this.prepare(offset, length); wait; wait = this.prepare(offset, length)) {
      await wait;
      this.recheck(offset, length);
    }
    if (firstFull >= endFull) {
      this.applyWrite(offset, length <= BLOCK_SIZE ? ZERO_BLOCK.subarray(0, length) : Buffer.alloc(length));
      return;
    }
    const headLen = firstFull * BLOCK_SIZE - offset;
    const tailStart = endFull * BLOCK_SIZE;
    if (headLen > 0) this.applyWrite(offset, ZERO_BLOCK.subarray(0, headLen));
    if (tailStart < offset + length) this.applyWrite(tailStart, ZERO_BLOCK.subarray(0, offset + length - tailStart));
    this.applyZeroBlocks(firstFull, endFull);
  }

  /** Durability barrier; a closed runtime's volume refuses it (its descriptors may be reused). */
  async flush(): Promise<void> {
    await this.volume.flush();
  }

  /** After a wait: the disk may have been closed, fenced, shrunk or given a read SAS meanwhile. */
  private recheck(offset: number, length: number): void {
    this.checkRange(offset, length);
    this.assertWritable();
  }

  /**
   * What a write must wait for, or null when it can be applied now: a freeze to finish, or the
   * hydration of partially covered blocks that are not hydrated and of frozen-uncommitted blocks
   * that are not (only after a crash). Callers apply the write in the same turn as the check that
   * returned null, with no await in between: a freeze can never slip between "the gate is open"
   * and the dirty bit, so a write acknowledged before a snapshot request is in that snapshot and
   * none lands in a change set that was already frozen.
   */
  private prepare(offset: number, length: number): Promise<void> | null {
    if (this.gate) return this.gate;
    if (!this.hydrated) return null;
    const need = this.blocksToHydrate(offset, length);
    if (need.length === 0) return null;
    return this.fetchBase(need).then((contents) => {
      for (const b of need) this.hydrateBlock(b, contents.get(b) ?? null);
    });
  }

  private blocksToHydrate(offset: number, length: number): number[] {
    const first = Math.floor(offset / BLOCK_SIZE);
    const last = Math.floor((offset + length - 1) / BLOCK_SIZE);
    const need = new Set<number>();
    if (!this.isHydrated(first) && offset % BLOCK_SIZE !== 0) need.add(first);
    if (!this.isHydrated(last) && (offset + length) % BLOCK_SIZE !== 0 && offset + length !== this.size) need.add(last);
    if (first === last && !this.isHydrated(first) && length < BLOCK_SIZE) need.add(first);
    for (const p of this.pending) {
      for (let b = p.frozen.nextSet(Math.max(first, p.cursor)); b !== -1 && b <= last; b = p.frozen.nextSet(b + 1)) {
        if (!this.isHydrated(b)) need.add(b);
      }
    }
    return [...need].sort((a, b) => a - b);
  }

  private applyWrite(offset: number, data: Uint8Array): void {
    const first = Math.floor(offset / BLOCK_SIZE);
    const last = Math.floor((offset + data.length - 1) / BLOCK_SIZE);
    this.saveOldBytes(first, last);
    this.dirty.setRange(first, last + 1);
    this.zeroFillEdge(first, offset, data.length);
    if (last !== first) this.zeroFillEdge(last, offset, data.length);
    this.volume.write(data, offset);
    this.alloc.setRange(first, last + 1);
    this.hydrated?.setRange(first, last + 1);
  }

  /** An unallocated block that is only partly written gets zeros around the new bytes. */
  private zeroFillEdge(block: number, offset: number, length: number): void {
    if (this.alloc.bits.get(block)) return;
    const start = block * BLOCK_SIZE;
    const end = Math.min(start + BLOCK_SIZE, this.size);
    if (offset <= start && offset + length >= end) return;
    this.volume.write(ZERO_BLOCK.subarray(0, end - start), start);
  }

  private applyZeroBlocks(first: number, end: number): void {
    this.saveOldBytes(first, end - 1);
    // only blocks whose content changes become dirty: allocated ones, and base ones not hydrated
    for (let b = this.alloc.bits.nextSet(first); b !== -1 && b < end; b = this.alloc.bits.nextSet(b + 1)) {
      const runEnd = Math.min(end, nextClearOr(this.alloc.bits, b + 1, end));
      this.dirty.setRange(b, runEnd);
      b = runEnd - 1;
    }
    if (this.hydrated) {
      const h = this.hydrated.bits;
      for (let b = h.nextClear(first); b !== -1 && b < end; b = h.nextClear(b + 1)) this.dirty.setRange(b, b + 1);
      this.hydrated.setRange(first, end);
    }
    this.alloc.clearRange(first, end);
  }

  /** Copy-on-write for every pending snapshot that still needs the current bytes of [first, last]. */
  private saveOldBytes(first: number, last: number): void {
    for (const p of this.pending) {
      if (p.cursor > last) continue;
      for (let b = p.frozen.nextSet(Math.max(first, p.cursor)); b !== -1 && b <= last; b = p.frozen.nextSet(b + 1)) {
        if (p.cow.has(b)) continue;
        this.readHeadBlock(b, this.scratch);
        p.cow.append(b, this.scratch);
      }
    }
  }

  // -- pending snapshots ----------------------------------------------------------------------------

  /**
   * Reads block `block` as pending point `seq` saw it. 'committed': the block is in the catalog now
   * (or the point finished); 'base': it must be read from the disk's base (crash leftovers only).
   */
  readPending(seq: number, block: number, target: Buffer): PendingRead {
    const p = this.pending.find((q) => q.seq === seq);
    if (!p || block < p.cursor || !p.frozen.get(block)) return 'committed';
    if (p.cow.has(block)) {
      p.cow.read(block, target);
      return 'ok';
    }
    if (!this.isHydrated(block)) return 'base';
    this.readHeadBlock(block, target);
    return 'ok';
  }

  /** The pending point of `familyId` with the highest seq ≤ `seq` whose frozen set holds `block`. */
  pendingFor(familyId: string, seq: number, block: number): PendingPoint | null {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const p = this.pending[i];
      if (!p || p.familyId !== familyId || p.seq > seq) continue;
      if (p.frozen.get(block)) return block >= p.cursor ? p : null;
    }
    return null;
  }

  /**
   * Freezes the change set for a new point: closes the gate to writes, runs `commit` (the catalog
   * transaction that records the point), then swaps the tracking bitmap. On failure nothing
   * changes. Only one freeze runs at a time.
   */
  async freeze<T>(
    familyId: string,
    seq: number,
    commit: (frozen: { name: string; count: number }) => Promise<T>,
  ): Promise<T> {
    while (this.gate) await this.gate;
    let open: () => void = () => undefined;
    this.gate = new Promise<void>((resolve) => (open = resolve));
    const nextName = dirtyMapName(seq);
    try {
      if (this.volume.hasBitmap(nextName)) this.volume.dropBitmap(nextName);
      const next = this.volume.bitmap(nextName, this.nblocks);
      const frozen = { name: this.dirtyName, count: this.dirty.bits.count };
      let result: T;
      try {
        result = await commit(frozen);
      } catch (err) {
        this.volume.dropBitmap(nextName);
        throw err;
      }
      if (frozen.count > 0) {
        this.pending.push({
          familyId,
          seq,
          frozen: this.dirty.bits,
          frozenName: frozen.name,
          cursor: 0,
          cow: this.volume.cowLog(cowLogName(seq)),
          cowName: cowLogName(seq),
        });
      } else {
        this.volume.dropBitmap(frozen.name);
      }
      this.dirty = next;
      this.dirtyName = nextName;
      return result;
    } finally {
      this.gate = null;
      open();
    }
  }

  /** Re-attaches a point that was still copying when the process stopped. */
  restorePending(familyId: string, seq: number, frozenName: string, frozenLength: number, cursor: number): void {
    const frozen = this.volume.bitmap(frozenName, frozenLength).bits;
    this.pending.push({ familyId, seq, frozen, frozenName, cursor, cow: this.volume.cowLog(cowLogName(seq)), cowName: cowLogName(seq) });
    this.pending.sort((a, b) => a.seq - b.seq);
  }

  /** Drops a pending point's frozen set and cow log once it is complete. */
  completePending(seq: number): void {
    const i = this.pending.findIndex((p) => p.seq === seq);
    const p = this.pending[i];
    if (!p) return;
    this.pending.splice(i, 1);
    this.volume.dropBitmap(p.frozenName);
    this.volume.dropCowLog(p.cowName);
  }

  /** A failed point gives its unfinished changes back to the tracking set, so none is lost. */
  failPending(seq: number): void {
    this.returnPending(seq);
    this.completePending(seq);
  }

  /**
   * Marks every frozen block of pending point `seq` changed again, keeping the point (the catalog
   * records its failure next, then `completePending` drops it): a crash in between leaves a
   * superset of the changes tracked, never less.
   */
  returnPending(seq: number): void {
    const p = this.pending.find((q) => q.seq === seq);
    if (!p) return;
    for (let b = p.frozen.nextSet(0); b !== -1; ) {
      const end = nextClearOr(p.frozen, b + 1, p.frozen.length);
      this.dirty.setRange(b, end);
      b = p.frozen.nextSet(end);
    }
  }

  // -- size and status ----------------------------------------------------------------------------

  resize(sizeBytes: number): void {
    if (sizeBytes < this.size) throw new SnapdiskError('OperationNotAllowed', 'a disk can only grow');
    if (sizeBytes === this.size) return;
    this.volume.resize(sizeBytes);
    this.size = sizeBytes;
    this.nblocks = blockCount(sizeBytes);
    this.dirty = this.volume.bitmap(this.dirtyName, this.nblocks);
    this.alloc = this.volume.bitmap('alloc', this.nblocks);
    if (this.hydrated) {
      const old = this.hydrated.bits.length;
      this.hydrated = this.volume.bitmap('hydrated', this.nblocks);
      // the new area has no base bytes: it is authoritative (zeros) from the start
      this.hydrated.setRange(old, this.nblocks);
    }
  }

  /** Shrinks the visible size (an upload disk drops its VHD footer when finalised). */
  setVisibleSize(sizeBytes: number): void {
    this.size = sizeBytes;
    this.nblocks = blockCount(sizeBytes);
    this.dirty.clearRange(this.nblocks, this.dirty.bits.length);
    this.alloc.clearRange(this.nblocks, this.alloc.bits.length);
  }

  /**
   * Allocation of [offset, offset+length) at block granularity. Blocks of the base that are not
   * hydrated yet are asked of `baseHoles` (true = zeros in the base).
   */
  async extents(
    offset: number,
    length: number,
    baseHoles: (blocks: number[]) => Promise<Map<number, boolean>>,
  ): Promise<Extent[]> {
    this.checkRange(offset, length);
    const end = offset + length;
    const first = Math.floor(offset / BLOCK_SIZE);
    const last = Math.floor((end - 1) / BLOCK_SIZE);
    const unknown: number[] = [];
    for (let b = first; b <= last; b++) if (!this.isHydrated(b)) unknown.push(b);
    const base = unknown.length > 0 ? await baseHoles(unknown) : new Map<number, boolean>();
    const out: Extent[] = [];
    for (let b = first; b <= last; b++) {
      const hole = this.isHydrated(b) ? !this.alloc.bits.get(b) : (base.get(b) ?? false);
      const s = Math.max(b * BLOCK_SIZE, offset);
      const e = Math.min((b + 1) * BLOCK_SIZE, end);
      const prev = out[out.length - 1];
      if (prev && prev.hole === hole) prev.length += e - s;
      else out.push({ offset: s, length: e - s, hole });
    }
    return out;
  }

  /**
   * Runs of allocated blocks in [fromBlock, toBlock), in order, each given to `fn(start, end)`
   * (block indexes, end exclusive) until it returns false. Walks the allocation bitmap with
   * nextSet/nextClear, so the cost follows the runs, not the disk size. Not for a disk still
   * hydrating (its base blocks are not in the bitmap): false then, and nothing is called.
   */
  allocatedRuns(fromBlock: number, toBlock: number, fn: (start: number, end: number) => boolean): boolean {
    this.assertServing();
    if (this.hydrated) return false;
    const bits = this.alloc.bits;
    const end = Math.min(toBlock, this.nblocks);
    for (let b = fromBlock < end ? bits.nextSet(Math.max(0, fromBlock)) : -1; b !== -1 && b < end; ) {
      const stop = Math.min(end, nextClearOr(bits, b + 1, end));
      if (!fn(b, stop) || stop >= end) break;
      b = bits.nextSet(stop);
    }
    return true;
  }

  /** True once the runtime was closed (disk deleted or engine stopped): background work stops. */
  closed = false;

  close(): void {
    this.closed = true;
    this.volume.close();
  }

  /** Refuses I/O once this node's lease on the disk lapsed (another node may own it now). */
  private assertServing(): void {
    if (this.closed || !this.serving()) {
      throw new SnapdiskError('Unavailable', `disk ${this.disk.name} is not served by this node any more (its lease lapsed)`, {
        hint: 'Retry: the request will reach the node that serves it now.',
      });
    }
  }

  private checkRange(offset: number, length: number): void {
    this.assertServing();
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new SnapdiskError('OutOfRange', `invalid range: offset ${offset}, length ${length}`);
    }
    if (offset + length > this.size) {
      throw new SnapdiskError(
        'OutOfRange',
        `range ${offset}+${length} is past the end of disk ${this.disk.name} (${this.size} bytes)`,
      );
    }
  }

  private assertWritable(): void {
    if (this.disk.diskState === 'ActiveSAS' || this.disk.diskState === 'ActiveSASFrozen') {
      throw new SnapdiskError('OperationNotAllowed', `disk ${this.disk.name} has an active read SAS and cannot be written`);
    }
  }
}

function nextClearOr(bits: Bitmap, from: number, fallback: number): number {
  const n = bits.nextClear(from);
  return n === -1 ? fallback : n;
}
