/**
 * @module volumes/file/file-volume-store
 * Disk heads as sparse files on the local filesystem, one directory per volume:
 *
 *   DATA/volumes/<id>/head.<n>.img    the disk bytes in 1 TiB segments (sparse; never-written
 *                                     ranges are holes; ext4 files stop at 16 TiB, disks at 64 TiB)
 *                    /<name>.bitmap   persistent bitmaps (change tracking, allocation, hydration)
 *                    /<name>.cow      copy-on-write logs of pending snapshots
 *                    /meta.json       boot id and clean-shutdown flag
 *
 * Data methods are synchronous (pread/pwrite on page-cached files): the engine relies on that to
 * make "save old bytes, mark dirty, write" atomic with respect to other requests. Every change is
 * handed to the kernel before the method returns, so a killed process loses nothing; `flush`
 * fdatasyncs everything (and the directory, when files were created or removed since) for
 * power-loss durability. A volume not closed cleanly and reopened after a reboot reports
 * `reopenedAfterReboot` so the engine can rescan conservatively; meta.json keeps the old boot id
 * until the engine says the rescan is durable (`acknowledgeReboot`), so a crash before that
 * reports it again on the next open.
 *
 * meta.json is replaced atomically (temporary file, fsync, rename, directory fsync):
 *   open, clean before      → {boot: this one, open: true}   (durable before any write lands)
 *   open after a reboot     → left as it is                   (old boot, open)
 *   acknowledgeReboot       → flush, then {boot: this one, open: true}
 *   close                   → fsync everything, then {boot: this one, open: false}
 *                             (not while a reboot is unacknowledged: the next open rescans)
 */

