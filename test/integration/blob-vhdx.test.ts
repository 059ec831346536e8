/**
 * VHDX behind a SAS: grants with fileFormat VHDX (and the default for 4096-byte-sector snapshots)
 * serve a VHDX generated on the fly. The served bytes must equal an independently built layout of
 * the same disk, ranged reads must agree with the whole file, the page list must name every
 * non-zero byte of the file, and the metadata must carry the resource's sector size.
 */

import { AnonymousCredential, PageBlobClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stableBytes, VHDX_BLOCK_SIZE } from '../../src/api/blob/formats.js';
import type { SnapshotRecord } from '../../src/core/model.js';
import { GiB, MiB } from '../../src/core/units.js';
import { guidBytes, VHDX_GUIDS, VHDX_OFFSETS, VhdxLayout } from '../../src/core/vhdx.js';
import { createDisk, prng, snapshot } from '../helpers/engine.js';
import { http, startBlobServer, withQuery } from './blob-harness.js';
import type { BlobServer } from './blob-harness.js';

let b: BlobServer;
beforeAll(async () => {
  b = await startBlobServer();
});
afterAll(async () => {
  await b.close();
});

/** The layout the server should serve for `s`, built here from the snapshot's allocation. */
async function expectedLayout(s: SnapshotRecord): Promise<VhdxLayout> {
  const present = new Set<number>();
  const alloc = await b.t.engine.snapshots.allocatedRanges(s);
  for (const r of alloc.ranges) {
    for (let blk = Math.floor(r.start / VHDX_BLOCK_SIZE); blk <= Math.floor((r.end - 1) / VHDX_BLOCK_SIZE); blk++) present.add(blk);
  }
  return new VhdxLayout({
    virtualSize: s.sizeBytes,
    logicalSectorSize: s.logicalSectorSize,
    physicalSectorSize: 4096,
    blockSize: VHDX_BLOCK_SIZE,
    presentBlocks: [...present].sort((x, y) => x - y),
    fileWriteGuid: stableBytes(s.uniqueId, 'vhdx-file-write'),
    dataWriteGuid: stableBytes(s.uniqueId, 'vhdx-data-write'),
    page83: stableBytes(s.uniqueId, 'vhdx-page83'),
  });
}

/** The bytes of [offset, offset+length) of `layout` over snapshot `s`. */
async function expectedBytes(layout: VhdxLayout, s: SnapshotRecord, offset: number, length: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const seg of layout.segments(offset, length)) {
    if (seg.kind === 'bytes') parts.push(seg.data);
    else if (seg.kind === 'zero') parts.push(Buffer.alloc(seg.length));
    else parts.push(await b.t.engine.snapshots.read(s, seg.virtualOffset, seg.length));
  }
  return Buffer.concat(parts);
}

/** Reads a metadata item of a VHDX file by its GUID (spec layout: table at the region start). */
function metadataItem(file: Buffer, guid: string): Buffer {
  const region = VHDX_OFFSETS.metadata;
  expect(file.toString('latin1', region, region + 8)).toBe('metadata');
  const count = file.readUInt16LE(region + 10);
  const want = guidBytes(guid);
  for (let i = 0; i < count; i++) {
    const e = region + 32 + i * 32;
    if (file.subarray(e, e + 16).equals(want)) {
      const off = file.readUInt32LE(e + 16);
      const len = file.readUInt32LE(e + 20);
      return file.subarray(region + off, region + off + len);
    }
  }
  throw new Error(`metadata item ${guid} missing`);
}

