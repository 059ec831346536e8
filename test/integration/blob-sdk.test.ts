/**
 * The page-blob data plane driven by the real `@azure/storage-blob` 12.32.0 `PageBlobClient` on
 * SAS URLs over plain HTTP: properties, downloads, page lists, managed-disk diffs with paging,
 * uploads (update, clear, from URL) and the upload footer check at endGetAccess.
 */

import { createHash } from 'node:crypto';
import { AnonymousCredential, PageBlobClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSnapdiskError } from '../../src/core/errors.js';
import type { DiskRecord, SnapshotRecord } from '../../src/core/model.js';
import { BLOCK_SIZE, MiB } from '../../src/core/units.js';
import { parseVhdFooter, vhdFooter } from '../../src/core/vhd.js';
import { createDisk, prng, snapshot } from '../helpers/engine.js';
import { createUploadDisk, diskWithImage, startBlobServer } from './blob-harness.js';
import type { BlobServer } from './blob-harness.js';

let b: BlobServer;
beforeAll(async () => {
  b = await startBlobServer();
});
afterAll(async () => {
  await b.close();
});

async function readAll(stream: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  if (!stream) throw new Error('no body');
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(parts);
}

function client(url: string): PageBlobClient {
  return new PageBlobClient(url, new AnonymousCredential());
}

/** The SDK's `{offset, count}` from getPageRanges has count = End - Start (inclusive End). */
function inclusive(ranges: Array<{ offset: number; count?: number }> | undefined): Array<[number, number]> {
  return (ranges ?? []).map((r) => [r.offset, r.offset + (r.count ?? 0)]);
}

describe('blob SDK: reads of a snapshot', () => {
  const rnd = prng(11);
  const image = Buffer.alloc(32 * MiB);
  let snap: SnapshotRecord;
  let url: string;

  beforeAll(async () => {
    rnd(3 * MiB).copy(image, 1 * MiB);
    rnd(100_000).copy(image, 20 * MiB + 4096);
    const disk = await diskWithImage(b, 'sdk-read', image);
    snap = await snapshot(b.t.engine, disk, 'sdk-read-s1');
    await b.t.engine.idle();
    url = (await b.grant(snap)).url;
  });

  it('getProperties: PageBlob of disk size + 512, stable ETag', async () => {
    const c = client(url);
    const p = await c.getProperties();
    expect(p.contentLength).toBe(32 * MiB + 512);
    expect(p.blobType).toBe('PageBlob');
    expect(p.blobSequenceNumber).toBe(0);
    expect(p.etag).toMatch(/^"0x8D[0-9A-F]+"$/);
    expect((await c.getProperties()).etag).toBe(p.etag);
  });

  it('download: whole blob = image + VHD footer of the disk', async () => {
    const c = client(url);
    const res = await c.download();
    const body = await readAll(res.readableStreamBody);
    expect(body.length).toBe(32 * MiB + 512);
    expect(body.subarray(0, 32 * MiB).equals(image)).toBe(true);
    const footer = parseVhdFooter(body.subarray(32 * MiB), { expectedSizeBytes: 32 * MiB });
    expect(footer.valid).toBe(true);
    expect(footer.creatorApp).toBe('win ');
  });

  it('download: ranges, including one that covers the footer, agree with the whole', async () => {
    const c = client(url);
    const whole = Buffer.concat([image, (await c.downloadToBuffer(32 * MiB, 512))]);
    for (const [offset, count] of [[0, 1], [1 * MiB - 7, 5 * MiB + 3], [20 * MiB + 4000, 200_000], [32 * MiB - 100, 612], [32 * MiB + 511, 1]] as const) {
      const got = await c.downloadToBuffer(offset, count);
      expect(got.equals(whole.subarray(offset, offset + count))).toBe(true);
    }
    const tail = await readAll((await c.download(32 * MiB - 10)).readableStreamBody);
    expect(tail.equals(whole.subarray(32 * MiB - 10))).toBe(true);
  });

  it('getPageRanges: allocated blocks plus the footer page, inclusive ends', async () => {
    const c = client(url);
    const r = await c.getPageRanges();
    const end = 20 * MiB + Math.ceil((4096 + 100_000) / BLOCK_SIZE) * BLOCK_SIZE;
    expect(inclusive(r.pageRange)).toEqual([
      [1 * MiB, 4 * MiB - 1],
      [20 * MiB, end - 1],
      [32 * MiB, 32 * MiB + 511],
    ]);
    expect(r.clearRange ?? []).toEqual([]);
    const part = await c.getPageRanges(2 * MiB, 1 * MiB);
    expect(inclusive(part.pageRange)).toEqual([[2 * MiB, 3 * MiB - 1]]);
  });
});

