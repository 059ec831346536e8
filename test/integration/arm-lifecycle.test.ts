/**
 * Lifecycle of disks and snapshots through the real @azure/arm-compute SDK over HTTPS against
 * the whole server in-process: every read-only field computed, the data behind restored and
 * imported disks byte-identical to the source, grants with their diskState transitions, PATCH,
 * PUT-again, delete. Raw requests check what the SDK hides (no nulls, 204 on a missing delete).
 */
import type { ComputeManagementClient, Disk, Snapshot } from '@azure/arm-compute';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, MiB } from '../../src/core/units.js';
import { vhdFooter } from '../../src/core/vhd.js';
import { prng } from '../helpers/engine.js';
import { POLL, startArm } from './arm-harness.js';
import type { ArmTest } from './arm-harness.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let t: ArmTest;
let c: ComputeManagementClient;
const data = prng(7)(3 * MiB);
const OFFSET = 5 * MiB + 4096;

beforeAll(async () => {
  t = await startArm();
  c = t.compute();
  await t.group('rg1');
  await t.group('rg2');
});
afterAll(async () => {
  await t.close();
});

async function writeDisk(d: Disk, offset: number, bytes: Buffer): Promise<void> {
  const h = await t.server.engine.disks.open(String(d.uniqueId));
  await h.write(offset, bytes);
  await h.flush();
}

async function readDisk(uniqueId: string, offset: number, length: number): Promise<Buffer> {
  return (await t.server.engine.disks.open(uniqueId)).read(offset, length);
}

