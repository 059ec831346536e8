/**
 * moveResources / validateMoveResources (disks and full snapshots move, incremental snapshots are
 * refused) and the daily usage report (quantity = used GiB / days in the month).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daysInMonth } from '../../src/core/rules.js';
import { MiB } from '../../src/core/units.js';
import { prng } from '../helpers/engine.js';
import { startArm } from './arm-harness.js';
import type { ArmTest } from './arm-harness.js';

let t: ArmTest;

beforeAll(async () => {
  t = await startArm();
  await t.group('src');
  await t.group('dst');
  await t.group('other', 'eastus', t.sub2);
});
afterAll(async () => {
  await t.close();
});

const id = (kind: 'disks' | 'snapshots', name: string, rg = 'src', sub = t.sub) =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/${kind}/${name}`;
const moveUrl = (op: 'moveResources' | 'validateMoveResources', rg = 'src') => `/subscriptions/${t.sub}/resourceGroups/${rg}/${op}?api-version=2021-04-01`;
const target = (rg: string, sub = t.sub) => `/subscriptions/${sub}/resourceGroups/${rg}`;

async function put(path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await t.arm('PUT', path, body);
  expect(res.status, res.text).toBe(202);
  return res.json() as Record<string, unknown>;
}

const empty = { location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 } };
const copyOf = (source: string, incremental: boolean) => ({ location: 'eastus', properties: { creationData: { createOption: 'Copy', sourceResourceId: source }, incremental } });

describe('moveResources', () => {
  it('validateMoveResources: 202 then 204 for a valid move, nothing moves; an incremental snapshot is refused', async () => {
    await put(id('disks', 'm1'), empty);
    await put(id('snapshots', 'inc1'), copyOf(id('disks', 'm1'), true));
    const ok = await t.arm('POST', moveUrl('validateMoveResources'), { resources: [id('disks', 'm1')], targetResourceGroup: target('dst') });
    expect(ok.status).toBe(202);
    expect((await t.arm('GET', String(ok.headers.location))).status).toBe(204);
    expect((await t.arm('GET', id('disks', 'm1'))).status).toBe(200);
    const refused = await t.arm('POST', moveUrl('validateMoveResources'), { resources: [id('disks', 'm1'), id('snapshots', 'inc1')], targetResourceGroup: target('dst') });
    expect(refused.status).toBe(409);
    expect(refused.json()).toMatchObject({ error: { code: 'OperationNotAllowed', message: expect.stringContaining('incremental snapshots cannot be moved') } });
  });

  it('moves a disk and a full snapshot to another group; ids follow, data and uniqueId stay', async () => {
    const disk = await put(id('disks', 'm2'), empty);
    const uniqueId = (disk.properties as { uniqueId: string }).uniqueId;
    const h = await t.server.engine.disks.open(uniqueId);
    const bytes = prng(3)(MiB);
    await h.write(MiB, bytes);
    await put(id('snapshots', 'full2'), copyOf(id('disks', 'm2'), false));
    const res = await t.arm('POST', moveUrl('moveResources'), { resources: [id('disks', 'm2'), id('snapshots', 'full2')], targetResourceGroup: target('dst') });
    expect(res.status).toBe(202);
    expect(res.headers['azure-asyncoperation']).toBeUndefined();
    expect((await t.arm('GET', String(res.headers.location))).status).toBe(204);
    expect((await t.arm('GET', id('disks', 'm2'))).status).toBe(404);
    const moved = (await t.arm('GET', id('disks', 'm2', 'dst'))).json() as { id: string; properties: { uniqueId: string } };
    expect(moved.id).toBe(id('disks', 'm2', 'dst'));
    expect(moved.properties.uniqueId).toBe(uniqueId);
    expect((await (await t.server.engine.disks.open(uniqueId)).read(MiB, MiB)).equals(bytes)).toBe(true);
    expect((await t.arm('GET', id('snapshots', 'full2', 'dst'))).status).toBe(200);
    const snap = await put(id('snapshots', 'after'), copyOf(id('disks', 'm2', 'dst'), true));
    expect(snap).toMatchObject({ properties: { creationData: { sourceResourceId: id('disks', 'm2', 'dst') } } });
  });

  it('moves a disk to another subscription the caller may use; refuses what it must', async () => {
    await put(id('disks', 'm3'), empty);
    const res = await t.arm('POST', moveUrl('moveResources'), { resources: [id('disks', 'm3')], targetResourceGroup: target('other', t.sub2) });
    expect(res.status).toBe(202);
    expect((await t.arm('GET', id('disks', 'm3', 'other', t.sub2))).status).toBe(200);

    await put(id('disks', 'm4'), empty);
    await put(id('disks', 'm4', 'dst'), empty);
    const clash = await t.arm('POST', moveUrl('moveResources'), { resources: [id('disks', 'm4')], targetResourceGroup: target('dst') });
    expect(clash.status).toBe(409);
    expect(clash.json()).toMatchObject({ error: { code: 'Conflict' } });

    await t.arm('POST', `${id('disks', 'm1')}/beginGetAccess`, { access: 'Read', durationInSeconds: 60 });
    const busy = await t.arm('POST', moveUrl('moveResources'), { resources: [id('disks', 'm1')], targetResourceGroup: target('dst') });
    expect(busy.status).toBe(409);
    expect(busy.json()).toMatchObject({ error: { message: expect.stringContaining('ActiveSAS') } });

    const foreign = await t.arm('POST', moveUrl('moveResources', 'dst'), { resources: [id('disks', 'm4')], targetResourceGroup: target('other', t.sub2) });
    expect(foreign.status).toBe(400);
    expect(foreign.json()).toMatchObject({ error: { target: 'resources' } });

    const missing = await t.arm('POST', moveUrl('moveResources'), { resources: [id('disks', 'ghost')], targetResourceGroup: target('dst') });
    expect(missing.status).toBe(404);

    const restricted = await t.arm('POST', `/subscriptions/${t.sub2}/resourceGroups/other/moveResources`, { resources: [id('disks', 'm3', 'other', t.sub2)], targetResourceGroup: target('dst') }, 'restricted');
    expect(restricted.status).toBe(403);
    expect(restricted.json()).toMatchObject({ error: { code: 'AuthorizationFailed' } });
  });
});

describe('usageDetails', () => {
  it('one row per snapshot per day, quantity = used GiB / days in the month', async () => {
    await t.group('bill');
    const disk = await put(id('disks', 'u1', 'bill'), { location: 'westus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 } });
    const h = await t.server.engine.disks.open((disk.properties as { uniqueId: string }).uniqueId);
    await h.write(0, prng(9)(64 * MiB));
    await put(id('snapshots', 'us1', 'bill'), { location: 'westus', properties: { creationData: { createOption: 'Copy', sourceResourceId: id('disks', 'u1', 'bill') }, incremental: true } });
    await h.write(0, prng(10)(8 * MiB));
    await put(id('snapshots', 'us2', 'bill'), { location: 'westus', properties: { creationData: { createOption: 'Copy', sourceResourceId: id('disks', 'u1', 'bill') }, incremental: true } });
    await t.server.engine.idle();

    const res = await t.arm('GET', `/subscriptions/${t.sub}/providers/Microsoft.Consumption/usageDetails?api-version=2023-05-01`);
    expect(res.status).toBe(200);
    const rows = (res.json() as { value: { id: string; name: string; type: string; kind: string; properties: Record<string, unknown> }[] }).value.filter(
      (r) => r.properties.resourceGroup === 'bill',
    );
    const today = new Date();
    const days = daysInMonth(today);
    const quantity = (gib: number) => Math.round((gib / days) * 1e6) / 1e6;
    expect(rows.map((r) => [r.properties.resourceName, r.properties.quantity])).toEqual([
      ['us1', quantity(64 / 1024)],
      ['us2', quantity(8 / 1024)],
    ]);
    const row = rows[0];
    expect(row).toMatchObject({ type: 'Microsoft.Consumption/usageDetails', kind: 'legacy' });
    expect(row?.id).toBe(`/subscriptions/${t.sub}/providers/Microsoft.Consumption/usageDetails/${row?.name}`);
    expect(row?.properties).toMatchObject({
      date: `${today.toISOString().slice(0, 10)}T00:00:00.0000000Z`,
      meterName: 'LRS Incremental Snapshots',
      unitOfMeasure: '1 GB/Month',
      resourceId: id('snapshots', 'us1', 'bill'),
      resourceLocation: 'westus',
      subscriptionId: t.sub,
      subscriptionName: 'snapdisk development',
    });
  });

  it('$filter selects the period; a filter it cannot read is 400', async () => {
    const day = new Date().toISOString().slice(0, 10);
    const url = (filter: string) => `/subscriptions/${t.sub}/providers/Microsoft.Consumption/usageDetails?api-version=2023-05-01&$filter=${encodeURIComponent(filter)}`;
    const todays = (await t.arm('GET', url(`properties/usageStart ge '${day}' and properties/usageEnd le '${day}'`))).json() as { value: unknown[] };
    expect(todays.value.length).toBeGreaterThanOrEqual(2);
    const past = (await t.arm('GET', url("properties/usageStart ge '2020-01-01' and properties/usageEnd le '2020-01-31'"))).json() as { value: unknown[] };
    expect(past.value).toEqual([]);
    const bad = await t.arm('GET', url('properties/cost gt 3'));
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'InvalidParameter', target: '$filter' } });
  });
});
