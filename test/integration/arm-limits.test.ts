/**
 * Every rule and limit of DESIGN §4 as a client sees it: 409 OperationNotAllowed naming the limit
 * (429 + Retry-After for the 7-per-5-minutes rate), 400 with `target` for refused input, 403/404
 * for subscriptions the caller may not use, and nothing created by a refused request.
 */
import type { ComputeManagementClient } from '@azure/arm-compute';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POLL, startArm } from './arm-harness.js';
import type { ArmTest } from './arm-harness.js';

let t: ArmTest;
let c: ComputeManagementClient;

const emptyDisk = (size = 1, sku = 'Standard_LRS') => ({ location: 'eastus', sku: { name: sku }, properties: { creationData: { createOption: 'Empty' }, diskSizeGB: size } });
const incrementalOf = (diskId: string, extra: Record<string, unknown> = {}) => ({
  location: 'eastus',
  properties: { creationData: { createOption: 'Copy', sourceResourceId: diskId }, incremental: true },
  ...extra,
});

beforeAll(async () => {
  t = await startArm();
  c = t.compute();
  await t.group('rg1');
  await t.group('rg2', 'eastus', t.sub2);
});
afterAll(async () => {
  await t.close();
});

function path(kind: 'disks' | 'snapshots', name: string, sub = t.sub, rg = 'rg1'): string {
  return `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/${kind}/${name}`;
}

async function mkDisk(name: string): Promise<string> {
  const res = await t.arm('PUT', path('disks', name), emptyDisk());
  expect(res.status).toBe(202);
  return path('disks', name);
}

