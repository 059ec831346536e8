/**
 * `disk upload`, `disk download` and `snapshot download` against a real server with real files:
 * raw and fixed-VHD uploads (zero ranges skipped, footer last, the disk finalised), downloads to
 * raw, VHD and VHDX (sparse, byte-exact), 4096-byte-sector disks (served as VHDX, read through
 * its BAT), grants revoked afterwards but a pre-existing SAS left alone.
 */

import { randomBytes } from 'node:crypto';
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readVhdxMap } from '../../src/cli/data/vhdx-reader.js';
import { MiB } from '../../src/core/units.js';
import { parseVhdFooter, vhdFooter } from '../../src/core/vhd.js';
import { startCli } from './cli-harness.js';
import type { CliTest } from './cli-harness.js';

let t: CliTest;
beforeAll(async () => {
  t = await startCli({ limits: { incrementalSnapshotsPerDiskPer5Minutes: 1000 } });
  expect((await t.run('group create -n rg -l eastus -o none')).code).toBe(0);
});
afterAll(async () => {
  await t?.close();
});

/** A raw image: random data in a few places, holes elsewhere, an unaligned tail. */
function image(size: number): Buffer {
  const b = Buffer.alloc(size);
  randomBytes(3 * MiB + 1234).copy(b, 5 * MiB);
  randomBytes(70_000).copy(b, 13 * MiB + 17);
  randomBytes(512).copy(b, size - 512);
  return b;
}

async function fileBytes(path: string): Promise<Buffer> {
  return readFile(path);
}

/** Data written at `offset` of a disk that is zeros elsewhere. */
interface Region {
  offset: number;
  data: Buffer;
}

/** The expected bytes of [start, end) of an image made of `regions`. */
function expectedSlice(regions: readonly Region[], start: number, end: number): Buffer {
  const out = Buffer.alloc(end - start);
  for (const r of regions) {
    const s = Math.max(start, r.offset);
    const e = Math.min(end, r.offset + r.data.length);
    if (s < e) r.data.copy(out, s - start, s - r.offset, e - r.offset);
  }
  return out;
}

/**
 * Checks a 1 GiB-class image without reading all of it (reading holes of big files is slow on
 * these machines): every region with a MiB of margin, the first and last MiB byte for byte, and
 * the allocated size (writes elsewhere would allocate blocks).
 */
async function expectImage(path: string, size: number, regions: readonly Region[]): Promise<void> {
  const st = await stat(path);
  expect(st.size).toBe(size);
  const windows = [[0, MiB], [size - MiB, size], ...regions.map((r) => [Math.max(0, r.offset - MiB), Math.min(size, r.offset + r.data.length + MiB)])];
  const fh = await open(path, 'r');
  try {
    for (const [start = 0, end = 0] of windows) {
      const got = Buffer.alloc(end - start);
      await fh.read(got, 0, got.length, start);
      expect(got.equals(expectedSlice(regions, start, end)), `${path} [${start}, ${end})`).toBe(true);
    }
  } finally {
    await fh.close();
  }
  const data = regions.reduce((n, r) => n + r.data.length, 0);
  expect(st.blocks * 512).toBeLessThanOrEqual(data + regions.length * 256 * 1024 + 64 * 1024);
}

