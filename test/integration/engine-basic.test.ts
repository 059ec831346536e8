import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { SnapdiskError } from '../../src/core/errors.js';
import { BLOCK_SIZE, MiB } from '../../src/core/units.js';
import { createDisk, diskId, prng, RG, snapshot, snapshotId, startEngine, SUB, type TestEngine } from '../helpers/engine.js';

describe('engine: snapshot, restore, diff, delete', () => {
  let t: TestEngine;
  beforeEach(async () => {
    t = await startEngine();
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('snapshot: content is the disk at the request, later writes do not leak in', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd1');
    const h = await e.disks.open(disk.uniqueId);
    const rnd = prng(1);
    const a = rnd(3 * MiB);
    await h.write(5 * MiB + 123, a);
    const s1 = await snapshot(e, disk, 's1');
    // overwrite while the copy may still run
    await h.write(5 * MiB, rnd(4 * MiB));
    expect((await e.snapshots.read(s1, 5 * MiB + 123, a.length)).equals(a)).toBe(true);
    await e.idle();
    expect((await e.snapshots.read(s1, 5 * MiB + 123, a.length)).equals(a)).toBe(true);
    const st = await e.snapshots.status(s1);
    expect(st.completionPercent).toBe(100);
    // first incremental holds every allocated block: 3 MiB + 123 spans 49 blocks
    expect(st.usedBytes).toBe(49 * BLOCK_SIZE);
  });

  it('snapshot: a copy spanning several pipelined batches stays point-in-time under concurrent writes', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'big');
    const h = await e.disks.open(disk.uniqueId);
    const rnd = prng(11);
    const before = rnd(72 * MiB);
    await h.write(0, before);
    const s = await snapshot(e, disk, 's');
    const writes: Promise<void>[] = [];
    for (let off = 0; off < 72 * MiB; off += 3 * MiB) writes.push(h.write(off + 4096, rnd(70_000)));
    await Promise.all(writes);
    await e.idle();
    expect((await e.snapshots.read(s, 0, 72 * MiB)).equals(before)).toBe(true);
    expect((await e.snapshots.status(s)).usedBytes).toBe(72 * MiB);
  });

  it('diff: changed and cleared ranges between two snapshots', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd1');
    const h = await e.disks.open(disk.uniqueId);
    const rnd = prng(2);
    await h.write(0, rnd(2 * MiB));
    const s1 = await snapshot(e, disk, 's1');
    await h.write(10 * MiB, rnd(BLOCK_SIZE));
    await h.zero(0, BLOCK_SIZE);
    const s2 = await snapshot(e, disk, 's2');
    await e.idle();
    const d = await e.snapshots.diff(s2, s1);
    expect(d.ranges).toEqual([
      { start: 0, end: BLOCK_SIZE, clear: true },
      { start: 10 * MiB, end: 10 * MiB + BLOCK_SIZE, clear: false },
    ]);
    const st2 = await e.snapshots.status(s2);
    expect(st2.usedBytes).toBe(BLOCK_SIZE);
    const empty = await snapshot(e, disk, 's3');
    await e.idle();
    expect((await e.snapshots.status(empty)).usedBytes).toBe(0);
    expect((await e.snapshots.diff(empty, s2)).ranges).toEqual([]);
  });

  it('restore: a disk from a snapshot reads the snapshot at once and after hydration', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd1');
    const h = await e.disks.open(disk.uniqueId);
    const rnd = prng(3);
    const data = rnd(8 * MiB);
    await h.write(MiB, data);
    const s1 = await snapshot(e, disk, 's1');
    const { disk: r } = await e.disks.createOrUpdate({
      subscriptionId: SUB,
      resourceGroup: RG,
      name: 'restored',
      creationData: { createOption: 'Copy', sourceResourceId: snapshotId(s1) },
    });
    const rh = await e.disks.open(r.uniqueId);
    expect((await rh.read(MiB, data.length)).equals(data)).toBe(true);
    await rh.write(MiB + 100, Buffer.from('hello'));
    await e.idle();
    const after = await rh.read(MiB, data.length);
    const expected = Buffer.from(data);
    Buffer.from('hello').copy(expected, 100);
    expect(after.equals(expected)).toBe(true);
    expect(e.disks.completionPercent(await e.disks.getById(r.uniqueId))).toBe(100);
    // the restored disk's first snapshot holds everything (used = all its data)
    const rs = await snapshot(e, r, 'rs1');
    await e.idle();
    expect((await e.snapshots.read(rs, MiB, data.length)).equals(expected)).toBe(true);
    expect((await e.snapshots.status(rs)).usedBytes).toBe(128 * BLOCK_SIZE);
  });

  it('a copy that fails for good fails its point and the later ones built on it; the next snapshot holds every change', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd1');
    const h = await e.disks.open(disk.uniqueId);
    const rnd = prng(21);
    await h.write(0, rnd(BLOCK_SIZE));
    const s0 = await snapshot(e, disk, 's0');
    await e.idle();
    e.pauseJobs();
    for (let b = 1; b <= 10; b++) await h.write(b * 3 * BLOCK_SIZE, rnd(1000));
    const s1 = await snapshot(e, disk, 's1');
    const s2 = await snapshot(e, disk, 's2'); // nothing changed since s1: its content is s1's
    await e.points.failCopy(`${s1.familyId}:${s1.point}`, new SnapdiskError('IntegrityError', 'the chunk store answered garbage'));
    for (const s of [s1, s2]) {
      const st = await e.snapshots.status(await e.snapshots.getById(s.uniqueId));
      expect(st.provisioningState).toBe('Failed');
      expect(st.copyCompletionError?.errorCode).toBe('IntegrityError');
    }
    e.resumeJobs();
    t = await t.reopen(); // the changes given back are on disk
    const e2 = t.engine;
    const s3 = await snapshot(e2, await e2.disks.getById(disk.uniqueId), 's3');
    await e2.idle();
    const now = await (await e2.disks.open(disk.uniqueId)).read(0, 32 * BLOCK_SIZE);
    expect((await e2.snapshots.read(s3, 0, 32 * BLOCK_SIZE)).equals(now)).toBe(true);
    const d = await e2.snapshots.diff(s3, await e2.snapshots.getById(s0.uniqueId));
    expect(d.ranges.map((r) => r.start / BLOCK_SIZE)).toEqual(Array.from({ length: 10 }, (_, i) => (i + 1) * 3));
    expect((await e2.snapshots.status(s3)).provisioningState).toBe('Succeeded');
  });

  it('delete: removing a middle snapshot changes no other snapshot', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd1');
    const h = await e.disks.open(disk.uniqueId);
    const rnd = prng(4);
    const snaps = [];
    const images: Buffer[] = [];
    for (let i = 0; i < 4; i++) {
      await h.write(i * 3 * BLOCK_SIZE, rnd(2 * BLOCK_SIZE + 7));
      snaps.push(await snapshot(e, disk, `s${i}`));
      images.push(await h.read(0, 16 * BLOCK_SIZE));
    }
    await e.idle();
    await e.snapshots.delete({ subscriptionId: SUB, resourceGroup: RG, name: 's1' });
    await e.snapshots.delete({ subscriptionId: SUB, resourceGroup: RG, name: 's3' });
    for (const i of [0, 2]) {
      const s = snaps[i];
      const img = images[i];
      if (!s || !img) throw new Error('missing');
      expect((await e.snapshots.read(s, 0, 16 * BLOCK_SIZE)).equals(img)).toBe(true);
    }
    // the next snapshot after deleting the newest still captures the changes since s2
    const s4 = await snapshot(e, disk, 's4');
    await e.idle();
    const s2 = snaps[2];
    if (!s2) throw new Error('missing');
    const d = await e.snapshots.diff(s4, s2);
    expect(d.ranges.map((r) => r.start)).toEqual([9 * BLOCK_SIZE]);
    expect(diskId(disk)).toContain('/disks/d1');
  });
});

