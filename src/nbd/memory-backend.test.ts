/**
 * @module nbd/memory-backend.test
 */

import { describe, expect, it } from 'vitest';
import { isSnapdiskError } from '../core/errors.js';
import { MemoryNbdBackend } from './memory-backend.js';

const MiB = 1024 * 1024;
const NAME = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/disks/d1';

describe('MemoryNbdBackend', () => {
  it('fresh export is one hole and reads zeros', async () => {
    const b = new MemoryNbdBackend();
    b.addExport({ name: NAME, size: 16 * MiB });
    const e = await b.open(NAME, { client: 't' });
    expect(await e.blockStatus(0, 16 * MiB)).toEqual([{ length: 16 * MiB, hole: true }]);
    expect((await e.read(5 * MiB - 10, 20)).every((x) => x === 0)).toBe(true);
  });

  it('tracks allocation at 4 KiB granularity', async () => {
    const b = new MemoryNbdBackend();
    b.addExport({ name: NAME, size: 1 * MiB });
    const e = await b.open(NAME, { client: 't' });
    await e.write(4096 + 10, Buffer.from('x'), false);
    expect(await e.blockStatus(0, MiB)).toEqual([
      { length: 4096, hole: true },
      { length: 4096, hole: false },
      { length: MiB - 8192, hole: true },
    ]);
    // A query starting mid-extent starts at the query offset.
    expect((await e.blockStatus(6000, 100))[0]).toEqual({ length: 100, hole: false });
  });

  it('trim frees only whole blocks; writeZeroes with noHole keeps them allocated', async () => {
    const b = new MemoryNbdBackend();
    const disk = b.addExport({ name: NAME, size: 64 * 1024 });
    const e = await b.open(NAME, { client: 't' });
    await e.write(0, Buffer.alloc(64 * 1024, 7), false);
    await e.trim(2048, 8192, false); // frees block 1 only; zeroes bytes 2048..10240
    expect(await e.blockStatus(0, 16384)).toEqual([
      { length: 4096, hole: false },
      { length: 4096, hole: true },
      { length: 8192, hole: false },
    ]);
    expect(disk.readSync(2048, 8192).every((x) => x === 0)).toBe(true);
    expect(disk.readSync(0, 2048).every((x) => x === 7)).toBe(true);
    await e.writeZeroes(0, 64 * 1024, false, true);
    expect(await e.blockStatus(0, 64 * 1024)).toEqual([{ length: 64 * 1024, hole: false }]);
    await e.writeZeroes(0, 64 * 1024, false, false);
    expect(await e.blockStatus(0, 64 * 1024)).toEqual([{ length: 64 * 1024, hole: true }]);
  });

  it('buffers returned by read never change (copy-on-write segments)', async () => {
    const b = new MemoryNbdBackend();
    b.addExport({ name: NAME, size: 8 * MiB });
    const e = await b.open(NAME, { client: 't' });
    await e.write(0, Buffer.alloc(4096, 1), false);
    const before = await e.read(0, 4096);
    await e.write(0, Buffer.alloc(4096, 2), false);
    await e.trim(0, 4096, false);
    expect(before.every((x) => x === 1)).toBe(true);
    expect((await e.read(0, 4096)).every((x) => x === 0)).toBe(true);
    // Reads across segments are copied and still correct.
    await e.write(4 * MiB - 2, Buffer.from([1, 2, 3, 4]), false);
    expect([...(await e.read(4 * MiB - 2, 4))]).toEqual([1, 2, 3, 4]);
  });

  it('open: not found, refused, read-only; close counts', async () => {
    const b = new MemoryNbdBackend();
    const disk = b.addExport({ name: NAME, size: MiB });
    b.addExport({ name: '/snap', size: MiB, readOnly: true });
    await expect(b.open('/nope', { client: 't' })).rejects.toSatisfy((err) => isSnapdiskError(err, 'ResourceNotFound'));
    b.refuse(NAME, 'disk has an active SAS');
    await expect(b.open(NAME, { client: 't' })).rejects.toThrow('disk has an active SAS');
    b.refuse(NAME, undefined);
    const e = await b.open(NAME.toUpperCase().replace(/^\//, ''), { client: '127.0.0.1:1' });
    expect(disk.openCount).toBe(1);
    expect(disk.clients).toEqual(['127.0.0.1:1']);
    await e.close();
    expect([disk.openCount, disk.closes]).toEqual([0, 1]);
    await expect(e.close()).rejects.toThrow('closed twice');
    const ro = await b.open('/snap', { client: 't' });
    await expect(ro.write(0, Buffer.alloc(1), false)).rejects.toSatisfy((err) => isSnapdiskError(err, 'OperationNotAllowed'));
  });
});
