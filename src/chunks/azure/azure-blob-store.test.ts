import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapdiskError } from '../../core/errors.js';
import type { BlobStore } from '../../core/ports.js';
import { MemoryChunkIndex } from '../memory/memory-chunk-index.js';
import { PackedChunkStore } from '../packed-chunk-store.js';
import { describeBlobStore } from '../testing/blob-store-suite.js';
import { describeChunkStore } from '../testing/chunk-store-suite.js';
import { retry } from '../wrap/retry.js';
import { AzureBlobStore, type AzureBlobStoreOptions } from './azure-blob-store.js';

const URL_ENV = 'SNAPDISK_TEST_AZURE_BLOB_URL';
const url = process.env[URL_ENV];
const skip = url ? null : `SKIPPED: no Azure Blob endpoint (${URL_ENV} is not set; \`npm run test:scaleout\` starts Azurite and runs these tests)`;
if (skip) console.warn(`Azure BlobStore contract: ${skip}`);

// Azurite's well-known development account (public, documented by Microsoft)
const ACCOUNT = process.env.SNAPDISK_TEST_AZURE_ACCOUNT ?? 'devstoreaccount1';
const KEY =
  process.env.SNAPDISK_TEST_AZURE_KEY ?? 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const base = (container: string, prefix = ''): AzureBlobStoreOptions => ({
  url: url ?? 'http://127.0.0.1:1/devstoreaccount1',
  container,
  prefix,
  accountName: ACCOUNT,
  accountKey: KEY,
  requestTimeoutMs: 10_000,
});

async function corruptObject(store: BlobStore, key: string, at: number): Promise<void> {
  const info = await store.stat(key);
  if (!info) throw new Error(`no object ${key}`);
  const bytes = await store.read(key, 0, info.size);
  bytes[at] = (bytes[at] ?? 0) ^ 0xff;
  await store.delete(key);
  await store.put(key, bytes);
}

describe.skipIf(skip !== null)(`Azure Blob (${url ?? 'none'}) ${skip ?? ''}`, () => {
  const containers = [`sd-test-${randomBytes(4).toString('hex')}-z1`, `sd-test-${randomBytes(4).toString('hex')}-z2`];
  const container = (i: number): string => containers[i] ?? '';
  const folder = (): string => `t${randomBytes(5).toString('hex')}/`;
  beforeAll(async () => {
    for (const c of containers) await new AzureBlobStore({ ...base(c), createContainer: true }).init();
  });
  afterAll(async () => {
    for (const c of containers) await new AzureBlobStore(base(c)).container.deleteIfExists();
  });

  describeBlobStore('azure (container folder)', async () => ({
    store: await new AzureBlobStore(base(container(0), folder())).init(),
    dispose: async () => undefined,
  }));

  describeBlobStore('azure container root behind retry()', async () => {
    const c = `sd-test-${randomBytes(4).toString('hex')}-root`;
    const store = await new AzureBlobStore({ ...base(c), createContainer: true }).init();
    return { store: retry(store), dispose: async () => void (await store.container.deleteIfExists()) };
  });

  describeChunkStore('azure: two zones in two containers, behind retry()', async () => {
    const f = folder();
    const raw = await Promise.all([0, 1].map(async (i) => new AzureBlobStore({ ...base(container(i), f), name: `eastus/zone-${i + 1}` }).init()));
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

  it('put is create-if-absent (409 BlobAlreadyExists): concurrent writers leave the first bytes; a different size is an error', async () => {
    const store = await new AzureBlobStore(base(container(0), folder())).init();
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
  });

  it('lists past one page in key order, only under its folder', async () => {
    const store = await new AzureBlobStore({ ...base(container(1), folder()), listPageSize: 7 }).init();
    const keys = Array.from({ length: 40 }, (_, i) => `packs/${String(i).padStart(5, '0')}`);
    await Promise.all(keys.map((k) => store.put(k, Buffer.from('x'))));
    await store.put('other/x', Buffer.from('x'));
    const seen: string[] = [];
    for await (const o of store.list('packs/')) seen.push(o.key);
    expect(seen).toEqual(keys);
  });

  it('a missing container is a clear start-up error; a server that does not answer is Unavailable', async () => {
    await expect(new AzureBlobStore(base('sd-test-no-such-container')).init()).rejects.toSatisfy(
      (e) => e instanceof SnapdiskError && /does not exist/.test(e.message) && /Create the container/.test(e.hint ?? ''),
    );
    const dead = new AzureBlobStore({ ...base(container(0)), url: 'http://127.0.0.1:1/devstoreaccount1', requestTimeoutMs: 2000 });
    await expect(dead.stat('k')).rejects.toSatisfy((e) => e instanceof SnapdiskError && e.code === 'Unavailable');
  });
});