describe('rate and count limits', () => {
  it('20 parallel incremental snapshot PUTs on one disk: exactly 7 accepted, 13 refused with 429 + Retry-After', async () => {
    const disk = await mkDisk('rate');
    const snapshots = Array.from({ length: 20 }, (_, i) => path('snapshots', `rate-${i}`, t.sub, 'rg2x'));
    await t.group('rg2x');
    const results = await Promise.all(snapshots.map((p) => t.arm('PUT', p, incrementalOf(disk))));
    const ok = results.filter((r) => r.status === 202);
    const refused = results.filter((r) => r.status === 429);
    expect([ok.length, refused.length]).toEqual([7, 13]);
    for (const r of refused) {
      const seconds = Number(r.headers['retry-after']);
      expect(seconds).toBeGreaterThan(0);
      expect(seconds).toBeLessThanOrEqual(300);
      const body = r.json() as { error: { code: string; message: string; details: { code: string }[] } };
      expect(body.error.code).toBe('OperationNotAllowed');
      expect(body.error.message).toContain('incrementalSnapshotsPerDiskPer5Minutes');
      expect(body.error.details[0]?.code).toBe('TooManyRequests');
    }
    const listed = (await t.arm('GET', `/subscriptions/${t.sub}/resourceGroups/rg2x/providers/Microsoft.Compute/snapshots`)).json() as { value: unknown[] };
    expect(listed.value).toHaveLength(7);
    await expect(
      c.snapshots.createOrUpdate('rg2x', 'rate-sdk', { location: 'eastus', creationData: { createOption: 'Copy', sourceResourceId: disk }, incremental: true }, POLL),
    ).rejects.toMatchObject({ statusCode: 429, code: 'OperationNotAllowed' });
  });

  it('incrementalSnapshotsPerDisk (lowered to 3 in config): the 4th is 409 naming the limit; deleting one makes room', async () => {
    const small = await startArm({ limits: { incrementalSnapshotsPerDisk: 3 } });
    try {
      await small.group('rg1');
      const p = (kind: 'disks' | 'snapshots', n: string) => `/subscriptions/${small.sub}/resourceGroups/rg1/providers/Microsoft.Compute/${kind}/${n}`;
      expect((await small.arm('PUT', p('disks', 'count'), emptyDisk())).status).toBe(202);
      const disk = p('disks', 'count');
      for (const n of ['c1', 'c2', 'c3']) expect((await small.arm('PUT', p('snapshots', n), incrementalOf(disk))).status).toBe(202);
      const fourth = await small.arm('PUT', p('snapshots', 'c4'), incrementalOf(disk));
      expect(fourth.status).toBe(409);
      expect(fourth.json()).toMatchObject({ error: { code: 'OperationNotAllowed', message: expect.stringContaining('incrementalSnapshotsPerDisk') } });
      expect((await small.arm('GET', p('snapshots', 'c4'))).status).toBe(404);
      expect((await small.arm('DELETE', p('snapshots', 'c1'))).status).toBe(202);
      expect((await small.arm('PUT', p('snapshots', 'c4'), incrementalOf(disk))).status).toBe(202);
    } finally {
      await small.close();
    }
  });

  it('activeSasPerSnapshotFamily: SAS on 5 snapshots of a family, the 6th is 409 until one is revoked', async () => {
    const names = ['f1', 'f2', 'f3', 'f4', 'f5', 'f6'];
    await mkDisk('fam');
    // three snapshots of the disk, and three incremental copies of them in rg2x (same family)
    for (const [i, n] of names.entries()) {
      const source = i < 3 ? path('disks', 'fam') : path('snapshots', names[i - 3] ?? '');
      expect((await t.arm('PUT', path('snapshots', n, t.sub, i < 3 ? 'rg1' : 'rg2x'), incrementalOf(source))).status).toBe(202);
    }
    const grant = (n: string, i: number) => c.snapshots.grantAccess(i < 3 ? 'rg1' : 'rg2x', n, { access: 'Read', durationInSeconds: 600 }, POLL);
    for (const [i, n] of names.slice(0, 5).entries()) await grant(n, i);
    await expect(grant('f6', 5)).rejects.toMatchObject({ statusCode: 409, code: 'OperationNotAllowed', message: expect.stringContaining('activeSasPerSnapshotFamily') });
    expect((await c.snapshots.get('rg2x', 'f6')).diskState).toBe('Unattached');
    await c.snapshots.revokeAccess('rg1', 'f1', POLL);
    expect((await grant('f6', 5)).accessSAS).toContain('/abcd?');
  });

  it('maxSasDurationSeconds: a longer grant is 409 naming the limit', async () => {
    await mkDisk('long');
    await expect(c.disks.grantAccess('rg1', 'long', { access: 'Read', durationInSeconds: 5_184_001 }, POLL)).rejects.toMatchObject({
      statusCode: 409,
      code: 'OperationNotAllowed',
      message: expect.stringContaining('maxSasDurationSeconds'),
    });
    expect((await c.disks.get('rg1', 'long')).diskState).toBe('Unattached');
  });
});

