/**
 * Operator endpoints (Snapdisk.Admin): verify and gc, for the development principal only.
 */
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
