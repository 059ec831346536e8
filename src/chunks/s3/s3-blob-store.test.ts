import { randomBytes } from 'node:crypto';
import { DeleteBucketCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapdiskError } from '../../core/errors.js';
import type { BlobStore } from '../../core/ports.js';
import { MemoryChunkIndex } from '../memory/memory-chunk-index.js';
import { PackedChunkStore } from '../packed-chunk-store.js';
import { describeBlobStore } from '../testing/blob-store-suite.js';
import { describeChunkStore } from '../testing/chunk-store-suite.js';
import { retry } from '../wrap/retry.js';
import { S3BlobStore, type S3BlobStoreOptions } from './s3-blob-store.js';

const ENDPOINT_ENV = 'SNAPDISK_TEST_S3_ENDPOINT';
const endpoint = process.env[ENDPOINT_ENV];
const skip = endpoint ? null : `SKIPPED: no S3 server (${ENDPOINT_ENV} is not set; \`npm run test:scaleout\` starts Ceph radosgw and runs these tests)`;
if (skip) console.warn(`S3 BlobStore contract: ${skip}`);

const base = (bucket: string, prefix = ''): S3BlobStoreOptions => ({
  endpoint: endpoint ?? 'http://127.0.0.1:1',
  bucket,
  prefix,
  accessKeyId: process.env.SNAPDISK_TEST_S3_KEY ?? 'test',
  secretAccessKey: process.env.SNAPDISK_TEST_S3_SECRET ?? 'test',
  requestTimeoutMs: 10_000,
});

/** Flips one byte of an object: read it, delete it, put it back changed (objects are immutable). */
async function corruptObject(store: BlobStore, key: string, at: number): Promise<void> {
  const info = await store.stat(key);
  if (!info) throw new Error(`no object ${key}`);
  const bytes = await store.read(key, 0, info.size);
  bytes[at] = (bytes[at] ?? 0) ^ 0xff;
  await store.delete(key);
  await store.put(key, bytes);
}

async function emptyBucket(bucket: string): Promise<void> {
  const store = new S3BlobStore(base(bucket));
  try {
    const keys: string[] = [];
    for await (const o of store.list('')) keys.push(o.key);
    for (let i = 0; i < keys.length; i += 64) await Promise.all(keys.slice(i, i + 64).map((k) => store.delete(k)));
    await store.client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    await store.close();
  }
}

describe.skipIf(skip !== null)(`S3 (${endpoint ?? 'none'}) ${skip ?? ''}`, () => {
  // one bucket per zone for this test file; every store gets a folder of its own
  const buckets = [`sd-test-${randomBytes(4).toString('hex')}-z1`, `sd-test-${randomBytes(4).toString('hex')}-z2`];
  const folder = (): string => `t${randomBytes(5).toString('hex')}/`;
  beforeAll(async () => {
    for (const b of buckets) await (await new S3BlobStore({ ...base(b), createBucket: true }).init()).close();
  });
  afterAll(async () => {
    for (const b of buckets) await emptyBucket(b);
  }, 120_000);
  const bucket = (i: number): string => buckets[i] ?? '';

  describeBlobStore('s3 (bucket folder)', async () => ({
    store: await new S3BlobStore(base(bucket(0), folder())).init(),
    dispose: async () => undefined,
  }));

  describeBlobStore('s3 bucket root behind retry()', async () => {
    const b = `sd-test-${randomBytes(4).toString('hex')}-root`;
    const store = await new S3BlobStore({ ...base(b), createBucket: true }).init();
    return { store: retry(store), dispose: () => emptyBucket(b) };
  });

  describeChunkStore('s3: two zones in two buckets, behind retry()', async () => {
    const f = folder();
    const raw = await Promise.all([0, 1].map(async (i) => new S3BlobStore({ ...base(bucket(i), f), name: `eastus/zone-${i + 1}` }).init()));
    const index = new MemoryChunkIndex();
    const store = new PackedChunkStore({
      region: 'eastus',
      zones: raw.map((s, i) => ({ name: `zone-${i + 1}`, store: retry(s) })),
      index,
    });
    return {
      store,
      index,
      corrupt: async (pack, at, which) => {
        for (const [i, s] of raw.entries()) if (!which || which.includes(i)) await corruptObject(s, pack, at);
      },
      uncache: () => store.clearCache(),
      dispose: async () => undefined,
    };
  });

  it('put is create-if-absent: concurrent writers of one key leave exactly the first bytes; a different size is an error', async () => {
    const store = await new S3BlobStore(base(bucket(0), folder())).init();
    try {
      const body = randomBytes(100_000);
      await Promise.all(Array.from({ length: 8 }, () => store.put('packs/aa/race.pack', body)));
      expect((await store.read('packs/aa/race.pack', 0, body.length)).equals(body)).toBe(true);
    const into = Buffer.alloc(4096);
    const view = await store.read('packs/aa/race.pack', 10, 1000, into);
    expect(view.equals(body.subarray(10, 1010))).toBe(true);
    expect(view.buffer).toBe(into.buffer); // filled the caller's buffer, nothing allocated
      await expect(store.put('packs/aa/race.pack', Buffer.from('short'))).rejects.toSatisfy(
        (e) => e instanceof SnapdiskError && e.code === 'IntegrityError',
      );
      expect((await store.stat('packs/aa/race.pack'))?.size).toBe(body.length);
    } finally {
      await store.close();
    }
  });

  it('lists past one page in key order, only under its folder', async () => {
    const f = folder();
    const store = await new S3BlobStore({ ...base(bucket(1), f), listPageSize: 7 }).init();
    try {
      const keys = Array.from({ length: 40 }, (_, i) => `packs/${String(i).padStart(4, '0')}`);
      await Promise.all(keys.map((k) => store.put(k, Buffer.from('x'))));
      await store.put('other/x', Buffer.from('x'));
      const seen: string[] = [];
      for await (const o of store.list('packs/')) seen.push(o.key);
      expect(seen).toEqual(keys);
    } finally {
      await store.close();
    }
  });

  it('a missing bucket is a clear start-up error; a server that does not answer is Unavailable (retryable)', async () => {
    await expect(new S3BlobStore(base('sd-test-no-such-bucket')).init()).rejects.toSatisfy(
      (e) => e instanceof SnapdiskError && /404/.test(e.message) && /Create the bucket first/.test(e.hint ?? ''),
    );
    const dead = new S3BlobStore({ ...base(bucket(0)), endpoint: 'http://127.0.0.1:1', connectTimeoutMs: 500 });
    await expect(dead.stat('k')).rejects.toSatisfy((e) => e instanceof SnapdiskError && e.code === 'Unavailable');
    await dead.close();
  });
});