async function checkServed(url: string, s: SnapshotRecord): Promise<Buffer> {
  const layout = await expectedLayout(s);
  const c = new PageBlobClient(url, new AnonymousCredential());
  expect((await c.getProperties()).contentLength).toBe(layout.fileSize);
  const whole = await c.downloadToBuffer(0, layout.fileSize);
  for (let off = 0; off < layout.fileSize; off += 16 * MiB) {
    const n = Math.min(16 * MiB, layout.fileSize - off);
    expect(whole.subarray(off, off + n).equals(await expectedBytes(layout, s, off, n))).toBe(true);
  }
  // ranged reads agree with the whole file
  const rnd = prng(51);
  for (let i = 0; i < 8; i++) {
    const off = rnd(4).readUInt32LE(0) % layout.fileSize;
    const n = Math.min(layout.fileSize - off, 1 + (rnd(4).readUInt32LE(0) % (3 * MiB)));
    expect((await c.downloadToBuffer(off, n)).equals(whole.subarray(off, off + n))).toBe(true);
  }
  // the page list names every non-zero byte of the file
  const rebuilt = Buffer.alloc(layout.fileSize);
  let listed = 0;
  for (const r of (await c.getPageRanges(0, layout.fileSize)).pageRange ?? []) {
    const len = (r.count ?? 0) + 1;
    whole.copy(rebuilt, r.offset, r.offset, r.offset + len);
    listed += len;
  }
  expect(rebuilt.equals(whole)).toBe(true);
  expect(listed).toBeLessThan(layout.fileSize);
  return whole;
}

describe('blob VHDX', () => {
  it('512-byte sectors with fileFormat VHDX: sparse file, exact bytes, page list, metadata', async () => {
    const e = b.t.engine;
    const disk = await createDisk(e, 'vhdx512');
    const h = await e.disks.open(disk.uniqueId);
    await h.write(MiB + 100, prng(52)(2 * MiB));
    await h.write(700 * MiB, prng(53)(MiB));
    await h.write(GiB - 4096, prng(54)(4096));
    const s = await snapshot(e, disk, 'vhdx512-s');
    await e.idle();
    const { url } = await b.grant(s, 'Read', 'VHDX');
    const file = await checkServed(url, s);
    // three present 32 MiB blocks: the file is far smaller than the disk
    expect(file.length).toBe((await expectedLayout(s)).payloadOffset + 3 * VHDX_BLOCK_SIZE);
    expect(file.toString('latin1', 0, 8)).toBe('vhdxfile');
    expect(metadataItem(file, VHDX_GUIDS.logicalSectorSize).readUInt32LE(0)).toBe(512);
    expect(Number(metadataItem(file, VHDX_GUIDS.virtualDiskSize).readBigUInt64LE(0))).toBe(GiB);
    // the same grant serves the same bytes again (layout cached per grant)
    const again = await http(url, { headers: { 'x-ms-range': `bytes=0-${4 * MiB - 1}` } });
    expect(again.body.equals(file.subarray(0, 4 * MiB))).toBe(true);
    // diffs are VHD-only
    const r = await http(withQuery(url, { comp: 'pagelist' }), { headers: { 'x-ms-previous-snapshot-url': url } });
    expect(r.status).toBe(409);
    expect(r.headers.get('x-ms-error-code')).toBe('PreviousSnapshotOperationNotSupported');
  });

  it('4096-byte sectors: VHDX by default, logical sector size 4096 in the metadata', async () => {
    const e = b.t.engine;
    const disk = await createDisk(e, 'vhdx4k', 1, { sku: 'PremiumV2_LRS' });
    expect(disk.logicalSectorSize).toBe(4096);
    const h = await e.disks.open(disk.uniqueId);
    await h.write(33 * MiB, prng(55)(3 * MiB));
    const s = await snapshot(e, disk, 'vhdx4k-s');
    await e.idle();
    const { grant, url } = await b.grant(s);
    expect(grant.fileFormat).toBe('VHDX');
    const file = await checkServed(url, s);
    expect(metadataItem(file, VHDX_GUIDS.logicalSectorSize).readUInt32LE(0)).toBe(4096);
    expect(file.length).toBe((await expectedLayout(s)).payloadOffset + VHDX_BLOCK_SIZE);
  });

  it('an empty disk is a VHDX of metadata only; a disk grant serves VHDX too', async () => {
    const e = b.t.engine;
    const disk = await createDisk(e, 'vhdx-empty');
    const s = await snapshot(e, disk, 'vhdx-empty-s');
    const { url } = await b.grant(s, 'Read', 'VHDX');
    const layout = await expectedLayout(s);
    expect((await http(url, { method: 'HEAD' })).headers.get('content-length')).toBe(String(layout.payloadOffset));
    await checkServed(url, s);
    const { url: durl } = await b.grant(disk, 'Read', 'VHDX');
    expect((await http(durl, { method: 'HEAD' })).headers.get('content-length')).toBe(String(layout.payloadOffset));
  });
});
