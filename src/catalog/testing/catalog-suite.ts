/**
 * @module catalog/testing/catalog-suite
 * The Catalog contract, run by every catalog backend: `describeCatalog(name, factory)`.
 * PostgreSQL will run the same suite.
 */

import { describe, expect, it } from 'vitest';
import type { DiskRecord, Point } from '../../core/model.js';
import type { Catalog } from '../../core/ports.js';
import { UniqueViolation } from '../../core/ports.js';

const SUB = 'aaaaaaaa-0000-4000-8000-000000000001';

function disk(name: string, uniqueId: string): DiskRecord {
  return {
    subscriptionId: SUB,
    resourceGroup: 'RG',
    name,
    uniqueId,
    location: 'eastus',
    zones: [],
    sku: 'Standard_LRS',
    sizeBytes: 1 << 30,
    logicalSectorSize: 512,
    diskState: 'Unattached',
    provisioningState: 'Succeeded',
    creationData: { createOption: 'Empty' },
    tags: { a: 'b' },
    properties: {},
    managedBy: null,
    maxShares: 1,
    timeCreated: '2026-01-01T00:00:00.000Z',
    familyId: null,
    trackingPoint: 0,
    baseFamilyId: null,
    basePoint: 0,
    hydration: 'none',
    hydrationTotalBlocks: 0,
    hydrationDoneBlocks: 0,
  };
}

function point(familyId: string, seq: number): Point {
  return {
    familyId,
    seq,
    sizeBytes: 1 << 30,
    state: 'ready',
    hidden: false,
    frozenBlocks: 0,
    copiedBlocks: 0,
    cursor: 0,
    frozenMap: null,
    usedBytes: 0,
    createdAt: '2026-01-01T00:00:00.000Z',
    completedAt: null,
    errorCode: null,
    errorMessage: null,
  };
}

const hash = (n: number): Buffer => Buffer.alloc(32, n);

