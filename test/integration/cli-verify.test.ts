/**
 * `snapdisk verify`: a clean store reports every region ok (exit 0); a pack damaged in every zone
 * is reported with the snapshots that need it (exit 1); one damaged zone copy is repaired.
 */

import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli } from './cli-harness.js';
import type { CliTest } from './cli-harness.js';

let t: CliTest;
beforeAll(async () => {
  t = await startCli();
});
afterAll(async () => {
  await t?.close();
});

async function packs(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await fsp.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.pack')) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

async function flip(path: string, at: number): Promise<void> {
  await fsp.chmod(path, 0o644);
  const fh = await fsp.open(path, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0] = (b[0] ?? 0) ^ 0xff;
  await fh.write(b, 0, 1, at);
  await fh.close();
}

describe('cli: verify', () => {
  it('ok, repair of one zone, and lost data with exit 1 naming the snapshot', async () => {
    expect((await t.run('group create -n rg -l eastus')).code).toBe(0);
    expect((await t.run('disk create -g rg -n d --size-gb 1 --sku Standard_LRS')).code).toBe(0);
    const id = (await t.run('disk show -g rg -n d --query id -o tsv')).stdout.trim();
    const disk = await t.server.engine.disks.find({ subscriptionId: t.sub, resourceGroup: 'rg', name: 'd' });
    if (!disk) throw new Error('no disk');
    await (await t.server.engine.disks.open(disk.uniqueId)).write(0, Buffer.alloc(65536, 5));
    expect((await t.run(`snapshot create -g rg -n s --source ${id} --incremental true --sku Standard_ZRS`)).code).toBe(0);
    await t.server.engine.idle();
    const ok = await t.run('verify -o json');
    expect(ok.code, ok.stderr).toBe(0);
    expect((ok.json() as Array<{ region: string; ok: boolean }>).map((r) => [r.region, r.ok]).sort()).toEqual([['eastus', true], ['westus', true]]);
    const zone1 = await packs(join(t.server.dataDir, 'chunks', 'eastus', 'zone-1'));
    const first = zone1[0];
    if (!first) throw new Error('no pack');
    await flip(first, 10);
    const repaired = await t.run('verify --region eastus -o json');
    expect(repaired.code).toBe(0);
    expect((repaired.json() as Array<{ repaired: unknown[] }>)[0]?.repaired).toHaveLength(1);
    for (const z of ['zone-1', 'zone-2', 'zone-3']) for (const p of await packs(join(t.server.dataDir, 'chunks', 'eastus', z))) await flip(p, 10);
    const lost = await t.run('verify -o json');
    expect(lost.code).toBe(1);
    expect(lost.stderr).toContain('/snapshots/s');
    expect(lost.stderr).toContain('Hint:');
  });
});
