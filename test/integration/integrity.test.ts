/**
 * Integrity and isolation: damaged chunk data is detected on read (never wrong bytes), healed
 * from another zone of a ZRS region; writes racing a background copy never leak into the
 * snapshot; bad input changes nothing.
 */

import Database from 'better-sqlite3';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapdiskError } from '../../src/core/errors.js';
import { BLOCK_SIZE, GiB, MiB, TiB } from '../../src/core/units.js';
import { createDisk, diskId, prng, RG, snapshot, snapshotId, startEngine, SUB, type TestEngine } from '../helpers/engine.js';

async function packFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.pack')) out.push(p);
    }
  };
  await walk(root);
  return out.sort();
}

async function flipByte(path: string, at: number): Promise<void> {
  await fsp.chmod(path, 0o644);
  const fh = await fsp.open(path, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0] = (b[0] ?? 0) ^ 0x5a;
  await fh.write(b, 0, 1, at);
  await fh.close();
}

const code = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof SnapdiskError ? err.code : String(err);
  }
};

describe('integrity', () => {
  let t: TestEngine;
  beforeEach(async () => {
    t = await startEngine();
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('a flipped byte in every zone gives an IntegrityError naming the chunk, never wrong bytes', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const data = prng(5)(4 * BLOCK_SIZE);
    await (await e.disks.open(disk.uniqueId)).write(0, data);
    const s = await snapshot(e, disk, 's');
    await e.idle();
    for (const z of ['zone-1', 'zone-2', 'zone-3']) {
      const [pack] = await packFiles(join(t.dir, 'chunks', 'eastus', z));
      if (!pack) throw new Error('no pack');
      await flipByte(pack, 10);
    }
    t.chunkStores.get('eastus')?.clearCache();
    const err = await e.snapshots.read(s, 0, BLOCK_SIZE).then(
      () => null,
      (x: unknown) => x,
    );
    expect(err).toBeInstanceOf(SnapdiskError);
    expect((err as SnapdiskError).code).toBe('IntegrityError');
    expect((err as SnapdiskError).message).toMatch(/chunk [0-9a-f]{64}/);
    // the untouched blocks still read correctly
    expect((await e.snapshots.read(s, BLOCK_SIZE, 3 * BLOCK_SIZE)).equals(data.subarray(BLOCK_SIZE))).toBe(true);
  });

  it('ZRS: damage or loss in one zone is read around (the other zones have good copies)', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const data = prng(6)(8 * BLOCK_SIZE);
    await (await e.disks.open(disk.uniqueId)).write(MiB, data);
    const s = await snapshot(e, disk, 's');
    await e.idle();
    const [pack1] = await packFiles(join(t.dir, 'chunks', 'eastus', 'zone-1'));
    const [pack2] = await packFiles(join(t.dir, 'chunks', 'eastus', 'zone-2'));
    if (!pack1 || !pack2) throw new Error('no pack');
    await flipByte(pack1, 100);
    await fsp.rm(pack2);
    t.chunkStores.get('eastus')?.clearCache();
    expect((await e.snapshots.read(s, MiB, data.length)).equals(data)).toBe(true);
  });

  it('verify repairs a damaged or deleted zone copy from the others', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const data = prng(8)(6 * BLOCK_SIZE);
    await (await e.disks.open(disk.uniqueId)).write(0, data);
    const s = await snapshot(e, disk, 's');
    await e.idle();
    const z1 = join(t.dir, 'chunks', 'eastus', 'zone-1');
    const z2 = join(t.dir, 'chunks', 'eastus', 'zone-2');
    const z3 = join(t.dir, 'chunks', 'eastus', 'zone-3');
    const [p1] = await packFiles(z1);
    const [p2] = await packFiles(z2);
    if (!p1 || !p2) throw new Error('no pack');
    await flipByte(p1, 7);
    await fsp.rm(p2);
    const report = await e.verifier.region('eastus');
    expect(report.ok).toBe(true);
    expect(report.repaired).toHaveLength(1);
    expect(report.repaired[0]?.zones.sort()).toEqual(['zone-1', 'zone-2']);
    const [good] = await packFiles(z3);
    if (!good) throw new Error('no pack');
    const ref = await fsp.readFile(good);
    expect((await fsp.readFile(p1)).equals(ref)).toBe(true);
    expect((await fsp.readFile(p2)).equals(ref)).toBe(true);
    expect((await e.verifier.region('eastus')).repaired).toEqual([]);
    expect((await e.snapshots.read(s, 0, data.length)).equals(data)).toBe(true);
  });

  it('verify reports chunks lost in every zone with the snapshots they affect; reads name the snapshot', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    await (await e.disks.open(disk.uniqueId)).write(0, prng(9)(2 * BLOCK_SIZE));
    const s1 = await snapshot(e, disk, 's1');
    const s2 = await snapshot(e, disk, 's2');
    await e.idle();
    for (const z of ['zone-1', 'zone-2', 'zone-3']) {
      const [pack] = await packFiles(join(t.dir, 'chunks', 'eastus', z));
      if (pack) await flipByte(pack, 3);
    }
    const report = await e.verifier.region('eastus');
    expect(report.ok).toBe(false);
    expect(report.lost).toHaveLength(1);
    expect(report.lost[0]?.snapshots).toEqual([snapshotId(s1), snapshotId(s2)].sort());
    t.chunkStores.get('eastus')?.clearCache();
    const failure = await e.snapshots.read(s2, 0, BLOCK_SIZE).catch((x: unknown) => x);
    expect((failure as SnapdiskError).code).toBe('IntegrityError');
    expect((failure as SnapdiskError).message).toContain('Snapshot s2');
    expect((await e.snapshots.read(s2, BLOCK_SIZE, BLOCK_SIZE)).length).toBe(BLOCK_SIZE);
  });

  it('an entry whose chunk row is gone reads as an IntegrityError, never as zeros', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const data = prng(15)(3 * BLOCK_SIZE);
    await (await e.disks.open(disk.uniqueId)).write(0, data);
    const s = await snapshot(e, disk, 's');
    const s2 = await snapshot(e, disk, 's2');
    await e.idle();
    const db = new Database(join(t.dir, 'catalog.db'));
    try {
      // lose the chunk of block 1 behind the engine's back (a bug or a damaged catalog)
      const row = db.prepare('SELECT chunk_id FROM entries WHERE block = 1 AND chunk_id IS NOT NULL').get() as { chunk_id: number };
      db.prepare('DELETE FROM chunks WHERE id = ?').run(row.chunk_id);
    } finally {
      db.close();
    }
    t.chunkStores.get('eastus')?.clearCache();
    expect(await code(e.snapshots.read(s, BLOCK_SIZE, 10))).toBe('IntegrityError');
    expect(await code(e.snapshots.read(s2, 0, 3 * BLOCK_SIZE))).toBe('IntegrityError');
    expect(await code(e.snapshots.allocatedRanges(s))).toBe('IntegrityError');
    expect((await e.snapshots.read(s, 2 * BLOCK_SIZE, BLOCK_SIZE)).equals(data.subarray(2 * BLOCK_SIZE))).toBe(true);
    // a disk restored from it cannot hydrate that block either: its read fails too
    const { disk: r } = await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'r', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(s) } });
    expect(await code((await e.disks.open(r.uniqueId)).read(BLOCK_SIZE, 10))).toBe('IntegrityError');
  });

  it('point in time: a storm of writes racing the background copy never leaks into the snapshot', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const h = await e.disks.open(disk.uniqueId);
    const rnd = prng(7);
    const size = 64 * MiB; // 1024 blocks: four batches of the copy
    const before = rnd(size);
    await h.write(0, before);
    // each batch takes a little while to store, so writes land between batches and while two are
    // in flight (read and hashed, not committed), whatever the speed of the machine
    const store = t.chunkStores.get('eastus');
    if (!store) throw new Error('no store');
    const put = store.put.bind(store);
    store.put = async (blocks, redundancy) => {
      await new Promise<void>((resolve) => setTimeout(resolve, 40));
      return put(blocks, redundancy);
    };
    e.pauseJobs();
    const s = await snapshot(e, disk, 's');
    e.resumeJobs();
    let mid = 0;
    for (let round = 0; ; round++) {
      const pct = (await e.snapshots.status(s)).completionPercent;
      if (pct >= 100) break;
      if (pct > 0) mid++;
      const writes: Promise<void>[] = [];
      for (let i = 0; i < 8; i++) {
        const off = Math.floor(Math.random() * (size - 70_000));
        writes.push(h.write(off, rnd(1 + Math.floor(Math.random() * 70_000))));
      }
      writes.push(h.zero(Math.floor(Math.random() * (size - 200_000)), 1 + Math.floor(Math.random() * 200_000)));
      const off = Math.floor(Math.random() * (size - 300_000));
      const during = await e.snapshots.read(s, off, 300_000);
      await Promise.all(writes);
      expect(during.equals(before.subarray(off, off + 300_000)), `round ${round} at ${pct}%`).toBe(true);
      await new Promise<void>((resolve) => setTimeout(resolve, 5));
    }
    store.put = put;
    await e.idle();
    expect(mid).toBeGreaterThan(0); // writes raced batches with 0 < completionPercent < 100
    expect((await e.snapshots.read(s, 0, size)).equals(before)).toBe(true);
  });

  it('bad input gets a coded error and changes nothing', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const h = await e.disks.open(disk.uniqueId);
    expect(await code(h.write(GiB - 10, Buffer.alloc(20)))).toBe('OutOfRange');
    expect(await code(h.read(-1, 10))).toBe('OutOfRange');
    expect(await code(h.read(0.5, 10))).toBe('OutOfRange');
    // lengths are checked before anything is allocated
    expect(await code(h.read(0, -1))).toBe('OutOfRange');
    expect(await code(h.read(0, 0.5))).toBe('OutOfRange');
    expect(await code(h.read(0, Number.NaN))).toBe('OutOfRange');
    expect(await code(h.read(0, 2 ** 53))).toBe('OutOfRange');
    expect(await code(h.zero(0, -5))).toBe('OutOfRange');
    expect(await code(e.disks.update(disk, { sizeGb: 0 }))).toBe('InvalidParameter');
    await e.disks.update(disk, { sizeGb: 2 });
    expect(await code(e.disks.update(disk, { sizeGb: 1 }))).toBe('OperationNotAllowed');
    expect((await e.disks.getById(disk.uniqueId)).sizeBytes).toBe(2 * GiB);
    expect(await code(e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'x', sizeGb: 1.5, creationData: { createOption: 'Empty' } }))).toBe('InvalidParameter');
    expect(await code(e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'bad/name', sizeGb: 1, creationData: { createOption: 'Empty' } }))).toBe('InvalidParameter');
    expect(await code(e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'nope', name: 'x', sizeGb: 1, creationData: { createOption: 'Empty' } }))).toBe('ResourceGroupNotFound');
    expect(await code(e.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 's', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: diskId({ subscriptionId: SUB, resourceGroup: RG, name: 'ghost' }) } }))).toBe('ResourceNotFound');
    expect(await code(e.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 's', incremental: true, sku: 'Premium_LRS', creationData: { createOption: 'Copy', sourceResourceId: diskId(disk) } }))).toBe('InvalidParameter');
    expect(await code(e.snapshots.createOrUpdate({ subscriptionId: '00000000-0000-4000-8000-000000000002', resourceGroup: RG, name: 's', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: diskId(disk) } }))).toBe('ResourceGroupNotFound');
    expect(await e.snapshots.list({ subscriptionId: SUB })).toEqual([]);
    expect((await e.disks.list({ subscriptionId: SUB })).map((d) => d.name)).toEqual(['d']);
  });

  it('4096-sector snapshots restore only to Ultra/PremiumV2; diff across families and a 4 TiB resize are refused', async () => {
    const e = t.engine;
    const ultra = await createDisk(e, 'u', 4, { sku: 'PremiumV2_LRS' });
    expect(ultra.logicalSectorSize).toBe(4096);
    const us = await snapshot(e, ultra, 'us');
    await e.idle();
    expect(await code(e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'r', sku: 'Premium_LRS', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(us) } }))).toBe('OperationNotAllowed');
    const ok = await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'r2', sku: 'UltraSSD_LRS', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(us) } });
    expect(ok.disk.logicalSectorSize).toBe(4096);
    const other = await createDisk(e, 'o');
    const os = await snapshot(e, other, 'os');
    expect(await code(e.snapshots.diff(us, os))).toBe('PreviousSnapshotNotFound');
    const big = await createDisk(e, 'big', 2048);
    const b1 = await snapshot(e, big, 'b1');
    await e.disks.update(big, { sizeGb: 6144 });
    const b2 = await snapshot(e, big, 'b2');
    expect(await code(e.snapshots.diff(b2, b1))).toBe('PreviousSnapshotOperationNotSupported');
    expect(await code(e.snapshots.diff(b1, b2))).toBe('PreviousSnapshotCannotBeNewer');
    await (await e.disks.open(big.uniqueId)).write(5 * TiB, Buffer.alloc(512, 1));
    const b3 = await snapshot(e, big, 'b3');
    await e.idle();
    expect((await e.snapshots.diff(b3, b2)).ranges).toEqual([{ start: 5 * TiB, end: 5 * TiB + BLOCK_SIZE, clear: false }]);
  });
});