describe('disks', () => {
  it('creates an empty disk with every read-only property computed', async () => {
    const d = await c.disks.createOrUpdate(
      'rg1',
      'disk1',
      { location: 'East US', sku: { name: 'Premium_LRS' }, creationData: { createOption: 'Empty' }, diskSizeGB: 4, osType: 'Linux', hyperVGeneration: 'V2', tags: { env: 'test' } },
      POLL,
    );
    expect(d).toMatchObject({
      id: `/subscriptions/${t.sub}/resourceGroups/rg1/providers/Microsoft.Compute/disks/disk1`,
      name: 'disk1',
      type: 'Microsoft.Compute/disks',
      location: 'eastus',
      tags: { env: 'test' },
      sku: { name: 'Premium_LRS', tier: 'Premium' },
      creationData: { createOption: 'Empty' },
      diskSizeGB: 4,
      diskSizeBytes: 4 * GiB,
      diskState: 'Unattached',
      provisioningState: 'Succeeded',
      osType: 'Linux',
      hyperVGeneration: 'V2',
      tier: 'P1',
      encryption: { type: 'EncryptionAtRestWithPlatformKey' },
      networkAccessPolicy: 'AllowAll',
      publicNetworkAccess: 'Enabled',
    });
    expect(d.uniqueId).toMatch(GUID);
    expect(Math.abs((d.timeCreated?.getTime() ?? 0) - Date.now())).toBeLessThan(60_000);
    expect(d.completionPercent).toBeUndefined();
    expect(d.managedBy).toBeUndefined();
    const raw = await t.arm('GET', `/subscriptions/${t.sub}/resourceGroups/RG1/providers/microsoft.compute/DISKS/disk1?api-version=2023-04-02`);
    expect(raw.status).toBe(200);
    expect(raw.text).not.toContain('null');
    expect(raw.json()).toMatchObject({ name: 'disk1', properties: { diskSizeGB: 4, uniqueId: d.uniqueId } });
    await writeDisk(d, OFFSET, data);
  });

  it('PATCH resizes (grow only) and replaces tags; PUT again updates in place', async () => {
    const grown = await c.disks.update('rg1', 'disk1', { diskSizeGB: 8, tags: { env: 'prod' } }, POLL);
    expect(grown).toMatchObject({ diskSizeGB: 8, diskSizeBytes: 8 * GiB, tags: { env: 'prod' }, tier: 'P2', osType: 'Linux' });
    await expect(c.disks.update('rg1', 'disk1', { diskSizeGB: 2 }, POLL)).rejects.toMatchObject({ statusCode: 409, code: 'OperationNotAllowed' });
    const before = await c.disks.get('rg1', 'disk1');
    const again = await c.disks.createOrUpdate('rg1', 'disk1', { location: 'eastus', creationData: { createOption: 'Empty' }, diskSizeGB: 8, tags: { env: 'again' } }, POLL);
    expect(again.uniqueId).toBe(before.uniqueId);
    expect(again.tags).toEqual({ env: 'again' });
    await expect(c.disks.createOrUpdate('rg1', 'disk1', { location: 'westus', creationData: { createOption: 'Empty' }, diskSizeGB: 8 }, POLL)).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameter' });
  });

  it('upload disk: ReadyToUpload → ActiveUpload (write SAS) → Unattached after a valid VHD', async () => {
    const upload = 20 * MiB + 512;
    const d = await c.disks.createOrUpdate('rg1', 'up1', { location: 'eastus', sku: { name: 'Standard_LRS' }, creationData: { createOption: 'Upload', uploadSizeBytes: upload } }, POLL);
    expect(d).toMatchObject({ diskState: 'ReadyToUpload', diskSizeBytes: 20 * MiB, creationData: { createOption: 'Upload', uploadSizeBytes: upload } });
    const sas = await c.disks.grantAccess('rg1', 'up1', { access: 'Write', durationInSeconds: 600 }, POLL);
    expect(new URL(String(sas.accessSAS)).searchParams.get('sp')).toBe('rw');
    expect((await c.disks.get('rg1', 'up1')).diskState).toBe('ActiveUpload');
    await expect(c.disks.revokeAccess('rg1', 'up1', POLL)).rejects.toMatchObject({ statusCode: 409, code: 'OperationNotAllowed' });
    await writeDisk(d, 0, Buffer.from('uploaded bytes'));
    await writeDisk(d, 20 * MiB, vhdFooter(20 * MiB));
    await c.disks.revokeAccess('rg1', 'up1', POLL);
    const done = await c.disks.get('rg1', 'up1');
    expect(done).toMatchObject({ diskState: 'Unattached', diskSizeBytes: 20 * MiB, diskSizeGB: 1 });
    expect((await readDisk(String(done.uniqueId), 0, 14)).toString()).toBe('uploaded bytes');
  });
});

