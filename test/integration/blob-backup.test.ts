/**
 * A port of the flow of Azure's differential-backup sample (managed-disks-dotnet-backup-with-
 * incremental-snapshots, wire-contract §8) on the real SDK: the target is a local file instead of
 * a storage account.
 *
 *   base:  HEAD snapshot #1 → length; getPageRanges → copy each range in 4 MiB pieces
 *   step:  getPageRangesDiffForManagedDisks(prev SAS) → ClearRange: zero it; PageRange: copy it
 *
 * Between snapshots the disk gets random unaligned writes and trims. After every step the local
 * copy must equal, byte for byte, a model of what the test wrote (never the engine's own reads),
 * and every reported range must lie in blocks touched since the previous snapshot (a diff never
 * misses a change nor reports untouched blocks). One step changes more than 4096 blocks and is
 * diffed while its snapshot's background copy has not even started (jobs paused): the diff
 * then comes from the frozen change set, over more than one internal page. At most two
 * snapshots hold an active SAS at any time (the sample's missing revoke would hit the limit).
 */

import { open, mkdtemp, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnonymousCredential, PageBlobClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_SIZE, GiB, MiB } from '../../src/core/units.js';
import { parseVhdFooter } from '../../src/core/vhd.js';
import { createDisk, prng, snapshot } from '../helpers/engine.js';
import { startBlobServer } from './blob-harness.js';
import type { BlobServer } from './blob-harness.js';

const DISK = 1 * GiB;
/** Writes go to [0, LOW) and to [HIGH, DISK): comparing those windows compares everything. */
const LOW = 400 * MiB;
/** Random writes and trims stay below this; the large step writes above it. */
const SMALL = 48 * MiB;
const HIGH = DISK - 2 * MiB;
const PIECE = 4 * MiB;
/** Blocks of the large step (runs of 7 with a gap): more than one internal page (4096 blocks) of the engine. */
const LARGE_STEP_BLOCKS = 4500;

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

/** What the test wrote: the bytes of both windows, kept in step with every write and trim. */
class Model {
  readonly low = Buffer.alloc(LOW);
  readonly high = Buffer.alloc(DISK - HIGH);

  write(offset: number, data: Buffer): void {
    if (offset + data.length <= LOW) data.copy(this.low, offset);
    else if (offset >= HIGH) data.copy(this.high, offset - HIGH);
    else throw new Error(`write at ${offset} outside the windows`);
  }

  zero(offset: number, length: number): void {
    if (offset + length <= LOW) this.low.fill(0, offset, offset + length);
    else if (offset >= HIGH) this.high.fill(0, offset - HIGH, offset - HIGH + length);
    else throw new Error(`trim at ${offset} outside the windows`);
  }
}

/** The local copy equals the model (the snapshot was taken right after the model's last change). */
async function expectSameAsModel(file: FileHandle, model: Model, name: string): Promise<void> {
  for (const [from, window] of [[0, model.low], [HIGH, model.high]] as const) {
    for (let off = 0; off < window.length; off += 16 * MiB) {
      const n = Math.min(16 * MiB, window.length - off);
      const want = window.subarray(off, off + n);
      const got = Buffer.alloc(n);
      await file.read(got, 0, n, from + off);
      if (!got.equals(want)) {
        let i = 0;
        while (got[i] === want[i]) i++;
        throw new Error(`${name}: local copy differs from what was written at byte ${from + off + i}`);
      }
    }
  }
}

describe('blob: differential backup sample flow', () => {
  it('base copy then diffs over 7 snapshots reproduce every snapshot exactly', async () => {
    const e = b.t.engine;
    const rnd = prng(21);
    const rint = (n: number): number => rnd(4).readUInt32LE(0) % n;
    const disk = await createDisk(e, 'backup', DISK / GiB);
    const h = await e.disks.open(disk.uniqueId);
    const model = new Model();
    const touch = (set: Set<number>, start: number, len: number): void => {
      for (let blk = Math.floor(start / BLOCK_SIZE); blk <= Math.floor((start + len - 1) / BLOCK_SIZE); blk++) set.add(blk);
    };
    const write = async (touched: Set<number>, off: number, data: Buffer): Promise<void> => {
      await h.write(off, data);
      model.write(off, data);
      touch(touched, off, data.length);
    };
    const mutate = async (touched: Set<number>): Promise<void> => {
      for (let i = 0; i < 12; i++) {
        const len = 1 + rint(300 * 1024);
        const off = i % 4 === 3 ? HIGH + rint(DISK - HIGH - len) : rint(SMALL - len);
        await write(touched, off, rnd(len));
      }
      for (let i = 0; i < 3; i++) {
        const len = 512 * (1 + rint(600));
        const off = 512 * rint((SMALL - len) / 512);
        await h.zero(off, len);
        model.zero(off, len);
        touch(touched, off, len);
      }
    };
    /** One 4 KiB write in each of LARGE_STEP_BLOCKS blocks above SMALL, in runs of 7 blocks. */
    const mutateLarge = async (touched: Set<number>): Promise<void> => {
      for (let i = 0; i < LARGE_STEP_BLOCKS; i++) await write(touched, SMALL + (i + Math.floor(i / 7)) * BLOCK_SIZE + 512 * rint(120), rnd(4096));
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
      const base = toRanges((await c0.getPageRanges(0, length)).pageRange);
      for (const r of base) {
        expect(r.end <= LOW || r.start >= HIGH).toBe(true); // data only where the test wrote
        await copyRange(c0, local, r);
      }
      await expectSameAsModel(local, model, 'backup-s0');
      const footer = Buffer.alloc(512);
      await local.read(footer, 0, 512, DISK);
      expect(parseVhdFooter(footer, { expectedSizeBytes: DISK }).valid).toBe(true);

      for (let k = 1; k <= 6; k++) {
        touched = new Set<number>();
        const large = k === 3;
        if (large) await mutateLarge(touched);
        else await mutate(touched);
        if (large) e.pauseJobs(); // the copy of this snapshot waits until the diff was applied
        const cur = await snapshot(e, disk, `backup-s${k}`);
        if (k % 2 === 0) await e.idle(); // other odd steps diff while the background copy may still run
        const { url } = await b.grant(cur);
        const c = new PageBlobClient(url, new AnonymousCredential());
        const diff = await c.getPageRangesDiffForManagedDisks(0, length, prevUrl);
        const clear = toRanges(diff.clearRange);
        const data = toRanges(diff.pageRange);
        for (const r of [...clear, ...data]) {
          expect(r.end).toBeLessThanOrEqual(DISK); // never the footer
          for (let blk = Math.floor(r.start / BLOCK_SIZE); blk < Math.ceil(r.end / BLOCK_SIZE); blk++) expect(touched.has(blk)).toBe(true);
        }
        if (large) {
          // every changed block is listed, beyond the first 4096, in runs of 7
          expect(data.length).toBe(Math.ceil(LARGE_STEP_BLOCKS / 7));
          expect(data.reduce((n, r) => n + (r.end - r.start), 0)).toBe(LARGE_STEP_BLOCKS * BLOCK_SIZE);
          expect((await e.ctx.catalog.getPoint(cur.familyId, cur.point))?.state).toBe('copying');
        }
        for (const r of clear) await zeroRange(local, r);
        for (const r of data) await copyRange(c, local, r);
        if (large) e.resumeJobs();
        await expectSameAsModel(local, model, cur.name);
        await b.revoke(prev);
        prev = cur;
        prevUrl = url;
      }
    } finally {
      e.resumeJobs();
      await local.close();
    }
  });
});
