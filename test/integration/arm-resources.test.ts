/**
 * Subscriptions, tenants, locations, resource groups and list paging: the resource-manager side
 * of the surface, with a page size of 2 so that every list pages through `nextLink`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startArm } from './arm-harness.js';
import type { ArmTest } from './arm-harness.js';

let t: ArmTest;

beforeAll(async () => {
  t = await startArm({ pageSize: 2 });
});
afterAll(async () => {
  await t.close();
});

interface ListBody {
  value: { name: string; id: string }[];
  nextLink?: string;
}

/** Follows nextLink verbatim; returns the pages. */
async function pages(first: string): Promise<ListBody[]> {
  const out: ListBody[] = [];
  let url: string | undefined = first;
  while (url) {
    const res = await t.arm('GET', url);
    expect(res.status).toBe(200);
    const body = res.json() as ListBody;
    out.push(body);
    url = body.nextLink;
  }
  return out;
}

describe('subscriptions', () => {
  it('GET /subscriptions: the caller subscriptions, development first, az login fields', async () => {
    const body = (await t.arm('GET', '/subscriptions?api-version=2019-11-01')).json() as { value: Record<string, unknown>[]; nextLink?: string };
    expect(body.nextLink).toBeUndefined();
    expect(body.value).toHaveLength(2);
    expect(body.value[0]).toEqual({
      id: `/subscriptions/${t.sub}`,
      authorizationSource: 'RoleBased',
      managedByTenants: [],
      subscriptionId: t.sub,
      tenantId: t.server.credentials.tenantId,
      homeTenantId: t.server.credentials.tenantId,
      displayName: 'snapdisk development',
      state: 'Enabled',
      subscriptionPolicies: { locationPlacementId: 'Public_2014-09-01', quotaId: 'PayAsYouGo_2014-09-01', spendingLimit: 'Off' },
    });
    expect(body.value[1]).toMatchObject({ subscriptionId: t.sub2, displayName: 'snapdisk secondary' });
  });

  it('GET one subscription, its locations, the tenant', async () => {
    expect((await t.arm('GET', `/subscriptions/${t.sub2}`)).json()).toMatchObject({ subscriptionId: t.sub2, state: 'Enabled' });
    const locations = (await t.arm('GET', `/subscriptions/${t.sub}/locations?api-version=2022-12-01`)).json() as { value: { name: string; availabilityZoneMappings: unknown[] }[] };
    expect(locations.value.map((l) => l.name)).toEqual(['eastus', 'westus']);
    expect(locations.value[0]?.availabilityZoneMappings).toHaveLength(3);
    expect(locations.value[1]?.availabilityZoneMappings).toEqual([]);
    const tenants = (await t.arm('GET', '/tenants?api-version=2020-01-01')).json();
    expect(tenants).toEqual({ value: [{ id: `/tenants/${t.server.credentials.tenantId}`, tenantId: t.server.credentials.tenantId, tenantCategory: 'Home', displayName: 'snapdisk' }] });
  });
});

describe('resource groups', () => {
  const rg = (name: string, sub = t.sub) => `/subscriptions/${sub}/resourcegroups/${name}?api-version=2021-04-01`;

  it('PUT creates (201), PUT again updates (200), location is lowercase and fixed', async () => {
    const created = await t.arm('PUT', rg('Group1'), { location: 'West US', tags: { a: 'b' } });
    expect(created.status).toBe(201);
    expect(created.json()).toEqual({
      id: `/subscriptions/${t.sub}/resourceGroups/Group1`,
      name: 'Group1',
      type: 'Microsoft.Resources/resourceGroups',
      location: 'westus',
      tags: { a: 'b' },
      properties: { provisioningState: 'Succeeded' },
    });
    const again = await t.arm('PUT', rg('GROUP1'), { location: 'westus', tags: { c: 'd' } });
    expect(again.status).toBe(200);
    expect(again.json()).toMatchObject({ name: 'Group1', tags: { c: 'd' } });
    const moved = await t.arm('PUT', rg('group1'), { location: 'eastus' });
    expect(moved.status).toBe(400);
    expect(moved.json()).toMatchObject({ error: { code: 'InvalidParameter', target: 'location' } });
  });

  it('GET, HEAD, PATCH and 404 ResourceGroupNotFound', async () => {
    expect((await t.arm('GET', rg('group1'))).json()).toMatchObject({ name: 'Group1', location: 'westus' });
    expect((await t.arm('HEAD', rg('group1'))).status).toBe(204);
    expect((await t.arm('HEAD', rg('nope'))).status).toBe(404);
    const patched = await t.arm('PATCH', rg('group1'), { tags: { patched: 'yes' } });
    expect(patched.json()).toMatchObject({ tags: { patched: 'yes' }, location: 'westus' });
    const missing = await t.arm('GET', rg('nope'));
    expect(missing.status).toBe(404);
    expect(missing.json()).toMatchObject({ error: { code: 'ResourceGroupNotFound', message: expect.stringContaining("'nope' could not be found") } });
    const diskInMissing = await t.arm('GET', `/subscriptions/${t.sub}/resourceGroups/nope/providers/Microsoft.Compute/disks/d`);
    expect(diskInMissing.json()).toMatchObject({ error: { code: 'ResourceGroupNotFound' } });
  });

  it('list pages through nextLink', async () => {
    for (const n of ['g2', 'g3', 'g4']) await t.group(n);
    const all = await pages(`/subscriptions/${t.sub}/resourcegroups?api-version=2021-04-01`);
    expect(all.map((p) => p.value.length)).toEqual([2, 2]);
    expect(all.flatMap((p) => p.value.map((g) => g.name))).toEqual(['g2', 'g3', 'g4', 'Group1']);
  });
});

