/**
 * Bad input on the ARM surface: malformed JSON, unknown or wrong-typed properties at every level,
 * names outside ARM's rules, sizes out of range, missing required properties. Each is a 400
 * CloudError whose `target` names the property, and none creates anything.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startArm } from './arm-harness.js';
import type { ArmTest } from './arm-harness.js';

let t: ArmTest;

beforeAll(async () => {
  t = await startArm();
  await t.group('rg1');
});
afterAll(async () => {
  await t.close();
});

const disk = (name: string) => `/subscriptions/${t.sub}/resourceGroups/rg1/providers/Microsoft.Compute/disks/${encodeURIComponent(name)}`;
const snapshot = (name: string) => `/subscriptions/${t.sub}/resourceGroups/rg1/providers/Microsoft.Compute/snapshots/${name}`;
const valid = () => ({ location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 } });

async function expect400(method: string, path: string, body: unknown, target: string, message?: string, code = 'InvalidParameter'): Promise<void> {
  const res = await t.arm(method, path, body);
  expect(res.status, res.text).toBe(400);
  const error = (res.json() as { error: Record<string, unknown> }).error;
  expect(error.code).toBe(code);
  if (target) expect(error.target).toBe(target);
  if (message) expect(String(error.message)).toContain(message);
}

describe('PUT disk bodies', () => {
  it('malformed JSON: 400 InvalidRequestContent', async () => {
    await expect400('PUT', disk('j1'), '{"location": "eastus", "properties": {', 'body', 'could not be deserialized', 'InvalidRequestContent');
    await expect400('PUT', disk('j2'), '', 'body', 'must be a JSON object');
    await expect400('PUT', disk('j3'), '[1,2]', 'body', 'must be a JSON object');
  });

  it('unknown properties at every level, named by their path', async () => {
    await expect400('PUT', disk('u1'), { ...valid(), colour: 'red' }, 'colour', 'not a property of a disk');
    await expect400('PUT', disk('u2'), { location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1, speed: 3 } }, 'properties.speed');
    await expect400('PUT', disk('u3'), { location: 'eastus', properties: { creationData: { createOption: 'Empty', source: 'x' }, diskSizeGB: 1 } }, 'properties.creationData.source');
    await expect400('PUT', disk('u4'), { ...valid(), sku: { name: 'Standard_LRS', size: 'big' } }, 'sku.size');
    await expect400('PUT', disk('u5'), { ...valid(), extendedLocation: { name: 'edge1', type: 'EdgeZone' } }, 'extendedLocation', 'Edge zones');
  });

  it('wrong types', async () => {
    await expect400('PUT', disk('w1'), { location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: '10' } }, 'properties.diskSizeGB', 'whole number');
    await expect400('PUT', disk('w2'), { ...valid(), tags: { a: 1 } }, 'tags.a', 'string value');
    await expect400('PUT', disk('w3'), { location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1, osType: 'Solaris' } }, 'properties.osType', 'Windows, Linux');
    await expect400('PUT', disk('w4'), { ...valid(), zones: '1' }, 'zones', 'array of strings');
    await expect400('PUT', disk('w5'), { ...valid(), location: 42 }, 'location');
    await expect400('PUT', disk('w6'), { location: 'eastus', properties: { creationData: 'Empty', diskSizeGB: 1 } }, 'properties.creationData', 'JSON object');
    await expect400('PUT', snapshot('w7'), { location: 'eastus', properties: { creationData: { createOption: 'Copy', sourceResourceId: disk('x') }, incremental: 'yes' } }, 'properties.incremental', 'true or false');
    await expect400('PUT', disk('w8'), { ...valid(), sku: { name: 'Gold_LRS' } }, 'sku.name', 'not a disk sku');
  });

  it('missing or impossible required properties', async () => {
    await expect400('PUT', disk('m1'), { properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 } }, 'location', 'required');
    await expect400('PUT', disk('m2'), { location: 'eastus' }, 'properties.creationData', 'required');
    await expect400('PUT', disk('m3'), { location: 'eastus', properties: { creationData: {}, diskSizeGB: 1 } }, 'properties.creationData.createOption');
    await expect400('PUT', disk('m4'), { location: 'eastus', properties: { creationData: { createOption: 'Empty' } } }, 'properties.diskSizeGB', 'required');
    await expect400('PUT', disk('m5'), { location: 'eastus', properties: { creationData: { createOption: 'Copy' } } }, 'properties.creationData.sourceResourceId');
    await expect400('PUT', disk('m6'), { location: 'eastus', properties: { creationData: { createOption: 'Copy', sourceResourceId: '/subscriptions/x/blobs/y' } } }, 'properties.creationData.sourceResourceId', 'not the resource id');
    await expect400('PUT', disk('m7'), { location: 'eastus', properties: { creationData: { createOption: 'FromImage' }, diskSizeGB: 1 } }, 'properties.creationData.createOption', 'not supported');
    await expect400('PUT', disk('m8'), { location: 'eastus', properties: { creationData: { createOption: 'Sideways' }, diskSizeGB: 1 } }, 'properties.creationData.createOption', 'not a create option');
    await expect400('PUT', disk('m9'), { ...valid(), location: 'mars' }, 'location', 'not available');
  });

  it('sizes out of range', async () => {
    await expect400('PUT', disk('s1'), { location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 0 } }, 'properties.diskSizeGB', 'from 1 to');
    await expect400('PUT', disk('s2'), { location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 70_000 } }, 'properties.diskSizeGB');
    await expect400('PUT', disk('s3'), { location: 'eastus', properties: { creationData: { createOption: 'Upload', uploadSizeBytes: 30 * 1024 * 1024 } } }, 'properties.creationData.uploadSizeBytes', 'whole number of MiB');
    await expect400('PUT', disk('s4'), { location: 'eastus', properties: { creationData: { createOption: 'Upload', uploadSizeBytes: 1024 } } }, 'properties.creationData.uploadSizeBytes');
    await expect400('PUT', disk('s5'), { ...valid(), properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1, maxShares: 0 } }, 'properties.maxShares');
  });

  it('names outside ARM rules', async () => {
    await expect400('PUT', disk('bad name!'), valid(), 'name', 'invalid');
    await expect400('PUT', disk('x'.repeat(81)), valid(), 'name');
    await expect400('PUT', disk('ends.'), valid(), 'name');
    await expect400('PUT', disk('a.b'), valid(), 'name', 'letters, digits, underscores or hyphens');
    await expect400('PUT', `/subscriptions/${t.sub}/resourcegroups/${encodeURIComponent('rg*1')}?api-version=2021-04-01`, { location: 'eastus' }, 'resourceGroupName');
  });

  it('property names are case-insensitive and read-only ones are ignored', async () => {
    const res = await t.arm('PUT', disk('ci1'), {
      Location: 'EastUS',
      Properties: { CreationData: { CREATEOPTION: 'empty' }, DISKSIZEGB: 2, OSTYPE: 'linux', uniqueId: 'mine', provisioningState: 'Failed', diskState: 'Attached' },
      id: '/not/mine',
      type: 'whatever',
    });
    expect(res.status).toBe(202);
    const body = res.json() as { id: string; location: string; properties: Record<string, unknown> };
    expect(body.id).toBe(disk('ci1'));
    expect(body.location).toBe('eastus');
    expect(body.properties).toMatchObject({ creationData: { createOption: 'Empty' }, diskSizeGB: 2, osType: 'Linux', provisioningState: 'Succeeded', diskState: 'Unattached' });
    expect(body.properties.uniqueId).not.toBe('mine');
  });
});

describe('other bodies', () => {
  it('PATCH: DiskUpdate has no location; types checked', async () => {
    expect((await t.arm('PUT', disk('p1'), valid())).status).toBe(202);
    await expect400('PATCH', disk('p1'), { location: 'westus' }, 'location', 'not a property of a disk update');
    await expect400('PATCH', disk('p1'), { properties: { diskSizeGB: 'big' } }, 'properties.diskSizeGB');
    await expect400('PATCH', disk('p1'), { properties: { creationData: { createOption: 'Empty' } } }, 'properties.creationData');
  });

  it('beginGetAccess: access and durationInSeconds required and typed', async () => {
    await expect400('POST', `${disk('p1')}/beginGetAccess`, { durationInSeconds: 60 }, 'access', 'required');
    await expect400('POST', `${disk('p1')}/beginGetAccess`, { access: 'Read', durationInSeconds: '60' }, 'durationInSeconds');
    await expect400('POST', `${disk('p1')}/beginGetAccess`, { access: 'Peek', durationInSeconds: 60 }, 'access');
    await expect400('POST', `${disk('p1')}/beginGetAccess`, { access: 'Read' }, 'durationInSeconds', 'required');
    await expect400('POST', `${disk('p1')}/beginGetAccess`, { access: 'Read', durationInSeconds: 60, fileFormat: 'QCOW2' }, 'fileFormat');
    const state = (await t.arm('GET', disk('p1'))).json() as { properties: { diskState: string } };
    expect(state.properties.diskState).toBe('Unattached');
  });

  it('moveResources and resource groups validate their bodies', async () => {
    const move = `/subscriptions/${t.sub}/resourceGroups/rg1/moveResources?api-version=2021-04-01`;
    await expect400('POST', move, { resources: [] , targetResourceGroup: `/subscriptions/${t.sub}/resourceGroups/rg1` }, 'resources');
    await expect400('POST', move, { resources: [disk('p1')] }, 'targetResourceGroup', 'required');
    await expect400('POST', move, { resources: [disk('p1')], targetResourceGroup: 'rg2' }, 'targetResourceGroup', 'not a resource group id');
    await expect400('PUT', `/subscriptions/${t.sub}/resourcegroups/rgx?api-version=2021-04-01`, { tags: {} }, 'location');
  });

  it('unknown paths and methods answer ARM-style errors', async () => {
    const nope = await t.arm('GET', `/subscriptions/${t.sub}/providers/Microsoft.Compute/virtualMachines`);
    expect(nope.status).toBe(404);
    expect(nope.json()).toMatchObject({ error: { code: 'NotFound' } });
    const method = await t.arm('POST', disk('p1'), {});
    expect(method.status).toBe(405);
    expect(String(method.headers.allow)).toContain('PUT');
  });

  it('nothing was created by any refused request', async () => {
    const disks = await t.server.engine.ctx.catalog.listDisks({ subscriptionId: t.sub });
    expect(disks.map((d) => d.name).sort()).toEqual(['ci1', 'p1']);
    expect(await t.server.engine.ctx.catalog.listSnapshots({ subscriptionId: t.sub })).toEqual([]);
    expect((await t.server.engine.resources.listGroups(t.sub)).map((g) => g.name)).toEqual(['rg1']);
  });
});
