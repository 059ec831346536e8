/**
 * Several nodes on one catalog (SQLite here; PostgreSQL in the scale-out suite): each disk is
 * served by the node holding its lease; others are told (and surfaces redirect) where it is; a
 * node that stops renewing loses its disks to a node that can reach their heads, which finishes
 * their snapshot copies; a node that cannot reach the head reports it lost, clearly.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openEngine } from '../../src/app.js';
import { parseConfig } from '../../src/config/config.js';
import { SnapdiskError } from '../../src/core/errors.js';
import { MiB } from '../../src/core/units.js';
import type { Engine } from '../../src/engine/engine.js';
import { prng } from '../helpers/engine.js';

const SUB = '00000000-0000-4000-8000-0000000000d1';
const diskId = (n: string) => `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/${n}`;

async function node(dir: string, id: string, volumesPath?: string): Promise<Engine> {
  const config = parseConfig({ limits: { incrementalSnapshotsPerDiskPer5Minutes: 100 }, ...(volumesPath ? { volumesPath } : {}) });
  const { engine } = await openEngine({ dataDir: dir, config, durableCatalog: false, node: { id, url: `https://${id}.example:7443/`, nbd: `${id}.example:10809`, leaseMs: 1500 } });
  await engine.resources.ensureSubscription({ subscriptionId: SUB, displayName: 'multi', tenantId: 't', state: 'Enabled' });
  if (!(await engine.resources.findGroup(SUB, 'rg'))) await engine.resources.putGroup(SUB, 'rg', 'eastus');
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

describe('several nodes on one catalog', () => {
  const dirs: string[] = [];
  const engines: Engine[] = [];
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.close().catch(() => undefined);
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('a disk is served by one node; the others name it (owner URL for redirects); ARM state is shared', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snapdisk-multi-'));
    dirs.push(dir);
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

  it('a node that stops renewing loses its disks: another node with the heads finishes the copies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snapdisk-multi-'));
    dirs.push(dir);
    const data = prng(5)(32 * MiB);
    const a = await node(dir, 'node-a');
    const { disk } = await a.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'd', sizeGb: 1, creationData: { createOption: 'Empty' } });
    await (await a.disks.open(disk.uniqueId)).write(0, data);
    a.pauseJobs();
    await a.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 's', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: diskId('d') } });
    // node A dies: no renewal, no release, its copy never ran
    await a.leases.stop(false);
    const b = await node(dir, 'node-b');
    engines.push(b);
    const deadline = Date.now() + 20_000;
    let done = false;
    while (!done && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      await b.idle();
      const s = await b.snapshots.find({ subscriptionId: SUB, resourceGroup: 'rg', name: 's' });
      done = s !== null && (await b.snapshots.status(s)).completionPercent === 100;
    }
    expect(done).toBe(true);
    const s = await b.snapshots.find({ subscriptionId: SUB, resourceGroup: 'rg', name: 's' });
    if (!s) throw new Error('missing');
    expect((await b.snapshots.read(s, 0, data.length)).equals(data)).toBe(true);
    expect((await b.ctx.catalog.getLease(disk.uniqueId))?.nodeId).toBe('node-b');
    // the stale node cannot write any more
    expect((await failure(a.disks.open(disk.uniqueId).then((h) => h.write(0, Buffer.alloc(512))))).code).toBe('Unavailable');
    await a.close().catch(() => undefined);
  });

  it('without the head (node-local volumes), the disk is reported lost and its pending snapshot fails; restore works elsewhere', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snapdisk-multi-'));
    dirs.push(dir);
    const a = await node(dir, 'node-a', 'volumes-a');
    const { disk } = await a.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'd', sizeGb: 1, creationData: { createOption: 'Empty' } });
    const h = await a.disks.open(disk.uniqueId);
    const second = prng(7)(MiB);
    await h.write(0, prng(6)(MiB));
    await a.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'done', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: diskId('d') } });
    await a.idle();
    await h.write(0, second);
    a.pauseJobs();
    await a.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'pending', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: diskId('d') } });
    await a.leases.stop(false);
    const b = await node(dir, 'node-b', 'volumes-b');
    engines.push(b);
    await new Promise((r) => setTimeout(r, 3200));
    await b.engineSweep();
    await b.idle();
    const lost = await failure(b.disks.open(disk.uniqueId));
    expect(lost.code).toBe('NotFound');
    expect(lost.message).toContain('is not on this node');
    expect(lost.hint).toContain('latest snapshot');
    const pending = await b.snapshots.find({ subscriptionId: SUB, resourceGroup: 'rg', name: 'pending' });
    if (!pending) throw new Error('missing');
    const st = await b.snapshots.status(pending);
    expect(st.provisioningState).toBe('Failed');
    expect(st.copyCompletionError?.errorCode).toBe('HeadLost');
    const { disk: r } = await b.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'r', creationData: { createOption: 'Copy', sourceResourceId: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/snapshots/done` } });
    await b.idle();
    expect((await (await b.disks.open(r.uniqueId)).read(0, MiB)).equals(prng(6)(MiB))).toBe(true);
    writeFileSync(join(dir, 'done'), '');
    await a.close().catch(() => undefined);
  });
});