describe('rules of incremental snapshots', () => {
  it('incremental snapshot with a premium sku: 400 with target sku.name, nothing created', async () => {
    const disk = await mkDisk('prem');
    const res = await t.arm('PUT', path('snapshots', 'prem-snap'), incrementalOf(disk, { sku: { name: 'Premium_LRS' } }));
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'InvalidParameter', target: 'sku.name', message: expect.stringContaining('standard storage') } });
    expect((await t.arm('GET', path('snapshots', 'prem-snap'))).status).toBe(404);
    const full = await t.arm('PUT', path('snapshots', 'prem-full'), { location: 'eastus', sku: { name: 'Premium_LRS' }, properties: { creationData: { createOption: 'Copy', sourceResourceId: disk } } });
    expect(full.status).toBe(202);
  });

  it('an incremental snapshot outside the disk subscription is refused (400 with target), nothing created', async () => {
    const disk = await mkDisk('xsub');
    const res = await t.arm('PUT', path('snapshots', 'xsub-snap', t.sub2, 'rg2'), incrementalOf(disk));
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'InvalidParameter', target: 'properties.creationData.sourceResourceId', message: expect.stringContaining('subscription') } });
    expect((await t.arm('GET', path('snapshots', 'xsub-snap', t.sub2, 'rg2'))).status).toBe(404);
    const fullCopy = await t.arm('PUT', path('snapshots', 'xsub-full', t.sub2, 'rg2'), { location: 'eastus', properties: { creationData: { createOption: 'Copy', sourceResourceId: disk } } });
    expect(fullCopy.status).toBe(202);
  });

  it('unknown source: 404 ResourceNotFound naming it, with target', async () => {
    const res = await t.arm('PUT', path('snapshots', 'nosrc'), incrementalOf(path('disks', 'ghost')));
    expect(res.status).toBe(404);
    expect(res.json()).toMatchObject({ error: { code: 'ResourceNotFound', target: 'properties.creationData.sourceResourceId', message: expect.stringContaining('disks/ghost') } });
  });

  it('4096-byte sectors: only Ultra/PremiumV2 disks take them; their snapshots restore only to those', async () => {
    const bad = await t.arm('PUT', path('disks', 'sector'), { location: 'eastus', sku: { name: 'Standard_LRS' }, properties: { creationData: { createOption: 'Empty', logicalSectorSize: 4096 }, diskSizeGB: 1 } });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ error: { target: 'properties.creationData.logicalSectorSize' } });
    const ultra = await t.arm('PUT', path('disks', 'ultra'), { location: 'eastus', sku: { name: 'PremiumV2_LRS' }, properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 } });
    expect(ultra.json()).toMatchObject({ properties: { creationData: { logicalSectorSize: 4096 } } });
    await t.arm('PUT', path('snapshots', 'ultra-snap'), incrementalOf(path('disks', 'ultra')));
    await t.server.engine.idle();
    const shown = await c.snapshots.get('rg1', 'ultra-snap');
    expect(shown.creationData?.logicalSectorSize).toBe(4096);
    const restore = await t.arm('PUT', path('disks', 'ultra-std'), { location: 'eastus', sku: { name: 'Standard_LRS' }, properties: { creationData: { createOption: 'Copy', sourceResourceId: path('snapshots', 'ultra-snap') } } });
    expect(restore.status).toBe(409);
    expect(restore.json()).toMatchObject({ error: { code: 'OperationNotAllowed', message: expect.stringContaining('4096') } });
  });
});

describe('authentication and authorization', () => {
  it('restricted principal: 403 AuthorizationFailed on the development subscription, its own one works', async () => {
    const restricted = t.compute(t.sub, 'restricted');
    await expect(restricted.disks.get('rg1', 'prem')).rejects.toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
    const own = t.compute(t.sub2, 'restricted');
    const d = await own.disks.createOrUpdate('rg2', 'mine', { location: 'eastus', creationData: { createOption: 'Empty' }, diskSizeGB: 1 }, POLL);
    expect(d.diskState).toBe('Unattached');
    const subs = (await t.arm('GET', '/subscriptions?api-version=2019-11-01', undefined, 'restricted')).json() as { value: { subscriptionId: string }[] };
    expect(subs.value.map((s) => s.subscriptionId)).toEqual([t.sub2]);
  });

  it('a source in a subscription the caller may not use: 403, nothing created', async () => {
    const res = await t.arm('PUT', path('disks', 'stolen', t.sub2, 'rg2'), {
      location: 'eastus',
      properties: { creationData: { createOption: 'Copy', sourceResourceId: path('disks', 'prem') } },
    }, 'restricted');
    expect(res.status).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: 'AuthorizationFailed' } });
    expect((await t.arm('GET', path('disks', 'stolen', t.sub2, 'rg2'))).status).toBe(404);
  });

  it('no token: 401 with a challenge; unknown subscription: 404 SubscriptionNotFound', async () => {
    const res = await t.arm('GET', path('disks', 'prem'), undefined, null);
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ error: { code: 'AuthenticationFailed' } });
    expect(String(res.headers['www-authenticate'])).toMatch(/^Bearer authorization_uri=/);
    const unknown = await t.arm('GET', path('disks', 'prem', '11111111-2222-3333-4444-555555555555'));
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({ error: { code: 'SubscriptionNotFound' } });
  });
});