describe('disk and snapshot lists', () => {
  it('by subscription and by group: absolute nextLink with api-version and $skiptoken, no duplicates', async () => {
    await t.group('la');
    await t.group('lb');
    const names = [['la', 'd1'], ['la', 'd2'], ['lb', 'd3'], ['lb', 'd4'], ['lb', 'd5']] as const;
    for (const [g, n] of names) {
      const res = await t.arm('PUT', `/subscriptions/${t.sub}/resourceGroups/${g}/providers/Microsoft.Compute/disks/${n}`, { location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 } });
      expect(res.status).toBe(202);
    }
    const first = (await t.arm('GET', `/subscriptions/${t.sub}/providers/Microsoft.Compute/disks?api-version=2023-04-02`)).json() as ListBody;
    expect(first.value.map((d) => d.name)).toEqual(['d1', 'd2']);
    const next = new URL(String(first.nextLink));
    expect(`${next.protocol}//${next.host}`).toBe(t.base);
    expect(next.pathname).toBe(`/subscriptions/${t.sub}/providers/Microsoft.Compute/disks`);
    expect(next.searchParams.get('api-version')).toBe('2023-04-02');
    expect(next.searchParams.get('$skiptoken')).toMatch(/^[A-Za-z0-9_-]+$/);
    const all = await pages(`/subscriptions/${t.sub}/providers/Microsoft.Compute/disks?api-version=2023-04-02`);
    expect(all.map((p) => p.value.length)).toEqual([2, 2, 1]);
    expect(all.at(-1)?.nextLink).toBeUndefined();
    expect(all.flatMap((p) => p.value.map((d) => d.name))).toEqual(['d1', 'd2', 'd3', 'd4', 'd5']);
    const byGroup = await pages(`/subscriptions/${t.sub}/resourceGroups/lb/providers/Microsoft.Compute/disks`);
    expect(byGroup.flatMap((p) => p.value.map((d) => d.name))).toEqual(['d3', 'd4', 'd5']);
    const sdk: string[] = [];
    for await (const d of t.compute().disks.list()) sdk.push(String(d.name));
    expect(sdk).toEqual(['d1', 'd2', 'd3', 'd4', 'd5']);
  });

  it('a delete between pages neither repeats nor skips the others', async () => {
    const first = (await t.arm('GET', `/subscriptions/${t.sub}/resourceGroups/lb/providers/Microsoft.Compute/disks`)).json() as ListBody;
    expect(first.value.map((d) => d.name)).toEqual(['d3', 'd4']);
    expect((await t.arm('DELETE', `/subscriptions/${t.sub}/resourceGroups/lb/providers/Microsoft.Compute/disks/d3`)).status).toBe(202);
    const rest = await pages(String(first.nextLink));
    expect(rest.flatMap((p) => p.value.map((d) => d.name))).toEqual(['d5']);
    const bad = await t.arm('GET', `/subscriptions/${t.sub}/providers/Microsoft.Compute/disks?api-version=2023-04-02&$skiptoken=***`);
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ error: { target: '$skiptoken' } });
  });
});
