/**
 * Per-node memory on the scale-out backends, in a process of its own (vitest runs each file in a
 * fresh worker): one engine over PostgreSQL + Ceph S3 (3 zones), 10 attached 1 TiB disks with
 * 16 MiB written each, one snapshot of each copied, every snapshot read back. Reports RSS before
 * the engine, after, and the difference (the node's own footprint is the difference plus the
 * Node.js baseline). Skipped without the servers.
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { openPostgresCatalog } from '../../src/catalog/postgres/postgres-catalog.js';
import { createTestDatabase, POSTGRES_URL_ENV } from '../../src/catalog/postgres/test-database.js';
import { PackedChunkStore } from '../../src/chunks/packed-chunk-store.js';
import { S3BlobStore } from '../../src/chunks/s3/s3-blob-store.js';
import { retry } from '../../src/chunks/wrap/retry.js';
import { defaultConfig } from '../../src/config/config.js';
import type { ChunkStore } from '../../src/core/ports.js';
import { systemClock } from '../../src/core/ports.js';
import { MiB } from '../../src/core/units.js';
import { Engine } from '../../src/engine/engine.js';
import { FileVolumeStore } from '../../src/volumes/file/file-volume-store.js';
import { createDisk, prng, RG, snapshot, SUB } from '../helpers/engine.js';

const pgUrl = process.env[POSTGRES_URL_ENV];
const s3 = process.env.SNAPDISK_TEST_S3_ENDPOINT;
const skip = pgUrl && s3 ? null : `SKIPPED: needs ${POSTGRES_URL_ENV} and SNAPDISK_TEST_S3_ENDPOINT (run \`npm run test:scaleout\`)`;
if (skip) console.warn(`scale-out memory: ${skip}`);

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
}, 120_000);

const rss = (): number => Math.round(process.memoryUsage().rss / MiB);

describe.skipIf(skip !== null)(`scale-out memory ${skip ?? ''}`, () => {
  it('one node, 10 then 40 attached 1 TiB disks on postgres + s3: RSS', async () => {
    const before = rss();
    const db = await createTestDatabase(pgUrl ?? '', 'memory');
    cleanups.push(() => db.drop());
    const dir = mkdtempSync(join(tmpdir(), 'sd-mem-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const catalog = await openPostgresCatalog(db.url, { poolSize: 10 });
    const tag = randomBytes(4).toString('hex');
    const zones = await Promise.all(
      ['1', '2', '3'].map(async (z) =>
        new S3BlobStore({ endpoint: s3 ?? '', bucket: `sd-mem-${tag}-z${z}`, accessKeyId: 'test', secretAccessKey: 'test', createBucket: true }).init(),
      ),
    );
    cleanups.push(async () => {
      for (const z of zones) {
        const cleaner = new S3BlobStore({ endpoint: s3 ?? '', bucket: z.bucket, accessKeyId: 'test', secretAccessKey: 'test' });
        const keys: string[] = [];
        for await (const o of cleaner.list('')) keys.push(o.key);
        await Promise.all(keys.map((k) => cleaner.delete(k)));
        await cleaner.client.send(new DeleteBucketCommand({ Bucket: z.bucket }));
        await cleaner.close();
      }
    });
    const store = new PackedChunkStore({ region: 'eastus', zones: zones.map((s, i) => ({ name: `zone-${i + 1}`, store: retry(s) })), index: catalog });
    const engine = await Engine.open({
      catalog,
      chunkStores: new Map<string, ChunkStore>([['eastus', store]]),
      volumes: new FileVolumeStore(join(dir, 'volumes')),
      config: { ...defaultConfig(), regions: { eastus: { zones: ['1', '2', '3'] } }, gcIntervalMs: 0, scrubIntervalHours: 0 },
      clock: systemClock,
    });
    await engine.resources.ensureSubscription({ subscriptionId: SUB, displayName: 'dev', tenantId: 't', state: 'Enabled' });
    await engine.resources.putGroup(SUB, RG, 'eastus');
    const opened = rss();
    const rnd = prng(5);
    const snaps = [];
    for (let i = 0; i < 10; i++) {
      const disk = await createDisk(engine, `d${i}`, 1024);
      const h = await engine.disks.open(disk.uniqueId);
      for (let off = 0; off < 16 * MiB; off += MiB) await h.write(i * 97 * MiB + off, rnd(MiB));
      snaps.push(await snapshot(engine, disk, `s${i}`));
    }
    await engine.idle();
    for (const [i, s] of snaps.entries()) expect((await engine.snapshots.read(s, i * 97 * MiB, MiB)).length).toBe(MiB);
    const after = rss();
    // 30 more attached 1 TiB disks with 1 MiB each: the slope is the per-attached-disk cost
    for (let i = 10; i < 40; i++) {
      const disk = await createDisk(engine, `d${i}`, 1024);
      const h = await engine.disks.open(disk.uniqueId);
      await h.write(i * 97 * MiB, rnd(MiB));
    }
    const after40 = rss();
    const heap = Math.round(process.memoryUsage().heapUsed / MiB);
    const external = Math.round(process.memoryUsage().external / MiB);
    const arrayBuffers = Math.round(process.memoryUsage().arrayBuffers / MiB);
    await engine.close();
    const doc = { rssMiB: { beforeEngine: before, engineOpen: opened, after10Disks: after, after40Disks: after40, perAttachedTiBDisk: Math.round(((after40 - after) / 30) * 10) / 10 }, heapUsedMiB: heap, externalMiB: external, arrayBuffersMiB: arrayBuffers };
    console.log(JSON.stringify({ memory: doc }, null, 2));
    if (process.env.SNAPDISK_FIGURES_OUT) writeFileSync(`${process.env.SNAPDISK_FIGURES_OUT}.memory.json`, JSON.stringify(doc, null, 2));
  }, 600_000);
});