export function describeCatalog(name: string, factory: () => Promise<{ catalog: Catalog; dispose(): Promise<void> }>): void {
  describe(`Catalog contract: ${name}`, () => {
    const withCatalog = async (fn: (c: Catalog) => Promise<void>): Promise<void> => {
      const { catalog, dispose } = await factory();
      try {
        await fn(catalog);
      } finally {
        await dispose();
      }
    };

    it('subscriptions, groups and disks: case-insensitive keys, canonical values', () =>
      withCatalog(async (c) => {
        await c.putSubscription({ subscriptionId: SUB.toUpperCase(), displayName: 'dev', tenantId: 't', state: 'Enabled' });
        expect((await c.getSubscription(SUB))?.displayName).toBe('dev');
        await c.putResourceGroup({ subscriptionId: SUB, name: 'MyGroup', location: 'eastus', tags: {}, provisioningState: 'Succeeded', createdAt: 'x' });
        expect((await c.getResourceGroup(SUB, 'mygroup'))?.name).toBe('MyGroup');
        await c.insertDisk(disk('Disk1', 'u1'));
        expect((await c.getDisk(SUB, 'rg', 'DISK1'))?.uniqueId).toBe('u1');
        // a taken name and a taken id are both unique violations; only the first is the name key
        await expect(c.insertDisk(disk('disk1', 'u2'))).rejects.toSatisfy((e) => e instanceof UniqueViolation && e.code === 'Conflict' && e.nameKey);
        await expect(c.insertDisk(disk('disk2', 'u1'))).rejects.toSatisfy((e) => e instanceof UniqueViolation && !e.nameKey);
        await c.updateDisk({ ...disk('Disk1', 'u1'), tags: { x: 'y' } });
        expect((await c.getDiskById('u1'))?.tags).toEqual({ x: 'y' });
        expect((await c.listDisks({ subscriptionId: SUB, resourceGroup: 'RG' })).length).toBe(1);
        await c.deleteDisk('u1');
        expect(await c.getDiskById('u1')).toBeNull();
      }));

    it('countHydratingDisksFrom counts the disks of one source snapshot still hydrating, in a transaction too', () =>
      withCatalog(async (c) => {
        const from = (name: string, source: string | null, hydration: DiskRecord['hydration']): DiskRecord => ({
          ...disk(name, `u-${name}`),
          creationData: source ? { createOption: 'Copy', sourceResourceId: `/snapshots/${source}`, sourceUniqueId: source } : { createOption: 'Empty' },
          hydration,
        });
        await c.insertDisk(from('a', 'snap-1', 'hydrating'));
        await c.insertDisk(from('b', 'snap-1', 'hydrating'));
        await c.insertDisk(from('c', 'snap-1', 'done'));
        await c.insertDisk(from('d', 'snap-2', 'hydrating'));
        await c.insertDisk(from('e', null, 'none'));
        expect(await c.countHydratingDisksFrom('snap-1')).toBe(2);
        expect(await c.countHydratingDisksFrom('snap-2')).toBe(1);
        expect(await c.countHydratingDisksFrom('snap-3')).toBe(0);
        await c.updateDisk({ ...from('a', 'snap-1', 'done') });
        expect(await c.transaction((tx) => tx.countHydratingDisksFrom('snap-1'))).toBe(1);
      }));

    it('entries: newest at or before a point wins; changed entries between two points', () =>
      withCatalog(async (c) => {
        await c.insertFamily({ id: 'f', region: 'eastus', diskId: null, baseFamilyId: null, basePoint: 0, createdAt: 'x' });
        const pack = { key: 'packs/00/p', sizeBytes: 100, zones: ['1'] };
        const locs = await c.addPack('eastus', pack, [1, 2, 3].map((n) => ({ hash: hash(n), offset: n * 10, storedLength: 10, rawLength: 65536, codec: 0 })));
        const id = (n: number): number => locs.get(hash(n).toString('hex'))?.id ?? -1;
        for (const s of [1, 2, 3]) await c.insertPoint(point('f', s));
        await c.insertEntries('f', 1, [{ block: 0, chunkId: id(1) }, { block: 5, chunkId: id(1) }]);
        await c.insertEntries('f', 2, [{ block: 0, chunkId: id(2) }, { block: 7, chunkId: id(3) }]);
        await c.insertEntries('f', 3, [{ block: 5, chunkId: null }]);
        const at2 = await c.resolveEntries('f', 2, 0, 10);
        expect(at2.map((e) => [e.block, e.point, e.chunk?.id ?? null])).toEqual([
          [0, 2, id(2)],
          [5, 1, id(1)],
          [7, 2, id(3)],
        ]);
        expect(at2[0]?.chunk?.offset).toBe(20);
        const ch = await c.changedEntries('f', 1, 3, 0, 10);
        expect(ch.map((e) => [e.block, e.chunk === null])).toEqual([
          [0, false],
          [5, true],
          [7, false],
        ]);
        expect((await c.changedEntries('f', 1, 3, 1, 1)).map((e) => e.block)).toEqual([5]);
        expect(await c.changedBytes('f', 0, 3)).toBe(2 * 65536);
      }));

    it('merge moves only the entries the successor lacks', () =>
      withCatalog(async (c) => {
        await c.insertFamily({ id: 'f', region: 'eastus', diskId: null, baseFamilyId: null, basePoint: 0, createdAt: 'x' });
        const locs = await c.addPack('eastus', { key: 'k', sizeBytes: 1, zones: [] }, [1, 2].map((n) => ({ hash: hash(n), offset: 0, storedLength: 1, rawLength: 65536, codec: 0 })));
        const id = (n: number): number => locs.get(hash(n).toString('hex'))?.id ?? -1;
        await c.insertPoint(point('f', 1));
        await c.insertPoint(point('f', 2));
        await c.insertEntries('f', 1, [{ block: 1, chunkId: id(1) }, { block: 2, chunkId: id(1) }]);
        await c.insertEntries('f', 2, [{ block: 2, chunkId: id(2) }]);
        await c.mergePointInto('f', 1, 2);
        const at2 = await c.resolveEntries('f', 2, 0, 10);
        expect(at2.map((e) => [e.block, e.point, e.chunk?.id])).toEqual([
          [1, 2, id(1)],
          [2, 2, id(2)],
        ]);
        expect(await c.resolveEntries('f', 1, 0, 10)).toEqual([]);
      }));

    it('chunk index: dedup lookups, unreferenced chunks and empty packs for GC', () =>
      withCatalog(async (c) => {
        await c.insertFamily({ id: 'f', region: 'eastus', diskId: null, baseFamilyId: null, basePoint: 0, createdAt: 'x' });
        await c.insertPoint(point('f', 1));
        const locs = await c.addPack('eastus', { key: 'p1', sizeBytes: 50, zones: ['1'] }, [1, 2].map((n) => ({ hash: hash(n), offset: 0, storedLength: 1, rawLength: 1, codec: 0 })));
        const again = await c.addPack('eastus', { key: 'p2', sizeBytes: 50, zones: ['1'] }, [{ hash: hash(2), offset: 5, storedLength: 1, rawLength: 1, codec: 0 }]);
        expect(again.get(hash(2).toString('hex'))?.pack).toBe('p1');
        expect(await c.packBytes('eastus')).toBe(100);
        const keep = locs.get(hash(1).toString('hex'))?.id ?? -1;
        await c.insertEntries('f', 1, [{ block: 0, chunkId: keep }]);
        const future = new Date(Date.now() + 60_000);
        const unref = await c.unreferencedChunks('eastus', future, 100);
        expect(unref).toEqual([locs.get(hash(2).toString('hex'))?.id]);
        expect(await c.deleteChunksIfUnreferenced([...unref, keep])).toEqual(unref);
        expect((await c.emptyPacks('eastus', future)).map((p) => p.key)).toEqual(['p2']);
        expect([...(await c.existingChunks([keep, 99999]))]).toEqual([keep]);
      }));

    it('transactions: all or nothing; outer calls wait for the transaction', () =>
      withCatalog(async (c) => {
        await c.putSubscription({ subscriptionId: SUB, displayName: 'dev', tenantId: 't', state: 'Enabled' });
        await expect(
          c.transaction(async (tx) => {
            await tx.insertDisk(disk('a', 'ua'));
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');
        expect(await c.getDiskById('ua')).toBeNull();
        let release: () => void = () => undefined;
        const gate = new Promise<void>((r) => (release = r));
        const tx = c.transaction(async (t) => {
          await t.insertDisk(disk('b', 'ub'));
          await gate;
        });
        const outside = c.getDiskById('ub');
        release();
        await tx;
        expect((await outside)?.uniqueId).toBe('ub');
      }));

    it('jobs: one open job per kind and target; finished jobs leave the open set', () =>
      withCatalog(async (c) => {
        const now = new Date();
        const a = await c.enqueueJob('hydrate', 'd1', { x: 1 }, now);
        const b = await c.enqueueJob('hydrate', 'd1', { x: 2 }, now);
        expect(b.id).toBe(a.id);
        await c.touchJob(a.id, { x: 3 }, now);
        expect((await c.openJobs())[0]?.payload).toEqual({ x: 3 });
        await c.finishJob(a.id, 'done', null, now);
        expect(await c.openJobs()).toEqual([]);
        const c2 = await c.enqueueJob('hydrate', 'd1', {}, now);
        expect(c2.id).not.toBe(a.id);
      }));

    it('leases: one holder at a time, epoch grows on takeover after expiry, fencing check, renewals', () =>
      withCatalog(async (c) => {
        const t0 = new Date('2026-01-01T00:00:00Z');
        const later = (s: number): Date => new Date(t0.getTime() + s * 1000);
        const a = await c.acquireLease('d1', 'node-a', later(30), t0);
        expect(a).toMatchObject({ nodeId: 'node-a', epoch: 1 });
        expect(await c.acquireLease('d1', 'node-b', later(40), later(10))).toBeNull();
        expect((await c.acquireLease('d1', 'node-a', later(60), later(10)))?.epoch).toBe(1);
        expect([...(await c.renewLeases('node-a', ['d1', 'd2'], later(90)))]).toEqual(['d1']);
        const b = await c.acquireLease('d1', 'node-b', later(200), later(100));
        expect(b).toMatchObject({ nodeId: 'node-b', epoch: 2 });
        expect(await c.holdsLease('d1', 'node-a', 1)).toBe(false);
        expect(await c.holdsLease('d1', 'node-b', 2)).toBe(true);
        expect((await c.renewLeases('node-a', ['d1'], later(300))).size).toBe(0);
        await c.releaseLease('d1', 'node-a');
        expect((await c.getLease('d1'))?.nodeId).toBe('node-b');
        await c.releaseLease('d1', 'node-b');
        expect(await c.holdsLease('d1', 'node-b', 2)).toBe(false);
        expect(await c.lapsedLeases(later(1000), 10)).toEqual([]); // released, not lapsed
        // taken anew after a release: a new epoch, even for the same node
        expect((await c.acquireLease('d1', 'node-b', later(400), later(300)))?.epoch).toBe(3);
        expect((await c.lapsedLeases(later(500), 10)).map((l) => l.diskId)).toEqual(['d1']);
        await c.heartbeat({ id: 'node-a', url: 'https://a:1/', nbd: 'a:2', heartbeatAt: t0.toISOString() });
        await c.heartbeat({ id: 'node-a', url: 'https://a:3/', nbd: 'a:2', heartbeatAt: later(5).toISOString() });
        await c.heartbeat({ id: 'node-a', url: 'https://a:3/', nbd: 'a:2', heartbeatAt: later(5).toISOString(), incarnation: 'h/1/x' });
        expect(await c.getNode('node-a')).toEqual({ id: 'node-a', url: 'https://a:3/', nbd: 'a:2', heartbeatAt: later(5).toISOString(), incarnation: 'h/1/x' });
      }));

    it('job claims: oldest open job per lane, fencing token, stale takeover, release, periodic jobs', () =>
      withCatalog(async (c) => {
        const t0 = new Date('2026-01-01T00:00:00Z');
        const at = (s: number): Date => new Date(t0.getTime() + s * 1000);
        const c1 = await c.enqueueJob('snapshot-copy', 'fam:1', {}, t0);
        const c2 = await c.enqueueJob('snapshot-copy', 'fam:2', {}, t0);
        const h = await c.enqueueJob('hydrate', 'disk', {}, t0);
        const g = await c.enqueueJob('gc', 'all', {}, t0);
        expect(await c.claimJobs({ nodeId: 'a', at: t0, staleBefore: at(-30), limit: 10, kinds: ['gc'], lanes: [] })).toEqual([]);
        const first = await c.claimJobs({ nodeId: 'a', at: t0, staleBefore: at(-30), limit: 10, lanes: ['snapshot-copy|fam', 'hydrate|disk'] });
        expect(first.map((j) => [j.id, j.attempts, j.nodeId])).toEqual([[c1.id, 1, 'a'], [h.id, 1, 'a']]);
        // the second copy of the family waits for the first, also for other nodes
        expect(await c.claimJobs({ nodeId: 'b', at: at(1), staleBefore: at(-29), limit: 10, kinds: ['snapshot-copy', 'hydrate'] })).toEqual([]);
        expect((await c.staleJobs(['snapshot-copy', 'hydrate'], at(-29), 10)).map((j) => j.id)).toEqual([]);
        expect([...(await c.renewJobClaims('a', [{ id: c1.id, fence: 1 }, { id: h.id, fence: 1 }, { id: g.id, fence: 1 }], at(10)))].sort()).toEqual([c1.id, h.id].sort());
        // node a stops renewing: after the stale interval b takes the copy over, a is fenced out
        expect((await c.staleJobs(['snapshot-copy'], at(41), 10)).map((j) => j.id)).toEqual([c1.id]);
        const taken = await c.claimJobs({ nodeId: 'b', at: at(41), staleBefore: at(11), limit: 10, kinds: ['snapshot-copy'] });
        expect(taken.map((j) => [j.id, j.attempts, j.nodeId])).toEqual([[c1.id, 2, 'b']]);
        expect(await c.touchClaimedJob(c1.id, 1, { late: true }, at(42))).toBe(false);
        expect(await c.finishClaimedJob(c1.id, 1, 'failed', 'late', at(42))).toBe(false);
        expect((await c.renewJobClaims('a', [{ id: c1.id, fence: 1 }], at(42))).size).toBe(0);
        expect(await c.touchClaimedJob(c1.id, 2, { cursor: 5 }, at(43))).toBe(true);
        expect(await c.finishClaimedJob(c1.id, 2, 'done', null, at(44))).toBe(true);
        // now the second copy is the lane's oldest
        const next = await c.claimJobs({ nodeId: 'a', at: at(45), staleBefore: at(15), limit: 10, kinds: ['snapshot-copy'] });
        expect(next.map((j) => j.id)).toEqual([c2.id]);
        expect(await c.releaseClaimedJob(c2.id, 1, at(46))).toBe(true);
        expect(await c.releaseClaimedJob(c2.id, 1, at(46))).toBe(false);
        // a restarted node takes its own running jobs back at once
        expect(await c.claimJobs({ nodeId: 'a', at: at(47), staleBefore: at(5), limit: 10, kinds: ['hydrate'] })).toEqual([]);
        expect((await c.claimJobs({ nodeId: 'a', at: at(47), staleBefore: at(5), limit: 10, kinds: ['hydrate'], reclaimOwn: true })).map((j) => j.attempts)).toEqual([2]);
        // periodic singleton work: enqueued only when the last run is old enough
        const gd = await c.claimJobs({ nodeId: 'a', at: at(50), staleBefore: at(20), limit: 1, kinds: ['gc'] });
        expect(await c.finishClaimedJob(g.id, gd[0]?.attempts ?? -1, 'done', null, at(60))).toBe(true);
        expect(await c.lastJobDone('gc')).toBe(at(60).toISOString());
        expect(await c.enqueueJobIfDue('gc', 'all', {}, at(70), at(0))).toBeNull();
        const due = await c.enqueueJobIfDue('gc', 'all', {}, at(700), at(100));
        expect(due?.state).toBe('queued');
        expect((await c.enqueueJobIfDue('gc', 'all', {}, at(701), at(101)))?.id).toBe(due?.id);
      }));

    it('snapshot creations log and grants', () =>
      withCatalog(async (c) => {
        const t0 = new Date('2026-01-01T00:00:00Z');
        for (let i = 0; i < 3; i++) await c.logSnapshotCreation('d', new Date(t0.getTime() + i * 1000));
        expect((await c.countSnapshotCreations('d', new Date(t0.getTime() + 500))).length).toBe(2);
        await c.insertGrant({ id: 'g', resourceKind: 'snapshot', resourceUniqueId: 's', access: 'Read', fileFormat: 'VHD', familyId: 'f', createdAt: t0.toISOString(), expiresAt: '2026-01-02T00:00:00.000Z', revokedAt: null });
        expect((await c.listActiveGrants({ familyId: 'f' }, t0)).length).toBe(1);
        expect((await c.listActiveGrants({ familyId: 'f' }, new Date('2026-01-03T00:00:00Z'))).length).toBe(0);
        expect(await c.revokeGrants('s', t0)).toBe(1);
        expect((await c.listActiveGrants({ familyId: 'f' }, t0)).length).toBe(0);
      }));
  });
}
