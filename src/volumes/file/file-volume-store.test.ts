import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapdiskError } from '../../core/errors.js';
import { BLOCK_SIZE, MiB, TiB } from '../../core/units.js';
import { FileVolumeStore, SEGMENT_BYTES } from './file-volume-store.js';

const RECORD = 16 + BLOCK_SIZE;

function block(seed: number): Buffer {
  const b = Buffer.alloc(BLOCK_SIZE);
  for (let i = 0; i < BLOCK_SIZE; i += 4) b.writeUInt32BE((seed * 2654435761 + i * 40503) >>> 0, i);
  return b;
}

const code = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return err instanceof SnapdiskError ? err.code : String(err);
  }
};

const meta = (dir: string, id: string): { bootId: string; open: boolean } =>
  JSON.parse(readFileSync(join(dir, id, 'meta.json'), 'utf8')) as { bootId: string; open: boolean };

describe('FileVolumeStore', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'snapdisk-volumes-'));
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('cuts a torn cow-log tail at open and keeps appending after the last whole record', () => {
    const store = new FileVolumeStore(root, 'boot-1');
    let v = store.open('v', 8 * MiB);
    let log = v.cowLog('cow-1');
    for (const b of [3, 7, 11]) log.append(b, block(b));
    v.close();
    const path = join(root, 'v', 'cow-1.cow');
    expect(statSync(path).size).toBe(3 * RECORD);
    // a record cut short by a crash, then one that is whole but whose bytes did not all land
    truncateSync(path, 3 * RECORD - 1000);
    v = store.open('v', 8 * MiB);
    log = v.cowLog('cow-1');
    expect([log.size, log.has(3), log.has(7), log.has(11)]).toEqual([2, true, true, false]);
    expect(statSync(path).size).toBe(2 * RECORD);
    const got = Buffer.alloc(BLOCK_SIZE);
    log.read(7, got);
    expect(got.equals(block(7))).toBe(true);
    log.append(11, block(12));
    log.append(13, block(13));
    v.close();
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.from([0xff]), 0, 1, 3 * RECORD + 500); // damage the data of block 13
    closeSync(fd);
    v = store.open('v', 8 * MiB);
    log = v.cowLog('cow-1');
    expect([log.size, log.has(11), log.has(13)]).toEqual([3, true, false]);
    log.read(11, got);
    expect(got.equals(block(12))).toBe(true);
    // a damaged block number is caught too (the checksum covers it)
    v.close();
    const fd2 = openSync(path, 'r+');
    writeSync(fd2, Buffer.from([0x01]), 0, 1, 2 * RECORD + 7);
    closeSync(fd2);
    v = store.open('v', 8 * MiB);
    expect(v.cowLog('cow-1').size).toBe(2);
    v.close();
  });

  it('reads cow logs written before the block number was checksummed', () => {
    mkdirVolume(root, 'old');
    const rec = Buffer.alloc(RECORD);
    rec.writeBigUInt64BE(5n, 0);
    block(5).copy(rec, 16);
    rec.writeUInt32BE(crc32(rec.subarray(16)), 8);
    writeFileSync(join(root, 'old', 'cow-2.cow'), rec);
    const v = new FileVolumeStore(root, 'boot-1').open('old', 8 * MiB);
    const log = v.cowLog('cow-2');
    const got = Buffer.alloc(BLOCK_SIZE);
    expect(log.has(5)).toBe(true);
    log.read(5, got);
    expect(got.equals(block(5))).toBe(true);
    v.close();
  });

  it('regrows and shrinks a bitmap, keeping the bits that fit, on disk too', () => {
    const store = new FileVolumeStore(root, 'boot-1');
    let v = store.open('v', 8 * MiB);
    let b = v.bitmap('dirty-1', 13);
    b.setRange(5, 6);
    b.setRange(12, 13);
    b = v.bitmap('dirty-1', 100_000); // a resize
    expect([b.bits.get(5), b.bits.get(12), b.bits.count, b.bits.nextSet(13)]).toEqual([true, true, 2, -1]);
    b.setRange(99_990, 99_999);
    v.close();
    expect(statSync(join(root, 'v', 'dirty-1.bitmap')).size).toBe(Math.ceil(100_000 / 8));
    v = store.open('v', 8 * MiB);
    b = v.bitmap('dirty-1', 100_000);
    expect([b.bits.get(5), b.bits.get(12), b.bits.count, b.bits.nextSet(13)]).toEqual([true, true, 11, 99_990]);
    b = v.bitmap('dirty-1', 12); // shorter: the bits past the end are gone, in the file too
    expect(b.bits.count).toBe(1);
    b = v.bitmap('dirty-1', 100_000);
    expect(b.bits.count).toBe(1);
    v.close();
  });

  it('persists changes inside one bitmap page and across a page boundary: the file and a reopened bitmap match', () => {
    const PAGE_BITS = 64 * 1024 * 8;
    const length = 3 * PAGE_BITS + 100;
    const store = new FileVolumeStore(root, 'boot-1');
    let v = store.open('v', 8 * MiB);
    let b = v.bitmap('alloc', length);
    expect(b.setRange(PAGE_BITS - 21, PAGE_BITS + 13)).toBe(34); // crosses pages 0 and 1
    expect(b.setRange(2 * PAGE_BITS - 1, 2 * PAGE_BITS + 1)).toBe(2); // one bit on each side
    b.setRange(5, 9); // inside page 0
    b.setRange(3 * PAGE_BITS + 90, 3 * PAGE_BITS + 100); // the last, short page
    expect(b.clearRange(PAGE_BITS - 3, PAGE_BITS + 2)).toBe(5); // crosses again
    b.clearRange(6, 7);
    const image = Buffer.from(b.bits.bytes);
    v.close();
    expect(readFileSync(join(root, 'v', 'alloc.bitmap')).equals(image)).toBe(true);
    v = store.open('v', 8 * MiB);
    b = v.bitmap('alloc', length);
    expect(Buffer.from(b.bits.bytes).equals(image)).toBe(true);
    expect(b.bits.count).toBe(34 + 2 + 4 + 10 - 5 - 1);
    const set: number[] = [];
    for (let i = b.bits.nextSet(0); i !== -1; i = b.bits.nextSet(i + 1)) set.push(i);
    const expected = [5, 7, 8];
    for (let i = PAGE_BITS - 21; i < PAGE_BITS + 13; i++) if (i < PAGE_BITS - 3 || i >= PAGE_BITS + 2) expected.push(i);
    expected.push(2 * PAGE_BITS - 1, 2 * PAGE_BITS);
    for (let i = 3 * PAGE_BITS + 90; i < 3 * PAGE_BITS + 100; i++) expected.push(i);
    expect(set).toEqual(expected);
    v.close();
  });

  it('writes and reads across the 1 TiB segment boundary (sparse files)', () => {
    expect(SEGMENT_BYTES).toBe(TiB);
    const store = new FileVolumeStore(root, 'boot-1');
    let v = store.open('big', TiB + 4 * MiB);
    expect(existsSync(join(root, 'big', 'head.1.img'))).toBe(true);
    const data = Buffer.concat([block(1), block(2), block(3)]);
    const at = TiB - BLOCK_SIZE - 100;
    v.write(data, at);
    const got = Buffer.alloc(data.length);
    v.read(got, at);
    expect(got.equals(data)).toBe(true);
    v.resize(2 * TiB + MiB);
    expect(existsSync(join(root, 'big', 'head.2.img'))).toBe(true);
    v.write(data, 2 * TiB - 1000);
    v.close();
    v = store.open('big', 2 * TiB + MiB);
    expect(v.sizeBytes).toBe(2 * TiB + MiB);
    got.fill(0);
    v.read(got, at);
    expect(got.equals(data)).toBe(true);
    v.read(got, 2 * TiB - 1000);
    expect(got.equals(data)).toBe(true);
    // past the end reads as zeros, writes are refused
    const tail = Buffer.alloc(100, 1);
    v.read(tail, 2 * TiB + MiB - 50);
    expect(tail.equals(Buffer.alloc(100))).toBe(true);
    expect(code(() => v.write(Buffer.alloc(100), 2 * TiB + MiB - 50))).toBe('OutOfRange');
    v.close();
  });

  it('reports reopenedAfterReboot only across boot ids, until the rescan is acknowledged', async () => {
    const open = (boot: string) => new FileVolumeStore(root, boot).open('v', 8 * MiB);
    const first = open('boot-1');
    first.write(block(1), 0);
    expect(first.reopenedAfterReboot).toBe(false);
    expect(meta(root, 'v')).toEqual({ bootId: 'boot-1', open: true });
    // killed (no close), restarted in the same boot: the page cache kept everything
    expect(open('boot-1').reopenedAfterReboot).toBe(false);
    // the machine rebooted
    const afterReboot = open('boot-2');
    expect(afterReboot.reopenedAfterReboot).toBe(true);
    expect(meta(root, 'v')).toEqual({ bootId: 'boot-1', open: true });
    // killed again before the engine's rescan was durable: the next open rescans again
    expect(open('boot-2').reopenedAfterReboot).toBe(true);
    // a clean close before the rescan is acknowledged does not hide the reboot either
    afterReboot.close();
    const again = open('boot-2');
    expect(again.reopenedAfterReboot).toBe(true);
    await again.acknowledgeReboot();
    expect(meta(root, 'v')).toEqual({ bootId: 'boot-2', open: true });
    expect(open('boot-2').reopenedAfterReboot).toBe(false);
    again.close();
    expect(meta(root, 'v')).toEqual({ bootId: 'boot-2', open: false });
    // closed cleanly, then a reboot: nothing to rescan
    const clean = open('boot-3');
    expect(clean.reopenedAfterReboot).toBe(false);
    clean.close();
    // a damaged meta.json counts as not closed cleanly
    writeFileSync(join(root, 'v', 'meta.json'), '{"bootId":');
    expect(open('boot-3').reopenedAfterReboot).toBe(true);
  });

  it('refuses I/O and flush once closed; a flush in progress finishes before descriptors close', async () => {
    const store = new FileVolumeStore(root, 'boot-1');
    const v = store.open('v', 8 * MiB);
    v.write(block(1), 0);
    v.bitmap('alloc', 128).setRange(0, 1);
    v.cowLog('cow-1').append(0, block(0));
    const inFlight = v.flush();
    v.close();
    await expect(inFlight).resolves.toBeUndefined();
    await expect(v.flush()).rejects.toMatchObject({ code: 'Unavailable' });
    expect(code(() => v.read(Buffer.alloc(10), 0))).toBe('Unavailable');
    expect(code(() => v.write(Buffer.alloc(10), 0))).toBe('Unavailable');
    // the data was all there at close
    const w = store.open('v', 8 * MiB);
    const got = Buffer.alloc(BLOCK_SIZE);
    w.read(got, 0);
    expect(got.equals(block(1))).toBe(true);
    expect(w.bitmap('alloc', 128).bits.count).toBe(1);
    expect(w.cowLog('cow-1').has(0)).toBe(true);
    w.close();
  });
});

function mkdirVolume(root: string, id: string): void {
  const v = new FileVolumeStore(root, 'boot-0').open(id, 8 * MiB);
  v.close();
}