describe('Ultra Disks and Premium SSD v2 over ARM', () => {
  const ultraDisk = (size = 1) => ({ location: 'eastus', sku: { name: 'UltraSSD_LRS' }, properties: { creationData: { createOption: 'Empty' }, diskSizeGB: size } });
  const restoreOf = (snapshotId: string) => ({ location: 'eastus', sku: { name: 'UltraSSD_LRS' }, properties: { creationData: { createOption: 'Copy', sourceResourceId: snapshotId } } });
  type Shown = { properties: { provisioningState: string; completionPercent: number; copyCompletionError?: { errorCode: string } } };

  async function ultraWithData(name: string): Promise<{ id: string; write: (block: number) => Promise<void> }> {
    expect((await t.arm('PUT', path('disks', name), ultraDisk())).status).toBe(202);
    const disk = await t.server.engine.disks.find({ subscriptionId: t.sub, resourceGroup: 'rg1', name });
    const h = await t.server.engine.disks.open(disk?.uniqueId ?? '');
    const write = async (block: number) => {
      await h.write(block * 65536, Buffer.alloc(65536, block + 1));
      await h.flush();
    };
    return { id: path('disks', name), write };
  }

  it('6 concurrent restores from one Ultra snapshot: exactly 5 accepted, the 6th is 409 naming concurrentDiskCreationsPerSnapshot; none is created by the refused one', async () => {
    const d = await ultraWithData('u-src');
    await d.write(0);
    expect((await t.arm('PUT', path('snapshots', 'u-snap'), incrementalOf(d.id))).status).toBe(202);
    await t.server.engine.idle();
    t.server.engine.pauseJobs(); // the restored disks stay hydrating
    try {
      const names = Array.from({ length: 6 }, (_, i) => `u-restore-${i}`);
      const results = await Promise.all(names.map((n) => t.arm('PUT', path('disks', n), restoreOf(path('snapshots', 'u-snap')))));
      expect(results.map((r) => r.status).sort()).toEqual([202, 202, 202, 202, 202, 409]);
      const refused = results.find((r) => r.status === 409);
      expect(refused?.json()).toMatchObject({ error: { code: 'OperationNotAllowed', message: expect.stringContaining('concurrentDiskCreationsPerSnapshot') } });
      const created = await Promise.all(names.map(async (n) => (await t.arm('GET', path('disks', n))).status));
      expect(created.filter((s) => s === 200)).toHaveLength(5);
      // a restored Ultra disk still hydrating cannot be snapshotted
      const hydrating = names[results.findIndex((r) => r.status === 202)] ?? '';
      const early = await t.arm('PUT', path('snapshots', 'u-too-early'), incrementalOf(path('disks', hydrating)));
      expect(early.status).toBe(409);
      expect(early.json()).toMatchObject({ error: { code: 'OperationNotAllowed', message: expect.stringContaining('completionPercent') } });
      expect((await t.arm('GET', path('snapshots', 'u-too-early'))).status).toBe(404);
    } finally {
      t.server.engine.resumeJobs();
    }
    await t.server.engine.idle();
    expect((await t.arm('PUT', path('disks', 'u-restore-6'), restoreOf(path('snapshots', 'u-snap')))).status).toBe(202);
  });

  it('3 snapshots in background copy at most; growing the disk fails them; a failed snapshot restores nothing and gets no SAS', async () => {
    const d = await ultraWithData('u-pend');
    t.server.engine.pauseJobs();
    try {
      for (let i = 0; i < 3; i++) {
        await d.write(i);
        expect((await t.arm('PUT', path('snapshots', `u-pend-${i}`), incrementalOf(d.id))).status).toBe(202);
      }
      await d.write(3);
      const fourth = await t.arm('PUT', path('snapshots', 'u-pend-3'), incrementalOf(d.id));
      expect(fourth.status).toBe(409);
      expect(fourth.json()).toMatchObject({ error: { code: 'OperationNotAllowed', message: expect.stringContaining('pendingSnapshotsPerDiskDuringBackgroundCopy') } });
      const grown = await c.disks.update('rg1', 'u-pend', { diskSizeGB: 2 }, POLL);
      expect(grown.diskSizeGB).toBe(2);
      for (let i = 0; i < 3; i++) {
        const shown = (await t.arm('GET', path('snapshots', `u-pend-${i}`))).json() as Shown;
        expect(shown.properties.provisioningState).toBe('Failed');
        expect(shown.properties.copyCompletionError?.errorCode).toBe('DiskResizedDuringCopy');
      }
    } finally {
      t.server.engine.resumeJobs();
    }
    await t.server.engine.idle();
    const restore = await t.arm('PUT', path('disks', 'u-from-failed'), restoreOf(path('snapshots', 'u-pend-0')));
    expect(restore.status).toBe(409);
    expect(restore.json()).toMatchObject({ error: { code: 'OperationNotAllowed', message: expect.stringContaining('DiskResizedDuringCopy') } });
    expect((await t.arm('GET', path('disks', 'u-from-failed'))).status).toBe(404);
    await expect(c.snapshots.grantAccess('rg1', 'u-pend-0', { access: 'Read', durationInSeconds: 60 }, POLL)).rejects.toMatchObject({
      statusCode: 409,
      message: expect.stringContaining('failed'),
    });
    // the changes of the failed snapshots went to the next one
    expect((await t.arm('PUT', path('snapshots', 'u-pend-after'), incrementalOf(d.id))).status).toBe(202);
    await t.server.engine.idle();
    const after = (await t.arm('GET', path('snapshots', 'u-pend-after'))).json() as Shown;
    expect(after.properties).toMatchObject({ provisioningState: 'Succeeded', completionPercent: 100 });
  });

  it('a limit refusal is a synchronous 409/429 even while the disk lock is held longer than the request waits', async () => {
    const slow = await startArm({ syncWaitMs: 200 });
    try {
      await slow.group('rg1');
      const p = (kind: 'disks' | 'snapshots', n: string) => `/subscriptions/${slow.sub}/resourceGroups/rg1/providers/Microsoft.Compute/${kind}/${n}`;
      expect((await slow.arm('PUT', p('disks', 'busy'), emptyDisk())).status).toBe(202);
      for (let i = 0; i < 7; i++) expect((await slow.arm('PUT', p('snapshots', `b${i}`), incrementalOf(p('disks', 'busy')))).status).toBe(202);
      const disk = await slow.server.engine.disks.find({ subscriptionId: slow.sub, resourceGroup: 'rg1', name: 'busy' });
      // something else holds the disk's lock for a second (a long freeze, a queue of writers)
      const locks = slow.server.engine.points['diskLocks'];
      const held = locks.run(disk?.uniqueId ?? '', () => new Promise((r) => setTimeout(r, 1000)));
      const started = Date.now();
      const eighth = await slow.arm('PUT', p('snapshots', 'b7'), incrementalOf(p('disks', 'busy')));
      expect(Date.now() - started).toBeLessThan(900);
      expect(eighth.status).toBe(429);
      expect(eighth.json()).toMatchObject({ error: { code: 'OperationNotAllowed', message: expect.stringContaining('incrementalSnapshotsPerDiskPer5Minutes') } });
      await held;
      expect((await slow.arm('GET', p('snapshots', 'b7'))).status).toBe(404);
    } finally {
      await slow.close();
    }
  });
});
