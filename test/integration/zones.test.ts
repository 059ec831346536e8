/**
 * Zone failures in a zone-redundant region (eastus: zones 1-3, one directory each): a dead zone
 * does not stop snapshots, restores or reads; the copies it missed are repaired by verify once
 * it is back; two dead zones fail a zone-redundant snapshot instead of keeping a single copy.
 */

import { promises as fsp, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MiB } from '../../src/core/units.js';
import { createDisk, prng, RG, snapshot, snapshotId, startEngine, SUB, type TestEngine } from '../helpers/engine.js';

async function packFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.pack')) out.push(p.slice(root.length));
    }
  };
  await walk(root);
  return out.sort();
}

/** Replaces a zone's directory with a file: nothing can be written or read there any more. */
async function killZone(dir: string): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  await fsp.writeFile(dir, 'this zone is gone');
}

describe('zone failures in a ZRS region', () => {
  let t: TestEngine;
  beforeEach(async () => {
    t = await startEngine();
  });
  afterEach(async () => {
    await t.dispose();
  });
  const zone = (n: number): string => join(t.dir, 'chunks', 'eastus', `zone-${n}`);

  it('a dead zone: snapshots, restores and reads go on; verify copies what it missed once it is back', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const data = prng(31)(6 * MiB);
    await (await e.disks.open(disk.uniqueId)).write(0, data);
    const s1 = await snapshot(e, disk, 's1');
    await e.idle();
    await killZone(zone(3));
    const more = prng(32)(2 * MiB);
    await (await e.disks.open(disk.uniqueId)).write(MiB, more);
    const s2 = await snapshot(e, disk, 's2');
    await e.idle();
    expect((await e.snapshots.status(s2)).completionPercent).toBe(100);
    const expected = Buffer.from(data);
    more.copy(expected, MiB);
    // a restore reads every chunk with zone 3 gone
    const { disk: r } = await e.disks.createOrUpdate({
      subscriptionId: SUB,
      resourceGroup: RG,
      name: 'r',
      creationData: { createOption: 'Copy', sourceResourceId: snapshotId(s2) },
    });
    await e.idle();
    expect(e.disks.completionPercent(await e.disks.getById(r.uniqueId))).toBe(100);
    expect((await (await e.disks.open(r.uniqueId)).read(0, expected.length)).equals(expected)).toBe(true);
    expect((await e.snapshots.read(s1, 0, data.length)).equals(data)).toBe(true);
    // zone 3 comes back empty: verify rewrites every pack it should hold
    await fsp.rm(zone(3));
    await fsp.mkdir(zone(3));
    const report = await e.verifier.region('eastus');
    expect(report.ok).toBe(true);
    expect(report.repaired.length).toBeGreaterThan(0);
    expect(report.repaired.every((p) => p.zones.includes('zone-3'))).toBe(true);
    const ref = await packFiles(zone(1));
    expect(await packFiles(zone(3))).toEqual(ref);
    for (const p of ref) expect((await fsp.readFile(zone(3) + p)).equals(await fsp.readFile(zone(1) + p))).toBe(true);
    expect((await e.verifier.region('eastus')).repaired).toEqual([]);
  });

  it('two dead zones of three: a zone-redundant snapshot fails instead of keeping one copy; reads still work', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const data = prng(33)(3 * MiB);
    await (await e.disks.open(disk.uniqueId)).write(0, data);
    const s1 = await snapshot(e, disk, 's1');
    await e.idle();
    await killZone(zone(2));
    await killZone(zone(3));
    await (await e.disks.open(disk.uniqueId)).write(0, prng(34)(MiB));
    const s2 = await snapshot(e, disk, 's2');
    await e.idle();
    const st = await e.snapshots.status(s2);
    expect(st.completionPercent).toBeLessThan(100);
    expect(st.provisioningState).toBe('Failed');
    expect(st.copyCompletionError?.errorMessage).toMatch(/1 zone\(s\), 2 needed/);
    expect((await e.snapshots.read(s1, 0, data.length)).equals(data)).toBe(true);
  });
});
