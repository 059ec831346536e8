/**
 * The rules and limits of the requirement document, at the engine level (the ARM tests check
 * their wire form): rate, count, SAS per family, Ultra/PremiumV2 restrictions, usage, GC.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/config.js';
import type { SnapdiskError } from '../../src/core/errors.js';
import type { Clock } from '../../src/core/ports.js';
import { BLOCK_SIZE, GiB, MiB } from '../../src/core/units.js';
import { createDisk, prng, RG, snapshot, snapshotId, startEngine, SUB, type TestEngine, err } from '../helpers/engine.js';

class FakeClock implements Clock {
  t = Date.parse('2026-01-10T10:00:00Z');
  now(): Date {
    return new Date(this.t);
  }
}

describe('limits and rules', () => {
  let t: TestEngine;
  afterEach(async () => {
    await t.dispose();
  });

  it('7 incremental snapshots per disk per 5 minutes; concurrent creations: exactly 7 succeed; refused ones do not count', async () => {
    const clock = new FakeClock();
    t = await startEngine({ clock });
    const disk = await createDisk(t.engine, 'd');
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => snapshot(t.engine, disk, `s${i}`)));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    expect(ok).toBe(7);
    const refused = results.find((r) => r.status === 'rejected');
    const reason = refused?.status === 'rejected' ? (refused.reason as SnapdiskError) : null;
    expect(reason?.code).toBe('TooManyRequests');
    expect(reason?.message).toContain('incrementalSnapshotsPerDiskPer5Minutes');
    expect(reason?.retryAfterSeconds).toBeGreaterThan(0);
    clock.t += 4 * 60 * 1000;
    expect((await err(snapshot(t.engine, disk, 'late'))).code).toBe('TooManyRequests');
    clock.t += 61 * 1000;
    await snapshot(t.engine, disk, 'after-window');
  });

  it('500 (configurable) incremental snapshots per disk at a time; deleting makes room', async () => {
    const config = defaultConfig();
    config.limits.incrementalSnapshotsPerDisk = 3;
    t = await startEngine({ config });
    const disk = await createDisk(t.engine, 'd');
    for (let i = 0; i < 3; i++) await snapshot(t.engine, disk, `s${i}`);
    const e = await err(snapshot(t.engine, disk, 's3'));
    expect(e.code).toBe('OperationNotAllowed');
    expect(e.message).toContain('incrementalSnapshotsPerDisk');
    await t.engine.snapshots.delete({ subscriptionId: SUB, resourceGroup: RG, name: 's0' });
    await snapshot(t.engine, disk, 's3');
  });

  it('at most 5 snapshots of a family with an active SAS; revoking makes room', async () => {
    t = await startEngine();
    const disk = await createDisk(t.engine, 'd');
    const snaps = [];
    for (let i = 0; i < 6; i++) snaps.push(await snapshot(t.engine, disk, `s${i}`));
    await t.engine.idle();
    for (let i = 0; i < 5; i++) {
      const s = snaps[i];
      if (s) await t.engine.grants.begin({ kind: 'snapshot', snapshot: s }, { access: 'Read', durationInSeconds: 3600 });
    }
    const sixth = snaps[5];
    if (!sixth) throw new Error('missing');
    const e = await err(t.engine.grants.begin({ kind: 'snapshot', snapshot: sixth }, { access: 'Read', durationInSeconds: 3600 }));
    expect(e.code).toBe('OperationNotAllowed');
    expect(e.message).toContain('activeSasPerSnapshotFamily');
    // a second grant on an already-granted snapshot is fine
    const first = await t.engine.snapshots.getById(snaps[0]?.uniqueId ?? '');
    await t.engine.grants.begin({ kind: 'snapshot', snapshot: first }, { access: 'Read', durationInSeconds: 60 });
    await t.engine.grants.end({ kind: 'snapshot', snapshot: first });
    expect((await t.engine.snapshots.getById(first.uniqueId)).diskState).toBe('Unattached');
    await t.engine.grants.begin({ kind: 'snapshot', snapshot: sixth }, { access: 'Read', durationInSeconds: 3600 });
    expect((await err(t.engine.grants.begin({ kind: 'snapshot', snapshot: sixth }, { access: 'Read', durationInSeconds: 99_999_999 }))).code).toBe('OperationNotAllowed');
  });

  it('Ultra/PremiumV2: 3 pending copies at most, resize fails copies, no snapshot while hydrating, 5 concurrent restores', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'u', 1, { sku: 'UltraSSD_LRS' });
    const h = await e.disks.open(disk.uniqueId);
    e.pauseJobs();
    const snaps = [];
    for (let i = 0; i < 3; i++) {
      await h.write(i * BLOCK_SIZE, prng(i + 1)(2 * BLOCK_SIZE));
      snaps.push(await snapshot(e, disk, `p${i}`));
    }
    await h.write(0, prng(9)(BLOCK_SIZE));
    const refused = await err(snapshot(e, disk, 'p3'));
    expect(refused.code).toBe('OperationNotAllowed');
    expect(refused.message).toContain('pendingSnapshotsPerDiskDuringBackgroundCopy');
    const p0 = snaps[0];
    if (!p0) throw new Error('missing');
    expect((await e.snapshots.status(p0)).completionPercent).toBe(0);
    expect((await err(e.grants.begin({ kind: 'snapshot', snapshot: p0 }, { access: 'Read', durationInSeconds: 60 }))).message).toContain('background copy');
    // growing the disk fails the copies in progress; their changes go to the next snapshot
    await e.disks.update(disk, { sizeGb: 2 });
    for (const s of snaps) {
      const st = await e.snapshots.status(s);
      expect(st.provisioningState).toBe('Failed');
      expect(st.copyCompletionError?.errorCode).toBe('DiskResizedDuringCopy');
    }
    e.resumeJobs();
    const next = await snapshot(e, disk, 'after-resize');
    await e.idle();
    expect((await e.snapshots.read(next, 0, 4 * BLOCK_SIZE)).equals(await h.read(0, 4 * BLOCK_SIZE))).toBe(true);
    expect((await e.snapshots.status(next)).usedBytes).toBe(4 * BLOCK_SIZE);
    // five disks may be created at once from one Ultra snapshot; the sixth waits
    e.pauseJobs();
    const created = [];
    for (let i = 0; i < 5; i++) {
      created.push(await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: `r${i}`, sku: 'UltraSSD_LRS', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(next) } }));
    }
    const sixth = await err(e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'r5', sku: 'UltraSSD_LRS', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(next) } }));
    expect(sixth.message).toContain('concurrentDiskCreationsPerSnapshot');
    const hydrating = created[0]?.disk;
    if (!hydrating) throw new Error('missing');
    expect(e.disks.completionPercent(await e.disks.getById(hydrating.uniqueId))).toBeLessThan(100);
    expect((await err(snapshot(e, hydrating, 'too-early'))).message).toContain('completionPercent');
    e.resumeJobs();
    await e.idle();
    expect(e.disks.completionPercent(await e.disks.getById(hydrating.uniqueId))).toBe(100);
    await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'r5', sku: 'UltraSSD_LRS', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(next) } });
    await snapshot(e, hydrating, 'now-fine');
    expect(MiB).toBeGreaterThan(0);
  });

  it('usage: one row per snapshot per day, quantity = used GiB / days in month; empty snapshot uses 0', async () => {
    const clock = new FakeClock();
    t = await startEngine({ clock });
    const disk = await createDisk(t.engine, 'd');
    const h = await t.engine.disks.open(disk.uniqueId);
    await h.write(0, prng(9)(16 * MiB));
    const s1 = await snapshot(t.engine, disk, 's1');
    await t.engine.idle();
    clock.t += 86_400_000;
    const s2 = await snapshot(t.engine, disk, 's2');
    await t.engine.idle();
    const rows = await t.engine.usage.daily(SUB, new Date('2026-01-10T00:00:00Z'), new Date('2026-01-11T00:00:00Z'));
    expect(rows.map((r) => [r.date, r.resourceName])).toEqual([
      ['2026-01-10', 's1'],
      ['2026-01-11', 's1'],
      ['2026-01-11', 's2'],
    ]);
    expect(rows[0]?.quantity).toBeCloseTo(16 / 1024 / 31, 6);
    expect(rows[0]?.usedBytes).toBe(16 * MiB);
    expect(rows[2]?.usedBytes).toBe(0);
    expect(rows[0]?.meterName).toBe('ZRS Incremental Snapshots');
    expect(s1.sku).toBe('Standard_ZRS');
    expect(s2.incremental).toBe(true);
  });

  it('GC reclaims chunks no snapshot references, and only those', async () => {
    t = await startEngine({ gcGraceMs: 0 });
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const h = await e.disks.open(disk.uniqueId);
    const first = prng(10)(8 * MiB);
    await h.write(0, first);
    const s1 = await snapshot(e, disk, 's1');
    await h.write(0, prng(11)(8 * MiB));
    const s2 = await snapshot(e, disk, 's2');
    await e.idle();
    const store = t.chunkStores.get('eastus');
    const before = await store?.storedBytes();
    expect(before).toBeGreaterThan(16 * MiB);
    await e.snapshots.delete(s1);
    // s2 keeps its content; s1's chunks are now garbage
    const report = await e.gc.collect('eastus');
    expect(report.chunksDeleted).toBe(128);
    expect(report.packsDeleted).toBeGreaterThan(0);
    const after = await store?.storedBytes();
    expect(after).toBeLessThan((before ?? 0) - 7 * MiB);
    store?.clearCache();
    const img = await e.snapshots.read(await e.snapshots.getById(s2.uniqueId), 0, 8 * MiB);
    expect(img.equals(await h.read(0, 8 * MiB))).toBe(true);
    expect(first.length).toBe(8 * MiB);
    expect(GiB).toBeGreaterThan(0);
  });
});
