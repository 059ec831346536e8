/**
 * Several nodes on one catalog (SQLite here; PostgreSQL in the scale-out suite): each disk is
 * served by the node holding its lease; others are told (and surfaces redirect) where it is; a
 * node that stops renewing loses its disks and its job claims to a node that can reach the heads,
 * which finishes the very jobs the first one held; a stalled node that wakes up is fenced out; a
 * node that cannot reach a head never holds its lease, reports it lost once its node stayed away,
 * and the node with the head serves the disk again when it returns, losing no change; a load that
 * fails after taking a lease hands it back.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { diskJson } from '../../src/api/arm/dto.js';
import { openEngine } from '../../src/app.js';
import { parseConfig } from '../../src/config/config.js';
import { SnapdiskError } from '../../src/core/errors.js';
import type { Job } from '../../src/core/model.js';
import { MiB } from '../../src/core/units.js';
import type { Engine } from '../../src/engine/engine.js';
import { Leases } from '../../src/engine/leases.js';
import { prng } from '../helpers/engine.js';

const SUB = '00000000-0000-4000-8000-0000000000d1';
const diskId = (n: string) => `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/${n}`;
const snapId = (n: string) => `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/snapshots/${n}`;
const LEASE_MS = 2400; // beats every 800 ms; a head serves until 800 ms before its deadline

async function node(dir: string, id: string, opts: { volumesPath?: string; lostAfterMs?: number } = {}): Promise<Engine> {
  const config = parseConfig({ limits: { incrementalSnapshotsPerDiskPer5Minutes: 100 }, ...(opts.volumesPath ? { volumesPath: opts.volumesPath } : {}) });
  const { engine } = await openEngine({
    dataDir: dir,
    config,
    durableCatalog: false,
    node: { id, url: `https://${id}.example:7443/`, nbd: `${id}.example:10809`, leaseMs: LEASE_MS, ...(opts.lostAfterMs ? { lostAfterMs: opts.lostAfterMs } : {}) },
  });
  await engine.resources.ensureSubscription({ subscriptionId: SUB, displayName: 'multi', tenantId: 't', state: 'Enabled' });
  if (!(await engine.resources.findGroup(SUB, 'rg'))) await engine.resources.putGroup(SUB, 'rg', 'eastus');
  if (!(await engine.resources.findGroup(SUB, 'west'))) await engine.resources.putGroup(SUB, 'west', 'westus');
  return engine;
}

const failure = async (p: Promise<unknown>): Promise<SnapdiskError> => {
  try {
    await p;
  } catch (err) {
    if (err instanceof SnapdiskError) return err;
    throw err;
  }
  throw new Error('expected an error');
};

/** A job row as the catalog holds it (finished ones included). */
function jobRow(dir: string, id: number): { state: string; node_id: string | null; attempts: number } {
  const db = new Database(join(dir, 'catalog.db'), { readonly: true });
  try {
    return db.prepare('SELECT state, node_id, attempts FROM jobs WHERE id = ?').get(id) as { state: string; node_id: string | null; attempts: number };
  } finally {
    db.close();
  }
}