describe('engine: power loss', () => {
  it('a head not closed cleanly before a reboot is rescanned conservatively: no change can be missed', async () => {
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    let t = await startEngine();
    try {
      const e = t.engine;
      const disk = await createDisk(e, 'd');
      const h = await e.disks.open(disk.uniqueId);
      await h.write(0, prng(31)(4 * BLOCK_SIZE));
      const s1 = await snapshot(e, disk, 's1');
      await h.write(10 * BLOCK_SIZE, prng(32)(BLOCK_SIZE));
      await e.idle();
      t = await t.reopen();
      // pretend the machine lost power while the head was open: another boot, not closed cleanly
      writeFileSync(join(t.dir, 'volumes', disk.uniqueId, 'meta.json'), JSON.stringify({ bootId: 'another-boot', open: true }));
      t = await t.reopen();
      const e2 = t.engine;
      const h2 = await e2.disks.open(disk.uniqueId);
      const s2 = await snapshot(e2, await e2.disks.getById(disk.uniqueId), 's2');
      await e2.idle();
      expect((await e2.snapshots.read(s2, 0, 16 * BLOCK_SIZE)).equals(await h2.read(0, 16 * BLOCK_SIZE))).toBe(true);
      const d = await e2.snapshots.diff(s2, await e2.snapshots.getById(s1.uniqueId));
      // everything that held data is reported (a superset of the real change, never less)
      expect(d.ranges.some((r) => r.start <= 10 * BLOCK_SIZE && r.end > 10 * BLOCK_SIZE)).toBe(true);
      expect(d.ranges.some((r) => r.start === 0)).toBe(true); // block 0 did not change since s1: the rescan
      // the rescan is durable, so the head records this boot now: the next start does not repeat it
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      expect(JSON.parse(readFileSync(join(t.dir, 'volumes', disk.uniqueId, 'meta.json'), 'utf8'))).toEqual({ bootId: boot, open: true });
    } finally {
      await t.dispose();
    }
  });
});
