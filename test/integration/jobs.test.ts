/**
 * Background jobs as claimed catalog rows: a snapshot copy that cannot finish fails its snapshot
 * (and gives its changes back to the disk's tracking); GC and scrub are singleton jobs whose last
 * run the catalog remembers: a long scrub interval does not turn into continuous scrubbing
 * (setTimeout's 2^31−1 ms limit), a restart does not scrub again at once, and of two nodes on one
 * catalog only one runs each scrub. A head-bound job (snapshot copy, hydration) is claimed only by
 * a node that serves its disk: a node that hands one back does not claim it again at once.
 */

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openEngine } from '../../src/app.js';
import { parseConfig } from '../../src/config/config.js';
import { SnapdiskError } from '../../src/core/errors.js';
import { jobLane } from '../../src/core/ports.js';
import { MiB } from '../../src/core/units.js';
import type { Engine } from '../../src/engine/engine.js';
import { JobRunner } from '../../src/engine/jobs.js';
import { createDisk, prng, snapshot, startEngine, SUB, tempDir, type TestEngine } from '../helpers/engine.js';

interface JobRow {
  id: number;
  kind: string;
  target: string;
  state: string;
  node_id: string | null;
  created_at: string;
  updated_at: string;
}

function jobs(dir: string, kind: string): JobRow[] {
  const db = new Database(join(dir, 'catalog.db'), { readonly: true });
  try {
    return db.prepare('SELECT * FROM jobs WHERE kind = ? ORDER BY id').all(kind) as JobRow[];
  } finally {
    db.close();
  }
}

function setFinished(dir: string, kind: string, at: Date): void {
  const db = new Database(join(dir, 'catalog.db'));
  try {
    db.prepare("UPDATE jobs SET updated_at = ? WHERE kind = ? AND state = 'done'").run(at.toISOString(), kind);
  } finally {
    db.close();
  }
}

/** Counts calls of the engine's verifier (the scrub's work) without changing what it does. */
function countScrubs(e: Engine): { calls: number } {
  const counter = { calls: 0 };
  const all = e.verifier.all.bind(e.verifier);
  e.verifier.all = async () => {
    counter.calls++;
    return all();
  };
  return counter;
}

