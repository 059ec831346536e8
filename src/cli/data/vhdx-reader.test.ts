/**
 * @module cli/data/vhdx-reader.test
 * The client's VHDX reader against files laid out by core/vhdx.ts (what the server serves):
 * fixed and sparse layouts, both sector sizes, a disk past the first sector-bitmap entry (read
 * through the layout's segments, never materialised).
 */
import { describe, expect, it } from 'vitest';
import { VhdxLayout } from '../../core/vhdx.js';
import { GiB, MiB } from '../../core/units.js';
import { readVhdxMap } from './vhdx-reader.js';

/** A disk that is zero except 4 KiB marks at `marks` (byte value from the offset). */
function diskByte(marks: number[], off: number): number {
  for (const m of marks) if (off >= m && off < m + 4096) return (m % 251) + 1;
  return 0;
}

function diskRead(marks: number[], off: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (const m of marks) {
    const s = Math.max(off, m);
    const e = Math.min(off + len, m + 4096);
    if (s < e) b.fill((m % 251) + 1, s - off, e - off);
  }
  return b;
}

function fileReader(layout: VhdxLayout, marks: number[]) {
  return (offset: number, length: number): Promise<Buffer> => {
    const parts = layout.segments(offset, length).map((s) => (s.kind === 'bytes' ? s.data : s.kind === 'zero' ? Buffer.alloc(s.length) : diskRead(marks, s.virtualOffset, s.length)));
    return Promise.resolve(Buffer.concat(parts));
  };
}

async function check(size: number, sector: 512 | 4096, blockSize: number, marks: number[], sparse: boolean): Promise<void> {
  const present = sparse ? [...new Set(marks.map((m) => Math.floor(m / blockSize)))].sort((a, b) => a - b) : undefined;
  const layout = new VhdxLayout({ virtualSize: size, logicalSectorSize: sector, blockSize, ...(present ? { presentBlocks: present } : {}) });
  const read = fileReader(layout, marks);
  const map = await readVhdxMap(read);
  expect(map).toMatchObject({ virtualSize: size, logicalSectorSize: sector, blockSize });
  if (present) expect(map.blocks.map((b) => b.virtualOffset / blockSize)).toEqual(present);
  else expect(map.blocks).toHaveLength(Math.ceil(size / blockSize));
  for (const m of marks) {
    const b = map.blocks.find((x) => x.virtualOffset <= m && m < x.virtualOffset + x.length);
    expect(b, `mark ${m}`).toBeDefined();
    if (!b) continue;
    const n = Math.min(4096, size - m);
    const got = await read(b.fileOffset + (m - b.virtualOffset), n);
    expect(got.equals(diskRead(marks, m, n)), `mark ${m}`).toBe(true);
    expect(diskByte(marks, m)).toBe(got[0]);
  }
}

describe('readVhdxMap', () => {
  it('fixed and sparse, 512 and 4096-byte sectors, a partial last block', async () => {
    await check(10 * MiB + 512 * 3, 512, MiB, [0, 3 * MiB + 512, 10 * MiB], false);
    await check(10 * MiB, 4096, 2 * MiB, [4096, 7 * MiB], true);
  });

  it('past the first sector-bitmap entry (at 4 GiB with 512-byte sectors)', async () => {
    await check(4 * GiB + 64 * MiB, 512, 32 * MiB, [5 * 512, 4 * GiB - 4096, 4 * GiB + 33 * MiB], true);
  });
});
