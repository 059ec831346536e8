/**
 * Snapshots created for upload (`createOption: Upload`): a fixed VHD written through the Write SAS
 * with the real `@azure/storage-blob` PageBlobClient, endGetAccess, then the snapshot read back
 * byte for byte through a Read SAS and through a restored disk. Also: a bad footer leaves the
 * snapshot in ActiveUpload for another try, refusals before the upload is complete, the hidden
 * upload disk in no list and gone once copied, a restart before, during and in the middle of
 * finishing the copy, and the ARM surface through @azure/arm-compute (sizes out of range → 400
 * with target, incremental refused, az 2.45's diskSizeGB form).
 */

import type { ComputeManagementClient } from '@azure/arm-compute';
import { AnonymousCredential, PageBlobClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSnapdiskError } from '../../src/core/errors.js';
import type { SnapshotRecord } from '../../src/core/model.js';
import { BLOCK_SIZE, GiB, MiB } from '../../src/core/units.js';
import { parseVhdFooter, vhdFooter } from '../../src/core/vhd.js';
import { HIDDEN_UPLOAD_GROUP } from '../../src/engine/disks.js';
import type { Engine } from '../../src/engine/engine.js';
import { EngineNbdBackend } from '../../src/nbd/engine-backend.js';
import { diskId, err, prng, RG, SUB } from '../helpers/engine.js';
import { POLL, startArm } from './arm-harness.js';
import type { ArmTest } from './arm-harness.js';
import { startBlobServer } from './blob-harness.js';
import type { BlobServer } from './blob-harness.js';

const key = (name: string) => ({ subscriptionId: SUB, resourceGroup: RG, name });

/** A disk image of `mib` MiB: data in a few places (one partial block), zeros elsewhere. */
function image(mib: number, seed: number): Buffer {
  const rnd = prng(seed);
  const out = Buffer.alloc(mib * MiB);
  rnd(MiB).copy(out, 0);
  rnd(300_000).copy(out, 5 * MiB + 4096);
  rnd(1000).copy(out, 9 * MiB + 512);
  rnd(MiB).copy(out, out.length - MiB);
  return out;
}

/** Writes a fixed VHD (image + footer) as AzCopy does: 4 MiB pages, all-zero pages skipped, footer last. */
async function uploadVhd(url: string, data: Buffer, footer = vhdFooter(data.length)): Promise<void> {
  const c = new PageBlobClient(url, new AnonymousCredential());
  for (let at = 0; at < data.length; at += 4 * MiB) {
    const piece = data.subarray(at, Math.min(data.length, at + 4 * MiB));
    if (piece.every((x) => x === 0)) continue;
    await c.uploadPages(piece, at, piece.length);
  }
  await c.uploadPages(footer, data.length, 512);
}

async function download(url: string, offset = 0, count?: number): Promise<Buffer> {
  return new PageBlobClient(url, new AnonymousCredential()).downloadToBuffer(offset, count);
}

async function createForUpload(e: Engine, name: string, uploadSizeBytes: number): Promise<SnapshotRecord> {
  return (await e.snapshots.createOrUpdate({ ...key(name), creationData: { createOption: 'Upload', uploadSizeBytes } })).snapshot;
}

