/**
 * Operator endpoints (Snapdisk.Admin): verify and gc, for the development principal only.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startArm } from './arm-harness.js';
import type { ArmTest } from './arm-harness.js';

let t: ArmTest;
beforeAll(async () => {
  t = await startArm();
  await t.group('rg');
});
afterAll(async () => {
  await t.close();
});

describe('Snapdisk.Admin', () => {
  it('verify reports every region; a region filter and an unknown region; gc runs; restricted principal refused', async () => {
    const disk = `/subscriptions/${t.sub}/resourceGroups/rg/providers/Microsoft.Compute/disks/d`;
    expect((await t.arm('PUT', `${disk}?api-version=2025-01-02`, { location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 } })).status).toBe(202);
    const all = await t.arm('POST', '/providers/Snapdisk.Admin/verify?api-version=1');
    expect(all.status).toBe(200);
    const body = all.json() as { ok: boolean; value: Array<{ region: string; ok: boolean }> };
    expect(body.ok).toBe(true);
    expect(body.value.map((r) => r.region).sort()).toEqual(['eastus', 'westus']);
    const one = await t.arm('POST', '/providers/Snapdisk.Admin/verify?region=WestUS');
    expect((one.json() as { value: Array<{ region: string }> }).value.map((r) => r.region)).toEqual(['westus']);
    const bad = await t.arm('POST', '/providers/Snapdisk.Admin/verify?region=mars');
    expect(bad.status).toBe(400);
    const gc = await t.arm('POST', '/providers/Snapdisk.Admin/gc');
    expect(gc.status).toBe(200);
    expect((gc.json() as { value: unknown[] }).value).toHaveLength(2);
    expect((await t.arm('POST', '/providers/Snapdisk.Admin/gc', undefined, 'restricted')).status).toBe(403);
    expect((await t.arm('POST', '/providers/Snapdisk.Admin/gc', undefined, null)).status).toBe(401);
  });
});

describe('Snapdisk.Admin storage', () => {
  it('per region: live snapshots, their used bytes, and the pack bytes stored once (identical blocks deduplicated)', async () => {
    const e = t.server.engine;
    const { disk } = await e.disks.createOrUpdate({ subscriptionId: t.sub, resourceGroup: 'rg', name: 'acct', location: 'westus', sizeGb: 1, creationData: { createOption: 'Empty' } });
    const h = await e.disks.open(disk.uniqueId);
    const blocks = Array.from({ length: 8 }, () => randomBytes(65536)); // incompressible
    for (let i = 0; i < 8; i++) await h.write(i * 65536, blocks[i] ?? Buffer.alloc(0));
    for (let i = 8; i < 12; i++) await h.write(i * 65536, blocks[0] ?? Buffer.alloc(0)); // the bytes of block 0 again: stored once
    const source = `/subscriptions/${t.sub}/resourceGroups/rg/providers/Microsoft.Compute/disks/acct`;
    await e.snapshots.createOrUpdate({ subscriptionId: t.sub, resourceGroup: 'rg', name: 'acct-1', location: 'westus', incremental: true, creationData: { createOption: 'Copy', sourceResourceId: source } });
    await e.idle();
    const res = await t.arm('GET', '/providers/Snapdisk.Admin/storage?api-version=1');
    expect(res.status).toBe(200);
    const west = (res.json() as { value: Array<{ region: string; zones: string[]; snapshots: number; usedBytes: number; storedBytes: number }> }).value.find((r) => r.region === 'westus');
    expect(west).toMatchObject({ zones: [], snapshots: 1, usedBytes: 12 * 65536 });
    // 8 distinct random blocks and a small pack trailer: the 4 repeats cost nothing
    expect(west?.storedBytes).toBeGreaterThanOrEqual(8 * 65536);
    expect(west?.storedBytes).toBeLessThan(9 * 65536);
    expect((await t.arm('GET', '/providers/Snapdisk.Admin/storage', undefined, 'restricted')).status).toBe(403);
  });
});