import {
  closeSync,
  existsSync,
  fdatasync,
  fstatSync,
  fsync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
  fsyncSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { Bitmap } from '../../core/bitmap.js';
import { SnapdiskError } from '../../core/errors.js';
import type { CowLog, PersistentBitmap, Volume, VolumeStore } from '../../core/ports.js';
import { BLOCK_SIZE } from '../../core/units.js';

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

const safeId = (id: string): string => {
  if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new SnapdiskError('InvalidParameter', `invalid volume id ${JSON.stringify(id)}`);
  return id;
};

export class FileVolumeStore implements VolumeStore {
  private readonly open_ = new Map<string, FileVolume>();

  /** `boot`: the machine's boot id (tests pass one to play a reboot). */
  constructor(
    readonly root: string,
    private readonly boot = bootId(),
  ) {
    mkdirSync(root, { recursive: true });
  }

  open(id: string, sizeBytes: number): Volume {
    const existing = this.open_.get(id);
    if (existing && !existing.closed) return existing;
    const v = new FileVolume(safeId(id), join(this.root, id), sizeBytes, this.boot, () => this.open_.delete(id));
    this.open_.set(id, v);
    return v;
  }

  exists(id: string): boolean {
    return existsSync(join(this.root, safeId(id), 'head.0.img'));
  }

  async remove(id: string): Promise<void> {
    const v = this.open_.get(id);
    if (v && !v.closed) v.close(false);
    await rm(join(this.root, safeId(id)), { recursive: true, force: true });
  }

  list(): string[] {
    return readdirSync(this.root, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  }

  closeAll(): void {
    for (const v of [...this.open_.values()]) v.close();
  }
}

/** Bytes per head segment file. */
export const SEGMENT_BYTES = 1024 ** 4;

class FileVolume implements Volume {
  readonly reopenedAfterReboot: boolean;
  closed = false;
  /** A reboot was detected and the engine has not acknowledged its rescan yet. */
  private rebootPending: boolean;
  /** Files were created or removed since the last directory fsync. */
  private dirChanged = false;
  private size: number;
  private readonly segments: number[] = [];
  /** Per segment: written since its last sync started (flush syncs only what changed). */
  private readonly segmentSyncs: FileSync[] = [];
  private readonly bitmaps = new Map<string, FileBitmap>();
  private readonly cows = new Map<string, FileCowLog>();
  /** Flushes in flight; descriptors dropped meanwhile are closed when the last one ends. */
  private flushing = 0;
  private readonly closeLater: Array<{ closeFd(): void }> = [];

  constructor(
    readonly id: string,
    private readonly dir: string,
    sizeBytes: number,
    private readonly boot: string,
    private readonly onClose: () => void,
  ) {
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      syncDirAt(join(dir, '..')); // the volume's directory itself survives a power loss
    }
    const metaPath = join(dir, 'meta.json');
    let meta: { bootId?: string; open?: boolean } = {};
    if (existsSync(metaPath)) {
      try {
        meta = JSON.parse(readFileSync(metaPath, 'utf8')) as typeof meta;
      } catch {
        meta = { open: true, bootId: 'corrupt' };
      }
    }
    this.reopenedAfterReboot = meta.open === true && meta.bootId !== boot;
    this.rebootPending = this.reopenedAfterReboot;
    // "open in this boot" is durable before any write can land: a power loss from now on is seen
    if (!this.rebootPending && !(meta.open === true && meta.bootId === boot)) this.writeMeta(true);
    this.size = 0;
    this.openSegments(sizeBytes);
    this.syncDir();
  }

  /** Opens (creating or growing) the segment files that hold `sizeBytes`. */
  private openSegments(sizeBytes: number): void {
    const count = Math.max(1, Math.ceil(sizeBytes / SEGMENT_BYTES));
    for (let n = 0; n < count; n++) {
      const path = join(this.dir, `head.${n}.img`);
      let fd = this.segments[n];
      if (fd === undefined) {
        fd = this.openFile(path);
        this.segments[n] = fd;
        this.segmentSyncs[n] = new FileSync(fd);
      }
      const want = Math.min(SEGMENT_BYTES, sizeBytes - n * SEGMENT_BYTES);
      const have = fstatSync(fd).size;
      if (have < want) {
        ftruncateSync(fd, want);
        this.segmentSyncs[n]?.touch();
      }
      this.size = Math.max(this.size, n * SEGMENT_BYTES + Math.max(have, want));
    }
  }

  /** Runs `fn` for each segment piece of [offset, offset + length). */
  private pieces(offset: number, length: number, fn: (fd: number, at: number, from: number, len: number, segment: number) => void): void {
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const n = Math.floor(pos / SEGMENT_BYTES);
      const at = pos - n * SEGMENT_BYTES;
      const len = Math.min(length - done, SEGMENT_BYTES - at);
      const fd = this.segments[n];
      if (fd === undefined) throw new SnapdiskError('OutOfRange', `offset ${pos} is past the end of volume ${this.id}`);
      fn(fd, at, done, len, n);
      done += len;
    }
  }

  get sizeBytes(): number {
    return this.size;
  }

  read(target: Uint8Array, offset: number): void {
    this.assertOpen();
    const end = Math.min(offset + target.length, this.size);
    if (end < offset + target.length) target.fill(0, Math.max(0, end - offset));
    if (end <= offset) return;
    this.pieces(offset, end - offset, (fd, at, from, len) => {
      let done = 0;
      while (done < len) {
        const n = readSync(fd, target, from + done, len - done, at + done);
        if (n === 0) {
          target.fill(0, from + done, from + len);
          return;
        }
        done += n;
      }
    });
  }

  write(data: Uint8Array, offset: number): void {
    this.assertOpen();
    if (offset + data.length > this.size) {
      throw new SnapdiskError('OutOfRange', `write past the end of volume ${this.id}`);
    }
    this.pieces(offset, data.length, (fd, at, from, len, segment) => {
      let done = 0;
      while (done < len) done += writeSync(fd, data, from + done, len - done, at + done);
      this.segmentSyncs[segment]?.touch();
    });
  }

  resize(sizeBytes: number): void {
    this.assertOpen();
    if (sizeBytes < this.size) throw new SnapdiskError('OperationNotAllowed', `volume ${this.id} cannot shrink`);
    this.openSegments(sizeBytes);
    this.size = sizeBytes;
  }

  async flush(): Promise<void> {
    this.assertOpen();
    // only files written since their last sync started; a clean one still waits for a sync in flight
    const files = [...this.segmentSyncs, ...[...this.bitmaps.values()].map((b) => b.sync), ...[...this.cows.values()].map((c) => c.sync)];
    const dir = this.dirChanged;
    this.dirChanged = false;
    this.flushing++;
    try {
      await Promise.all(files.map((f) => f.flush()));
      if (dir) {
        // new files (bitmaps and cow logs of a freeze, segments of a resize) are reachable after a power loss
        const fd = openSync(this.dir, 'r');
        try {
          await syncFd(fd, false);
        } finally {
          closeSync(fd);
        }
      }
    } catch (err) {
      if (dir) this.dirChanged = true;
      throw err;
    } finally {
      this.flushing--;
      if (this.flushing === 0) for (const f of this.closeLater.splice(0)) f.closeFd();
    }
  }

  async acknowledgeReboot(): Promise<void> {
    if (!this.rebootPending) return;
    await this.flush();
    this.writeMeta(true);
    this.rebootPending = false;
  }

  /** Closes a descriptor now, or after the flushes that may be syncing it. */
  private release(f: { closeFd(): void }): void {
    if (this.flushing > 0) this.closeLater.push(f);
    else f.closeFd();
  }

  bitmap(name: string, length: number): PersistentBitmap {
    const existing = this.bitmaps.get(name);
    if (existing && existing.bits.length === length) return existing;
    if (existing) {
      this.release(existing);
      this.bitmaps.delete(name);
    }
    const path = join(this.dir, `${safeId(name)}.bitmap`);
    if (!existsSync(path)) this.dirChanged = true;
    const b = new FileBitmap(path, length);
    this.bitmaps.set(name, b);
    return b;
  }

  hasBitmap(name: string): boolean {
    return this.bitmaps.has(name) || existsSync(join(this.dir, `${safeId(name)}.bitmap`));
  }

  dropBitmap(name: string): void {
    const b = this.bitmaps.get(name);
    if (b) this.release(b);
    this.bitmaps.delete(name);
    rmSync(join(this.dir, `${safeId(name)}.bitmap`), { force: true });
    this.dirChanged = true;
  }

  cowLog(name: string): CowLog {
    let c = this.cows.get(name);
    if (!c) {
      const path = join(this.dir, `${safeId(name)}.cow`);
      if (!existsSync(path)) this.dirChanged = true;
      c = new FileCowLog(path);
      this.cows.set(name, c);
    }
    return c;
  }

  dropCowLog(name: string): void {
    const c = this.cows.get(name);
    if (c) this.release(c);
    this.cows.delete(name);
    rmSync(join(this.dir, `${safeId(name)}.cow`), { force: true });
    this.dirChanged = true;
  }

  /**
   * Closes the volume. `durable` (the default): every file is fsynced before meta.json says the
   * shutdown was clean; false when the volume is about to be removed. Descriptors a flush in
   * progress may be syncing are closed when it ends.
   */
  close(durable = true): void {
    if (this.closed) return;
    this.closed = true;
    const files: Array<{ closeFd(): void; fd: number }> = [
      ...this.segments.map((fd) => ({ fd, closeFd: () => closeSync(fd) })),
      ...this.bitmaps.values(),
      ...this.cows.values(),
    ];
    this.bitmaps.clear();
    this.cows.clear();
    this.segments.length = 0;
    this.segmentSyncs.length = 0;
    if (durable && existsSync(this.dir)) {
      for (const f of files) fsyncSync(f.fd);
      if (this.dirChanged) this.syncDir();
      if (!this.rebootPending) this.writeMeta(false);
    }
    for (const f of files) this.release(f);
    this.onClose();
  }

  private assertOpen(): void {
    if (this.closed) throw new SnapdiskError('Unavailable', `volume ${this.id} is closed`);
  }

  /** Opens a file of the volume, creating it when absent (the directory then needs a sync). */
  private openFile(path: string): number {
    if (existsSync(path)) return openSync(path, 'r+', 0o600);
    this.dirChanged = true;
    return openSync(path, 'w+', 0o600);
  }

  private syncDir(): void {
    if (!this.dirChanged) return;
    syncDirAt(this.dir);
    this.dirChanged = false;
  }

  /** Replaces meta.json atomically and durably. */
  private writeMeta(open: boolean): void {
    const path = join(this.dir, 'meta.json');
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify({ bootId: this.boot, open }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    this.dirChanged = true;
    this.syncDir();
  }
}

function syncDirAt(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncFd(fd: number, dataOnly: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => (dataOnly ? fdatasync : fsync)(fd, (err) => (err ? reject(err) : resolve())));
}

/**
 * The sync state of one open file: `touch` after every change; `flush` resolves once every change
 * made before the call is durable — it fdatasyncs a file changed since its last sync started, and
 * for a clean file waits for the sync still in flight (which covers the earlier changes), so a FUA
 * write pays for the files it touched, not for every file of the volume.
 */
class FileSync {
  private dirty = true; // a file just opened may hold changes of an earlier process
  private inflight: Promise<void> | null = null;

  constructor(readonly fd: number) {}

  touch(): void {
    this.dirty = true;
  }

  flush(): Promise<void> {
    if (!this.dirty) return this.inflight ?? Promise.resolve();
    this.dirty = false;
    const p: Promise<void> = syncFd(this.fd, true).then(
      () => {
        if (this.inflight === p) this.inflight = null;
      },
      (err: unknown) => {
        this.dirty = true; // not durable: the next flush tries again
        if (this.inflight === p) this.inflight = null;
        throw err;
      },
    );
    this.inflight = p;
    return p;
  }
}

class FileBitmap implements PersistentBitmap {
  readonly bits: Bitmap;
  readonly fd: number;
  readonly sync: FileSync;

  constructor(path: string, length: number) {
    const bytes = Math.ceil(length / 8);
    this.fd = openSync(path, existsSync(path) ? 'r+' : 'w+', 0o600);
    this.sync = new FileSync(this.fd);
    const size = fstatSync(this.fd).size;
    if (size > 0) {
      const buf = new Uint8Array(Math.min(size, bytes));
      readSync(this.fd, buf, 0, buf.length, 0);
      this.bits = new Bitmap(length, buf);
    } else {
      this.bits = new Bitmap(length); // new: sparse file, no memory until bits are set
    }
    if (size !== bytes) ftruncateSync(this.fd, bytes);
    if (size > bytes) this.persist(bytes - 1, bytes); // the tail bits were cleared by the constructor
  }

  setRange(from: number, to: number): number {
    if (from >= to) return 0;
    const before = this.bits.count;
    const span = this.bits.setRange(from, to);
    if (span) this.persist(span.from, span.to);
    return this.bits.count - before;
  }

  clearRange(from: number, to: number): number {
    if (from >= to) return 0;
    const before = this.bits.count;
    const span = this.bits.clearRange(from, to);
    if (span) this.persist(span.from, span.to);
    return before - this.bits.count;
  }

  closeFd(): void {
    closeSync(this.fd);
  }

  private persist(from: number, to: number): void {
    if (from >= to) return;
    // straight from the bitmap's page (a change nearly always lies in one); a copy otherwise
    const data = this.bits.view(from, to) ?? this.bits.readBytes(from, to);
    let done = 0;
    while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, from + done);
    this.sync.touch();
  }
}

