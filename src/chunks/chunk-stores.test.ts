import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteCatalog } from '../catalog/sqlite/sqlite-catalog.js';
import { FsBlobStore } from './fs/fs-blob-store.js';
import { MemoryBlobStore } from './memory/memory-blob-store.js';
import { MemoryChunkIndex } from './memory/memory-chunk-index.js';
import { PackedChunkStore, parsePackTrailer } from './packed-chunk-store.js';
import { describeBlobStore } from './testing/blob-store-suite.js';
import { describeChunkStore } from './testing/chunk-store-suite.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'snapdisk-chunks-'));

describeBlobStore('memory', async () => ({ store: new MemoryBlobStore(), dispose: async () => undefined }));

describeBlobStore('fs', async () => {
  const dir = tmp();
  return { store: await new FsBlobStore(dir).init(), dispose: async () => rmSync(dir, { recursive: true, force: true }) };
});

describeChunkStore('memory blobs + memory index', async () => {
  const zones = [new MemoryBlobStore('z1'), new MemoryBlobStore('z2')];
  const index = new MemoryChunkIndex();
  const store = new PackedChunkStore({ region: 'eastus', zones: zones.map((s) => ({ name: s.name, store: s })), index });
  return {
    store,
    index,
    corrupt: async (pack, at, which) => {
      zones.forEach((z, i) => {
        if (!which || which.includes(i)) z.corrupt(pack, at);
      });
    },
    uncache: () => store.clearCache(),
    dispose: async () => undefined,
  };
});

describeChunkStore('fs blobs (3 zones) + SQLite index', async () => {
  const dir = tmp();
  const catalog = await openSqliteCatalog(join(dir, 'catalog.db'), { durable: false });
  const zones = await Promise.all(['1', '2', '3'].map(async (z) => ({ name: z, store: await new FsBlobStore(join(dir, z)).init() })));
  const store = new PackedChunkStore({ region: 'eastus', zones, index: catalog });
  return {
    store,
    index: catalog,
    corrupt: async (pack, at, which) => {
      for (const [i, z] of zones.entries()) {
        if (which && !which.includes(i)) continue;
        const path = join(dir, z.name, ...pack.split('/'));
        await fsp.chmod(path, 0o644);
        const fh = await fsp.open(path, 'r+');
        const b = Buffer.alloc(1);
        await fh.read(b, 0, 1, at);
        b[0] = (b[0] ?? 0) ^ 0xff;
        await fh.write(b, 0, 1, at);
        await fh.close();
      }
    },
    uncache: () => store.clearCache(),
    dispose: async () => {
      await catalog.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('PackedChunkStore specifics', () => {
  it('falls over to another zone when one copy is damaged, and writes every zone', async () => {
    const z1 = new MemoryBlobStore('z1');
    const z2 = new MemoryBlobStore('z2');
    const index = new MemoryChunkIndex();
    const store = new PackedChunkStore({ region: 'r', zones: [z1, z2].map((s) => ({ name: s.name, store: s })), index });
    const data = Buffer.alloc(65536, 7);
    data[5] = 1;
    const [s] = await store.put([data]);
    expect(s).toBeDefined();
    const keys: string[] = [];
    for await (const i of z1.list('packs/')) keys.push(i.key);
    expect(keys.length).toBe(1);
    const key = keys[0] ?? '';
    expect(await z2.stat(key)).not.toBeNull();
    const loc = [...(await index.lookupChunks('r', [require256(data)])).values()][0];
    if (!loc) throw new Error('not indexed');
    z1.corrupt(key, loc.offset + 3);
    store.clearCache();
    expect((await store.read(loc)).equals(data)).toBe(true);
    expect(store.stats.failovers).toBe(1);
  });

  it('the pack trailer lists every chunk (the index can be rebuilt from objects)', async () => {
    const zone = new MemoryBlobStore('z');
    const store = new PackedChunkStore({ region: 'r', zones: [{ name: 'z', store: zone }], index: new MemoryChunkIndex() });
    const blocks = [Buffer.alloc(65536, 1), Buffer.alloc(65536, 2)];
    await store.put(blocks);
    let key = '';
    for await (const i of zone.list('packs/')) key = i.key;
    const info = await zone.stat(key);
    const pack = await zone.read(key, 0, info?.size ?? 0);
    const entries = parsePackTrailer(pack);
    expect(entries.map((e) => e.rawLength)).toEqual([65536, 65536]);
    expect(entries.map((e) => e.hash.toString('hex'))).toEqual(blocks.map((b) => require256(b).toString('hex')));
  });
});

function require256(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}
