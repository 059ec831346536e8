/**
 * @module cli/data/diff-file.test
 * The diff file: round trip, and every way a file can be incomplete or damaged is refused with
 * its reason before any record reaches the caller.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiffWriter, readDiff } from './diff-file.js';
import type { DiffHeader, DiffRecord } from './diff-file.js';

const dir = mkdtempSync(join(tmpdir(), 'snapdisk-diff-'));
afterAll(async () => rm(dir, { recursive: true, force: true }));

const HEADER: DiffHeader = {
  format: 'snapdisk-diff',
  version: 1,
  kind: 'incremental',
  diskSizeBytes: 1 << 20,
  baseSizeBytes: 1 << 20,
  from: { id: '/a', name: 'a', uniqueId: 'ua', timeCreated: 't1', diskSizeBytes: 1 << 20 },
  to: { id: '/b', name: 'b', uniqueId: 'ub', timeCreated: 't2', diskSizeBytes: 1 << 20 },
  incrementalSnapshotFamilyId: 'f',
  createdAt: 'now',
  createdBy: 'test',
};

async function sample(path: string): Promise<Buffer> {
  const w = await DiffWriter.create(path, HEADER);
  const data = randomBytes(4096);
  await w.zero(0, 512);
  await w.data(4096, data);
  await w.zero(65536, 65536);
  await w.finish();
  return data;
}

describe('diff file', () => {
  it('round trip: header, records in order, counts, checksum', async () => {
    const path = join(dir, 'ok.sdiff');
    const data = await sample(path);
    const seen: DiffRecord[] = [];
    const r = await readDiff(path, async (rec) => {
      seen.push(rec);
    });
    expect(r.header).toEqual(HEADER);
    expect(r).toMatchObject({ records: 3, dataBytes: 4096, zeroBytes: 512 + 65536 });
    expect(seen.map((x) => [x.kind, x.offset, x.length])).toEqual([['zero', 0, 512], ['data', 4096, 4096], ['zero', 65536, 65536]]);
    expect(seen[1]?.data?.equals(data)).toBe(true);
    expect((await readFile(path)).subarray(0, 8).toString()).toBe('SNAPDIFF');
  });

  it('the writer refuses records out of order, misaligned or outside the disk', async () => {
    const w = await DiffWriter.create(join(dir, 'bad-order.sdiff'), HEADER);
    await w.data(8192, Buffer.alloc(512, 1));
    await expect(w.zero(0, 512)).rejects.toThrow('out of order');
    await expect(w.zero(9000, 512)).rejects.toThrow('misaligned');
    await expect(w.zero(1 << 20, 512)).rejects.toThrow();
    await w.abort();
  });

  it('every truncation point and every single-byte change is refused before a record is delivered', async () => {
    const path = join(dir, 'src.sdiff');
    await sample(path);
    const good = await readFile(path);
    const bad = join(dir, 'bad.sdiff');
    const cuts = [0, 7, 16, 40, good.length - 41, good.length - 40, good.length - 1];
    for (let i = 0; i < good.length; i += 97) cuts.push(i);
    for (const cut of cuts) {
      await writeFile(bad, good.subarray(0, cut));
      let delivered = 0;
      await expect(readDiff(bad), `cut ${cut}`).rejects.toThrow('not a complete snapdisk diff file');
      await readDiff(bad, async () => {
        delivered++;
      }).catch(() => undefined);
      expect(delivered === 0 || cut > 0).toBe(true);
    }
    for (let i = 0; i < good.length; i += 61) {
      const b = Buffer.from(good);
      b[i] = (b[i] ?? 0) ^ 1;
      await writeFile(bad, b);
      await expect(readDiff(bad), `byte ${i}`).rejects.toThrow();
    }
    await writeFile(bad, Buffer.concat([good, Buffer.from([0])]));
    await expect(readDiff(bad)).rejects.toThrow('bytes after the end marker');
  });
});