const COW_HEADER = 16;
const COW_RECORD = COW_HEADER + BLOCK_SIZE;
const cowScratch = Buffer.allocUnsafe(COW_RECORD);

function recordCrc(rec: Buffer, format: number): number {
  const data = rec.subarray(COW_HEADER, COW_RECORD);
  return format === 0 ? crc32(data) : crc32(data, crc32(rec.subarray(0, 8)));
}

/**
 * Records: [u64 block][u32 crc32][u32 format][64 KiB data]; torn tails are cut at open. Format 1:
 * the crc covers the block number and the data; format 0 (logs written before): the data only.
 */
class FileCowLog implements CowLog {
  readonly fd: number;
  readonly sync: FileSync;
  private readonly index = new Map<number, number>();
  private end = 0;

  constructor(path: string) {
    this.fd = openSync(path, existsSync(path) ? 'r+' : 'w+', 0o600);
    this.sync = new FileSync(this.fd);
    const size = fstatSync(this.fd).size;
    const rec = Buffer.allocUnsafe(COW_RECORD);
    let at = 0;
    while (at + COW_RECORD <= size) {
      readSync(this.fd, rec, 0, COW_RECORD, at);
      const block = Number(rec.readBigUInt64BE(0));
      const format = rec.readUInt32BE(12);
      if (format > 1 || rec.readUInt32BE(8) !== recordCrc(rec, format)) break;
      if (!this.index.has(block)) this.index.set(block, at);
      at += COW_RECORD;
    }
    this.end = at;
    if (size !== at) ftruncateSync(this.fd, at);
  }

  get size(): number {
    return this.index.size;
  }

  has(block: number): boolean {
    return this.index.has(block);
  }

  read(block: number, target: Uint8Array): void {
    const at = this.index.get(block);
    if (at === undefined) throw new SnapdiskError('InternalError', `block ${block} is not in the cow log`);
    readSync(this.fd, target, 0, BLOCK_SIZE, at + COW_HEADER);
  }

  append(block: number, data: Uint8Array): void {
    if (this.index.has(block)) return;
    if (data.length !== BLOCK_SIZE) throw new SnapdiskError('InternalError', 'cow records hold whole blocks');
    const rec = cowScratch; // appends are synchronous: one record buffer serves every log
    rec.writeBigUInt64BE(BigInt(block), 0);
    rec.writeUInt32BE(1, 12);
    rec.set(data, COW_HEADER);
    rec.writeUInt32BE(recordCrc(rec, 1), 8);
    let done = 0;
    while (done < COW_RECORD) done += writeSync(this.fd, rec, done, COW_RECORD - done, this.end + done);
    this.sync.touch();
    this.index.set(block, this.end);
    this.end += COW_RECORD;
  }

  closeFd(): void {
    closeSync(this.fd);
  }
}
