/**
 * Races between the background copy of a snapshot and everything else that looks at it: page
 * lists and diffs while thousands of blocks are still uncommitted, disk copies hydrating from a
 * point still copying, writes in flight while a snapshot freezes the change set.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/config.js';
import type { SnapshotRecord } from '../../src/core/model.js';
import { BLOCK_SIZE, GiB, MiB } from '../../src/core/units.js';
import { createDisk, diskId, prng, RG, snapshot, startEngine, SUB, type TestEngine } from '../helpers/engine.js';

/** 16 bytes of data at the start of a block, different for every block and seed. */
function stamp(seed: number, block: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(seed, 0);
  b.writeUInt32BE(block, 4);
  b.writeUInt32BE((block * 2654435761) >>> 0, 8);
  b.writeUInt32BE(0xa5a5a5a5, 12);
  return b;
}

describe('races with the background copy', () => {
  let t: TestEngine;
  beforeEach(async () => {
    t = await startEngine();
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('diff and page list of a snapshot still copying report every one of more than 4096 changed blocks', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const h = await e.disks.open(disk.uniqueId);
    const s0 = await snapshot(e, disk, 's0'); // nothing changed yet: ready at once
    e.pauseJobs();
    const blocks: number[] = [];
    for (let i = 0; i < 5000; i++) blocks.push(i * 3);
    for (const b of blocks) await h.write(b * BLOCK_SIZE, stamp(1, b));
    const s1 = await snapshot(e, disk, 's1');
    expect((await e.snapshots.status(s1)).completionPercent).toBe(0);
    const expected = blocks.map((b) => ({ start: b * BLOCK_SIZE, end: (b + 1) * BLOCK_SIZE }));
    const diff = await e.snapshots.diff(s1, s0);
    expect(diff.ranges.length).toBe(blocks.length);
    expect(diff.ranges.map(({ start, end }) => ({ start, end }))).toEqual(expected);
    expect(diff.ranges.every((r) => !r.clear)).toBe(true);
    expect((await e.snapshots.allocatedRanges(s1)).ranges).toEqual(expected);
    // paged by marker the same
    const paged: Array<{ start: number; end: number }> = [];
    let start = 0;
    for (;;) {
      const page = await e.snapshots.allocatedRanges(s1, { start, maxRanges: 1500 });
      paged.push(...page.ranges);
      if (page.next === undefined) break;
      start = page.next;
    }
    expect(paged).toEqual(expected);
    e.resumeJobs();
    await e.idle();
    expect((await e.snapshots.diff(s1, s0)).ranges.length).toBe(blocks.length);
    expect((await e.snapshots.allocatedRanges(s1)).ranges).toEqual(expected);
  });

  it('a disk copied from a disk with 6000 changed blocks hydrates byte-exactly while the copy runs', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'src');
    const h = await e.disks.open(disk.uniqueId);
    const count = 6000;
    for (let b = 0; b < count; b++) await h.write(b * BLOCK_SIZE + 100, stamp(2, b));
    e.pauseJobs(); // the hidden point's copy and the hydration start together
    const { disk: copy } = await e.disks.createOrUpdate({
      subscriptionId: SUB,
      resourceGroup: RG,
      name: 'copy',
      creationData: { createOption: 'Copy', sourceResourceId: diskId(disk) },
    });
    e.resumeJobs();
    await e.idle();
    const rec = await e.disks.getById(copy.uniqueId);
    expect(rec.hydration).toBe('done');
    const ch = await e.disks.open(copy.uniqueId);
    const step = 256;
    const expected = Buffer.alloc(step * BLOCK_SIZE);
    for (let first = 0; first < count; first += step) {
      const n = Math.min(step, count - first);
      expected.fill(0);
      for (let i = 0; i < n; i++) stamp(2, first + i).copy(expected, i * BLOCK_SIZE + 100);
      const got = await ch.read(first * BLOCK_SIZE, n * BLOCK_SIZE);
      if (!got.equals(expected.subarray(0, n * BLOCK_SIZE))) {
        let bad = 0;
        for (let i = 0; i < n; i++) if (!got.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE).equals(expected.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE))) bad++;
        throw new Error(`the copy differs from its source in ${bad} of blocks ${first}..${first + n - 1}`);
      }
    }
    expect((await ch.read(count * BLOCK_SIZE, 4 * MiB)).equals(Buffer.alloc(4 * MiB))).toBe(true);
    expect((await ch.read(GiB - MiB, MiB)).equals(Buffer.alloc(MiB))).toBe(true);
  });
});