async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('several nodes on one catalog', () => {
  const dirs: string[] = [];
  const engines: Engine[] = [];
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.close().catch(() => undefined);
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'snapdisk-multi-'));
    dirs.push(d);
    return d;
  };

  it('a disk is served by one node; the others name it (owner URL for redirects); ARM state is shared', async () => {
    const dir = tmp();
    const a = await node(dir, 'node-a');
    const b = await node(dir, 'node-b');
    engines.push(a, b);
    const { disk } = await a.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'd', sizeGb: 1, creationData: { createOption: 'Empty' } });
    await (await a.disks.open(disk.uniqueId)).write(0, Buffer.from('served by a'));
    expect((await b.disks.get({ subscriptionId: SUB, resourceGroup: 'rg', name: 'd' })).uniqueId).toBe(disk.uniqueId);
    const err = await failure(b.disks.open(disk.uniqueId));
    expect(err.code).toBe('Unavailable');
    expect(err.owner).toEqual({ node: 'node-a', url: 'https://node-a.example:7443/', nbd: 'node-a.example:10809' });
    // snapshots need the head too: B refuses and names A; A takes it
    const viaB = await failure(b.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 's', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: diskId('d') } }));
    expect(viaB.owner?.node).toBe('node-a');
    await a.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 's', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: diskId('d') } });
    await a.idle();
    // a completed snapshot is readable from any node (chunk store and catalog are shared)
    const s = await b.snapshots.find({ subscriptionId: SUB, resourceGroup: 'rg', name: 's' });
    if (!s) throw new Error('missing');
    expect((await b.snapshots.read(s, 0, 11)).toString()).toBe('served by a');
  });

  it('a node that stops renewing loses its disks: another node with the heads finishes the very job it held', async () => {
    const dir = tmp();
    const data = prng(5)(32 * MiB);
    const a = await node(dir, 'node-a');
    const { disk } = await a.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'd', sizeGb: 1, creationData: { createOption: 'Empty' } });
    await (await a.disks.open(disk.uniqueId)).write(0, data);
    a.pauseJobs();
    await a.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 's', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: diskId('d') } });
    await until('node a claims the copy', async () => a.heldJobs().length === 1);
    const held = a.heldJobs()[0] as Job;
    expect(held.kind).toBe('snapshot-copy');
    expect(jobRow(dir, held.id)).toMatchObject({ state: 'running', node_id: 'node-a' });
    // node A dies: no renewal of its lease nor of its job claim, no release
    await a.leases.stop(false);
    const b = await node(dir, 'node-b');
    engines.push(b);
    await until('the copy completes on node b', async () => {
      const s = await b.snapshots.find({ subscriptionId: SUB, resourceGroup: 'rg', name: 's' });
      return s !== null && (await b.snapshots.status(s)).completionPercent === 100;
    });
    await b.idle();
    const s = await b.snapshots.find({ subscriptionId: SUB, resourceGroup: 'rg', name: 's' });
    if (!s) throw new Error('missing');
    expect((await b.snapshots.read(s, 0, data.length)).equals(data)).toBe(true);
    expect((await b.ctx.catalog.getLease(disk.uniqueId))?.nodeId).toBe('node-b');
    // the job B finished is the one A held, under a newer claim
    expect(jobRow(dir, held.id)).toMatchObject({ state: 'done', node_id: 'node-b' });
    expect(jobRow(dir, held.id).attempts).toBeGreaterThan(held.attempts);
    // the stale node cannot write any more
    expect((await failure(a.disks.open(disk.uniqueId).then((h) => h.write(0, Buffer.alloc(512))))).code).toBe('Unavailable');
    await a.close().catch(() => undefined);
  });

  it('a stalled node that wakes up after its cross-region copy was taken over commits nothing', async () => {
    const dir = tmp();
    const data = prng(8)(24 * MiB);
    const a = await node(dir, 'node-a');
    const { disk } = await a.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'd', sizeGb: 1, creationData: { createOption: 'Empty' } });
    await (await a.disks.open(disk.uniqueId)).write(0, data);
    await a.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 's', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: diskId('d') } });
    await a.idle();
    a.pauseJobs();
    const { snapshot: c } = await a.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'west', name: 'c', location: 'westus', creationData: { createOption: 'CopyStart', sourceResourceId: snapId('s') } });
    await until('node a claims the region copy', async () => a.heldJobs().length === 1);
    const held = a.heldJobs()[0] as Job;
    // A stalls with the claim (no beat); B takes the stale job over (and holds it, paused)
    await a.leases.stop(false);
    const b = await node(dir, 'node-b');
    engines.push(b);
    b.pauseJobs();
    await until('node b takes the job over', async () => b.heldJobs().some((j) => j.id === held.id));
    expect(jobRow(dir, held.id)).toMatchObject({ state: 'running', node_id: 'node-b' });
    // A wakes up and copies the job it still thinks it holds: its first commit is refused
    a.resumeJobs();
    await a.idle();
    const before = await b.ctx.catalog.getPoint(c.familyId, c.point);
    expect(before?.state).toBe('copying');
    expect(before?.copiedBlocks).toBe(0);
    expect(before?.bytesMoved).toBe(0);
    expect(jobRow(dir, held.id)).toMatchObject({ state: 'running', node_id: 'node-b' });
    b.resumeJobs();
    await until('the copy completes on node b', async () => (await b.snapshots.status(await b.snapshots.getById(c.uniqueId))).completionPercent === 100);
    await b.idle();
    expect(jobRow(dir, held.id)).toMatchObject({ state: 'done', node_id: 'node-b' });
    const target = await b.snapshots.getById(c.uniqueId);
    expect((await b.snapshots.read(target, 0, data.length)).equals(data)).toBe(true);
    const p = await b.ctx.catalog.getPoint(target.familyId, target.point);
    expect(p?.copiedBlocks).toBe(p?.frozenBlocks);
    await a.close().catch(() => undefined);
  });

  it('a stalled node cannot hydrate into a head another node took over, nor record hydration progress', async () => {
    const dir = tmp();
    const base = prng(9)(16 * MiB);
    const a = await node(dir, 'node-a');
    const { disk } = await a.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'd', sizeGb: 1, creationData: { createOption: 'Empty' } });
    await (await a.disks.open(disk.uniqueId)).write(0, base);
    await a.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 's', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: diskId('d') } });
    await a.idle();
    a.pauseJobs();
    const { disk: r } = await a.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'r', creationData: { createOption: 'Copy', sourceResourceId: snapId('s') } });
    await until('node a claims the hydration', async () => a.heldJobs().some((j) => j.kind === 'hydrate'));
    // A stalls; B takes the disk and the hydration over (shared heads) and holds it, paused
    await a.leases.stop(false);
    const b = await node(dir, 'node-b');
    engines.push(b);
    b.pauseJobs();
    await until('node b takes the hydration over', async () => b.heldJobs().some((j) => j.kind === 'hydrate'));
    const fresh = prng(10)(4 * MiB);
    await (await b.disks.open(r.uniqueId)).write(2 * MiB, fresh);
    // A wakes up and runs the hydration it still holds: it writes nothing into the head, records nothing
    a.resumeJobs();
    await a.idle();
    expect((await b.disks.getById(r.uniqueId)).hydrationDoneBlocks).toBe(0);
    b.resumeJobs();
    await until('the hydration completes on node b', async () => (await b.disks.getById(r.uniqueId)).hydration === 'done');
    const expected = Buffer.from(base);
    fresh.copy(expected, 2 * MiB);
    expect((await (await b.disks.open(r.uniqueId)).read(0, base.length)).equals(expected)).toBe(true);
    await a.close().catch(() => undefined);
  });

  it('node-local heads: no lease without the head; reported lost once its node stays away; the node that returns serves it again', async () => {
    const dir = tmp();
    const a = await node(dir, 'node-a', { volumesPath: 'volumes-a' });
    const { disk } = await a.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'd', sizeGb: 1, creationData: { createOption: 'Empty' } });
    const h = await a.disks.open(disk.uniqueId);
    const first = prng(6)(MiB);
    const second = prng(7)(MiB);
    await h.write(0, first);
    await a.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'done', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: diskId('d') } });
    await a.idle();
    await h.write(0, second);
    a.pauseJobs();
    await a.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'pending', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: diskId('d') } });
    await until('node a claims the copy', async () => a.heldJobs().length === 1);
    await a.leases.stop(false); // node A goes away (its process would be restarted later)
    const b = await node(dir, 'node-b', { volumesPath: 'volumes-b', lostAfterMs: 4000 });
    engines.push(b);
    // after the lease expired, before the node counts as lost: B neither takes the lease nor the job
    await new Promise((r) => setTimeout(r, LEASE_MS + 300));
    await b.engineSweep();
    const notHere = await failure(b.disks.open(disk.uniqueId));
    expect(notHere.code).toBe('NotFound');
    expect(notHere.message).toContain('is not on this node');
    expect((await b.ctx.catalog.getLease(disk.uniqueId))?.nodeId).toBe('node-a');
    expect(b.heldJobs()).toEqual([]);
    const pending = await b.snapshots.find({ subscriptionId: SUB, resourceGroup: 'rg', name: 'pending' });
    if (!pending) throw new Error('missing');
    expect((await b.snapshots.status(pending)).provisioningState).toBe('Succeeded');
    expect((await b.disks.getById(disk.uniqueId)).provisioningState).toBe('Succeeded');
    // node A stays away past lostAfter: the disk and its pending snapshot report the loss
    await new Promise((r) => setTimeout(r, 4000));
    await b.engineSweep();
    const lostDisk = await b.disks.getById(disk.uniqueId);
    expect(lostDisk.provisioningState).toBe('Failed');
    expect(lostDisk.headLost?.node).toBe('node-a');
    expect(lostDisk.headLost?.message).toContain('node-a');
    const shown = diskJson(b, lostDisk).properties as Record<string, unknown>;
    expect(shown.provisioningState).toBe('Failed');
    expect(shown.headLost).toMatchObject({ node: 'node-a' });
    const lost = await failure(b.disks.open(disk.uniqueId));
    expect(lost.code).toBe('NotFound');
    expect(lost.hint).toContain('latest snapshot');
    const st = await b.snapshots.status(pending);
    expect(st.provisioningState).toBe('Failed');
    expect(st.copyCompletionError?.errorCode).toBe('HeadLost');
    // restore from the latest completed snapshot on another node
    const { disk: r } = await b.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'r', creationData: { createOption: 'Copy', sourceResourceId: snapId('done') } });
    await b.idle();
    expect((await (await b.disks.open(r.uniqueId)).read(0, MiB)).equals(first)).toBe(true);
    // node A comes back (a new process, same id and heads): it serves the disk again
    await a.close().catch(() => undefined);
    const a2 = await node(dir, 'node-a', { volumesPath: 'volumes-a' });
    engines.push(a2);
    const h2 = await a2.disks.open(disk.uniqueId);
    expect((await h2.read(0, MiB)).equals(second)).toBe(true);
    const back = await a2.disks.getById(disk.uniqueId);
    expect(back.provisioningState).toBe('Succeeded');
    expect(back.headLost ?? null).toBeNull();
    // the changes of the snapshot that failed meanwhile are tracked again: the next one has them
    const { snapshot: after } = await a2.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'after', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: diskId('d') } });
    await a2.idle();
    expect((await a2.snapshots.read(after, 0, MiB)).equals(second)).toBe(true);
    const done = await a2.snapshots.find({ subscriptionId: SUB, resourceGroup: 'rg', name: 'done' });
    if (!done) throw new Error('missing');
    const d = await a2.snapshots.diff(after, done);
    expect(d.ranges.reduce((n, x) => n + (x.end - x.start), 0)).toBe(MiB);
  });

  it('a load that fails after taking the lease hands it back: another node serves the disk at once', async () => {
    const dir = tmp();
    const data = prng(11)(2 * MiB);
    const a = await node(dir, 'node-a');
    const b = await node(dir, 'node-b');
    engines.push(a, b);
    const { disk } = await a.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'd', sizeGb: 1, creationData: { createOption: 'Empty' } });
    await (await a.disks.open(disk.uniqueId)).write(0, data);
    await a.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 's', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: diskId('d') } });
    await a.idle();
    await a.runtimes.unload(disk.uniqueId);
    // the catalog fails while node A loads the disk again (after it took the lease)
    const catalog = a.ctx.catalog;
    const listPoints = catalog.listPoints.bind(catalog);
    catalog.listPoints = async (familyId: string) => {
      throw new Error(`catalog unreachable (listing the points of ${familyId})`);
    };
    const err = await a.disks.open(disk.uniqueId).then(
      () => null,
      (e: unknown) => e,
    );
    catalog.listPoints = listPoints;
    expect(String(err)).toContain('catalog unreachable');
    expect(a.runtimes.peek(disk.uniqueId)).toBeNull();
    expect(a.leases.serving(disk.uniqueId)).toBe(false);
    const handedBack = await a.ctx.catalog.getLease(disk.uniqueId);
    expect(Date.parse(handedBack?.expiresAt ?? '')).toBeLessThan(Date.now());
    // no lease left behind: node B takes the disk now, not a lease time later
    expect((await (await b.disks.open(disk.uniqueId)).read(0, data.length)).equals(data)).toBe(true);
    expect((await b.ctx.catalog.getLease(disk.uniqueId))?.nodeId).toBe('node-b');
  });

  it('node ids are unique among live nodes; a cleanly stopped or crashed one restarts under its id', async () => {
    const dir = tmp();
    const a = await node(dir, 'node-a');
    engines.push(a);
    const dup = await failure(node(dir, 'node-a'));
    expect(dup.code).toBe('Conflict');
    expect(dup.message).toContain('node-a');
    expect(dup.hint).toContain('SNAPDISK_NODE_ID');
    const incarnation = a.leases.incarnation;
    expect((await a.ctx.catalog.getNode('node-a'))?.incarnation).toBe(incarnation);
    await a.close();
    engines.splice(0);
    // a clean stop retires the id (no fresh heartbeat, no incarnation): a restart need not wait
    const db = new Database(join(dir, 'catalog.db'), { readonly: true });
    expect(db.prepare("SELECT heartbeat_at, incarnation FROM nodes WHERE id = 'node-a'").get()).toEqual({ heartbeat_at: new Date(0).toISOString(), incarnation: null });
    db.close();
    const again = await node(dir, 'node-a');
    expect(again.leases.incarnation).not.toBe(incarnation);
    await again.leases.stop(false); // as if it crashed: it stops beating
    const third = await node(dir, 'node-a');
    engines.push(third);
    await again.close().catch(() => undefined);
    // a fresh heartbeat of this host and pid that no node of this process beats under: a process
    // before this one with the same pid (a restarted container) crashed; no beat is waited for
    const leaseMs = 60_000; // the wait would be 22 s
    await third.ctx.catalog.heartbeat({ id: 'node-z', url: null, nbd: null, heartbeatAt: new Date().toISOString(), incarnation: `${hostname()}/${process.pid}/0badf00d` });
    const z = new Leases(third.ctx, { id: 'node-z', url: null, nbd: null, leaseMs });
    const started = Date.now();
    await z.start();
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await third.ctx.catalog.getNode('node-z'))?.incarnation).toBe(z.incarnation);
    await z.stop(true);
  });
});