describe('zone placement', () => {
  let t: TestEngine;
  beforeEach(async () => {
    t = await startEngine();
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('LRS snapshots keep one copy in a zonal region, ZRS ones a copy per zone; reuse by a ZRS snapshot replicates', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const h = await e.disks.open(disk.uniqueId);
    const data = prng(12)(4 * BLOCK_SIZE);
    await h.write(0, data);
    const { snapshot: lrs } = await e.snapshots.createOrUpdate({
      subscriptionId: SUB, resourceGroup: RG, name: 'lrs', incremental: true, sku: 'Standard_LRS',
      creationData: { createOption: 'Copy', sourceResourceId: diskId(disk) },
    });
    await e.idle();
    const counts = async (): Promise<number[]> =>
      Promise.all(['zone-1', 'zone-2', 'zone-3'].map(async (z) => (await packFiles(join(t.dir, 'chunks', 'eastus', z))).length));
    expect((await counts()).reduce((a, b) => a + b, 0)).toBe(1);
    // an LRS copy damaged in its only zone cannot be repaired: verify says so
    // (checked in the reporting test above); here: a ZRS snapshot of another disk with the same data
    const other = await createDisk(e, 'o');
    await (await e.disks.open(other.uniqueId)).write(0, data);
    const zrs = await snapshot(e, other, 'zrs');
    expect(zrs.sku).toBe('Standard_ZRS');
    await e.idle();
    expect(await counts()).toEqual([1, 1, 1]);
    t.chunkStores.get('eastus')?.clearCache();
    expect((await e.snapshots.read(lrs, 0, data.length)).equals(data)).toBe(true);
    expect((await e.verifier.region('eastus')).ok).toBe(true);
  });
});
