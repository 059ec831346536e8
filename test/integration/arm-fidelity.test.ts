/**
 * What a PUT on an existing resource may and may not do, as Azure answers it: creationData and
 * zones are fixed (409 PropertyChangeNotAllowed naming the property), the GET output sent back
 * as az does on update is accepted unchanged (a computed `tier` is not stored as a choice, a
 * redacted Import sourceUri matches), a snapshot does not resize, names follow ARM's rules, and
 * concurrent PUTs of one new name never answer 500.
 */
import type { ComputeManagementClient } from '@azure/arm-compute';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POLL, startArm } from './arm-harness.js';
import type { ArmTest } from './arm-harness.js';

let t: ArmTest;
let c: ComputeManagementClient;

beforeAll(async () => {
  t = await startArm();
  c = t.compute();
  await t.group('rg1');
});
afterAll(async () => {
  await t.close();
});

type CloudError = { error: { code: string; message: string; target?: string } };
type Resource = { properties: Record<string, unknown> & { creationData: Record<string, unknown> }; zones?: string[]; tags?: Record<string, string> };

const path = (kind: 'disks' | 'snapshots', name: string) => `/subscriptions/${t.sub}/resourceGroups/rg1/providers/Microsoft.Compute/${kind}/${name}`;
const empty = (size = 1, extra: Record<string, unknown> = {}) => ({ location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: size }, ...extra });
const copyOf = (id: string, extra: Record<string, unknown> = {}) => ({ location: 'eastus', properties: { creationData: { createOption: 'Copy', sourceResourceId: id }, ...extra } });

async function put(kind: 'disks' | 'snapshots', name: string, body: unknown): Promise<{ status: number; json: () => unknown }> {
  return t.arm('PUT', path(kind, name), body);
}

async function get(kind: 'disks' | 'snapshots', name: string): Promise<Resource> {
  const res = await t.arm('GET', path(kind, name));
  expect(res.status, res.text).toBe(200);
  return res.json() as Resource;
}

function expectChangeRefused(res: { status: number; json: () => unknown }, property: string, target: string): void {
  expect(res.status).toBe(409);
  const body = res.json() as CloudError;
  expect(body.error.code).toBe('PropertyChangeNotAllowed');
  expect(body.error.message).toContain(`Changing property '${property}' is not allowed.`);
  expect(body.error.target).toBe(target);
}

