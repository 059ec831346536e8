/**
 * Cross-region copies (CopyStart): the first copy moves the snapshot's data, the next copy of the
 * family moves only its delta; the copy is exact, resumes after a restart, keeps creation order,
 * fails with CopySourceNotFound when the source goes away.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { SnapdiskError } from '../../src/core/errors.js';
import type { SnapshotRecord } from '../../src/core/model.js';
import { BLOCK_SIZE, MiB } from '../../src/core/units.js';
import type { Engine } from '../../src/engine/engine.js';
import { createDisk, prng, snapshot, snapshotId, startEngine, SUB, type TestEngine } from '../helpers/engine.js';

async function copyStart(e: Engine, source: SnapshotRecord, name: string): Promise<SnapshotRecord> {
  const { snapshot: s } = await e.snapshots.createOrUpdate({
    subscriptionId: SUB,
    resourceGroup: 'rgwest',
    name,
    location: 'westus',
    creationData: { createOption: 'CopyStart', sourceResourceId: snapshotId(source) },
  });
  return s;
}

describe('cross-region copy (CopyStart)', () => {
  let t: TestEngine;
  afterEach(async () => {
    await t.dispose();
  });

  it('copies exactly, then moves only the delta of the next snapshot', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const h = await e.disks.open(disk.uniqueId);
    const rnd = prng(21);
    await h.write(0, rnd(16 * MiB));
    const s1 = await snapshot(e, disk, 's1');
    const c1 = await copyStart(e, s1, 'c1');
    expect(c1.location).toBe('westus');
    expect(c1.creationData.createOption).toBe('CopyStart');
    expect(c1.creationData.sourceUniqueId).toBe(s1.uniqueId);
    expect(c1.sku).toBe('Standard_LRS');
    await e.idle();
    expect((await e.snapshots.status(c1)).completionPercent).toBe(100);
    expect((await e.snapshots.read(c1, 0, 16 * MiB)).equals(await e.snapshots.read(s1, 0, 16 * MiB))).toBe(true);
    const p1 = await e.ctx.catalog.getPoint(c1.familyId, c1.point);
    expect(p1?.bytesMoved).toBe(16 * MiB);

    const delta = 20 * BLOCK_SIZE;
    for (let i = 0; i < 20; i++) await h.write(i * 7 * BLOCK_SIZE, rnd(BLOCK_SIZE));
    const s2 = await snapshot(e, disk, 's2');
    const c2 = await copyStart(e, s2, 'c2');
    expect(c2.familyId).toBe(c1.familyId);
    expect(c2.familyId).not.toBe(s2.familyId);
    await e.idle();
    expect((await e.snapshots.read(c2, 0, 16 * MiB)).equals(await e.snapshots.read(s2, 0, 16 * MiB))).toBe(true);
    const p2 = await e.ctx.catalog.getPoint(c2.familyId, c2.point);
    expect(p2?.bytesMoved).toBeGreaterThan(0);
    expect(p2?.bytesMoved).toBeLessThanOrEqual(1.05 * delta);
    // the copies are a family of their own: diffs work there too
    const d = await e.snapshots.diff(c2, c1);
    expect(d.ranges.length).toBe(20);
    // deleting the first copy keeps the second intact
    await e.snapshots.delete(c1);
    expect((await e.snapshots.read(c2, 0, 16 * MiB)).equals(await e.snapshots.read(s2, 0, 16 * MiB))).toBe(true);
    // creation order: s1 cannot be copied after s2
    const late = await copyStart(e, s1, 'late').catch((x: unknown) => x);
    expect(late).toBeInstanceOf(SnapdiskError);
    expect((late as SnapdiskError).message).toContain('creation order');
    // a copy is usable only when complete, and a restore from it works
    const { disk: r } = await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rgwest', name: 'r', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(c2) } });
    await e.idle();
    expect((await (await e.disks.open(r.uniqueId)).read(0, 16 * MiB)).equals(await h.read(0, 16 * MiB))).toBe(true);
  });

  it('is not usable before completion, resumes after a restart, refuses full snapshots', async () => {
    t = await startEngine();
    let e = t.engine;
    const disk = await createDisk(e, 'd');
    const h = await e.disks.open(disk.uniqueId);
    await h.write(MiB, prng(22)(8 * MiB));
    const s1 = await snapshot(e, disk, 's1');
    await e.idle();
    e.pauseJobs();
    const c1 = await copyStart(e, s1, 'c1');
    expect((await e.snapshots.status(c1)).completionPercent).toBe(0);
    const refused = await e.grants.begin({ kind: 'snapshot', snapshot: c1 }, { access: 'Read', durationInSeconds: 60 }).catch((x: unknown) => x);
    expect((refused as SnapdiskError).code).toBe('OperationNotAllowed');
    t = await t.reopen();
    e = t.engine;
    await e.idle();
    const after = await e.snapshots.getById(c1.uniqueId);
    expect((await e.snapshots.status(after)).completionPercent).toBe(100);
    expect((await e.snapshots.read(after, MiB, 8 * MiB)).equals(await e.snapshots.read(await e.snapshots.getById(s1.uniqueId), MiB, 8 * MiB))).toBe(true);
    const full = await snapshot(e, await e.disks.getById(disk.uniqueId), 'full', false);
    const err = await copyStart(e, full, 'cf').catch((x: unknown) => x);
    expect((err as SnapdiskError).message).toContain('full snapshot');
  });

  it('fails with CopySourceNotFound when the source disappears mid-copy', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    await (await e.disks.open(disk.uniqueId)).write(0, prng(23)(4 * MiB));
    const s1 = await snapshot(e, disk, 's1');
    await e.idle();
    e.pauseJobs();
    const c1 = await copyStart(e, s1, 'c1');
    await e.snapshots.delete(s1);
    e.resumeJobs();
    await e.idle();
    const st = await e.snapshots.status(await e.snapshots.getById(c1.uniqueId));
    expect(st.copyCompletionError?.errorCode).toBe('CopySourceNotFound');
    expect(st.provisioningState).toBe('Failed');
  });
});
