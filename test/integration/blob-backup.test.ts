/**
 * A port of the flow of Azure's differential-backup sample (managed-disks-dotnet-backup-with-
 * incremental-snapshots, wire-contract §8) on the real SDK: the target is a local file instead of
 * a storage account.
 *
 *   base:  HEAD snapshot #1 → length; getPageRanges → copy each range in 4 MiB pieces
 *   step:  getPageRangesDiffForManagedDisks(prev SAS) → ClearRange: zero it; PageRange: copy it
 *
 * Between snapshots the disk gets random unaligned writes and trims. After every step the local
 * copy must equal the snapshot byte for byte, and every reported range must lie in blocks touched
 * since the previous snapshot (a diff never misses a change nor reports untouched blocks). At most
 * two snapshots hold an active SAS at any time (the sample's missing revoke would hit the limit).
 */

import { open, mkdtemp, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnonymousCredential, PageBlobClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SnapshotRecord } from '../../src/core/model.js';
import { BLOCK_SIZE, GiB, MiB } from '../../src/core/units.js';
import { parseVhdFooter } from '../../src/core/vhd.js';
import { createDisk, prng, snapshot } from '../helpers/engine.js';
import { startBlobServer } from './blob-harness.js';
import type { BlobServer } from './blob-harness.js';

const DISK = 1 * GiB;
/** Writes go to [0, LOW) and to [HIGH, DISK): comparing those windows compares everything. */
const LOW = 48 * MiB;
const HIGH = DISK - 2 * MiB;
const PIECE = 4 * MiB;

let b: BlobServer;
let dir: string;
beforeAll(async () => {
  b = await startBlobServer();
  dir = await mkdtemp(join(tmpdir(), 'snapdisk-backup-'));
});
afterAll(async () => {
  await b.close();
  await rm(dir, { recursive: true, force: true });
});

type Range = { start: number; end: number };

/** Copies [start, end) of the blob into the file, in 4 MiB pieces (as the sample does). */
async function copyRange(c: PageBlobClient, file: FileHandle, r: Range): Promise<void> {
  for (let off = r.start; off < r.end; off += PIECE) {
    const n = Math.min(PIECE, r.end - off);
    const data = await c.downloadToBuffer(off, n);
    expect(data.length).toBe(n);
    await file.write(data, 0, n, off);
  }
}

async function zeroRange(file: FileHandle, r: Range): Promise<void> {
  const zeros = Buffer.alloc(Math.min(PIECE, r.end - r.start));
  for (let off = r.start; off < r.end; off += zeros.length) await file.write(zeros, 0, Math.min(zeros.length, r.end - off), off);
}

/** The SDK's {offset, count} has count = End - Start with End inclusive. */
function toRanges(list: Array<{ offset: number; count?: number }> | undefined): Range[] {
  return (list ?? []).map((x) => ({ start: x.offset, end: x.offset + (x.count ?? 0) + 1 }));
}

async function expectSameAsSnapshot(file: FileHandle, s: SnapshotRecord): Promise<void> {
  for (const [from, to] of [[0, LOW], [HIGH, DISK]] as const) {
    for (let off = from; off < to; off += 16 * MiB) {
      const n = Math.min(16 * MiB, to - off);
      const want = await b.t.engine.snapshots.read(s, off, n);
      const got = Buffer.alloc(n);
      await file.read(got, 0, n, off);
      if (!got.equals(want)) {
        let i = 0;
        while (got[i] === want[i]) i++;
        throw new Error(`${s.name}: local copy differs at byte ${off + i}`);
      }
    }
  }
  // nothing outside the windows: the snapshot holds no data there
  const alloc = await b.t.engine.snapshots.allocatedRanges(s);
  for (const r of alloc.ranges) expect(r.end <= LOW || r.start >= HIGH).toBe(true);
}

describe('blob: differential backup sample flow', () => {
  it('base copy then diffs over 6 snapshots reproduce every snapshot exactly', async () => {
    const e = b.t.engine;
    const rnd = prng(21);
    const rint = (n: number): number => rnd(4).readUInt32LE(0) % n;
    const disk = await createDisk(e, 'backup', DISK / GiB);
    const h = await e.disks.open(disk.uniqueId);
    const touch = (set: Set<number>, start: number, len: number): void => {
      for (let blk = Math.floor(start / BLOCK_SIZE); blk <= Math.floor((start + len - 1) / BLOCK_SIZE); blk++) set.add(blk);
    };
    const mutate = async (touched: Set<number>): Promise<void> => {
      for (let i = 0; i < 12; i++) {
        const len = 1 + rint(300 * 1024);
        const off = i % 4 === 3 ? HIGH + rint(DISK - HIGH - len) : rint(LOW - len);
        await h.write(off, rnd(len));
        touch(touched, off, len);
      }
      for (let i = 0; i < 3; i++) {
        const len = 512 * (1 + rint(600));
        const off = 512 * rint((LOW - len) / 512);
        await h.zero(off, len);
        touch(touched, off, len);
      }
    };

    const local = await open(join(dir, 'backup.vhd'), 'w+');
    try {
      let touched = new Set<number>();
      await mutate(touched);
      let prev = await snapshot(e, disk, 'backup-s0');
      let prevUrl = (await b.grant(prev)).url;
      // base copy from the first snapshot's page ranges (the footer page included)
      const c0 = new PageBlobClient(prevUrl, new AnonymousCredential());
      const length = (await c0.getProperties()).contentLength ?? 0;
      expect(length).toBe(DISK + 512);
      await local.truncate(length);
      for (const r of toRanges((await c0.getPageRanges(0, length)).pageRange)) await copyRange(c0, local, r);
      await expectSameAsSnapshot(local, prev);
      const footer = Buffer.alloc(512);
      await local.read(footer, 0, 512, DISK);
      expect(parseVhdFooter(footer, { expectedSizeBytes: DISK }).valid).toBe(true);

      for (let k = 1; k <= 5; k++) {
        touched = new Set<number>();
        await mutate(touched);
        const cur = await snapshot(e, disk, `backup-s${k}`);
        if (k % 2 === 0) await e.idle(); // odd steps diff while the background copy may still run
        const { url } = await b.grant(cur);
        const c = new PageBlobClient(url, new AnonymousCredential());
        const diff = await c.getPageRangesDiffForManagedDisks(0, length, prevUrl);
        const clear = toRanges(diff.clearRange);
        const data = toRanges(diff.pageRange);
        for (const r of [...clear, ...data]) {
          expect(r.end).toBeLessThanOrEqual(DISK); // never the footer
          for (let blk = Math.floor(r.start / BLOCK_SIZE); blk < Math.ceil(r.end / BLOCK_SIZE); blk++) expect(touched.has(blk)).toBe(true);
        }
        for (const r of clear) await zeroRange(local, r);
        for (const r of data) await copyRange(c, local, r);
        await expectSameAsSnapshot(local, cur);
        await b.revoke(prev);
        prev = cur;
        prevUrl = url;
      }
    } finally {
      await local.close();
    }
  });
});