describe('PUT on an existing resource', () => {
  it('a changed createOption, source or zone is 409 PropertyChangeNotAllowed and changes nothing', async () => {
    expect((await put('disks', 'base', empty(1, { zones: ['1'] }))).status).toBe(202);
    expect((await put('disks', 'other', empty())).status).toBe(202);
    expect((await put('disks', 'copy', copyOf(path('disks', 'base')))).status).toBe(202);
    const before = await get('disks', 'copy');

    expectChangeRefused(await put('disks', 'base', copyOf(path('disks', 'other'))), 'creationData.createOption', 'properties.creationData.createOption');
    expectChangeRefused(await put('disks', 'copy', copyOf(path('disks', 'other'))), 'creationData.sourceResourceId', 'properties.creationData.sourceResourceId');
    expectChangeRefused(await put('disks', 'base', empty(1, { zones: ['2'] })), 'zones', 'zones');
    expectChangeRefused(
      await put('disks', 'base', { location: 'eastus', properties: { creationData: { createOption: 'Empty', logicalSectorSize: 4096 }, diskSizeGB: 1 } }),
      'creationData.logicalSectorSize',
      'properties.creationData.logicalSectorSize',
    );
    const after = await get('disks', 'copy');
    expect([after.properties.creationData, after.tags, after.properties.uniqueId]).toEqual([before.properties.creationData, before.tags, before.properties.uniqueId]);
    expect((await get('disks', 'base')).zones).toEqual(['1']);

    // the same source in another spelling is no change; an update of tags goes through
    const respelled = copyOf(path('disks', 'base').replace('/subscriptions/', 'subscriptions/').toUpperCase(), {});
    const res = await put('disks', 'copy', { ...respelled, tags: { a: 'b' } });
    expect(res.status).toBe(202);
    expect((await get('disks', 'copy')).tags).toEqual({ a: 'b' });
  });

  it('snapshots: a changed source is 409; diskSizeGB other than the current size is refused, the same size accepted', async () => {
    expect((await put('disks', 'sdisk', empty(2))).status).toBe(202);
    expect((await put('snapshots', 's1', copyOf(path('disks', 'sdisk'), { incremental: true }))).status).toBe(202);
    expectChangeRefused(await put('snapshots', 's1', copyOf(path('disks', 'base'), { incremental: true })), 'creationData.sourceResourceId', 'properties.creationData.sourceResourceId');
    const patch = await t.arm('PATCH', path('snapshots', 's1'), { properties: { diskSizeGB: 3 } });
    expect(patch.status).toBe(409);
    expect((patch.json() as CloudError).error.message).toContain('cannot be resized');
    const putResize = await put('snapshots', 's1', copyOf(path('disks', 'sdisk'), { incremental: true, diskSizeGB: 4 }));
    expect(putResize.status).toBe(409);
    const same = await c.snapshots.update('rg1', 's1', { diskSizeGB: 2, tags: { k: 'v' } }, POLL);
    expect(same).toMatchObject({ diskSizeGB: 2, tags: { k: 'v' } });
  });

  it('the GET output sent back (az generic update) is accepted; a computed tier is not stored and follows a resize', async () => {
    expect((await put('disks', 'prem', { ...empty(100), sku: { name: 'Premium_LRS' } })).status).toBe(202);
    const shown = await get('disks', 'prem');
    expect(shown.properties.tier).toBe('P10');
    const echoed = await put('disks', 'prem', { ...shown, tags: { echoed: 'yes' } });
    expect(echoed.status).toBe(202);
    const record = await t.server.engine.disks.find({ subscriptionId: t.sub, resourceGroup: 'rg1', name: 'prem' });
    expect(record?.properties.tier).toBeUndefined();
    expect(record?.tags).toEqual({ echoed: 'yes' });
    await c.disks.update('rg1', 'prem', { diskSizeGB: 200 }, POLL);
    expect((await get('disks', 'prem')).properties.tier).toBe('P15');
    // a tier chosen above the baseline is kept across a resize
    await c.disks.update('rg1', 'prem', { tier: 'P30' }, POLL);
    await c.disks.update('rg1', 'prem', { diskSizeGB: 210 }, POLL);
    expect((await get('disks', 'prem')).properties.tier).toBe('P30');

    // the echo of a snapshot and of a copied disk is no change either
    for (const [kind, name] of [['snapshots', 's1'], ['disks', 'copy']] as const) {
      const res = await put(kind, name, await get(kind, name));
      expect(res.status, JSON.stringify(res.json())).toBe(202);
    }
  });

  it('an Import sourceUri is shown without its signature, and the shown one sent back matches', async () => {
    await c.snapshots.createOrUpdate('rg1', 'imp-src', { location: 'eastus', creationData: { createOption: 'Copy', sourceResourceId: path('disks', 'sdisk') } }, POLL);
    await t.server.engine.idle();
    const sas = await c.snapshots.grantAccess('rg1', 'imp-src', { access: 'Read', durationInSeconds: 600 }, POLL);
    const sig = new URL(String(sas.accessSAS)).searchParams.get('sig') ?? '';
    expect(sig).not.toBe('');
    expect((await put('disks', 'imp', { location: 'eastus', properties: { creationData: { createOption: 'Import', sourceUri: sas.accessSAS } } })).status).toBe(202);
    const shown = await get('disks', 'imp');
    expect(String(shown.properties.creationData.sourceUri)).toContain('sig=REDACTED');
    expect(JSON.stringify(shown)).not.toContain(sig);
    expect((await put('disks', 'imp', shown)).status).toBe(202);
    expect((await put('disks', 'imp', { location: 'eastus', properties: { creationData: { createOption: 'Import', sourceUri: sas.accessSAS } } })).status).toBe(202);
    await c.snapshots.revokeAccess('rg1', 'imp-src', POLL);
  });
});

describe('names and bodies', () => {
  it('disk names take letters, digits, _ and - only (azure-api.md §1); snapshot names may hold periods', async () => {
    const dotted = await put('disks', 'with.period', empty());
    expect(dotted.status).toBe(400);
    expect((dotted.json() as CloudError).error).toMatchObject({ code: 'InvalidParameter', target: 'name' });
    expect((await put('disks', 'Under_score-9', empty())).status).toBe(202);
    expect((await put('snapshots', 'snap.2026-01-01', copyOf(path('disks', 'sdisk')))).status).toBe(202);
    expect((await put('snapshots', 'ends.', copyOf(path('disks', 'sdisk')))).status).toBe(400);
  });

  it('malformed JSON is 400 InvalidRequestContent with target body, and creates nothing', async () => {
    const res = await t.arm('PUT', path('disks', 'broken'), '{"location": "eastus", "properties": {');
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'InvalidRequestContent', target: 'body', message: expect.stringContaining('could not be deserialized') } });
    expect((await t.arm('GET', path('disks', 'broken'))).status).toBe(404);
  });

  it('concurrent PUTs of one new disk or snapshot name: one creates, the others update; never a 500', async () => {
    const disks = await Promise.all([1, 2, 3, 4].map((i) => put('disks', 'twin', empty(1, { tags: { i: String(i) } }))));
    expect(disks.map((r) => r.status)).toEqual([202, 202, 202, 202]);
    const snaps = await Promise.all([1, 2, 3].map(() => put('snapshots', 'twin-s', copyOf(path('disks', 'sdisk'), { incremental: true }))));
    expect(snaps.map((r) => r.status)).toEqual([202, 202, 202]);
    const listed = (await t.arm('GET', `/subscriptions/${t.sub}/resourceGroups/rg1/providers/Microsoft.Compute/snapshots`)).json() as { value: { name: string }[] };
    expect(listed.value.filter((s) => s.name === 'twin-s')).toHaveLength(1);
  });
});
