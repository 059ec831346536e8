/**
 * VHDX behind a SAS: grants with fileFormat VHDX (and the default for 4096-byte-sector snapshots)
 * serve a VHDX generated on the fly. The expected file is built from a model of what the test
 * wrote (the 32 MiB blocks it touched, the bytes it wrote; never the server's allocation or
 * reads): the served bytes must equal it, ranged reads must agree with the whole file, the page
 * list must name every non-zero byte of the file and the written data at their file offsets,
 * and the metadata must carry the resource's sector size.
 */

import { AnonymousCredential, PageBlobClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stableBytes, VHDX_BLOCK_SIZE } from '../../src/api/blob/formats.js';
import type { SnapshotRecord } from '../../src/core/model.js';
import { BLOCK_SIZE, GiB, MiB } from '../../src/core/units.js';
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

/** A disk or snapshot, as far as its VHDX is concerned. */
type Resource = Pick<SnapshotRecord, 'uniqueId' | 'sizeBytes' | 'logicalSectorSize'>;

/** What the test wrote to a disk: its size and the writes in order (later ones win). */
interface Model {
  size: number;
  writes: Array<{ offset: number; data: Buffer }>;
}

async function write(model: Model, h: { write(offset: number, data: Uint8Array): Promise<void> }, offset: number, data: Buffer): Promise<void> {
  await h.write(offset, data);
  model.writes.push({ offset, data });
}

/** The model's bytes of [offset, offset + length): zeros with the writes laid over them. */
function modelRead(model: Model, offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (const w of model.writes) {
    const from = Math.max(offset, w.offset);
    const to = Math.min(offset + length, w.offset + w.data.length);
    if (from < to) w.data.copy(out, from - offset, from - w.offset, to - w.offset);
  }
  return out;
}

/** The 32 MiB blocks holding a written 64 KiB block (allocation is per 64 KiB block). */
function presentBlocks(model: Model): number[] {
  const present = new Set<number>();
  for (const w of model.writes) {
    const first = Math.floor(w.offset / BLOCK_SIZE) * BLOCK_SIZE;
    const last = Math.floor((w.offset + w.data.length - 1) / BLOCK_SIZE) * BLOCK_SIZE;
    for (let blk = Math.floor(first / VHDX_BLOCK_SIZE); blk <= Math.floor(last / VHDX_BLOCK_SIZE); blk++) present.add(blk);
  }
  return [...present].sort((x, y) => x - y);
}

/** The layout the server should serve for `s`, its present blocks from the model. */
function expectedLayout(s: Resource, model: Model): VhdxLayout {
  return new VhdxLayout({
    virtualSize: s.sizeBytes,
    logicalSectorSize: s.logicalSectorSize,
    physicalSectorSize: 4096,
    blockSize: VHDX_BLOCK_SIZE,
    presentBlocks: presentBlocks(model),
    fileWriteGuid: stableBytes(s.uniqueId, 'vhdx-file-write'),
    dataWriteGuid: stableBytes(s.uniqueId, 'vhdx-data-write'),
    page83: stableBytes(s.uniqueId, 'vhdx-page83'),
  });
}