describe('background jobs', () => {
  let t: TestEngine | null = null;
  const extra: Engine[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const e of extra.splice(0)) await e.close().catch(() => undefined);
    await t?.dispose();
    t = null;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('a snapshot copy that cannot finish fails its snapshot; its changes go to the next snapshot', async () => {
    t = await startEngine();
    const e = t.engine;
    const disk = await createDisk(e, 'd', 1, { rg: 'rgwest', sku: 'Standard_LRS' });
    const h = await e.disks.open(disk.uniqueId);
    const data = prng(41)(4 * MiB);
    await h.write(0, data);
    // westus has one zone: make its pack folder unusable, so that the copy cannot store anything
    const packs = join(t.dir, 'chunks', 'westus', 'default', 'packs');
    rmSync(packs, { recursive: true, force: true });
    mkdirSync(join(t.dir, 'chunks', 'westus', 'default'), { recursive: true });
    writeFileSync(packs, 'not a folder');
    const s1 = await snapshot(e, disk, 's1');
    await e.idle();
    const st = await e.snapshots.status(await e.snapshots.getById(s1.uniqueId));
    expect(st.provisioningState).toBe('Failed');
    expect(st.copyCompletionError?.errorMessage).toContain('background copy');
    expect((await e.ctx.catalog.openJobs()).filter((j) => j.kind === 'snapshot-copy')).toEqual([]);
    // repaired: the next snapshot holds the blocks the failed one could not copy
    rmSync(packs, { force: true });
    const s2 = await snapshot(e, await e.disks.getById(disk.uniqueId), 's2');
    await e.idle();
    expect((await e.snapshots.status(s2)).completionPercent).toBe(100);
    expect((await e.snapshots.read(s2, 0, data.length)).equals(data)).toBe(true);
  }, 60_000);

  it('an interval beyond 2^31−1 ms does not scrub continuously; the last scrub survives a restart', async () => {
    t = await startEngine({ config: parseConfig({ scrubIntervalHours: 1000 }) });
    const counter = countScrubs(t.engine);
    await new Promise((r) => setTimeout(r, 1500));
    expect(counter.calls).toBe(0);
    // the first start recorded a baseline; nothing has run
    expect(jobs(t.dir, 'scrub').map((j) => [j.target, j.state])).toEqual([['baseline', 'done']]);
    // a restart while the last scrub is recent: none at once
    setFinished(t.dir, 'scrub', new Date(Date.now() - 999 * 3_600_000));
    t = await t.reopen();
    const again = countScrubs(t.engine);
    await new Promise((r) => setTimeout(r, 1000));
    expect(again.calls).toBe(0);
    expect(jobs(t.dir, 'scrub').filter((j) => j.target === 'all')).toEqual([]);
    // a restart after the interval went by: the scrub runs at once, one job, then waits again
    setFinished(t.dir, 'scrub', new Date(Date.now() - 1001 * 3_600_000));
    t = await t.reopen();
    await new Promise((r) => setTimeout(r, 500));
    await t.engine.idle();
    const runs = jobs(t.dir, 'scrub').filter((j) => j.target === 'all');
    expect(runs.map((j) => j.state)).toEqual(['done']);
    expect(runs[0]?.node_id).toBe('local');
  });

  it('two nodes on one catalog: each scrub runs on one node, once per interval', async () => {
    const dir = tempDir('snapdisk-jobs-');
    dirs.push(dir);
    const intervalMs = 1800;
    const config = parseConfig({ scrubIntervalHours: intervalMs / 3_600_000 });
    const open = async (id: string) =>
      (await openEngine({ dataDir: dir, config, durableCatalog: false, node: { id, url: null, nbd: null, leaseMs: 1500 } })).engine;
    const a = await open('node-a');
    const b = await open('node-b');
    extra.push(a, b);
    await a.resources.ensureSubscription({ subscriptionId: SUB, displayName: 'dev', tenantId: 't', state: 'Enabled' });
    const calls = [countScrubs(a), countScrubs(b)];
    await new Promise((r) => setTimeout(r, 3 * intervalMs + 700));
    await Promise.all([a.idle(), b.idle()]);
    const runs = jobs(dir, 'scrub').filter((j) => j.target === 'all' && j.state === 'done');
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs.length).toBeLessThanOrEqual(4);
    // every run on one node, each one interval after the end of the previous one
    expect(calls.reduce((n, c) => n + c.calls, 0)).toBe(runs.length);
    for (const r of runs) expect(['node-a', 'node-b']).toContain(r.node_id);
    runs.slice(1).forEach((r, i) => {
      const gap = Date.parse(r.created_at) - Date.parse(runs[i]?.updated_at ?? '');
      expect(gap).toBeGreaterThanOrEqual(intervalMs - 50);
    });
  });

  it('a node that does not serve a disk never claims its head-bound jobs, nor spins on one it handed back', async () => {
    t = await startEngine();
    const e = t.engine;
    // a second node on the engine's catalog; the engine itself cannot bind these disks (no heads)
    let serving = false;
    let moves = false;
    const runner = new JobRunner(e.ctx);
    runner.ownership = { nodeId: 'node-x', staleMs: 30_000, live: () => true, localLanes: () => (serving ? [jobLane('hydrate', 'served-by-x')] : []) };
    let calls = 0;
    runner.register('hydrate', {
      handler: async (job) => {
        calls++;
        if (!moves) return;
        // the disk just moved to another node: it is not served here any more, the lease error names the owner
        serving = false;
        throw new SnapdiskError('Unavailable', `disk ${job.target} is served by node node-y`, { owner: { node: 'node-y', url: null, nbd: null } });
      },
      bind: async () => false,
    });
    const row = (id: number): unknown => {
      const db = new Database(join(t?.dir ?? '', 'catalog.db'), { readonly: true });
      try {
        return db.prepare('SELECT state, node_id, attempts FROM jobs WHERE id = ?').get(id);
      } finally {
        db.close();
      }
    };
    await runner.start();
    try {
      // enqueued while another node serves the disk: scheduling it here claims nothing
      const elsewhere = await e.ctx.catalog.enqueueJob('hydrate', 'elsewhere', {}, e.ctx.now());
      runner.schedule(elsewhere);
      await runner.idle();
      expect(calls).toBe(0);
      expect(row(elsewhere.id)).toEqual({ state: 'queued', node_id: null, attempts: 0 });
      // claimed while served here, handed back when the disk moved: one run, no reclaim loop
      serving = true;
      moves = true;
      const moved = await e.ctx.catalog.enqueueJob('hydrate', 'served-by-x', {}, e.ctx.now());
      runner.schedule(moved);
      await new Promise((r) => setTimeout(r, 500));
      expect(calls).toBe(1);
      await runner.idle();
      expect(row(moved.id)).toMatchObject({ state: 'queued', attempts: 1 });
      await runner.sweep();
      await runner.idle();
      expect(calls).toBe(1);
      // served here again: the next sweep claims it and runs it to the end
      serving = true;
      moves = false;
      await runner.sweep();
      await runner.idle();
      expect(calls).toBe(2);
      expect(row(moved.id)).toEqual({ state: 'done', node_id: 'node-x', attempts: 2 });
      expect(row(elsewhere.id)).toEqual({ state: 'queued', node_id: null, attempts: 0 });
    } finally {
      await runner.stop();
    }
  });
});
