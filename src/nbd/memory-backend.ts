/**
 * @module nbd/memory-backend
 * An in-memory `NbdBackend` for tests and benchmarks. Each export is a sparse byte array stored in
 * 4 MiB segments allocated on first write, with allocation tracked per 4 KiB block so that block
 * status reports real holes: a block is allocated once any byte of it is written, and becomes a
 * hole again only when a trim or write-zeroes covers all of it. Trimmed segments are zeroed but
 * kept: `qemu-img convert` and `nbdcopy` start by zeroing the whole target, and freeing the
 * memory there would make every following write fault fresh pages in (very slow on a VM).
 *
 * Reads inside one segment are zero-copy: they return a view of the segment and mark it lent; the
 * next mutation of a lent segment first replaces it with a private copy (copy-on-write), so a
 * returned buffer never changes afterwards. This keeps the benchmark measuring the NBD server
 * rather than page faults of a fresh buffer per read. Callers must not modify returned buffers.
 *
 * Test hooks: `hooks.beforeOp` runs before every I/O call (delay it, or throw to inject a failure),
 * `refuse(name, message)` makes `open` reject with `OperationNotAllowed`, and each disk counts
 * opens, closes, flushes and FUA writes.
 *
 * @example
 * ```ts
 * const backend = new MemoryNbdBackend();
 * const disk = backend.addExport({ name: '/subscriptions/s/.../disks/d1', size: 64 * 1024 * 1024 });
 * disk.writeSync(0, Buffer.from('hello'));
 * ```
 */

import { SnapdiskError } from '../core/errors.js';
import type { NbdBackend, NbdExport, NbdExportInfo, NbdExtent, NbdOpenOptions } from './backend.js';
import { sameExport } from './export-name.js';

export const MEMORY_BLOCK_SIZE = 4096;
const SEGMENT_SIZE = 4 * 1024 * 1024;

export type MemoryOp = 'read' | 'write' | 'flush' | 'trim' | 'writeZeroes' | 'blockStatus';

export interface MemoryDiskHooks {
  /** Awaited before each I/O call; a rejection fails that call. */
  beforeOp?: (op: MemoryOp, offset: number, length: number) => Promise<void> | void;
  /** Answers `NbdExport.zeroIsFast` (absent: always fast). */
  zeroIsFast?: (offset: number, length: number) => boolean;
}

export interface MemoryExportOptions {
  name: string;
  size: number;
  readOnly?: boolean;
  description?: string;
  /** Advertise NBD_FLAG_CAN_MULTI_CONN for a read-write export (safe here: one shared store). */
  multiConn?: boolean;
  /** Set to false to make FAST_ZERO requests fail with ENOTSUP. */
  fastZero?: boolean;
  /** Most extents one `blockStatus` call returns (to exercise callers' continuation logic). */
  maxExtentsPerCall?: number;
  hooks?: MemoryDiskHooks;
}

/** One export's bytes and allocation map. */
export class MemoryDisk {
  readonly name: string;
  readonly size: number;
  readonly readOnly: boolean;
  readonly description: string | undefined;
  readonly multiConn: boolean | undefined;
  readonly fastZero: boolean | undefined;
  hooks: MemoryDiskHooks;
  /** Open connections right now, and totals since creation. */
  openCount = 0;
  opens = 0;
  closes = 0;
  flushes = 0;
  fuaWrites = 0;
  /** `client` of every open, in order. */
  readonly clients: string[] = [];
  private readonly segments = new Map<number, Buffer>();
  /** Segments some caller holds a view of: copy before mutating. */
  private readonly lent = new Set<number>();
  private readonly allocated: Uint8Array;
  private readonly maxExtentsPerCall: number;

  constructor(opts: MemoryExportOptions) {
    if (!Number.isSafeInteger(opts.size) || opts.size < 0) throw new RangeError(`bad export size ${opts.size}`);
    this.name = opts.name;
    this.size = opts.size;
    this.readOnly = opts.readOnly ?? false;
    this.description = opts.description;
    this.multiConn = opts.multiConn;
    this.fastZero = opts.fastZero;
    this.hooks = opts.hooks ?? {};
    this.maxExtentsPerCall = opts.maxExtentsPerCall ?? Number.MAX_SAFE_INTEGER;
    this.allocated = new Uint8Array(Math.ceil(opts.size / MEMORY_BLOCK_SIZE));
  }