describe('snapshots', () => {
  let disk: Disk;
  let snap: Snapshot;

  it('incremental snapshot: source ids, family, ZRS by default in a zoned region, 100 % once copied', async () => {
    disk = await c.disks.get('rg1', 'disk1');
    snap = await c.snapshots.createOrUpdate('rg1', 'snap1', { location: 'eastus', creationData: { createOption: 'Copy', sourceResourceId: disk.id }, incremental: true }, POLL);
    expect(snap).toMatchObject({
      id: `/subscriptions/${t.sub}/resourceGroups/rg1/providers/Microsoft.Compute/snapshots/snap1`,
      type: 'Microsoft.Compute/snapshots',
      location: 'eastus',
      sku: { name: 'Standard_ZRS', tier: 'Standard' },
      incremental: true,
      creationData: { createOption: 'Copy', sourceResourceId: disk.id, sourceUniqueId: disk.uniqueId, logicalSectorSize: 512 },
      diskSizeGB: 8,
      diskSizeBytes: 8 * GiB,
      diskState: 'Unattached',
      provisioningState: 'Succeeded',
      osType: 'Linux',
      hyperVGeneration: 'V2',
    });
    expect(snap.incrementalSnapshotFamilyId).toMatch(GUID);
    expect(snap.uniqueId).not.toBe(disk.uniqueId);
    await t.server.engine.idle();
    const shown = await c.snapshots.get('rg1', 'snap1');
    expect(shown.completionPercent).toBe(100);
    expect(shown.snapshotAccessState).toBe('Available');
  });

  it('PUT again never takes a second snapshot; list filtered like the seed script', async () => {
    const again = await c.snapshots.createOrUpdate('rg1', 'snap1', { location: 'eastus', creationData: { createOption: 'Copy', sourceResourceId: disk.id }, incremental: true, tags: { k: 'v' } }, POLL);
    expect(again.uniqueId).toBe(snap.uniqueId);
    expect(again.tags).toEqual({ k: 'v' });
    const second = await c.snapshots.createOrUpdate('rg2', 'snap2', { location: 'eastus', sku: { name: 'Standard_LRS' }, creationData: { createOption: 'Copy', sourceResourceId: disk.id }, incremental: true }, POLL);
    expect(second.incrementalSnapshotFamilyId).toBe(snap.incrementalSnapshotFamilyId);
    await c.snapshots.createOrUpdate('rg1', 'full1', { location: 'eastus', creationData: { createOption: 'Copy', sourceResourceId: disk.id } }, POLL);
    const mine: string[] = [];
    for await (const s of c.snapshots.list()) if (s.creationData?.sourceResourceId === disk.id && s.incremental) mine.push(String(s.name));
    expect(mine.sort()).toEqual(['snap1', 'snap2']);
    const full = await c.snapshots.get('rg1', 'full1');
    expect(full.incremental).toBe(false);
    expect(full.incrementalSnapshotFamilyId).toBeUndefined();
    expect(full.sku?.name).toBe('Standard_LRS');
  });

  it('a disk from the snapshot: instant, hydrated in the background, byte-identical', async () => {
    await writeDisk(disk, OFFSET, Buffer.alloc(data.length, 0xee));
    const r = await c.disks.createOrUpdate('rg2', 'restored', { location: 'eastus', creationData: { createOption: 'Copy', sourceResourceId: snap.id } }, POLL);
    expect(r).toMatchObject({ diskSizeGB: 8, osType: 'Linux', creationData: { createOption: 'Copy', sourceResourceId: snap.id, sourceUniqueId: snap.uniqueId } });
    expect(r.completionPercent).toBeGreaterThanOrEqual(0);
    expect((await readDisk(String(r.uniqueId), OFFSET, data.length)).equals(data)).toBe(true);
    await t.server.engine.idle();
    expect((await c.disks.get('rg2', 'restored')).completionPercent).toBe(100);
  });

  it('grant and revoke: SAS on this host, diskState ActiveSAS ↔ Unattached, for snapshots and disks', async () => {
    const sas = await c.snapshots.grantAccess('rg1', 'snap1', { access: 'Read', durationInSeconds: 3600 }, POLL);
    const url = new URL(String(sas.accessSAS));
    expect(`${url.protocol}//${url.host}`).toBe(t.base);
    expect(url.pathname).toMatch(/^\/md-[0-9a-f]{32}\/abcd$/);
    expect(url.searchParams.get('sp')).toBe('r');
    const grant = await t.server.engine.grants.validate(String(url.searchParams.get('si')), 'Read');
    expect(grant.resourceUniqueId).toBe(snap.uniqueId);
    expect((await c.snapshots.get('rg1', 'snap1')).diskState).toBe('ActiveSAS');
    await c.snapshots.revokeAccess('rg1', 'snap1', POLL);
    expect((await c.snapshots.get('rg1', 'snap1')).diskState).toBe('Unattached');
    await expect(t.server.engine.grants.validate(grant.id, 'Read')).rejects.toMatchObject({ code: 'AuthenticationFailed' });

    await c.disks.grantAccess('rg2', 'restored', { access: 'Read', durationInSeconds: 60 }, POLL);
    expect((await c.disks.get('rg2', 'restored')).diskState).toBe('ActiveSAS');
    await expect(c.disks.delete('rg2', 'restored', POLL)).rejects.toMatchObject({ statusCode: 409, code: 'OperationNotAllowed' });
    await c.disks.revokeAccess('rg2', 'restored', POLL);
    expect((await c.disks.get('rg2', 'restored')).diskState).toBe('Unattached');
  });

  it('Import from a SAS URL of this server copies the granted snapshot; other URLs are refused', async () => {
    const sas = await c.snapshots.grantAccess('rg1', 'snap1', { access: 'Read', durationInSeconds: 600 }, POLL);
    const imported = await c.disks.createOrUpdate('rg2', 'imported', { location: 'eastus', creationData: { createOption: 'Import', sourceUri: sas.accessSAS } }, POLL);
    // the SAS signature is the caller's secret: GET shows the URL with it redacted
    const sig = new URL(String(sas.accessSAS)).searchParams.get('sig') ?? '';
    expect(sig.length).toBeGreaterThan(10);
    const redacted = String(sas.accessSAS).replace(/([?&])sig=[^&]*/, '$1sig=REDACTED');
    expect(imported.creationData).toMatchObject({ createOption: 'Import', sourceResourceId: snap.id, sourceUniqueId: snap.uniqueId, sourceUri: redacted });
    const shown = await t.arm('GET', `/subscriptions/${t.sub}/resourceGroups/rg2/providers/Microsoft.Compute/disks/imported`);
    expect(shown.text).not.toContain(sig);
    expect(shown.text).not.toContain(encodeURIComponent(sig));
    expect(JSON.stringify(await t.server.engine.ctx.catalog.listDisks({}))).not.toContain(sig);
    expect((await readDisk(String(imported.uniqueId), OFFSET, data.length)).equals(data)).toBe(true);
    await c.snapshots.revokeAccess('rg1', 'snap1', POLL);
    const revoked = c.disks.createOrUpdate('rg2', 'imported2', { location: 'eastus', creationData: { createOption: 'Import', sourceUri: sas.accessSAS } }, POLL);
    await expect(revoked).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameter', message: expect.stringContaining('revoked') });
    const foreign = c.disks.createOrUpdate('rg2', 'imported3', { location: 'eastus', creationData: { createOption: 'Import', sourceUri: 'https://acct.blob.core.windows.net/vhds/x.vhd', storageAccountId: '/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/acct' } }, POLL);
    await expect(foreign).rejects.toMatchObject({ statusCode: 400, message: expect.stringContaining('SAS URL it issued itself') });
    expect(await t.server.engine.disks.find({ subscriptionId: t.sub, resourceGroup: 'rg2', name: 'imported3' })).toBeNull();
  });

  it('PATCH a snapshot; delete: gone afterwards, a second delete is 204', async () => {
    const patched = await c.snapshots.update('rg2', 'snap2', { tags: { keep: 'no' }, networkAccessPolicy: 'DenyAll' }, POLL);
    expect(patched).toMatchObject({ tags: { keep: 'no' }, networkAccessPolicy: 'DenyAll', incremental: true });
    await c.snapshots.delete('rg2', 'snap2', POLL);
    await expect(c.snapshots.get('rg2', 'snap2')).rejects.toMatchObject({ statusCode: 404, code: 'ResourceNotFound' });
    const again = await t.arm('DELETE', `/subscriptions/${t.sub}/resourceGroups/rg2/providers/Microsoft.Compute/snapshots/snap2`);
    expect(again.status).toBe(204);
    expect(again.text).toBe('');
    await c.disks.delete('rg2', 'imported', POLL);
    const missing = await t.arm('GET', `/subscriptions/${t.sub}/resourceGroups/rg2/providers/Microsoft.Compute/disks/imported`);
    expect(missing.status).toBe(404);
    expect(missing.headers['x-ms-failure-cause']).toBe('gateway');
    expect(missing.json()).toEqual({
      error: { code: 'ResourceNotFound', message: "The Resource 'Microsoft.Compute/disks/imported' under resource group 'rg2' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix" },
    });
  });
});