describe('garbage collection racing the commit of a copy', () => {
  let t: TestEngine;
  beforeEach(async () => {
    t = await startEngine({ logger: { info: () => undefined, warn: (m, f) => console.log('WARN', m, JSON.stringify(f)), error: (m, f) => console.log('ERROR', m, JSON.stringify(f)) } });
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('chunks collected between store and commit are stored again, never referenced dangling', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const h = await e.disks.open(disk.uniqueId);
    const data = prng(41)(8 * MiB); // one batch: no other store in flight while the collector runs
    await h.write(0, data);
    // the collector runs right after the copy stored its batch and before it commits: the real
    // store and the real collector, only the moment is forced (no grace: the new chunks are fair game)
    const store = t.chunkStores.get('eastus');
    if (!store) throw new Error('no store');
    const put = store.put.bind(store);
    let collected = 0;
    store.put = async (blocks, redundancy) => {
      const out = await put(blocks, redundancy);
      if (collected === 0) {
        await new Promise<void>((resolve) => setTimeout(resolve, 5));
        collected = (await e.gc.collect('eastus', 0)).chunksDeleted;
      }
      return out;
    };
    const s = await snapshot(e, disk, 's');
    await e.idle();
    expect(collected).toBe(128);
    expect((await e.snapshots.status(s)).completionPercent).toBe(100);
    store.put = put;
    store.clearCache();
    expect((await e.snapshots.read(s, 0, data.length)).equals(data)).toBe(true);
    expect((await e.verifier.region('eastus')).ok).toBe(true);
  });
});

describe('races of writes with the freeze of a snapshot', () => {
  let t: TestEngine;
  beforeEach(async () => {
    const config = defaultConfig();
    config.limits.incrementalSnapshotsPerDiskPer5Minutes = 1_000_000;
    t = await startEngine({ config });
  });
  afterEach(async () => {
    await t.dispose();
  });

  it('a write in flight when a snapshot freezes an empty change set is never lost', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const h = await e.disks.open(disk.uniqueId);
    await snapshot(e, disk, 'first');
    // the write starts k microtask turns after the snapshot request: one of them lands in the turn
    // the freeze closes the gate, whatever the number of turns the request takes to get there
    const checks: Array<{ k: number; snap: Promise<SnapshotRecord> }> = [];
    for (let k = 0; k < 80; k++) {
      const racing = snapshot(e, disk, `race${k}`);
      for (let i = 0; i < k; i++) await undefined;
      const w = h.write(k * BLOCK_SIZE, stamp(3, k));
      await Promise.all([racing, w]);
      checks.push({ k, snap: snapshot(e, disk, `after${k}`) });
      await checks[checks.length - 1]?.snap;
    }
    await e.idle();
    const lost: number[] = [];
    for (const { k, snap } of checks) {
      const got = await e.snapshots.read(await snap, k * BLOCK_SIZE, 16);
      if (!got.equals(stamp(3, k))) lost.push(k);
    }
    expect(lost).toEqual([]);
  });

  it('pipelined writes and snapshots: each snapshot holds every write acknowledged before its request, none lost', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const h = await e.disks.open(disk.uniqueId);
    const rt = e.runtimes.peek(disk.uniqueId);
    if (!rt) throw new Error('no runtime');
    const blocks = 512;
    const writers = 16;
    const acked = new Array<number>(blocks).fill(0);
    const issued = new Array<number>(blocks).fill(0);
    await snapshot(e, disk, 'first');
    const taken: Array<{ snap: SnapshotRecord; low: number[]; high: number[] }> = [];
    const miscounted: string[] = [];
    const frozenMatches = async (snap: SnapshotRecord): Promise<void> => {
      // the size of the frozen set is what the catalog recorded for the point
      const frozen = rt.pending.find((p) => p.seq === snap.point)?.frozen.count ?? 0;
      const point = await e.ctx.catalog.getPoint(snap.familyId, snap.point);
      if (point?.state === 'copying' && point.frozenBlocks !== frozen) miscounted.push(`${snap.name}: ${frozen} frozen, ${point.frozenBlocks} recorded`);
    };
    for (let round = 1; round <= 8; round++) {
      // 16 chains of writes in flight, out of step, and a snapshot requested a few turns in
      const burst = Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < w % 3; i++) await undefined;
        for (let b = w; b < blocks; b += writers) {
          issued[b] = round;
          await h.write(b * BLOCK_SIZE, stamp(round, b));
          acked[b] = round;
        }
      });
      for (let i = 0; i < 3 * round; i++) await undefined;
      const low = [...acked];
      const snap = await snapshot(e, disk, `s${round}`);
      await frozenMatches(snap);
      taken.push({ snap, low, high: [...issued] });
      await Promise.all(burst);
    }
    expect(acked).toEqual(issued);
    const last = await snapshot(e, disk, 'last');
    await frozenMatches(last);
    taken.push({ snap: last, low: [...acked], high: [...issued] });
    expect(miscounted).toEqual([]);
    await e.idle();
    for (const { snap, low, high } of taken) {
      const image = await e.snapshots.read(snap, 0, blocks * BLOCK_SIZE);
      for (let b = 0; b < blocks; b++) {
        const got = image.subarray(b * BLOCK_SIZE, b * BLOCK_SIZE + 16);
        const v = got.readUInt32BE(0);
        if (v < (low[b] ?? 0) || v > (high[b] ?? 0) || (v > 0 && !got.equals(stamp(v, b)))) {
          throw new Error(`snapshot ${snap.name} has version ${v} of block ${b}, expected ${low[b]}..${high[b]}`);
        }
      }
    }
    const final = await e.snapshots.read(last, 0, blocks * BLOCK_SIZE);
    for (let b = 0; b < blocks; b++) expect(final.subarray(b * BLOCK_SIZE, b * BLOCK_SIZE + 16).equals(stamp(acked[b] ?? 0, b))).toBe(true);
  });
});