describe('blob SDK: diffs between snapshots', () => {
  const BLOB = 1024 * MiB + 512;
  let disk: DiskRecord;
  const snaps: SnapshotRecord[] = [];
  const urls: string[] = [];

  beforeAll(async () => {
    const e = b.t.engine;
    disk = await createDisk(e, 'sdk-diff');
    const h = await e.disks.open(disk.uniqueId);
    const rnd = prng(12);
    await h.write(0, rnd(4 * MiB));
    snaps.push(await snapshot(e, disk, 'sdk-diff-s1'));
    // changes: three separate data ranges and one cleared range
    await h.write(10 * MiB, rnd(BLOCK_SIZE));
    await h.write(100 * MiB, rnd(2 * BLOCK_SIZE));
    await h.write(900 * MiB, rnd(BLOCK_SIZE));
    await h.zero(1 * MiB, 2 * BLOCK_SIZE);
    snaps.push(await snapshot(e, disk, 'sdk-diff-s2'));
    await e.idle();
    for (const s of snaps) urls.push((await b.grant(s)).url);
  });

  const expected = (): Array<{ start: number; end: number; isClear: boolean }> => [
    { start: 1 * MiB, end: 1 * MiB + 2 * BLOCK_SIZE - 1, isClear: true },
    { start: 10 * MiB, end: 10 * MiB + BLOCK_SIZE - 1, isClear: false },
    { start: 100 * MiB, end: 100 * MiB + 2 * BLOCK_SIZE - 1, isClear: false },
    { start: 900 * MiB, end: 900 * MiB + BLOCK_SIZE - 1, isClear: false },
  ];

  it('getPageRangesDiffForManagedDisks: PageRange and ClearRange since the previous snapshot', async () => {
    const [u1, u2] = urls;
    if (!u1 || !u2) throw new Error('urls');
    const c = client(u2);
    const r = await c.getPageRangesDiffForManagedDisks(0, BLOB, u1);
    expect(inclusive(r.pageRange)).toEqual(expected().filter((x) => !x.isClear).map((x) => [x.start, x.end]));
    expect(inclusive(r.clearRange)).toEqual(expected().filter((x) => x.isClear).map((x) => [x.start, x.end]));
    // a range limits the answer and never reaches the footer
    const part = await c.getPageRangesDiffForManagedDisks(50 * MiB, 1024 * MiB - 50 * MiB + 512, u1);
    expect(inclusive(part.pageRange)).toEqual([[100 * MiB, 100 * MiB + 2 * BLOCK_SIZE - 1], [900 * MiB, 900 * MiB + BLOCK_SIZE - 1]]);
  });

  it('listPageRangesDiff: one range per page with continuation markers, by URL and by prevsnapshot', async () => {
    const [u1, u2] = urls;
    const s1 = snaps[0];
    if (!u1 || !u2 || !s1) throw new Error('setup');
    const c = client(u2);
    for (const prev of [u1, s1.uniqueId, s1.timeCreated]) {
      const pages: Array<{ start: number; end: number; isClear: boolean }[]> = [];
      let token: string | undefined;
      for await (const page of c.listPageRangesDiff(0, BLOB, prev).byPage({ maxPageSize: 1 })) {
        const items = [
          ...(page.pageRange ?? []).map((r) => ({ start: r.start, end: r.end, isClear: false })),
          ...(page.clearRange ?? []).map((r) => ({ start: r.start, end: r.end, isClear: true })),
        ];
        pages.push(items);
        token ??= page.continuationToken;
      }
      expect(pages.flat()).toEqual(expected());
      expect(pages.every((p) => p.length === 1)).toBe(true);
      // resuming from the first page's marker gives the rest
      const rest = [];
      for await (const page of c.listPageRangesDiff(0, BLOB, prev).byPage({ maxPageSize: 2, continuationToken: token })) rest.push(page);
      const ranges = rest.flatMap((p) => [...(p.pageRange ?? []), ...(p.clearRange ?? [])]).map((r) => r.start).sort((x, y) => x - y);
      expect(ranges).toEqual([10 * MiB, 100 * MiB, 900 * MiB]);
    }
    const items = [];
    for await (const item of c.listPageRangesDiff(0, BLOB, u1)) items.push(item);
    expect(items).toEqual(expected());
  });

  it('diff against itself is empty; a newer "previous" is 400, another family 409', async () => {
    const [u1, u2] = urls;
    if (!u1 || !u2) throw new Error('urls');
    expect((await client(u2).getPageRangesDiffForManagedDisks(0, BLOB, u2)).pageRange ?? []).toEqual([]);
    await expect(client(u1).getPageRangesDiffForManagedDisks(0, BLOB, u2)).rejects.toMatchObject({
      statusCode: 400,
      code: 'PreviousSnapshotCannotBeNewer',
    });
    const other = await createDisk(b.t.engine, 'sdk-diff-other');
    const os = await snapshot(b.t.engine, other, 'sdk-diff-other-s1');
    const ou = (await b.grant(os)).url;
    await expect(client(u2).getPageRangesDiffForManagedDisks(0, BLOB, ou)).rejects.toMatchObject({
      statusCode: 409,
      code: 'PreviousSnapshotNotFound',
    });
  });

  it('a resize across 4 TiB between the snapshots → 409 PreviousSnapshotOperationNotSupported, telling to read in full', async () => {
    const e = b.t.engine;
    const big = await createDisk(e, 'sdk-diff-4t', 4096);
    await (await e.disks.open(big.uniqueId)).write(0, prng(16)(BLOCK_SIZE));
    const before = await snapshot(e, big, 'sdk-diff-4t-a');
    await e.disks.update({ subscriptionId: big.subscriptionId, resourceGroup: big.resourceGroup, name: big.name }, { sizeGb: 4100 });
    const after = await snapshot(e, big, 'sdk-diff-4t-b');
    await e.idle();
    const ua = (await b.grant(before)).url;
    const c = client((await b.grant(after)).url);
    const err: unknown = await c.getPageRangesDiffForManagedDisks(0, 4100 * 1024 * MiB, ua).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(err).toMatchObject({ statusCode: 409, code: 'PreviousSnapshotOperationNotSupported' });
    expect(String((err as Error).message)).toMatch(/full/i);
  });

  it('listPageRanges with paging over a full page list', async () => {
    const c = client(urls[1] ?? '');
    const starts: number[] = [];
    for await (const page of c.listPageRanges().byPage({ maxPageSize: 1 })) {
      expect((page.pageRange ?? []).length).toBeLessThanOrEqual(1);
      for (const r of page.pageRange ?? []) starts.push(r.start);
    }
    expect(starts).toEqual([0, 1 * MiB + 2 * BLOCK_SIZE, 10 * MiB, 100 * MiB, 900 * MiB, 1024 * MiB]);
  });
});

