/**
 * Cross-region copies (CopyStart): the first copy moves the snapshot's data, the next copy of the
 * family moves only its delta; the copy is exact, resumes after a restart and after a SIGKILL in
 * the middle, keeps creation order (a second copy of a family queues behind the first), fails
 * with CopySourceNotFound when the source goes away (also mid-copy), fails with the error when the
 * job cannot finish, re-copies what GC collected before the commit, and keeps the per-subscription
 * limit of copies at once exact.
 */

import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';
import { SnapdiskError } from '../../src/core/errors.js';
import type { SnapshotRecord } from '../../src/core/model.js';
import { BLOCK_SIZE, MiB } from '../../src/core/units.js';
import type { Engine } from '../../src/engine/engine.js';
import { xorshiftBytes } from '../crash/bytes.mjs';
import { createDisk, prng, snapshot, snapshotId, startEngine, SUB, tempDir, type TestEngine } from '../helpers/engine.js';

const WORKER = join(import.meta.dirname, '..', 'crash', 'region-copy-worker.mjs');

/** The worker's data: 8 MiB pieces of the crash generator, each seeded by seed + its offset. */
function workerData(seed: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let off = 0; off < size; off += 8 * MiB) xorshiftBytes(seed + off, Math.min(8 * MiB, size - off)).copy(out, off);
  return out;
}

async function until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

function packFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.pack')) out.push(join(d, e.name));
    }
  };
  walk(dir);
  return out;
}

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

  it('a second copy of a family queues behind the first; they complete in creation order', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const h = await e.disks.open(disk.uniqueId);
    const rnd = prng(24);
    await h.write(0, rnd(64 * MiB));
    const s1 = await snapshot(e, disk, 's1');
    await h.write(0, rnd(32 * MiB));
    const s2 = await snapshot(e, disk, 's2');
    await e.idle();
    const c1 = await copyStart(e, s1, 'c1');
    const c2 = await copyStart(e, s2, 'c2');
    let sawFirstRunning = false;
    for (;;) {
      const p1 = await e.ctx.catalog.getPoint(c1.familyId, c1.point);
      const p2 = await e.ctx.catalog.getPoint(c2.familyId, c2.point);
      if (p1?.state === 'copying') {
        // while the first copy runs, the second has not moved a block
        expect(p2?.copiedBlocks).toBe(0);
        expect(p2?.state).toBe('copying');
        if ((p1.copiedBlocks ?? 0) > 0) sawFirstRunning = true;
      }
      if (p2?.state !== 'copying') break;
      await new Promise((r) => setTimeout(r, 2));
    }
    await e.idle();
    expect(sawFirstRunning).toBe(true);
    const p1 = await e.ctx.catalog.getPoint(c1.familyId, c1.point);
    const p2 = await e.ctx.catalog.getPoint(c2.familyId, c2.point);
    expect(p1?.state).toBe('ready');
    expect(p2?.state).toBe('ready');
    expect(Date.parse(p1?.completedAt ?? '')).toBeLessThanOrEqual(Date.parse(p2?.completedAt ?? ''));
    expect((await e.snapshots.read(c2, 0, 64 * MiB)).equals(await e.snapshots.read(s2, 0, 64 * MiB))).toBe(true);
    expect(p2?.bytesMoved).toBeLessThanOrEqual(1.05 * 32 * MiB);
  });

  it('the source deleted in the middle of the copy: CopySourceNotFound', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    await (await e.disks.open(disk.uniqueId)).write(0, prng(25)(128 * MiB));
    const s1 = await snapshot(e, disk, 's1');
    await e.idle();
    const c1 = await copyStart(e, s1, 'c1');
    let copiedAtDeletion = 0;
    let frozen = 0;
    await until('the copy to make progress', async () => {
      const p = await e.ctx.catalog.getPoint(c1.familyId, c1.point);
      copiedAtDeletion = p?.copiedBlocks ?? 0;
      frozen = p?.frozenBlocks ?? 0;
      return copiedAtDeletion > 0;
    });
    await e.snapshots.delete(s1);
    await e.idle();
    expect(copiedAtDeletion).toBeLessThan(frozen); // deleted mid-copy, not after
    const st = await e.snapshots.status(await e.snapshots.getById(c1.uniqueId));
    expect(st.provisioningState).toBe('Failed');
    expect(st.copyCompletionError?.errorCode).toBe('CopySourceNotFound');
  });

  it('at most N copies at once per subscription and target region (limit from config, here 2)', async () => {
    t = await startEngine({ config: parseConfig({ limits: { copyStartPerSubscriptionPerRegion: 2 } }) });
    const e = t.engine;
    const sources: SnapshotRecord[] = [];
    for (const n of ['a', 'b', 'c']) {
      const d = await createDisk(e, n);
      await (await e.disks.open(d.uniqueId)).write(0, prng(n.charCodeAt(0))(MiB));
      sources.push(await snapshot(e, d, `s-${n}`));
    }
    await e.idle();
    e.pauseJobs();
    const [sa, sb, sc] = sources as [SnapshotRecord, SnapshotRecord, SnapshotRecord];
    await copyStart(e, sa, 'ca');
    // two at once for the last free slot: the count is taken in the creating transaction, one wins
    const racing = await Promise.allSettled([copyStart(e, sb, 'cb1'), copyStart(e, sc, 'cb2')]);
    expect(racing.filter((r) => r.status === 'fulfilled').length).toBe(1);
    const refused = await copyStart(e, sc, 'cc').catch((x: unknown) => x);
    expect(refused).toBeInstanceOf(SnapdiskError);
    expect((refused as SnapdiskError).code).toBe('OperationNotAllowed');
    expect((refused as SnapdiskError).message).toContain('at most 2');
    expect(await e.snapshots.find({ subscriptionId: SUB, resourceGroup: 'rgwest', name: 'cc' })).toBeNull();
    e.resumeJobs();
    await e.idle();
    const cc = await copyStart(e, sc, 'cc');
    await e.idle();
    expect((await e.snapshots.status(cc)).completionPercent).toBe(100);
  });

  it('a copy job that cannot finish fails its target with the error (copyCompletionError)', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    await (await e.disks.open(disk.uniqueId)).write(0, prng(26)(4 * MiB));
    const s1 = await snapshot(e, disk, 's1');
    await e.idle();
    // every zone copy of the source's packs damaged: the copy cannot read it, nothing will fix it
    for (const f of packFiles(join(t.dir, 'chunks', 'eastus'))) {
      const { openSync, writeSync, closeSync, chmodSync } = await import('node:fs');
      chmodSync(f, 0o644);
      const fd = openSync(f, 'r+');
      writeSync(fd, Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, Math.floor(statSync(f).size / 2));
      closeSync(fd);
    }
    const c1 = await copyStart(e, s1, 'c1');
    await e.idle();
    const st = await e.snapshots.status(await e.snapshots.getById(c1.uniqueId));
    expect(st.provisioningState).toBe('Failed');
    expect(st.copyCompletionError?.errorCode).toBe('IntegrityError');
    expect(st.copyCompletionError?.errorMessage).toContain('cross-region copy failed');
    expect((await e.ctx.catalog.openJobs()).filter((j) => j.kind === 'region-copy')).toEqual([]);
  });

  it('a chunk collected between the lookup and the commit is copied again', async () => {
    t = await startEngine({ gcGraceMs: 0 });
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const data = prng(27)(8 * MiB);
    await (await e.disks.open(disk.uniqueId)).write(0, data);
    const s1 = await snapshot(e, disk, 's1');
    await e.idle();
    // the same bytes in westus, snapshotted and deleted: their chunks stay, unreferenced, until GC
    const w = await createDisk(e, 'w', 1, { rg: 'rgwest' });
    expect(w.location).toBe('westus');
    await (await e.disks.open(w.uniqueId)).write(0, data);
    const ws = await snapshot(e, w, 'ws');
    await e.idle();
    await e.snapshots.delete(ws);
    await e.disks.delete(w);
    // the copy finds them in westus; GC removes them right after that lookup
    const catalog = e.ctx.catalog;
    const lookup = catalog.lookupChunks.bind(catalog);
    let armed = true;
    catalog.lookupChunks = async (region, hashes) => {
      const found = await lookup(region, hashes);
      if (armed && region === 'westus' && found.size > 0) {
        armed = false;
        const report = await e.gc.collect('westus', 0);
        expect(report.chunksDeleted).toBeGreaterThan(0);
      }
      return found;
    };
    try {
      const c = await copyStart(e, s1, 'c');
      await e.idle();
      expect(armed).toBe(false);
      const st = await e.snapshots.status(c);
      expect(st.completionPercent).toBe(100);
      expect((await e.snapshots.read(c, 0, data.length)).equals(data)).toBe(true);
      const p = await e.ctx.catalog.getPoint(c.familyId, c.point);
      expect(p?.bytesMoved).toBe(data.length); // everything crossed again
    } finally {
      catalog.lookupChunks = lookup;
    }
  });

  it('a copying target whose job ended or vanished gets a job again at start-up', async () => {
    t = await startEngine();
    let e = t.engine;
    const disk = await createDisk(e, 'd');
    const data = prng(28)(8 * MiB);
    await (await e.disks.open(disk.uniqueId)).write(0, data);
    const s1 = await snapshot(e, disk, 's1');
    await e.idle();
    e.pauseJobs();
    const c1 = await copyStart(e, s1, 'c1');
    // the job row ends without the point (a crash between the two, an older version's failure)
    for (const j of await e.ctx.catalog.openJobs()) if (j.kind === 'region-copy') await e.ctx.catalog.finishJob(j.id, 'failed', 'lost', new Date());
    expect((await e.ctx.catalog.getPoint(c1.familyId, c1.point))?.state).toBe('copying');
    t = await t.reopen();
    e = t.engine;
    await e.idle();
    const after = await e.snapshots.getById(c1.uniqueId);
    expect((await e.snapshots.status(after)).completionPercent).toBe(100);
    expect((await e.snapshots.read(after, 0, data.length)).equals(data)).toBe(true);
  });

  it('SIGKILL in the middle of a cross-region copy: after the restart it resumes and the target is byte-exact', async () => {
    const dir = tempDir('snapdisk-copy-crash-');
    const size = 192 * MiB;
    const seed = 31;
    const kill = await new Promise<{ copied: number; frozen: number }>((resolve, reject) => {
      const child = spawn(process.execPath, [WORKER, dir, String(seed), String(size)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      let seen: { copied: number; frozen: number } | null = null;
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (seen) return;
        for (const line of out.split('\n')) {
          const m = /^PROGRESS (\d+) (\d+) copying$/.exec(line);
          if (m && Number(m[1]) > 0) {
            seen = { copied: Number(m[1]), frozen: Number(m[2]) };
            child.kill('SIGKILL');
            return;
          }
        }
      });
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code, signal) => {
        if (signal === 'SIGKILL' && seen) resolve(seen);
        else reject(new Error(`worker ended by itself (code ${code}) before the copy progressed: ${err}${out.slice(-500)}`));
      });
    });
    expect(kill.copied).toBeGreaterThan(0);
    expect(kill.copied).toBeLessThan(kill.frozen);
    t = await startEngine({ dir });
    const e = t.engine;
    await e.idle();
    const c = await e.snapshots.find({ subscriptionId: SUB, resourceGroup: 'west', name: 'c1' });
    if (!c) throw new Error('the copy is gone');
    expect((await e.snapshots.status(c)).completionPercent).toBe(100);
    const expected = workerData(seed, size);
    expect((await e.snapshots.read(c, 0, size)).equals(expected)).toBe(true);
    const p = await e.ctx.catalog.getPoint(c.familyId, c.point);
    expect(p?.copiedBlocks).toBe(size / BLOCK_SIZE);
    expect(p?.bytesMoved).toBeLessThanOrEqual(size); // the committed part was not moved twice
  }, 120_000);
});