describe('cli: upload', () => {
  it('a raw image into a disk it creates: zero ranges skipped, footer generated, disk usable', async () => {
    const raw = image(24 * MiB);
    const file = join(t.dir, 'in.raw');
    await writeFile(file, raw);
    const r = await t.run(`disk upload -g rg -n up-raw --file ${file} --sku Standard_LRS --parallel 4`);
    expect(r.code, r.stderr).toBe(0);
    const s = r.json();
    expect(s).toMatchObject({ format: 'raw', uploadSizeBytes: 24 * MiB + 512 });
    expect(Number(s.sentBytes)).toBeLessThan(4 * MiB + 256 * 1024); // only the non-zero 64 KiB blocks
    expect(Number(s.sentBytes) + Number(s.skippedZeroBytes)).toBe(24 * MiB);
    const d = (await t.run('disk show -g rg -n up-raw')).json();
    expect(d).toMatchObject({ diskState: 'Unattached', diskSizeBytes: 24 * MiB, creationData: { createOption: 'Upload' } });
    const out = join(t.dir, 'up-raw.raw');
    expect((await t.run(`disk download -g rg -n up-raw --file ${out} -o none`)).code).toBe(0);
    expect((await fileBytes(out)).equals(raw)).toBe(true);
  });

  it('a fixed VHD into a disk created for it keeps its footer; a bigger disk gets the image at its start', async () => {
    const raw = image(21 * MiB);
    const vhd = Buffer.concat([raw, vhdFooter(raw.length, { uniqueId: randomBytes(16) })]);
    const file = join(t.dir, 'in.vhd');
    await writeFile(file, vhd);
    expect((await t.run(`disk create -g rg -n up-vhd --upload-type Upload --upload-size-bytes ${vhd.length} --sku Standard_LRS -o none`)).code).toBe(0);
    const r = await t.run(`disk upload -g rg -n up-vhd --file ${file}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ format: 'vhd' });
    const out = join(t.dir, 'up-vhd.vhd');
    expect((await t.run(`disk download -g rg -n up-vhd --file ${out}`)).json()).toMatchObject({ format: 'vhd', sizeBytes: vhd.length });
    const got = await fileBytes(out);
    expect(got.subarray(0, raw.length).equals(raw)).toBe(true);
    expect(parseVhdFooter(got.subarray(raw.length), { expectedSizeBytes: raw.length }).valid).toBe(true);
    // the same VHD into a 32 MiB upload disk: data first, zeros after, footer for 32 MiB
    expect((await t.run(`disk create -g rg -n up-big --upload-type Upload --upload-size-bytes ${32 * MiB + 512} --sku Standard_LRS -o none`)).code).toBe(0);
    expect((await t.run(`disk upload -g rg -n up-big --file ${file} --format vhd -o none`)).code).toBe(0);
    const big = join(t.dir, 'up-big.raw');
    await t.run(`disk download -g rg -n up-big --file ${big} -o none`);
    const b = await fileBytes(big);
    expect(b.length).toBe(32 * MiB);
    expect(b.subarray(0, raw.length).equals(raw)).toBe(true);
    expect(b.subarray(raw.length).every((x) => x === 0)).toBe(true);
  });

  it('snapshot create --for-upload: a Write grant, Put Pages, revoke-access, and the snapshot is the VHD\'s data', async () => {
    const raw = image(20 * MiB);
    const vhd = Buffer.concat([raw, vhdFooter(raw.length, { uniqueId: randomBytes(16) })]);
    expect((await t.run('snapshot create -g rg -n up-snap --for-upload')).code).toBe(2); // usage checked before any request
    expect((await t.run(`snapshot create -g rg -n up-snap --upload-size-bytes ${vhd.length}`)).code).toBe(2);
    expect((await t.run(`snapshot create -g rg -n up-snap --for-upload --source dl`)).code).toBe(2);
    const created = await t.run(`snapshot create -g rg -n up-snap --for-upload --upload-size-bytes ${vhd.length}`);
    expect(created.code, created.stderr).toBe(0);
    expect(created.json()).toMatchObject({ creationData: { createOption: 'Upload', uploadSizeBytes: vhd.length }, diskState: 'ReadyToUpload', incremental: false });
    const sas = (await t.run('snapshot grant-access -g rg -n up-snap --access-level Write --duration-in-seconds 600 --query accessSas -o tsv')).stdout.trim();
    expect(sas).toMatch(/^https:/);
    const url = new URL(sas);
    const http = `${t.server.httpUrl.replace(/\/$/, '')}${url.pathname}${url.search}`; // the same routes over plain HTTP
    for (let at = 0; at < vhd.length; at += 4 * MiB) {
      const piece = vhd.subarray(at, Math.min(vhd.length, at + 4 * MiB));
      const res = await fetch(`${http}&comp=page`, {
        method: 'PUT',
        headers: { 'x-ms-page-write': 'update', 'x-ms-range': `bytes=${at}-${at + piece.length - 1}`, 'content-length': String(piece.length) },
        body: piece,
      });
      expect(res.status, await res.text()).toBe(201);
    }
    expect((await t.run('snapshot revoke-access -g rg -n up-snap')).code).toBe(0);
    expect((await t.run('snapshot wait -g rg -n up-snap --custom "completionPercent==`100`" --interval 1 --timeout 60')).code).toBe(0);
    const show = (await t.run('snapshot show -g rg -n up-snap')).json<{ diskSizeBytes: number; diskState: string }>();
    expect(show).toMatchObject({ diskSizeBytes: raw.length, diskState: 'Unattached' });
    const out = join(t.dir, 'up-snap.raw');
    expect((await t.run(`snapshot download -g rg -n up-snap --file ${out} -o none`)).code).toBe(0);
    expect((await fileBytes(out)).equals(raw)).toBe(true);
  });

  it('refusals: a damaged VHD, an image larger than the disk, a disk not created for upload', async () => {
    const bad = Buffer.concat([Buffer.alloc(21 * MiB), vhdFooter(21 * MiB)]);
    bad[bad.length - 512 + 70] = 0xff; // unique id changed: checksum no longer matches
    const file = join(t.dir, 'bad.vhd');
    await writeFile(file, bad);
    const r = await t.run(`disk upload -g rg -n up-bad --file ${file}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not a fixed VHD');
    expect(r.stderr).toContain('qemu-img convert');
    const large = join(t.dir, 'large.raw');
    await writeFile(large, Buffer.alloc(40 * MiB, 1));
    expect((await t.run(`disk create -g rg -n up-small --upload-type Upload --upload-size-bytes ${20 * MiB + 512} --sku Standard_LRS -o none`)).code).toBe(0);
    const tooBig = await t.run(`disk upload -g rg -n up-small --file ${large}`);
    expect(tooBig.code).toBe(2);
    expect(tooBig.stderr).toContain('--upload-size-bytes 41943552');
    const notUpload = await t.run(`disk upload -g rg -n up-raw --file ${large}`);
    expect(notUpload.code).toBe(1);
    expect(notUpload.stderr).toContain('is not waiting for an upload');
    const missing = await t.run(`disk upload -g rg -n up-x --file ${join(t.dir, 'nope.raw')}`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('argument --file: cannot open');
  });
});

describe('cli: download', () => {
  it('raw, vhd and vhdx of a snapshot, sparse, byte-exact; grants revoked; --overwrite', async () => {
    const disk = (await t.run('disk create -g rg -n dl --size-gb 1 --sku Standard_LRS')).json();
    const h = await t.server.engine.disks.open(String(disk.uniqueId));
    const regions: Region[] = [
      { offset: 7 * MiB + 512, data: randomBytes(5 * MiB + 333) },
      { offset: 900 * MiB, data: randomBytes(1 * MiB) },
    ];
    for (const r of regions) await h.write(r.offset, r.data);
    await h.flush();
    expect((await t.run('snapshot create -g rg -n dl-s1 --source dl --incremental true -o none')).code).toBe(0);
    const size = 1024 * MiB;
    const raw = join(t.dir, 'dl.raw');
    const r = await t.run(`snapshot download -g rg -n dl-s1 --file ${raw}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ format: 'raw', sizeBytes: size, diskSizeBytes: size });
    await expectImage(raw, size, regions);
    expect((await t.run('snapshot show -g rg -n dl-s1 --query diskState -o tsv')).stdout).toBe('Unattached\n');
    const again = await t.run(`snapshot download -g rg -n dl-s1 --file ${raw}`);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('--overwrite');
    expect((await t.run(`snapshot download -g rg -n dl-s1 --file ${raw} --overwrite --parallel 1 -o none`, { env: { SNAPDISK_PAGE_LIST_SIZE: '1' } })).code).toBe(0);
    await expectImage(raw, size, regions);

    const vhd = join(t.dir, 'dl.vhd');
    expect((await t.run(`snapshot download -g rg -n dl-s1 --file ${vhd} -o none`)).code).toBe(0);
    const footer = Buffer.alloc(512);
    const vf = await open(vhd, 'r');
    await vf.read(footer, 0, 512, size);
    await vf.close();
    expect(parseVhdFooter(footer, { expectedSizeBytes: size }).valid).toBe(true);
    await expectImage(vhd, size + 512, [...regions, { offset: size, data: footer }]);

    const vhdx = join(t.dir, 'dl.vhdx');
    expect((await t.run(`snapshot download -g rg -n dl-s1 --file ${vhdx} -o none`)).code).toBe(0);
    const fh = await open(vhdx, 'r');
    try {
      const read = async (o: number, n: number): Promise<Buffer> => {
        const buf = Buffer.alloc(n);
        await fh.read(buf, 0, n, o);
        return buf;
      };
      const map = await readVhdxMap(read);
      expect(map.virtualSize).toBe(size);
      for (const blk of map.blocks) {
        expect((await read(blk.fileOffset, blk.length)).equals(expectedSlice(regions, blk.virtualOffset, blk.virtualOffset + blk.length))).toBe(true);
      }
      // every region lies in present blocks
      for (const reg of regions) {
        for (let o = reg.offset; o < reg.offset + reg.data.length; o += map.blockSize) expect(map.blocks.some((b) => b.virtualOffset <= o && o < b.virtualOffset + b.length)).toBe(true);
      }
      expect((await stat(vhdx)).size).toBeLessThan(200 * MiB);
    } finally {
      await fh.close();
    }
  });

  it('a disk, and a snapshot that already had a SAS keeps it', async () => {
    const raw = join(t.dir, 'disk.raw');
    expect((await t.run(`disk download -g rg -n dl --file ${raw} -o none`)).code).toBe(0);
    expect((await t.run('disk show -g rg -n dl --query diskState -o tsv')).stdout).toBe('Unattached\n');
    expect((await t.run('snapshot grant-access -g rg -n dl-s1 --duration-in-seconds 600 -o none')).code).toBe(0);
    expect((await t.run(`snapshot download -g rg -n dl-s1 --file ${join(t.dir, 'kept.raw')} -o none`)).code).toBe(0);
    expect((await t.run('snapshot show -g rg -n dl-s1 --query diskState -o tsv')).stdout).toBe('ActiveSAS\n');
    expect((await t.run('snapshot revoke-access -g rg -n dl-s1')).code).toBe(0);
  });

  it('4096-byte sectors: served as VHDX, downloaded to raw and VHD through its BAT', async () => {
    const disk = (await t.run('disk create -g rg -n ultra --size-gb 1 --sku PremiumV2_LRS --logical-sector-size 4096')).json();
    expect((disk.creationData as Record<string, unknown>).logicalSectorSize).toBe(4096);
    const h = await t.server.engine.disks.open(String(disk.uniqueId));
    const size = 1024 * MiB;
    const a = randomBytes(3 * MiB);
    const regions: Region[] = [
      { offset: 40 * MiB + 4096, data: a },
      { offset: size - 8192, data: a.subarray(0, 8192) },
    ];
    for (const r of regions) await h.write(r.offset, r.data);
    await h.flush();
    const raw = join(t.dir, 'ultra.raw');
    const r = await t.run(`disk download -g rg -n ultra --file ${raw}`);
    expect(r.code, r.stderr).toBe(0);
    await expectImage(raw, size, regions);
    const vhd = join(t.dir, 'ultra.vhd');
    expect((await t.run(`disk download -g rg -n ultra --file ${vhd} -o none`)).code).toBe(0);
    const footer = Buffer.alloc(512);
    const vf = await open(vhd, 'r');
    await vf.read(footer, 0, 512, size);
    await vf.close();
    expect(parseVhdFooter(footer, { expectedSizeBytes: size }).valid).toBe(true);
    await expectImage(vhd, size + 512, [...regions, { offset: size, data: footer }]);
    // a full export works on it too; a diff says why it cannot
    expect((await t.run('snapshot create -g rg -n ultra-s1 --source ultra --incremental true -o none')).code).toBe(0);
    expect((await t.run('snapshot wait -g rg -n ultra-s1 --custom "completionPercent==`100`" --interval 0')).code).toBe(0);
    expect((await t.run('snapshot create -g rg -n ultra-s2 --source ultra --incremental true -o none')).code).toBe(0);
    expect((await t.run('snapshot wait -g rg -n ultra-s2 --custom "completionPercent==`100`" --interval 0')).code).toBe(0);
    const full = join(t.dir, 'ultra.sdiff');
    expect((await t.run(`snapshot export-diff -g rg --to ultra-s1 --file ${full} -o none`)).code).toBe(0);
    const restored = join(t.dir, 'ultra-restored.raw');
    expect((await t.run(`snapshot apply-diff --file ${full} --target ${restored} -o none`)).code).toBe(0);
    await expectImage(restored, size, regions);
    const diff = await t.run('snapshot diff -g rg --from ultra-s1 --to ultra-s2');
    expect(diff.code).toBe(1);
    expect(diff.stderr).toContain('4096-byte sectors');
  });
});
