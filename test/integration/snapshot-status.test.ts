/**
 * A snapshot's status (completion, failure, used bytes) comes from one walk of its point and the
 * base chain below it, each point read once; usage reports read only the used bytes.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { BLOCK_SIZE } from '../../src/core/units.js';
import { createDisk, prng, RG, snapshot, snapshotId, startEngine, SUB, type TestEngine } from '../helpers/engine.js';

describe('snapshot status', () => {
  let t: TestEngine;
  afterEach(async () => {
    await t.dispose();
  });

  it('reads each point of the chain once; a snapshot of a restored disk reports its base copy and its used bytes', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const h = await e.disks.open(disk.uniqueId);
    await h.write(0, prng(1)(2 * BLOCK_SIZE));
    const s1 = await snapshot(e, disk, 's1');
    await e.idle();
    const { disk: restored } = await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'r', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(s1) } });
    await e.idle();
    const r = await e.disks.open(restored.uniqueId);
    await snapshot(e, restored, 'r0'); // the first of the restored disk's family: uses all its blocks
    await r.write(5 * BLOCK_SIZE, prng(2)(BLOCK_SIZE));
    const s2 = await snapshot(e, restored, 's2'); // one block more; its family builds on s1's
    const full = await snapshot(e, restored, 'full', false);
    await e.idle();

    const catalog = e.ctx.catalog;
    const reads: string[] = [];
    const getPoint = catalog.getPoint.bind(catalog);
    catalog.getPoint = (familyId, seq) => {
      reads.push(`${familyId}/${seq}`);
      return getPoint(familyId, seq);
    };
    try {
      const st = await e.snapshots.status(s2);
      expect(st).toEqual({ completionPercent: 100, provisioningState: 'Succeeded', copyCompletionError: null, usedBytes: BLOCK_SIZE });
      expect(reads.length).toBe(new Set(reads).size); // no point read twice
      expect(reads[0]).toBe(`${s2.familyId}/${s2.point}`);
      expect(reads).toContain(`${s1.familyId}/${s1.point}`);
      reads.length = 0;
      expect(await e.snapshots.usedBytes(s2)).toBe(BLOCK_SIZE);
      expect(reads).toEqual([`${s2.familyId}/${s2.point}`]); // incremental: its point only
      reads.length = 0;
      const fullStatus = await e.snapshots.status(full);
      expect(fullStatus.usedBytes).toBe(3 * BLOCK_SIZE);
      expect(reads.length).toBe(new Set(reads).size);
      expect(await e.snapshots.usedBytes(full)).toBe(3 * BLOCK_SIZE);
      expect((await e.snapshots.status(s1)).usedBytes).toBe(2 * BLOCK_SIZE);
    } finally {
      catalog.getPoint = getPoint;
    }
  });
});
