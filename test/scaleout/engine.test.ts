/**
 * The whole engine on the scale-out backends, wired by config.json exactly as an operator would:
 * PostgreSQL catalog, eastus zones on Ceph radosgw (S3) buckets and Azurite (Azure Blob), westus on
 * the filesystem. Snapshots, restore, diff, a cross-region copy and verify must behave as on the
 * embedded default. Skipped unless `npm run test:scaleout` started the servers.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEngine } from '../../src/app.js';
import { createTestDatabase, type TestDatabase } from '../../src/catalog/postgres/test-database.js';
import { parseConfig } from '../../src/config/config.js';
import { MiB } from '../../src/core/units.js';
import type { Engine } from '../../src/engine/engine.js';

const pgUrl = process.env.SNAPDISK_TEST_POSTGRES_URL;
const s3 = process.env.SNAPDISK_TEST_S3_ENDPOINT;
const azure = process.env.SNAPDISK_TEST_AZURE_BLOB_URL;
const skip = !pgUrl || !s3 || !azure;
const SUB = '00000000-0000-4000-8000-0000000000c1';

describe.skipIf(skip)('engine on PostgreSQL + Ceph (S3) + Azurite', () => {
  let db: TestDatabase;
  let dir: string;
  let engine: Engine;
  const tag = Math.random().toString(36).slice(2, 8);

  beforeAll(async () => {
    db = await createTestDatabase(pgUrl ?? '', 'engine');
    dir = mkdtempSync(join(tmpdir(), 'snapdisk-scaleout-engine-'));
    const s3zone = (bucket: string) => ({
      kind: 's3', endpoint: s3, bucket, createBucket: true,
      accessKeyId: process.env.SNAPDISK_TEST_S3_KEY ?? 'test', secretAccessKey: process.env.SNAPDISK_TEST_S3_SECRET ?? 'test',
    });
    const config = parseConfig({
      catalog: { kind: 'postgres', url: db.url },
      regions: {
        eastus: {
          zones: ['1', '2', '3'],
          chunkStores: {
            '1': s3zone(`sd-${tag}-z1`),
            '2': s3zone(`sd-${tag}-z2`),
            '3': { kind: 'azure', url: azure, container: `sd-${tag}-z3`, createContainer: true, accountName: 'devstoreaccount1', accountKey: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==' },
          },
        },
        westus: { zones: [] },
      },
      limits: { incrementalSnapshotsPerDiskPer5Minutes: 100 },
    });
    engine = (await openEngine({ dataDir: dir, config })).engine;
    await engine.resources.ensureSubscription({ subscriptionId: SUB, displayName: 'scale-out', tenantId: 't', state: 'Enabled' });
    await engine.resources.putGroup(SUB, 'rg', 'eastus');
    await engine.resources.putGroup(SUB, 'west', 'westus');
  }, 120_000);

  afterAll(async () => {
    await engine?.close();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('snapshots, restores, diffs, copies across regions and verifies', async () => {
    const { disk } = await engine.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name: 'd', sizeGb: 1, creationData: { createOption: 'Empty' } });
    const h = await engine.disks.open(disk.uniqueId);
    const a = Buffer.alloc(4 * MiB, 1);
    a.write('first', 0);
    await h.write(0, a);
    const id = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/d`;
    const snap = async (name: string) =>
      (await engine.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: 'rg', name, incremental: true, creationData: { createOption: 'Copy', sourceResourceId: id } })).snapshot;
    const s1 = await snap('s1');
    await h.write(2 * MiB, Buffer.alloc(65536, 7));
    const s2 = await snap('s2');
    await engine.idle();
    expect((await engine.snapshots.read(s1, 0, 4 * MiB)).equals(a)).toBe(true);
    const d = await engine.snapshots.diff(s2, s1);
    expect(d.ranges).toEqual([{ start: 2 * MiB, end: 2 * MiB + 65536, clear: false }]);
    const { disk: r } = await engine.disks.createOrUpdate({
      subscriptionId: SUB, resourceGroup: 'rg', name: 'r',
      creationData: { createOption: 'Copy', sourceResourceId: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/snapshots/s2` },
    });
    await engine.idle();
    expect((await (await engine.disks.open(r.uniqueId)).read(0, 4 * MiB)).equals(await h.read(0, 4 * MiB))).toBe(true);
    const { snapshot: w } = await engine.snapshots.createOrUpdate({
      subscriptionId: SUB, resourceGroup: 'west', name: 'w', location: 'westus',
      creationData: { createOption: 'CopyStart', sourceResourceId: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/snapshots/s2` },
    });
    await engine.idle();
    expect((await engine.snapshots.read(await engine.snapshots.getById(w.uniqueId), 0, 4 * MiB)).equals(await h.read(0, 4 * MiB))).toBe(true);
    const reports = await engine.verifier.all();
    expect(reports.every((x) => x.ok)).toBe(true);
    expect(reports.find((x) => x.region === 'eastus')?.chunksChecked).toBeGreaterThan(0);
  }, 300_000);
});