  /** The bytes of [offset, offset+length) (holes read as zeros); the result never changes. */
  readSync(offset: number, length: number): Buffer {
    this.checkRange(offset, length);
    const index = Math.floor(offset / SEGMENT_SIZE);
    const segOff = offset - index * SEGMENT_SIZE;
    if (segOff + length <= SEGMENT_SIZE) {
      const seg = this.segments.get(index);
      if (seg === undefined) return Buffer.alloc(length);
      this.lent.add(index);
      return seg.subarray(segOff, segOff + length);
    }
    const out = Buffer.allocUnsafe(length);
    this.eachSegment(offset, length, (seg, segOff, outOff, n) => {
      if (seg === undefined) out.fill(0, outOff, outOff + n);
      else seg.copy(out, outOff, segOff, segOff + n);
    });
    return out;
  }

  /** Stores data and marks the blocks it touches allocated. */
  writeSync(offset: number, data: Buffer): void {
    this.checkRange(offset, data.length);
    this.eachSegment(offset, data.length, (_seg, segOff, dataOff, n, index) => {
      data.copy(this.segment(index), segOff, dataOff, dataOff + n);
    });
    this.markAllocated(offset, data.length);
  }

  /** Zeroes a range; fully covered blocks become holes unless `keepAllocated`. */
  zeroSync(offset: number, length: number, keepAllocated: boolean): void {
    this.checkRange(offset, length);
    this.eachSegment(offset, length, (seg, segOff, _o, n, index) => {
      if (seg !== undefined) this.segment(index).fill(0, segOff, segOff + n);
    });
    if (keepAllocated) {
      this.markAllocated(offset, length);
      return;
    }
    const first = Math.ceil(offset / MEMORY_BLOCK_SIZE);
    const endBlock = offset + length === this.size ? this.allocated.length : Math.floor((offset + length) / MEMORY_BLOCK_SIZE);
    if (endBlock > first) this.allocated.fill(0, first, endBlock);
  }

  /** Allocation of [offset, offset+length) as merged extents (at most `maxExtentsPerCall`). */
  extents(offset: number, length: number): NbdExtent[] {
    this.checkRange(offset, length);
    const out: NbdExtent[] = [];
    const end = offset + length;
    let pos = offset;
    while (pos < end && out.length < this.maxExtentsPerCall) {
      const hole = this.allocated[Math.floor(pos / MEMORY_BLOCK_SIZE)] === 0;
      let block = Math.floor(pos / MEMORY_BLOCK_SIZE) + 1;
      while (block * MEMORY_BLOCK_SIZE < end && (this.allocated[block] === 0) === hole) block++;
      const next = Math.min(end, block * MEMORY_BLOCK_SIZE);
      out.push({ length: next - pos, hole });
      pos = next;
    }
    return out;
  }

  /** Bytes in allocated blocks. */
  get allocatedBytes(): number {
    let n = 0;
    for (const a of this.allocated) n += a;
    return Math.min(this.size, n * MEMORY_BLOCK_SIZE);
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new SnapdiskError('OutOfRange', `range ${offset}+${length} is outside export ${this.name} (${this.size} bytes)`);
    }
  }

  /** A segment that may be mutated: created on first use, copied if a view of it was lent. */
  private segment(index: number): Buffer {
    let seg = this.segments.get(index);
    if (seg === undefined) {
      seg = Buffer.alloc(SEGMENT_SIZE);
      this.segments.set(index, seg);
    } else if (this.lent.delete(index)) {
      seg = Buffer.from(seg);
      this.segments.set(index, seg);
    }
    return seg;
  }

  private eachSegment(
    offset: number,
    length: number,
    fn: (seg: Buffer | undefined, segOff: number, bufOff: number, n: number, index: number) => void,
  ): void {
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const index = Math.floor(pos / SEGMENT_SIZE);
      const segOff = pos - index * SEGMENT_SIZE;
      const n = Math.min(SEGMENT_SIZE - segOff, length - done);
      fn(this.segments.get(index), segOff, done, n, index);
      done += n;
    }
  }

  private markAllocated(offset: number, length: number): void {
    if (length === 0) return;
    const first = Math.floor(offset / MEMORY_BLOCK_SIZE);
    const last = Math.floor((offset + length - 1) / MEMORY_BLOCK_SIZE);
    this.allocated.fill(1, first, last + 1);
  }
}