/** Resolves once `test` holds (polling the catalog), failing after `ms`. */
async function until(test: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('snapshot upload: engine and page-blob data plane', () => {
  let b: BlobServer;
  beforeAll(async () => {
    b = await startBlobServer();
  });
  afterAll(async () => {
    await b.close();
  });

  it('a fixed VHD uploaded with PageBlobClient, revoked: a full snapshot, byte-exact through a Read SAS and a restored disk', async () => {
    const e = b.t.engine;
    const data = image(24, 1);
    const s = await createForUpload(e, 'up-1', data.length + 512);
    expect(s).toMatchObject({ diskState: 'ReadyToUpload', sizeBytes: data.length, incremental: false, creationData: { createOption: 'Upload', uploadSizeBytes: data.length + 512 } });
    expect(await e.snapshots.status(s)).toEqual({ completionPercent: 0, provisioningState: 'Succeeded', copyCompletionError: null, usedBytes: 0 });
    const hidden = await e.disks.getById(s.uploadDiskId ?? '');
    expect(hidden).toMatchObject({ uploadFor: s.uniqueId, resourceGroup: HIDDEN_UPLOAD_GROUP, diskState: 'ReadyToUpload' });

    // before the upload is complete: no Read SAS, no restore, no copy, no NBD export
    expect(await err(b.grant(s, 'Read'))).toMatchObject({ code: 'OperationNotAllowed', message: expect.stringMatching(/being uploaded/) as unknown });
    const { grant, url } = await b.grant(s, 'Write');
    expect(grant).toMatchObject({ access: 'Write', resourceKind: 'disk', resourceUniqueId: hidden.uniqueId });
    expect((await e.snapshots.getById(s.uniqueId)).diskState).toBe('ActiveUpload');
    expect((await e.disks.getById(hidden.uniqueId)).diskState).toBe('ActiveUpload');
    expect(await err(b.grant(s, 'Read'))).toMatchObject({ code: 'OperationNotAllowed' });
    expect(await err(e.disks.createOrUpdate({ ...key('up-1-early'), creationData: { createOption: 'Copy', sourceResourceId: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/snapshots/up-1` } }))).toMatchObject({
      code: 'OperationNotAllowed',
      message: expect.stringMatching(/being uploaded \(ActiveUpload\)/) as unknown,
    });
    expect(await err(new EngineNbdBackend(e).open(`/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/snapshots/up-1`, { client: 't' }))).toMatchObject({ code: 'OperationNotAllowed' });
    expect(await err(e.snapshots.deleteRecord(await e.snapshots.getById(s.uniqueId)))).toMatchObject({ code: 'OperationNotAllowed' });

    await uploadVhd(url, data);
    // the upload area reads back through the Write SAS as written, footer included
    expect((await download(url, data.length, 512)).equals(vhdFooter(data.length))).toBe(true);
    e.pauseJobs(); // the copy waits: reads right after endGetAccess come from the hidden disk's head
    try {
      await b.revoke(s);
      const done = await e.snapshots.getById(s.uniqueId);
      expect(done).toMatchObject({ diskState: 'Unattached', sizeBytes: data.length, incremental: false, point: 1 });
      expect(done.familyId).not.toBe('');
      const st = await e.snapshots.status(done);
      expect(st.provisioningState).toBe('Succeeded');
      expect(st.completionPercent).toBeLessThan(100);
      // the SAS no longer writes
      await expect(new PageBlobClient(url, new AnonymousCredential()).uploadPages(Buffer.alloc(512, 1), 0, 512)).rejects.toMatchObject({ statusCode: 403 });
      const read = await b.grant(done, 'Read');
      const blob = await download(read.url);
      expect(blob.length).toBe(data.length + 512);
      expect(blob.subarray(0, data.length).equals(data)).toBe(true);
      expect(parseVhdFooter(blob.subarray(data.length), { expectedSizeBytes: data.length }).valid).toBe(true);
      await b.revoke(done);
    } finally {
      e.resumeJobs();
    }
    await e.idle();
    const copied = await e.snapshots.getById(s.uniqueId);
    expect((await e.snapshots.status(copied)).completionPercent).toBe(100);
    // the hidden disk is gone with its head; the snapshot's content is in the chunk store
    expect(await e.ctx.catalog.getDiskById(hidden.uniqueId)).toBeNull();
    expect(e.ctx.volumes.exists(hidden.uniqueId)).toBe(false);
    expect((await e.snapshots.read(copied, 0, data.length)).equals(data)).toBe(true);
    const ranges = await e.snapshots.allocatedRanges(copied);
    const blocks = new Set<number>();
    for (const r of ranges.ranges) for (let x = r.start; x < r.end; x += BLOCK_SIZE) blocks.add(x / BLOCK_SIZE);
    expect([blocks.has(0), blocks.has(Math.floor((5 * MiB + 4096) / BLOCK_SIZE)), blocks.has((12 * MiB) / BLOCK_SIZE)]).toEqual([true, true, false]);
    expect((await e.snapshots.status(copied)).usedBytes).toBeGreaterThan(0);

    // a disk restored from it reads the same bytes
    const { disk } = await e.disks.createOrUpdate({ ...key('up-1-disk'), creationData: { createOption: 'Copy', sourceResourceId: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/snapshots/up-1` } });
    expect(disk.sizeBytes).toBe(data.length);
    const h = await e.disks.open(disk.uniqueId);
    expect((await h.read(0, data.length)).equals(data)).toBe(true);
    await e.idle();
    expect((await (await e.disks.open(disk.uniqueId)).read(0, data.length)).equals(data)).toBe(true);
    // an incremental snapshot cannot be copied from it (it is full); a full copy can
    expect(await err(e.snapshots.createOrUpdate({ ...key('up-1-inc'), incremental: true, creationData: { createOption: 'Copy', sourceResourceId: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/snapshots/up-1` } }))).toMatchObject({ code: 'OperationNotAllowed' });
    await e.disks.deleteRecord(await e.disks.getById(disk.uniqueId));
    await e.snapshots.deleteRecord(copied);
    await e.idle();
  });

  it('a bad footer: endGetAccess refuses (409), the snapshot stays ActiveUpload and the same SAS fixes it', async () => {
    const e = b.t.engine;
    const data = image(20, 2);
    const s = await createForUpload(e, 'up-bad', data.length + 512);
    const { url } = await b.grant(s, 'Write');
    const wrongSize = vhdFooter(data.length - MiB); // a footer of another size
    await uploadVhd(url, data, wrongSize);
    const refused = await err(b.revoke(s));
    expect(refused.code).toBe('OperationNotAllowed');
    expect(refused.message).toMatch(/The upload to snapshot up-bad is not a valid fixed VHD of 20972032 bytes: .*The snapshot stays in ActiveUpload\./);
    const still = await e.snapshots.getById(s.uniqueId);
    expect(still).toMatchObject({ diskState: 'ActiveUpload', point: 0, familyId: '' });
    expect((await e.disks.getById(s.uploadDiskId ?? '')).diskState).toBe('ActiveUpload');
    // a second grant while uploading is another Write SAS of the same upload
    const again = await b.grant(s, 'Write');
    await new PageBlobClient(again.url, new AnonymousCredential()).uploadPages(vhdFooter(data.length), data.length, 512);
    await b.revoke(s);
    await e.idle();
    const done = await e.snapshots.getById(s.uniqueId);
    expect(done.diskState).toBe('Unattached');
    expect((await e.snapshots.read(done, 0, data.length)).equals(data)).toBe(true);
    // revoking again is a no-op; a Write grant now is refused (read-only snapshot)
    await b.revoke(done);
    expect(await err(b.grant(done, 'Write'))).toMatchObject({ code: 'OperationNotAllowed', message: expect.stringMatching(/read-only/) as unknown });
  });

  it('endGetAccess without any upload keeps ReadyToUpload; a snapshot deleted before its upload takes its hidden disk along', async () => {
    const e = b.t.engine;
    const s = await createForUpload(e, 'up-gone', 20 * MiB + 512);
    await b.revoke(s);
    expect((await e.snapshots.getById(s.uniqueId)).diskState).toBe('ReadyToUpload');
    const { url } = await b.grant(s, 'Write');
    await b.revoke(s).catch(() => undefined); // no footer yet: refused, stays ActiveUpload
    expect(await err(e.snapshots.deleteRecord(await e.snapshots.getById(s.uniqueId)))).toMatchObject({ code: 'OperationNotAllowed', message: expect.stringMatching(/ActiveUpload/) as unknown });
    // only a snapshot without an open upload can go: a fresh one
    const t2 = await createForUpload(e, 'up-gone2', 20 * MiB + 512);
    await e.snapshots.deleteRecord(t2);
    expect(await e.ctx.catalog.getDiskById(t2.uploadDiskId ?? '')).toBeNull();
    expect(e.ctx.volumes.exists(t2.uploadDiskId ?? '')).toBe(false);
    expect(await e.snapshots.find(key('up-gone2'))).toBeNull();
    // the first one completes normally (an all-zero image: nothing to copy, the disk goes at once)
    await new PageBlobClient(url, new AnonymousCredential()).uploadPages(vhdFooter(20 * MiB), 20 * MiB, 512);
    await b.revoke(s);
    expect(await e.ctx.catalog.getDiskById(s.uploadDiskId ?? '')).toBeNull();
    const done = await e.snapshots.getById(s.uniqueId);
    expect((await e.snapshots.status(done)).completionPercent).toBe(100);
    expect((await e.snapshots.read(done, 0, 20 * MiB)).every((x) => x === 0)).toBe(true);
  });

  it('the hidden upload disk is in no list and cannot be named; incremental and bad sizes are refused', async () => {
    const e = b.t.engine;
    const s = await createForUpload(e, 'up-hidden', 20 * MiB + 512);
    const hidden = await e.disks.getById(s.uploadDiskId ?? '');
    expect((await e.disks.list({ subscriptionId: SUB })).some((d) => d.uniqueId === hidden.uniqueId)).toBe(false);
    expect((await e.disks.list({ subscriptionId: SUB, resourceGroup: RG })).some((d) => d.uniqueId === hidden.uniqueId)).toBe(false);
    expect(await e.disks.find(hidden)).toBeNull();
    expect((await new EngineNbdBackend(e).list()).some((x) => x.name.includes(hidden.name) || x.name.includes(HIDDEN_UPLOAD_GROUP))).toBe(false);
    // as a source of a disk or a snapshot it does not exist
    expect(await err(e.disks.createOrUpdate({ ...key('from-hidden'), creationData: { createOption: 'Copy', sourceResourceId: diskId(hidden) } }))).toMatchObject({ code: 'ResourceNotFound' });
    expect(await err(e.snapshots.createOrUpdate({ ...key('from-hidden-s'), creationData: { createOption: 'Copy', sourceResourceId: diskId(hidden) } }))).toMatchObject({ code: 'ResourceNotFound' });
    expect(await err(e.disks.get(hidden))).toMatchObject({ code: 'ResourceGroupNotFound' });
    // usage bills the snapshot only
    const rows = await e.usage.daily(SUB, new Date(), new Date());
    expect(rows.some((r) => r.resourceId.includes(HIDDEN_UPLOAD_GROUP))).toBe(false);
    expect(rows.find((r) => r.resourceName === 'up-hidden')).toMatchObject({ usedBytes: 0, incremental: false });

    expect(await err(e.snapshots.createOrUpdate({ ...key('up-inc'), incremental: true, creationData: { createOption: 'Upload', uploadSizeBytes: 20 * MiB + 512 } }))).toMatchObject({ code: 'InvalidParameter', target: 'properties.incremental' });
    for (const size of [20 * MiB, 20 * MiB + 512 - MiB, 32 * 1024 * GiB + 512 + MiB, 21 * MiB + 1024]) {
      expect(await err(createForUpload(e, 'up-size', size)), String(size)).toMatchObject({ code: 'InvalidParameter', target: 'properties.creationData.uploadSizeBytes' });
    }
    expect(await e.snapshots.find(key('up-inc'))).toBeNull();
    expect(await e.snapshots.find(key('up-size'))).toBeNull();
    expect((await e.ctx.catalog.listDisks({})).filter((d) => d.uploadFor).map((d) => d.uploadFor)).toEqual([s.uniqueId]);
    await e.snapshots.deleteRecord(s);
  });
});

describe('snapshot upload: restarts', () => {
  let b: BlobServer;
  beforeAll(async () => {
    b = await startBlobServer();
  });
  afterAll(async () => {
    await b.close();
  });

  it('a restart before the copy started and one in the middle of it: the copy resumes, the hidden disk goes, the bytes are exact', async () => {
    const size = 96 * MiB; // six copy batches
    const data = prng(5)(size);
    let e = b.t.engine;
    const s = await createForUpload(e, 'up-restart', size + 512);
    const { url } = await b.grant(s, 'Write');
    await uploadVhd(url, data);
    e.pauseJobs();
    await b.revoke(s);
    const done = await e.snapshots.getById(s.uniqueId);
    const hidden = await e.disks.getById(s.uploadDiskId ?? '');
    const fam = hidden.familyId ?? '';
    expect((await e.ctx.catalog.getPoint(fam, 1))?.state).toBe('copying');
    await b.restart();
    e = b.t.engine;
    // resumed at once; stop it again part of the way through
    await until(async () => ((await e.ctx.catalog.getPoint(fam, 1))?.copiedBlocks ?? 0) > 0);
    await b.restart();
    e = b.t.engine;
    const mid = await e.ctx.catalog.getPoint(fam, 1);
    expect(mid?.state).toBe('copying');
    expect(mid?.copiedBlocks).toBeGreaterThan(0);
    expect(mid?.copiedBlocks).toBeLessThan(mid?.frozenBlocks ?? 0);
    const pct = (await e.snapshots.status(done)).completionPercent;
    expect(pct).toBeGreaterThan(0);
    expect(pct).toBeLessThan(100);
    // readable while copying, across the restarts
    expect((await e.snapshots.read(done, 0, size)).equals(data)).toBe(true);
    await e.idle();
    await until(async () => (await e.ctx.catalog.getDiskById(hidden.uniqueId)) === null);
    expect((await e.snapshots.status(done)).completionPercent).toBe(100);
    expect(e.ctx.volumes.exists(hidden.uniqueId)).toBe(false);
    expect((await e.snapshots.read(done, 0, size)).equals(data)).toBe(true);
    // the hidden point stays as the base of the snapshot's own family; its disk's family forgot the disk
    expect((await e.ctx.catalog.getFamily(fam))?.diskId).toBeNull();
    await e.snapshots.deleteRecord(done);
    expect(await e.ctx.catalog.getFamily(fam)).toBeNull();
  });

  it('a stop between the footer check and the point: the start-up completes the snapshot', async () => {
    const data = image(20, 9);
    let e = b.t.engine;
    const s = await createForUpload(e, 'up-crash', data.length + 512);
    const { url } = await b.grant(s, 'Write');
    await uploadVhd(url, data);
    // what the footer check leaves behind, without the transaction that follows it
    const hidden = await e.disks.getById(s.uploadDiskId ?? '');
    await e.ctx.catalog.updateDisk({ ...hidden, diskState: 'Unattached', sizeBytes: data.length });
    await e.ctx.catalog.revokeGrants(hidden.uniqueId, new Date());
    await b.restart();
    e = b.t.engine;
    const done = await e.snapshots.getById(s.uniqueId);
    expect(done).toMatchObject({ diskState: 'Unattached', point: 1 });
    await e.idle();
    await until(async () => (await e.ctx.catalog.getDiskById(hidden.uniqueId)) === null);
    expect((await e.snapshots.read(done, 0, data.length)).equals(data)).toBe(true);
  });
});

describe('snapshot upload: ARM (@azure/arm-compute)', () => {
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

  /** The accessSAS on the plain-HTTP port (the SDK here has no way to trust the test CA). */
  const plain = (sas: string): string => {
    const u = new URL(sas);
    u.protocol = 'http:';
    u.port = String(t.server.httpPort);
    return u.toString();
  };

  it('create for upload, Write SAS, Put Page, revoke; the disk behind it never shows', async () => {
    const data = image(20, 3);
    const upload = data.length + 512;
    const created = await c.snapshots.createOrUpdate('rg1', 'arm-up', { location: 'eastus', sku: { name: 'Standard_LRS' }, creationData: { createOption: 'Upload', uploadSizeBytes: upload } }, POLL);
    expect(created).toMatchObject({ diskState: 'ReadyToUpload', diskSizeBytes: data.length, diskSizeGB: 1, incremental: false, provisioningState: 'Succeeded', creationData: { createOption: 'Upload', uploadSizeBytes: upload } });
    expect(created.incrementalSnapshotFamilyId).toBeUndefined();
    await expect(c.snapshots.grantAccess('rg1', 'arm-up', { access: 'Read', durationInSeconds: 600 }, POLL)).rejects.toMatchObject({ statusCode: 409, code: 'OperationNotAllowed' });
    const sas = await c.snapshots.grantAccess('rg1', 'arm-up', { access: 'Write', durationInSeconds: 600 }, POLL);
    expect(new URL(String(sas.accessSAS)).searchParams.get('sp')).toBe('rw');
    expect((await c.snapshots.get('rg1', 'arm-up')).diskState).toBe('ActiveUpload');
    await expect(c.snapshots.revokeAccess('rg1', 'arm-up', POLL)).rejects.toMatchObject({ statusCode: 409, code: 'OperationNotAllowed' });
    await uploadVhd(plain(String(sas.accessSAS)), data);
    // the disk receiving the upload: in no list, not found by its id either
    const listed = async (): Promise<string[]> => {
      const ids: string[] = [];
      for await (const d of c.disks.list()) ids.push(String(d.id));
      for await (const d of c.disks.listByResourceGroup('rg1')) ids.push(String(d.id));
      return ids;
    };
    const hidden = await t.server.engine.disks.getById(String((await t.server.engine.snapshots.find({ subscriptionId: t.sub, resourceGroup: 'rg1', name: 'arm-up' }))?.uploadDiskId));
    expect(hidden.diskState).toBe('ActiveUpload');
    expect(await listed()).toEqual([]);
    const byId = await t.arm('GET', `/subscriptions/${t.sub}/resourceGroups/${encodeURIComponent(HIDDEN_UPLOAD_GROUP)}/providers/Microsoft.Compute/disks/${hidden.name}`);
    expect(byId.status).toBe(404);
    await c.snapshots.revokeAccess('rg1', 'arm-up', POLL);
    const done = await c.snapshots.get('rg1', 'arm-up');
    expect(done).toMatchObject({ diskState: 'Unattached', diskSizeBytes: data.length, incremental: false });
    expect(await listed()).toEqual([]);
    await t.server.engine.idle();
    expect((await c.snapshots.get('rg1', 'arm-up')).completionPercent).toBe(100);
    const read = await c.snapshots.grantAccess('rg1', 'arm-up', { access: 'Read', durationInSeconds: 600 }, POLL);
    expect((await download(plain(String(read.accessSAS)), 0, data.length)).equals(data)).toBe(true);
    await c.snapshots.revokeAccess('rg1', 'arm-up', POLL);
    const restored = await c.disks.createOrUpdate('rg1', 'arm-up-disk', { location: 'eastus', creationData: { createOption: 'Copy', sourceResourceId: done.id } }, POLL);
    expect(restored).toMatchObject({ diskSizeBytes: data.length, creationData: { createOption: 'Copy', sourceResourceId: done.id } });
    expect((await (await t.server.engine.disks.open(String(restored.uniqueId))).read(0, data.length)).equals(data)).toBe(true);
  });

  it('sizes out of range and incremental: 400 with target; az 2.45 (diskSizeGB, no uploadSizeBytes) gets diskSizeGB GiB + 512', async () => {
    const put = (name: string, properties: Record<string, unknown>) =>
      t.arm('PUT', `/subscriptions/${t.sub}/resourceGroups/rg1/providers/Microsoft.Compute/snapshots/${name}?api-version=2025-01-02`, { location: 'eastus', sku: { name: 'Standard_LRS' }, properties });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ creationData: { createOption: 'Upload', uploadSizeBytes: 20 * MiB } }, 'properties.creationData.uploadSizeBytes'],
      [{ creationData: { createOption: 'Upload', uploadSizeBytes: 19 * MiB + 512 } }, 'properties.creationData.uploadSizeBytes'],
      [{ creationData: { createOption: 'Upload', uploadSizeBytes: 32 * 1024 * GiB + MiB + 512 } }, 'properties.creationData.uploadSizeBytes'],
      [{ creationData: { createOption: 'Upload', uploadSizeBytes: 20 * MiB + 1024 } }, 'properties.creationData.uploadSizeBytes'],
      [{ creationData: { createOption: 'Upload' } }, 'properties.creationData.uploadSizeBytes'],
      [{ creationData: { createOption: 'Upload' }, diskSizeGB: 32769 }, 'properties.diskSizeGB'],
      [{ creationData: { createOption: 'Upload', uploadSizeBytes: 20 * MiB + 512 }, incremental: true }, 'properties.incremental'],
    ];
    for (const [properties, target] of cases) {
      const res = await put('arm-bad', properties);
      expect(res.status, JSON.stringify(properties)).toBe(400);
      expect(res.json(), JSON.stringify(properties)).toMatchObject({ error: { code: 'InvalidParameter', target } });
    }
    expect((await t.arm('GET', `/subscriptions/${t.sub}/resourceGroups/rg1/providers/Microsoft.Compute/snapshots/arm-bad`)).status).toBe(404);
    const az = await c.snapshots.createOrUpdate('rg1', 'arm-az', { location: 'eastus', sku: { name: 'Standard_LRS' }, creationData: { createOption: 'Upload' }, diskSizeGB: 1 }, POLL);
    expect(az).toMatchObject({ diskState: 'ReadyToUpload', diskSizeBytes: GiB, diskSizeGB: 1, creationData: { createOption: 'Upload', uploadSizeBytes: GiB + 512 } });
    // the same PUT again changes nothing
    const again = await c.snapshots.createOrUpdate('rg1', 'arm-az', { location: 'eastus', sku: { name: 'Standard_LRS' }, creationData: { createOption: 'Upload' }, diskSizeGB: 1 }, POLL);
    expect(again.uniqueId).toBe(az.uniqueId);
    await c.snapshots.delete('rg1', 'arm-az', POLL);
    expect(isSnapdiskError(await err(t.server.engine.snapshots.get({ subscriptionId: t.sub, resourceGroup: 'rg1', name: 'arm-az' })), 'ResourceNotFound')).toBe(true);
    expect((await t.server.engine.ctx.catalog.listDisks({})).filter((d) => d.uploadFor && d.uploadFor === az.uniqueId)).toEqual([]);
  });
});