/** The bytes of [offset, offset+length) of `layout` over the model's disk. */
function expectedBytes(layout: VhdxLayout, model: Model, offset: number, length: number): Buffer {
  const parts: Buffer[] = [];
  for (const seg of layout.segments(offset, length)) {
    if (seg.kind === 'bytes') parts.push(seg.data);
    else if (seg.kind === 'zero') parts.push(Buffer.alloc(seg.length));
    else parts.push(modelRead(model, seg.virtualOffset, seg.length));
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

async function checkServed(url: string, s: Resource, model: Model): Promise<Buffer> {
  const layout = expectedLayout(s, model);
  const c = new PageBlobClient(url, new AnonymousCredential());
  expect((await c.getProperties()).contentLength).toBe(layout.fileSize);
  const whole = await c.downloadToBuffer(0, layout.fileSize);
  for (let off = 0; off < layout.fileSize; off += 16 * MiB) {
    const n = Math.min(16 * MiB, layout.fileSize - off);
    expect(whole.subarray(off, off + n).equals(expectedBytes(layout, model, off, n))).toBe(true);
  }
  // ranged reads agree with the whole file
  const rnd = prng(51);
  for (let i = 0; i < 8; i++) {
    const off = rnd(4).readUInt32LE(0) % layout.fileSize;
    const n = Math.min(layout.fileSize - off, 1 + (rnd(4).readUInt32LE(0) % (3 * MiB)));
    expect((await c.downloadToBuffer(off, n)).equals(whole.subarray(off, off + n))).toBe(true);
  }
  // the page list names every non-zero byte of the file, and every written byte where it lives
  const listed = (await c.getPageRanges(0, layout.fileSize)).pageRange ?? [];
  const rebuilt = Buffer.alloc(layout.fileSize);
  let total = 0;
  for (const r of listed) {
    const len = (r.count ?? 0) + 1;
    whole.copy(rebuilt, r.offset, r.offset, r.offset + len);
    total += len;
  }
  expect(rebuilt.equals(whole)).toBe(true);
  expect(total).toBeLessThan(layout.fileSize);
  const covered = (from: number, to: number): boolean => listed.some((r) => r.offset <= from && to <= r.offset + (r.count ?? 0) + 1);
  for (const w of model.writes) {
    const first = Math.floor(w.offset / BLOCK_SIZE) * BLOCK_SIZE;
    const end = Math.ceil((w.offset + w.data.length) / BLOCK_SIZE) * BLOCK_SIZE;
    for (let v = first; v < end; v += BLOCK_SIZE) {
      const f = fileOffset(layout, v);
      expect(covered(f, f + BLOCK_SIZE), `written block at ${v} (file ${f}) listed`).toBe(true);
    }
  }
  return whole;
}

/** The file offset of virtual offset `v` of a present block. */
function fileOffset(layout: VhdxLayout, v: number): number {
  const blk = Math.floor(v / VHDX_BLOCK_SIZE);
  const at = layout.blockFileOffset(blk);
  if (at === undefined) throw new Error(`block ${blk} is not present in the expected layout`);
  return at + (v - blk * VHDX_BLOCK_SIZE);
}

describe('blob VHDX', () => {
  it('512-byte sectors with fileFormat VHDX: sparse file, exact bytes, page list, metadata', async () => {
    const e = b.t.engine;
    const disk = await createDisk(e, 'vhdx512');
    const h = await e.disks.open(disk.uniqueId);
    const model: Model = { size: GiB, writes: [] };
    await write(model, h, MiB + 100, prng(52)(2 * MiB));
    await write(model, h, 700 * MiB, prng(53)(MiB));
    await write(model, h, GiB - 4096, prng(54)(4096));
    await write(model, h, 2 * MiB, prng(56)(1000)); // overlaps the first write
    const s = await snapshot(e, disk, 'vhdx512-s');
    await e.idle();
    const { url } = await b.grant(s, 'Read', 'VHDX');
    const file = await checkServed(url, s, model);
    // three present 32 MiB blocks (0, 21 and 31): the file is far smaller than the disk
    expect(presentBlocks(model)).toEqual([0, 21, 31]);
    expect(file.length).toBe(expectedLayout(s, model).payloadOffset + 3 * VHDX_BLOCK_SIZE);
    expect(file.toString('latin1', 0, 8)).toBe('vhdxfile');
    expect(metadataItem(file, VHDX_GUIDS.logicalSectorSize).readUInt32LE(0)).toBe(512);
    expect(Number(metadataItem(file, VHDX_GUIDS.virtualDiskSize).readBigUInt64LE(0))).toBe(GiB);
    // the same grant serves the same bytes again (layout cached per grant)
    const again = await http(url, { headers: { 'x-ms-range': `bytes=0-${4 * MiB - 1}` } });
    expect(again.body.equals(file.subarray(0, 4 * MiB))).toBe(true);
    // the disk itself through a VHDX grant: the same model (its layout comes from the disk's bitmap)
    const { url: durl } = await b.grant(disk, 'Read', 'VHDX');
    await checkServed(durl, await e.disks.getById(disk.uniqueId), model);
    await b.revoke(disk);
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
    const model: Model = { size: disk.sizeBytes, writes: [] };
    await write(model, h, 33 * MiB, prng(55)(3 * MiB));
    const s = await snapshot(e, disk, 'vhdx4k-s');
    await e.idle();
    const { grant, url } = await b.grant(s);
    expect(grant.fileFormat).toBe('VHDX');
    const file = await checkServed(url, s, model);
    expect(metadataItem(file, VHDX_GUIDS.logicalSectorSize).readUInt32LE(0)).toBe(4096);
    expect(presentBlocks(model)).toEqual([1]);
    expect(file.length).toBe(expectedLayout(s, model).payloadOffset + VHDX_BLOCK_SIZE);
  });

  it('an empty disk is a VHDX of metadata only; a disk grant serves VHDX too', async () => {
    const e = b.t.engine;
    const disk = await createDisk(e, 'vhdx-empty');
    const s = await snapshot(e, disk, 'vhdx-empty-s');
    const { url } = await b.grant(s, 'Read', 'VHDX');
    const model: Model = { size: disk.sizeBytes, writes: [] };
    const layout = expectedLayout(s, model);
    expect((await http(url, { method: 'HEAD' })).headers.get('content-length')).toBe(String(layout.payloadOffset));
    await checkServed(url, s, model);
    const { url: durl } = await b.grant(disk, 'Read', 'VHDX');
    expect((await http(durl, { method: 'HEAD' })).headers.get('content-length')).toBe(String(layout.payloadOffset));
  });
});