/** The per-connection handle `open` returns. */
class MemoryExport implements NbdExport {
  private closed = false;

  constructor(private readonly disk: MemoryDisk) {}

  get size(): number {
    return this.disk.size;
  }
  get readOnly(): boolean {
    return this.disk.readOnly;
  }
  get multiConn(): boolean | undefined {
    return this.disk.multiConn;
  }
  get fastZero(): boolean | undefined {
    return this.disk.fastZero;
  }

  zeroIsFast(offset: number, length: number): boolean {
    return this.disk.hooks.zeroIsFast?.(offset, length) ?? true;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    await this.before('read', offset, length);
    return this.disk.readSync(offset, length);
  }

  async write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    await this.before('write', offset, data.length);
    this.writable();
    this.disk.writeSync(offset, data);
    if (fua) this.disk.fuaWrites++;
  }

  async flush(): Promise<void> {
    await this.before('flush', 0, 0);
    this.disk.flushes++;
  }

  async trim(offset: number, length: number, fua: boolean): Promise<void> {
    await this.before('trim', offset, length);
    this.writable();
    this.disk.zeroSync(offset, length, false);
    if (fua) this.disk.fuaWrites++;
  }

  async writeZeroes(offset: number, length: number, fua: boolean, noHole: boolean): Promise<void> {
    await this.before('writeZeroes', offset, length);
    this.writable();
    this.disk.zeroSync(offset, length, noHole);
    if (fua) this.disk.fuaWrites++;
  }

  async blockStatus(offset: number, length: number): Promise<NbdExtent[]> {
    await this.before('blockStatus', offset, length);
    return this.disk.extents(offset, length);
  }

  async close(): Promise<void> {
    if (this.closed) throw new Error(`export ${this.disk.name} closed twice`);
    this.closed = true;
    this.disk.openCount--;
    this.disk.closes++;
  }

  private async before(op: MemoryOp, offset: number, length: number): Promise<void> {
    if (this.closed) throw new SnapdiskError('InternalError', `export ${this.disk.name} used after close`);
    const hook = this.disk.hooks.beforeOp;
    if (hook !== undefined) await hook(op, offset, length);
  }

  private writable(): void {
    if (this.disk.readOnly) throw new SnapdiskError('OperationNotAllowed', `export ${this.disk.name} is read-only`);
  }
}

export class MemoryNbdBackend implements NbdBackend {
  private readonly disks: MemoryDisk[] = [];
  private readonly refusals = new Map<MemoryDisk, string>();
  /** Every name `open` was asked for, in order (to check what the server passes on). */
  readonly openedNames: string[] = [];

  addExport(opts: MemoryExportOptions): MemoryDisk {
    if (this.find(opts.name) !== undefined) throw new Error(`export ${opts.name} already exists`);
    const disk = new MemoryDisk(opts);
    this.disks.push(disk);
    return disk;
  }

  /** Finds an export by name (ARM-style: case-insensitive, with or without the leading slash). */
  find(name: string): MemoryDisk | undefined {
    return this.disks.find((d) => sameExport(d.name, name));
  }

  /** Makes `open` of this export fail with OperationNotAllowed and `message` (undefined: allow). */
  refuse(name: string, message: string | undefined): void {
    const disk = this.find(name);
    if (disk === undefined) throw new Error(`no export ${name}`);
    if (message === undefined) this.refusals.delete(disk);
    else this.refusals.set(disk, message);
  }

  async list(): Promise<NbdExportInfo[]> {
    return this.disks.map((d) => ({
      name: d.name,
      size: d.size,
      readOnly: d.readOnly,
      ...(d.multiConn === undefined ? {} : { multiConn: d.multiConn }),
      ...(d.description === undefined ? {} : { description: d.description }),
    }));
  }

  async open(name: string, options: NbdOpenOptions): Promise<NbdExport> {
    this.openedNames.push(name);
    const disk = this.find(name);
    if (disk === undefined) throw new SnapdiskError('ResourceNotFound', `The NBD export '${name}' was not found.`);
    const refusal = this.refusals.get(disk);
    if (refusal !== undefined) throw new SnapdiskError('OperationNotAllowed', refusal);
    disk.openCount++;
    disk.opens++;
    disk.clients.push(options.client);
    return new MemoryExport(disk);
  }
}
