/**
 * Engine calls racing each other on one resource: a PATCH, a grant or a revoke against a DELETE
 * (a deleted snapshot never comes back), two PUTs of one new name (one creates, the other
 * updates, no hidden point is left behind), limit checks that must hold under concurrency, a
 * refused PATCH that changes nothing, and the attach accounting of NBD connections.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { SnapdiskError } from '../../src/core/errors.js';
import type { SnapshotRecord } from '../../src/core/model.js';
import { resourceId } from '../../src/core/ids.js';
import { BLOCK_SIZE } from '../../src/core/units.js';
import { EngineNbdBackend } from '../../src/nbd/engine-backend.js';
import { NbdServer } from '../../src/nbd/server.js';
import { RawNbdClient } from '../../src/nbd/test-client.js';
import { createDisk, diskId, prng, RG, snapshot, snapshotId, startEngine, SUB, type TestEngine, err } from '../helpers/engine.js';

const key = (name: string) => ({ subscriptionId: SUB, resourceGroup: RG, name });

describe('races on one resource', () => {
  let t: TestEngine;
  afterEach(async () => {
    await t.dispose();
  });

  it('a PATCH, a grant or a revoke racing a DELETE never brings the snapshot back', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    await (await e.disks.open(disk.uniqueId)).write(0, prng(1)(BLOCK_SIZE));
    await e.grants.begin({ kind: 'disk', disk }, { access: 'Read', durationInSeconds: 60 });
    await e.grants.end({ kind: 'disk', disk });
    const racers: [string, (s: SnapshotRecord) => Promise<unknown>][] = [
      ['patch', (s) => e.snapshots.update(s, { tags: { x: 'y' } })],
      ['grant', (s) => e.grants.begin({ kind: 'snapshot', snapshot: s }, { access: 'Read', durationInSeconds: 60 })],
      ['revoke', (s) => e.grants.end({ kind: 'snapshot', snapshot: s })],
      ['sweep', () => e.grants.sweepExpired()],
    ];
    let round = 0;
    for (const [what, racer] of racers) {
      for (let delay = 0; delay < 40; delay += 2) {
        const s = await snapshot(e, disk, `${what}-${round++}`, false);
        await e.idle();
        if (what === 'sweep' || what === 'revoke') {
          // an expired (sweep) or active (revoke) SAS: the delete of an ActiveSAS snapshot is refused, so revoke first
          await e.grants.begin({ kind: 'snapshot', snapshot: s }, { access: 'Read', durationInSeconds: 60 });
          await e.ctx.catalog.revokeGrants(s.uniqueId, new Date());
          await e.ctx.catalog.updateSnapshot({ ...(await e.snapshots.getById(s.uniqueId)), diskState: 'Unattached' });
        }
        const fresh = await e.snapshots.getById(s.uniqueId);
        // the racer starts first, the delete `delay` microtasks later: some interleaving hits the window
        const raced = racer(fresh);
        for (let i = 0; i < delay; i++) await Promise.resolve();
        const deleted = e.snapshots.delete(fresh);
        const settled = await Promise.allSettled([deleted, raced]);
        await e.idle();
        for (const r of settled) {
          if (r.status === 'rejected') expect((r.reason as SnapdiskError).code, `${what}/${delay}: ${(r.reason as Error).stack}`).toMatch(/NotFound|OperationNotAllowed/);
        }
        if (settled[0].status === 'rejected') continue; // the delete lost to an active SAS: nothing to check
        expect(await e.snapshots.find(s), `${what} after ${delay} ticks`).toBeNull();
        expect(await e.ctx.catalog.getSnapshotById(s.uniqueId)).toBeNull();
      }
    }
  });

  it('a PATCH of a deleted snapshot is ResourceNotFound and changes nothing', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const s = await snapshot(e, disk, 'gone');
    await e.snapshots.delete(s);
    expect((await err(e.snapshots.update(s, { tags: { a: 'b' } }))).code).toBe('ResourceNotFound');
    expect((await err(e.grants.begin({ kind: 'snapshot', snapshot: s }, { access: 'Read', durationInSeconds: 60 }))).code).toBe('ResourceNotFound');
    expect(await e.snapshots.find(s)).toBeNull();
    // the name is free again
    await snapshot(e, disk, 'gone');
  });

  it('two concurrent PUTs of one new disk or snapshot name: one creates, the other updates; no 500, no leaked point', async () => {
    t = await startEngine();
    const e = t.engine;
    const source = await createDisk(e, 'src');
    await (await e.disks.open(source.uniqueId)).write(0, prng(2)(BLOCK_SIZE));
    const disks = await Promise.all(
      [1, 2, 3].map((i) => e.disks.createOrUpdate({ ...key('twin'), sizeGb: 1, tags: { i: String(i) }, creationData: { createOption: 'Empty' } })),
    );
    expect(disks.filter((d) => d.created)).toHaveLength(1);
    expect(new Set(disks.map((d) => d.disk.uniqueId)).size).toBe(1);
    const copies = await Promise.all([1, 2].map(() => e.disks.createOrUpdate({ ...key('copy'), creationData: { createOption: 'Copy', sourceResourceId: diskId(source) } })));
    expect(copies.filter((d) => d.created)).toHaveLength(1);
    const snaps = await Promise.all([1, 2, 3].map(() => snapshotOrUpdate(t, diskId(source), 'twin-snap', true)));
    expect(snaps.filter((s) => s.created)).toHaveLength(1);
    const full = await Promise.all([1, 2].map(() => snapshotOrUpdate(t, diskId(source), 'twin-full', false)));
    expect(full.filter((s) => s.created)).toHaveLength(1);
    await e.idle();
    expect((await e.snapshots.list({ subscriptionId: SUB })).map((s) => s.name).sort()).toEqual(['twin-full', 'twin-snap']);
    // the source family holds: the copy's hidden point (base of 'copy'), the incremental, the full's base
    const fam = (await e.disks.getById(source.uniqueId)).familyId ?? '';
    const points = await e.ctx.catalog.listPoints(fam);
    expect(points.length).toBeLessThanOrEqual(3);
    expect(points.filter((p) => !p.hidden)).toHaveLength(1);
  });
});

describe('moves of records read earlier', () => {
  let t: TestEngine;
  afterEach(async () => {
    await t.dispose();
  });

  it('a move checks the snapshot as it is now: deleted meanwhile is ResourceNotFound (not brought back), granted meanwhile is refused', async () => {
    t = await startEngine();
    const e = t.engine;
    await e.resources.putGroup(SUB, 'rg2', 'eastus');
    const disk = await createDisk(e, 'd');
    const gone = await snapshot(e, disk, 'gone', false);
    const granted = await snapshot(e, disk, 'granted', false);
    await e.idle();
    await e.snapshots.delete(gone);
    expect((await err(e.mover.move([{ kind: 'snapshot', record: gone }], { subscriptionId: SUB, resourceGroup: 'rg2' }))).code).toBe('ResourceNotFound');
    expect(await e.ctx.catalog.getSnapshotById(gone.uniqueId)).toBeNull();
    expect(await e.snapshots.find({ subscriptionId: SUB, resourceGroup: 'rg2', name: 'gone' })).toBeNull();
    await e.grants.begin({ kind: 'snapshot', snapshot: granted }, { access: 'Read', durationInSeconds: 60 });
    expect((await err(e.mover.move([{ kind: 'snapshot', record: granted }], { subscriptionId: SUB, resourceGroup: 'rg2' }))).message).toContain('ActiveSAS');
    expect((await e.snapshots.getById(granted.uniqueId)).resourceGroup).toBe(RG);
    await e.grants.end({ kind: 'snapshot', snapshot: granted });
    await e.mover.move([{ kind: 'snapshot', record: granted }], { subscriptionId: SUB, resourceGroup: 'rg2' });
    expect((await e.snapshots.getById(granted.uniqueId)).resourceGroup).toBe('rg2');
  });
});

describe('limits under concurrency', () => {
  let t: TestEngine;
  afterEach(async () => {
    await t.dispose();
  });

  it('8 concurrent restores from one Ultra snapshot: exactly 5 are created (concurrentDiskCreationsPerSnapshot holds)', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'u', 1, { sku: 'UltraSSD_LRS' });
    await (await e.disks.open(disk.uniqueId)).write(0, prng(3)(BLOCK_SIZE));
    const snap = await snapshot(e, disk, 'us');
    await e.idle();
    e.pauseJobs();
    const restores = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => e.disks.createOrUpdate({ ...key(`r${i}`), sku: 'UltraSSD_LRS', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(snap) } })),
    );
    expect(restores.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    for (const r of restores) if (r.status === 'rejected') expect((r.reason as Error).message).toContain('concurrentDiskCreationsPerSnapshot');
    expect((await e.disks.list({ subscriptionId: SUB })).filter((d) => d.name.startsWith('r'))).toHaveLength(5);
    e.resumeJobs();
    await e.idle();
  });
});

describe('validation before any change', () => {
  let t: TestEngine;
  afterEach(async () => {
    await t.dispose();
  });

  it('a refused disk PATCH changes nothing (tags, sku, maxShares stay)', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'p', 2);
    await e.disks.update(disk, { tags: { keep: 'me' } });
    const before = await e.disks.getById(disk.uniqueId);
    const refusals = [
      { tags: { new: 'tag' }, sku: 'Premium_LRS' as const, maxShares: 3, sizeGb: 1 }, // shrink
      { tags: { new: 'tag' }, sku: 'UltraSSD_LRS' as const }, // sku class
    ];
    for (const patch of refusals) {
      expect((await err(e.disks.update(disk, patch))).code).toBe('OperationNotAllowed');
      expect(await e.disks.getById(disk.uniqueId)).toEqual(before);
    }
    // and a valid one applies everything at once
    const ok = await e.disks.update(disk, { tags: { new: 'tag' }, sku: 'Premium_LRS', maxShares: 3, sizeGb: 3 });
    expect([ok.tags, ok.sku, ok.maxShares, ok.sizeBytes]).toEqual([{ new: 'tag' }, 'Premium_LRS', 3, 3 * 1024 ** 3]);
  });

  it('a failed snapshot (or one on a failed point) restores nothing, gets no SAS and no diff; a CopyStart copy below 100% restores nothing', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'u', 1, { sku: 'PremiumV2_LRS' });
    const h = await e.disks.open(disk.uniqueId);
    await h.write(0, prng(4)(BLOCK_SIZE));
    const good = await snapshot(e, disk, 'good');
    await e.idle();
    e.pauseJobs();
    await h.write(BLOCK_SIZE, prng(5)(BLOCK_SIZE));
    const bad = await snapshot(e, disk, 'bad');
    const full = await snapshot(e, disk, 'full-of-bad', false); // its base is a hidden point that fails too
    await h.write(0, prng(6)(BLOCK_SIZE));
    await e.disks.update(disk, { sizeGb: 2 }); // fails the copies in progress
    e.resumeJobs();
    await e.idle();
    expect((await e.snapshots.status(bad)).provisioningState).toBe('Failed');
    expect((await e.snapshots.status(full)).provisioningState).toBe('Failed');
    for (const s of [bad, full]) {
      const restore = await err(e.disks.createOrUpdate({ ...key(`from-${s.name}`), sku: 'PremiumV2_LRS', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(s) } }));
      expect(restore.code).toBe('OperationNotAllowed');
      expect(restore.message).toContain('DiskResizedDuringCopy');
      expect(await e.disks.find(key(`from-${s.name}`))).toBeNull();
      expect((await err(e.grants.begin({ kind: 'snapshot', snapshot: s }, { access: 'Read', durationInSeconds: 60 }))).message).toContain('failed');
    }
    expect((await err(e.snapshots.diff(bad, good))).message).toContain('cannot be used for a diff');
    expect((await e.snapshots.getById(bad.uniqueId)).diskState).toBe('Unattached');
    // a cross-region copy is usable at 100% only
    e.pauseJobs();
    const { snapshot: west } = await e.snapshots.createOrUpdate({
      subscriptionId: SUB,
      resourceGroup: 'rgwest',
      name: 'west',
      location: 'westus',
      creationData: { createOption: 'CopyStart', sourceResourceId: snapshotId(good) },
    });
    expect((await e.snapshots.status(west)).completionPercent).toBeLessThan(100);
    const early = await err(e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rgwest', name: 'w', sku: 'PremiumV2_LRS', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(west) } }));
    expect(early.message).toContain('completionPercent');
    e.resumeJobs();
    await e.idle();
    await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rgwest', name: 'w', sku: 'PremiumV2_LRS', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(west) } });
  });

  it('snapshot reads and range queries refuse bad numbers with a coded error before allocating', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    await (await e.disks.open(disk.uniqueId)).write(0, prng(7)(2 * BLOCK_SIZE));
    const s = await snapshot(e, disk, 's');
    await e.idle();
    for (const [offset, length] of [[0, -1], [0, 1.5], [0.5, 10], [-512, 512], [0, Number.NaN], [0, 2 ** 60]]) {
      expect((await err(e.snapshots.read(s, offset ?? 0, length ?? 0))).code, `${offset}+${length}`).toBe('OutOfRange');
    }
    for (const q of [{ maxRanges: 0 }, { maxRanges: -3 }, { maxRanges: Number.NaN }, { maxRanges: 1.5 }, { start: 0.5 }, { end: 10.25 }, { start: Number.NaN }, { start: -512 }]) {
      expect((await err(e.snapshots.allocatedRanges(s, q))).code, JSON.stringify(q)).toBe('InvalidParameter');
      expect((await err(e.snapshots.diff(s, s, q))).code, JSON.stringify(q)).toBe('InvalidParameter');
    }
    expect((await e.snapshots.allocatedRanges(s, { maxRanges: 1 })).ranges).toEqual([{ start: 0, end: 2 * BLOCK_SIZE }]);
  });
});

describe('NBD attach accounting', () => {
  let t: TestEngine;
  afterEach(async () => {
    await t.dispose();
  });

  it('an attach that fails after counting leaves the disk detached and deletable', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'a');
    const catalog = e.ctx.catalog;
    const real = catalog.updateDisk.bind(catalog);
    let failures = 1;
    catalog.updateDisk = async (d) => {
      if (d.diskState === 'Attached' && failures-- > 0) throw new SnapdiskError('Unavailable', 'catalog unavailable (injected)');
      return real(d);
    };
    try {
      expect((await err(e.disks.attach(disk.uniqueId, '10.0.0.1:1'))).code).toBe('Unavailable');
    } finally {
      catalog.updateDisk = real;
    }
    const after = await e.disks.getById(disk.uniqueId);
    expect([after.diskState, after.managedBy]).toEqual(['Unattached', null]);
    expect(await e.disks.delete(key('a'))).toBe(true);
  });

  it('managedBy names a client still connected; detach ends Attached even after a failed flush or a reloaded runtime', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'a');
    const state = async () => {
      const d = await e.disks.getById(disk.uniqueId);
      return [d.diskState, d.managedBy];
    };
    await e.disks.attach(disk.uniqueId, 'A');
    await e.disks.attach(disk.uniqueId, 'B');
    expect(await state()).toEqual(['Attached', 'A']);
    await e.disks.detach(disk.uniqueId, 'A');
    expect(await state()).toEqual(['Attached', 'B']);
    expect((await err(e.disks.delete(key('a')))).message).toContain('attached (B)');
    // the last connection's flush fails: the error is reported, the disk is detached all the same
    const rt = e.runtimes.peek(disk.uniqueId);
    if (!rt) throw new Error('not loaded');
    const flush = rt.flush.bind(rt);
    rt.flush = () => Promise.reject(new SnapdiskError('Unavailable', 'disk full (injected)'));
    await expect(e.disks.detach(disk.uniqueId, 'B')).rejects.toThrow('disk full');
    rt.flush = flush;
    expect(await state()).toEqual(['Unattached', null]);
    // a runtime closed and loaded again (lease lost and regained) while a client is connected
    await e.disks.attach(disk.uniqueId, 'C');
    e.runtimes.fence(disk.uniqueId);
    await e.disks.open(disk.uniqueId);
    await e.disks.detach(disk.uniqueId, 'C');
    expect(await state()).toEqual(['Unattached', null]);
    expect(await e.disks.delete(key('a'))).toBe(true);
  });

  it('over NBD: when the newer of two connections closes, managedBy keeps naming the one still connected', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'n');
    const server = new NbdServer(new EngineNbdBackend(e));
    const { port } = await server.listen(0, '127.0.0.1');
    try {
      const first = await RawNbdClient.open(port, resourceId('disks', disk), { structured: true });
      const owner = (await e.disks.getById(disk.uniqueId)).managedBy;
      const second = await RawNbdClient.open(port, resourceId('disks', disk), { structured: true });
      expect((await e.disks.getById(disk.uniqueId)).managedBy).toBe(owner);
      await second.disconnect();
      await new Promise((r) => setTimeout(r, 100)); // the server runs the export's close
      expect((await e.disks.getById(disk.uniqueId)).managedBy).toBe(owner);
      await first.disconnect();
      await waitFor(async () => (await e.disks.getById(disk.uniqueId)).diskState === 'Unattached');
      expect((await e.disks.getById(disk.uniqueId)).managedBy).toBeNull();
    } finally {
      await server.close();
    }
  });

  it('a delete racing an attach: the attach that lands between the delete\'s first check and its lock wins; the delete is refused', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'r');
    // the delete is held right after its first check (taking the disk's lease) while a client attaches
    const claim = e.runtimes.claim.bind(e.runtimes);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    let claimed: () => void = () => undefined;
    const atClaim = new Promise<void>((r) => (claimed = r));
    e.runtimes.claim = async (id) => {
      claimed();
      await gate;
      return claim(id);
    };
    const del = e.disks.delete(key('r'));
    await atClaim;
    const h = await e.disks.attach(disk.uniqueId, 'X');
    release();
    expect((await err(del)).message).toContain('attached (X)');
    e.runtimes.claim = claim;
    await h.write(0, prng(8)(4096));
    expect((await e.disks.getById(disk.uniqueId)).diskState).toBe('Attached');
    await e.disks.detach(disk.uniqueId, 'X');
    expect(await e.disks.delete(key('r'))).toBe(true);
    // and the other way round: an attach after the delete finds nothing
    expect((await err(e.disks.attach(disk.uniqueId, 'Y'))).code).toBe('ResourceNotFound');
  });
});

async function waitFor(cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function snapshotOrUpdate(t: TestEngine, source: string, name: string, incremental: boolean): Promise<{ snapshot: SnapshotRecord; created: boolean }> {
  return t.engine.snapshots.createOrUpdate({ ...key(name), incremental, creationData: { createOption: 'Copy', sourceResourceId: source } });
}

