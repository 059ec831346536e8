import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BLOCK_SIZE, MiB } from '../../src/core/units.js';
import type { BlockPage } from '../../src/engine/maps.js';
import { createDisk, prng, RG, snapshot, snapshotId, startEngine, SUB, type TestEngine } from '../helpers/engine.js';

describe('hydration of a restored disk', () => {
  let t: TestEngine;
  beforeEach(async () => {
    t = await startEngine();
  });
  afterEach(async () => {
    await t.dispose();
  });

  const restore = async (name: string, snap: { subscriptionId: string; resourceGroup: string; name: string }): Promise<string> => {
    const { disk } = await t.engine.disks.createOrUpdate({
      subscriptionId: SUB,
      resourceGroup: RG,
      name,
      creationData: { createOption: 'Copy', sourceResourceId: snapshotId(snap) },
    });
    return disk.uniqueId;
  };

  it('copies every data block across many pages and groups, byte-exact, with reads and writes racing it', async () => {
    const e = t.engine;
    const src = await createDisk(e, 'src');
    const h = await e.disks.open(src.uniqueId);
    const rnd = prng(21);
    // 2,100 data blocks in runs with holes: more than one page of 2,048, groups cut mid-run
    const image = Buffer.alloc(2450 * BLOCK_SIZE);
    for (let b = 0; b < 2450; b += 7) {
      const run = Math.min(6, 2450 - b);
      const bytes = rnd(run * BLOCK_SIZE);
      bytes.copy(image, b * BLOCK_SIZE);
      await h.write(b * BLOCK_SIZE, bytes);
    }
    const s = await snapshot(e, src, 's');
    await e.idle();
    const id = await restore('r', s);
    const r = await e.disks.open(id);
    const late = rnd(3 * BLOCK_SIZE + 100);
    await Promise.all([r.write(1500 * BLOCK_SIZE + 50, late), r.read(700 * BLOCK_SIZE, 40 * BLOCK_SIZE)]);
    late.copy(image, 1500 * BLOCK_SIZE + 50);
    await e.idle();
    const d = await e.disks.getById(id);
    expect(e.disks.completionPercent(d)).toBe(100);
    expect(d.hydration).toBe('done');
    expect((await r.read(0, image.length)).equals(image)).toBe(true);
  });

  it('a paging bug that skips a data block fails the job: the block never reads as zeros', async () => {
    const e = t.engine;
    const src = await createDisk(e, 'src');
    const h = await e.disks.open(src.uniqueId);
    const data = prng(22)(12 * MiB);
    await h.write(0, data);
    const s = await snapshot(e, src, 's');
    await e.idle();
    // the job's pages (2,048 blocks) lose block 100; the count (other page size) does not
    const maps = e.maps;
    const allocated = maps.allocated.bind(maps);
    maps.allocated = async (familyId: string, point: number, from: number, limit: number): Promise<BlockPage> => {
      const page = await allocated(familyId, point, from, limit);
      return limit === 2048 ? { ...page, items: page.items.filter((i) => i.block !== 100) } : page;
    };
    const id = await restore('r', s);
    await e.idle();
    const d = await e.disks.getById(id);
    expect(d.hydration).toBe('hydrating');
    expect(e.disks.completionPercent(d)).toBeLessThan(100);
    const r = await e.disks.open(id);
    expect((await r.read(100 * BLOCK_SIZE, BLOCK_SIZE)).equals(data.subarray(100 * BLOCK_SIZE, 101 * BLOCK_SIZE))).toBe(true);
    expect((await r.read(0, data.length)).equals(data)).toBe(true);
  });

  it('a lease due for renewal stops the pass and hands the job back; it finishes once the disk is served again', async () => {
    const e = t.engine;
    const src = await createDisk(e, 'src');
    const data = prng(23)(6 * MiB);
    await (await e.disks.open(src.uniqueId)).write(0, data);
    const s = await snapshot(e, src, 's');
    await e.idle();
    e.pauseJobs();
    const id = await restore('r', s);
    // the last third of the lease: this node does not serve the disk until the renewal comes
    const serving = e.leases.serving.bind(e.leases);
    e.leases.serving = (diskId: string) => diskId !== id && serving(diskId);
    e.resumeJobs();
    await e.idle();
    const paused = await e.disks.getById(id);
    expect(paused.hydration).toBe('hydrating');
    expect(paused.hydrationDoneBlocks).toBe(0);
    const open = (await e.ctx.catalog.openJobs()).filter((j) => j.kind === 'hydrate' && j.target === id);
    expect(open.map((j) => j.state)).toEqual(['queued']);
    // renewed: the next sweep takes the job again and finishes it
    e.leases.serving = serving;
    await e.engineSweep();
    await e.idle();
    const d = await e.disks.getById(id);
    expect(d.hydration).toBe('done');
    expect(e.disks.completionPercent(d)).toBe(100);
    expect((await (await e.disks.open(id)).read(0, data.length)).equals(data)).toBe(true);
  });
});