describe('blob SDK: upload', () => {
  it('uploadPages + clearPages into an Upload disk; endGetAccess gives exactly the bytes', async () => {
    const e = b.t.engine;
    const size = 24 * MiB;
    const disk = await createUploadDisk(b.t, 'sdk-up', size / MiB);
    const { url } = await b.grant(disk, 'Write');
    const c = client(url);
    expect((await c.getProperties()).contentLength).toBe(size + 512);
    const rnd = prng(13);
    const image = rnd(size);
    image.fill(0, 8 * MiB, 12 * MiB);
    for (let off = 0; off < size; off += 4 * MiB) {
      const piece = image.subarray(off, off + 4 * MiB);
      if (piece.every((x) => x === 0)) continue;
      const etagBefore = (await c.getProperties()).etag;
      const r = await c.uploadPages(piece, off, piece.length, { transactionalContentMD5: md5(piece) });
      expect(r.etag).not.toBe(etagBefore);
      expect(r.isServerEncrypted).toBe(true);
    }
    // clear a range after writing it
    await c.clearPages(2 * MiB, 1 * MiB);
    image.fill(0, 2 * MiB, 3 * MiB);
    await c.uploadPages(vhdFooter(size), size, 512);
    const got = await c.downloadToBuffer(0, size + 512);
    expect(got.subarray(0, size).equals(image)).toBe(true);
    await b.revoke(disk);
    const done = await e.disks.getById(disk.uniqueId);
    expect(done.diskState).toBe('Unattached');
    expect(done.sizeBytes).toBe(size);
    const h = await e.disks.open(disk.uniqueId);
    expect((await h.read(0, size)).equals(image)).toBe(true);
    // the write SAS is gone
    await expect(c.uploadPages(Buffer.alloc(512), 0, 512)).rejects.toMatchObject({ statusCode: 403, code: 'AuthenticationFailed' });
  });

  it('a wrong footer at endGetAccess is an error and the disk stays ActiveUpload; fixing it succeeds', async () => {
    const e = b.t.engine;
    const size = 20 * MiB;
    const disk = await createUploadDisk(b.t, 'sdk-up-bad', size / MiB);
    const { url } = await b.grant(disk, 'Write');
    const c = client(url);
    const data = prng(14)(4 * MiB);
    await c.uploadPages(data, 0, data.length);
    const bad = vhdFooter(size);
    bad[100] = 1; // checksum no longer matches
    await c.uploadPages(bad, size, 512);
    let err: unknown;
    try {
      await b.revoke(disk);
    } catch (x) {
      err = x;
    }
    expect(isSnapdiskError(err, 'OperationNotAllowed')).toBe(true);
    expect((await e.disks.getById(disk.uniqueId)).diskState).toBe('ActiveUpload');
    await c.uploadPages(vhdFooter(size), size, 512);
    await b.revoke(disk);
    const done = await e.disks.getById(disk.uniqueId);
    expect(done.diskState).toBe('Unattached');
    expect((await (await e.disks.open(disk.uniqueId)).read(0, data.length)).equals(data)).toBe(true);
  });

  it('uploadPagesFromURL copies from a snapshot SAS of this server', async () => {
    const e = b.t.engine;
    const src = prng(15)(20 * MiB);
    const srcDisk = await diskWithImage(b, 'sdk-fromurl-src', src);
    const srcSnap = await snapshot(e, srcDisk, 'sdk-fromurl-s');
    const srcUrl = (await b.grant(srcSnap)).url;
    const disk = await createUploadDisk(b.t, 'sdk-fromurl', 20);
    const c = client((await b.grant(disk, 'Write')).url);
    for (let off = 0; off < src.length; off += 4 * MiB) await c.uploadPagesFromURL(srcUrl, off, off, 4 * MiB);
    // the footer too: the source blob's last 512 bytes are its VHD footer
    await c.uploadPagesFromURL(srcUrl, 20 * MiB, 20 * MiB, 512);
    await b.revoke(disk);
    expect((await (await e.disks.open(disk.uniqueId)).read(0, src.length)).equals(src)).toBe(true);
  });
});

function md5(data: Buffer): Uint8Array {
  return new Uint8Array(createHash('md5').update(data).digest());
}
