import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { openSqliteCatalog } from '../catalog/sqlite/sqlite-catalog.js';
import { sharedMemoryPool } from '../core/buffer-pool.js';
import { SnapdiskError } from '../core/errors.js';
import type { BlobInfo, BlobStore } from '../core/ports.js';
import { FsBlobStore } from './fs/fs-blob-store.js';
import { HashThreads } from './hash-threads.js';
import { MemoryBlobStore } from './memory/memory-blob-store.js';
import { MemoryChunkIndex } from './memory/memory-chunk-index.js';
import { PackedChunkStore, parsePackTrailer } from './packed-chunk-store.js';
import type { Zone } from './packed-chunk-store.js';
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

  it('runs read into shared memory are checked on a worker, deflated chunks inflated in place; damage is still found', async () => {
    const zone = new MemoryBlobStore('z');
    const index = new MemoryChunkIndex();
    const threads = new HashThreads(1);
    const store = new PackedChunkStore({ region: 'r', zones: [{ name: 'z', store: zone }], index, hashThreads: threads });
    try {
      const blocks = Array.from({ length: 24 }, (_, i) => (i % 3 === 1 ? Buffer.alloc(65536, i) : randomBlock(600 + i)));
      await store.put(blocks);
      const locs = [...(await index.lookupChunks('r', blocks.map((b) => require256(b)))).values()].sort((a, b) => a.offset - b.offset);
      expect(locs.some((l) => l.codec === 1)).toBe(true);
      const group = sharedMemoryPool.acquire(24 * 65536);
      const targets = locs.map((_, i) => group.subarray(i * 65536, (i + 1) * 65536));
      store.clearCache();
      await store.readInto(locs, targets);
      expect(targets.every((t, i) => t.equals(blocks[i] ?? Buffer.alloc(0)))).toBe(true);
      expect(threads.stats.offloaded).toBeGreaterThan(0);
      const runs = threads.stats.offloaded;
      store.clearCache();
      await store.readInto(locs.slice(0, 1), [group.subarray(0, 65536)]); // one chunk: checked inline
      expect(threads.stats.offloaded).toBe(runs);
      zone.corrupt(locs[7]?.pack ?? '', (locs[7]?.offset ?? 0) + 9);
      await expect(store.readInto(locs, targets)).rejects.toSatisfy((e) => e instanceof SnapdiskError && e.code === 'IntegrityError');
      expect(threads.stats.offloaded).toBeGreaterThan(runs);
    } finally {
      await store.close();
      await threads.close();
    }
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

/** A zone that can be switched off: every call fails Unavailable (as after the retries). */
class FlakyBlobStore implements BlobStore {
  down = false;
  calls = { put: 0, read: 0 };
  constructor(readonly inner: BlobStore) {}
  get name(): string {
    return this.inner.name;
  }
  private check(): void {
    if (this.down) throw new SnapdiskError('Unavailable', `zone ${this.name} is down`);
  }
  async put(key: string, data: Uint8Array): Promise<void> {
    this.calls.put++;
    this.check();
    await this.inner.put(key, data);
  }
  async read(key: string, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    this.calls.read++;
    this.check();
    return this.inner.read(key, offset, length, into);
  }
  async stat(key: string): Promise<BlobInfo | null> {
    this.check();
    return this.inner.stat(key);
  }
  async delete(key: string): Promise<void> {
    this.check();
    await this.inner.delete(key);
  }
  list(prefix: string): AsyncIterable<BlobInfo> {
    return this.inner.list(prefix);
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
}

/**
 * A zone whose requests time out: each put or read fails Unavailable at once, and the request
 * goes on meanwhile (`finish` ends the puts with the bytes their buffers hold then).
 */
class LateBlobStore implements BlobStore {
  readonly pending: Array<{ key: string; data: Uint8Array }> = [];
  /** Buffers handed to reads that failed. */
  readonly reads: Buffer[] = [];
  constructor(readonly inner: BlobStore) {}
  get name(): string {
    return this.inner.name;
  }
  async put(key: string, data: Uint8Array): Promise<void> {
    this.pending.push({ key, data });
    throw new SnapdiskError('Unavailable', `put ${key} took too long`);
  }
  async finish(): Promise<void> {
    for (const p of this.pending.splice(0)) await this.inner.put(p.key, Buffer.from(p.data));
  }
  async read(key: string, _offset: number, _length: number, into?: Buffer): Promise<Buffer> {
    if (into) this.reads.push(into);
    throw new SnapdiskError('Unavailable', `read ${key} took too long`);
  }
  stat(key: string): Promise<BlobInfo | null> {
    return this.inner.stat(key);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  list(prefix: string): AsyncIterable<BlobInfo> {
    return this.inner.list(prefix);
  }
  async close(): Promise<void> {
    await this.inner.close();
  }
}

function randomBlock(seed: number, size = 65536): Buffer {
  const b = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i += 4) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}

async function onlyPack(store: BlobStore): Promise<string> {
  const keys: string[] = [];
  for await (const i of store.list('packs/')) keys.push(i.key);
  if (keys.length !== 1) throw new Error(`expected one pack in ${store.name}, found ${keys.length}`);
  return keys[0] ?? '';
}

async function whole(store: BlobStore, key: string): Promise<Buffer | null> {
  const info = await store.stat(key);
  return info ? store.read(key, 0, info.size) : null;
}

describe('PackedChunkStore zones: health, quorum, failover, repair', () => {
  const memoryRegion = (
    n: number,
    opts: { now?: () => number } = {},
  ): { flaky: FlakyBlobStore[]; mem: MemoryBlobStore[]; index: MemoryChunkIndex; store: PackedChunkStore } => {
    const mem = Array.from({ length: n }, (_, i) => new MemoryBlobStore(`z${i + 1}`));
    const flaky = mem.map((m) => new FlakyBlobStore(m));
    const index = new MemoryChunkIndex();
    const zones: Zone[] = flaky.map((f) => ({ name: f.name, store: f }));
    const store = new PackedChunkStore({ region: 'r', zones, index, ...(opts.now ? { now: opts.now } : {}) });
    return { flaky, mem, index, store };
  };

  it('a ZRS write with one zone of three down is acknowledged by the other two and recorded for repair', async () => {
    let now = 1_000_000;
    const { flaky, mem, index, store } = memoryRegion(3, { now: () => now });
    const z3 = flaky[2];
    if (!z3) throw new Error('zones');
    z3.down = true;
    const data = randomBlock(1);
    const [s] = await store.put([data]);
    expect(s?.deduplicated).toBe(false);
    const key = await onlyPack(mem[0] ?? new MemoryBlobStore());
    expect(await mem[1]?.stat(key)).not.toBeNull();
    expect(await mem[2]?.stat(key)).toBeNull();
    expect(await index.packZones('r', key)).toEqual(['z1', 'z2', '?z3']);
    expect(store.stats.degradedWrites).toBe(1);
    expect(store.unhealthyZones).toEqual(['z3']);
    // the unhealthy zone is left alone by the next write
    const putsBefore = z3.calls.put;
    await store.put([randomBlock(2)]);
    expect(z3.calls.put).toBe(putsBefore);
    store.clearCache();
    const loc = [...(await index.lookupChunks('r', [require256(data)])).values()][0];
    if (!loc) throw new Error('not indexed');
    expect((await store.read(loc)).equals(data)).toBe(true);
    // the zone is back: the scrub copies what it missed, and the record is whole again
    z3.down = false;
    now += 60_000;
    const r = await store.scrubPack(key, await index.chunksOfPack('r', key));
    expect(r).toEqual({ repairedZones: ['z3'], lost: [] });
    expect((await whole(mem[2] ?? new MemoryBlobStore(), key))?.equals((await whole(mem[0] ?? new MemoryBlobStore(), key)) ?? Buffer.alloc(0))).toBe(true);
    expect(await index.packZones('r', key)).toEqual(['z1', 'z2', 'z3']);
    expect(store.unhealthyZones).toEqual([]);
  });

  it('a ZRS write that reaches fewer than a majority of zones fails Unavailable and indexes nothing', async () => {
    const { flaky, index, store } = memoryRegion(3);
    for (const f of flaky.slice(1)) f.down = true;
    const data = randomBlock(3);
    await expect(store.put([data])).rejects.toSatisfy((e) => e instanceof SnapdiskError && e.code === 'Unavailable' && /1 zone\(s\), 2 needed/.test(e.message));
    expect((await index.lookupChunks('r', [require256(data)])).size).toBe(0);
    // unhealthy zones are tried again when the healthy ones are not enough
    for (const f of flaky) f.down = false;
    const puts = flaky.map((f) => f.calls.put);
    await store.put([data]);
    expect(flaky.map((f, i) => f.calls.put - (puts[i] ?? 0))).toEqual([1, 1, 1]);
  });

  it('an LRS write goes to another zone when its zone is down', async () => {
    const { flaky, mem, index, store } = memoryRegion(2);
    const z1 = flaky[0];
    if (!z1) throw new Error('zones');
    z1.down = true;
    const data = randomBlock(4);
    await store.put([data], 'local');
    const key = await onlyPack(mem[1] ?? new MemoryBlobStore());
    expect(await index.packZones('r', key)).toEqual(['z2']);
    expect(store.stats.degradedWrites).toBe(0);
  });

  it('reads fail over on any zone error, also for runs, and bytes stay exact', async () => {
    const { flaky, index, store } = memoryRegion(3);
    const blocks = Array.from({ length: 24 }, (_, i) => randomBlock(100 + i));
    await store.put(blocks);
    store.clearCache();
    const z1 = flaky[0];
    if (!z1) throw new Error('zones');
    z1.down = true;
    const locs = [...(await index.lookupChunks('r', blocks.map((b) => require256(b)))).values()].sort((a, b) => a.offset - b.offset);
    const got = await store.readMany(locs);
    expect(got.every((g, i) => g.equals(blocks[i] ?? Buffer.alloc(0)))).toBe(true);
    expect(store.unhealthyZones).toEqual(['z1']);
    store.clearCache();
    const one = locs[3];
    if (!one) throw new Error('missing');
    const readsBefore = z1.calls.read;
    expect((await store.read(one)).equals(blocks[3] ?? Buffer.alloc(0))).toBe(true);
    expect(z1.calls.read).toBe(readsBefore); // read last: a healthy zone served it first
  });

  it('when every zone holding a chunk is unreachable the read is Unavailable, not IntegrityError', async () => {
    const { flaky, index, store } = memoryRegion(2);
    const data = randomBlock(5);
    await store.put([data]);
    store.clearCache();
    for (const f of flaky) f.down = true;
    const loc = [...(await index.lookupChunks('r', [require256(data)])).values()][0];
    if (!loc) throw new Error('not indexed');
    await expect(store.read(loc)).rejects.toSatisfy((e) => e instanceof SnapdiskError && e.code === 'Unavailable');
  });

  it('a read that finds a damaged copy queues its repair: the copy is rewritten in the background', async () => {
    const { mem, index, store } = memoryRegion(3);
    const blocks = Array.from({ length: 16 }, (_, i) => randomBlock(200 + i));
    await store.put(blocks);
    const z1 = mem[0];
    const z2 = mem[1];
    if (!z1 || !z2) throw new Error('zones');
    const key = await onlyPack(z1);
    const ref = await whole(z2, key);
    const locs = [...(await index.lookupChunks('r', blocks.map((b) => require256(b)))).values()].sort((a, b) => a.offset - b.offset);
    z1.corrupt(key, (locs[5]?.offset ?? 0) + 17);
    store.clearCache();
    const got = await store.readMany(locs);
    expect(got.every((g, i) => g.equals(blocks[i] ?? Buffer.alloc(0)))).toBe(true);
    expect(store.stats.repairsQueued).toBe(1); // queued once, by the chunk's failover read
    await store.repairsSettled();
    expect((await whole(z1, key))?.equals(ref ?? Buffer.alloc(0))).toBe(true);
    expect(await index.packZones('r', key)).toEqual(['z1', 'z2', 'z3']);
    expect(store.stats.zonesRepaired).toBe(1);
  });

  it('a pack buffer given to a put that failed is not recycled: the request still running reads the pack, not the next one', async () => {
    for (const redundancy of ['zone', 'local'] as const) {
      const mem = [1, 2, 3].map((i) => new MemoryBlobStore(`z${i}`));
      const late = new LateBlobStore(mem[0] ?? new MemoryBlobStore());
      const zones: Zone[] = [{ name: 'z1', store: late }, ...mem.slice(1).map((m) => ({ name: m.name, store: m }))];
      const index = new MemoryChunkIndex();
      const store = new PackedChunkStore({ region: 'r', zones, index });
      // ZRS: z1 times out, z2 and z3 acknowledge; LRS: z1 (first in turn) times out, z2 takes it
      await store.put([randomBlock(900)], redundancy);
      expect(late.pending.length).toBe(1);
      const first = late.pending[0]?.key ?? '';
      await store.put([randomBlock(901)], redundancy); // same size: the pool's buffer if it came back
      await late.finish(); // the abandoned request sends what it reads now
      const ref = await whole(mem[1] ?? new MemoryBlobStore(), first);
      expect(ref).not.toBeNull();
      expect((await whole(mem[0] ?? new MemoryBlobStore(), first))?.equals(ref ?? Buffer.alloc(0))).toBe(true);
      await store.close();
    }
  });

  it('a run read that failed keeps its scratch buffer out of the pool; the chunks come from another zone', async () => {
    const mem = [new MemoryBlobStore('z1'), new MemoryBlobStore('z2')];
    const late = new LateBlobStore(mem[0] ?? new MemoryBlobStore());
    const index = new MemoryChunkIndex();
    const writer = new PackedChunkStore({ region: 'r', zones: mem.map((m) => ({ name: m.name, store: m })), index });
    const blocks = Array.from({ length: 16 }, (_, i) => randomBlock(950 + i));
    await writer.put(blocks);
    const store = new PackedChunkStore({ region: 'r', zones: [{ name: 'z1', store: late }, { name: 'z2', store: mem[1] ?? new MemoryBlobStore() }], index });
    const locs = [...(await index.lookupChunks('r', blocks.map((b) => require256(b)))).values()].sort((a, b) => a.offset - b.offset);
    const got = await store.readMany(locs); // 1 MiB into ordinary memory: read into a shared scratch buffer
    expect(got.every((g, i) => g.equals(blocks[i] ?? Buffer.alloc(0)))).toBe(true);
    const held = late.reads[0];
    if (!held) throw new Error('the run was not read from z1 into a buffer');
    expect(held.buffer).toBeInstanceOf(SharedArrayBuffer);
    const next = sharedMemoryPool.acquire(held.length);
    expect(next.buffer).not.toBe(held.buffer); // still the abandoned request's
    sharedMemoryPool.release(next);
    await store.close();
  });

  it('fs zones: a zone directory replaced by a file fails writes there; a copy with bytes appended is repaired from the index size', async () => {
    const dir = tmp();
    const catalog = await openSqliteCatalog(join(dir, 'catalog.db'), { durable: false });
    try {
      let now = 5_000_000;
      const roots = ['1', '2', '3'].map((z) => join(dir, z));
      const fsZones = await Promise.all(roots.map(async (root, i) => ({ name: `zone-${i + 1}`, store: await new FsBlobStore(root).init() })));
      const store = new PackedChunkStore({ region: 'eastus', zones: fsZones, index: catalog, now: () => now });
      const first = randomBlock(300);
      await store.put([first]);
      const key = await onlyPack(fsZones[0]?.store ?? new MemoryBlobStore());
      // zone 3 disappears: its directory becomes a file, so nothing can be written there
      const z3 = roots[2] ?? '';
      rmSync(z3, { recursive: true, force: true });
      await fsp.writeFile(z3, 'not a directory');
      const second = randomBlock(301);
      const [s] = await store.put([second]);
      expect(s?.deduplicated).toBe(false);
      expect(store.unhealthyZones).toEqual(['zone-3']);
      expect(store.stats.degradedWrites).toBe(1);
      await fsp.rm(z3);
      await fsp.mkdir(z3);
      now += 60_000;
      // a copy of the first pack in zone 1 gets bytes appended: the trailer is no longer at its end
      const p1 = join(roots[0] ?? '', ...key.split('/'));
      await fsp.chmod(p1, 0o644);
      await fsp.appendFile(p1, Buffer.alloc(100, 0xaa));
      const r = await store.scrubPack(key, await catalog.chunksOfPack('eastus', key));
      expect(r.lost).toEqual([]);
      expect(r.repairedZones.sort()).toEqual(['zone-1', 'zone-3']);
      const ref = await fsp.readFile(join(roots[1] ?? '', ...key.split('/')));
      expect(ref.length).toBe(await catalog.packSize('eastus', key));
      expect((await fsp.readFile(p1)).equals(ref)).toBe(true);
      expect((await fsp.readFile(join(z3, ...key.split('/')))).equals(ref)).toBe(true);
      await store.close();
    } finally {
      await catalog.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('HashThreads', () => {
  it('verifies parts of shared memory on a worker and reports each mismatch', async () => {
    const threads = new HashThreads(1);
    try {
      const buf = sharedMemoryPool.acquire(16 * 65536).subarray(0, 16 * 65536);
      const parts = Array.from({ length: 16 }, (_, i) => {
        randomBlock(400 + i).copy(buf, i * 65536);
        return { at: i * 65536, length: 65536, hash: require256(buf.subarray(i * 65536, (i + 1) * 65536)) };
      });
      buf[7 * 65536 + 3] = (buf[7 * 65536 + 3] ?? 0) ^ 1;
      const ok = await threads.verify(buf, parts);
      expect(ok).toEqual(parts.map((_, i) => i !== 7));
      expect(threads.stats.offloaded).toBe(1);
      // ordinary memory and small jobs are verified inline, with the same answer
      const plain = Buffer.from(buf);
      expect(await threads.verify(plain, parts)).toEqual(ok);
      expect(await threads.verify(buf, parts.slice(0, 2))).toEqual([true, true]);
      expect(threads.stats.inline).toBe(2);
    } finally {
      await threads.close();
    }
  });

  it('inflates deflated parts into their shared targets once intact; damaged ones leave the target alone', async () => {
    const threads = new HashThreads(1);
    try {
      const contents = Array.from({ length: 12 }, (_, i) => {
        const b = Buffer.alloc(65536, 0x41 + i);
        randomBlock(500 + i, 4096).copy(b, 1000);
        return b;
      });
      const packed = contents.map((c) => deflateRawSync(c, { level: 1 }));
      const src = sharedMemoryPool.acquire(1 << 20);
      let at = 0;
      const parts = packed.map((p, i) => {
        p.copy(src, at);
        const part = { at, length: p.length, hash: require256(contents[i] ?? Buffer.alloc(0)), rawLength: 65536, into: Buffer.alloc(0) as Buffer };
        at += p.length;
        return part;
      });
      const dest = sharedMemoryPool.acquire(12 * 65536).fill(0xee);
      parts.forEach((p, i) => (p.into = dest.subarray(i * 65536, (i + 1) * 65536)));
      src[(parts[4]?.at ?? 0) + 10] = (src[(parts[4]?.at ?? 0) + 10] ?? 0) ^ 0x55;
      const ok = await threads.verify(src, parts);
      expect(ok).toEqual(parts.map((_, i) => i !== 4));
      expect(threads.stats.offloaded).toBe(1);
      contents.forEach((c, i) => expect(dest.subarray(i * 65536, (i + 1) * 65536).equals(i === 4 ? Buffer.alloc(65536, 0xee) : c)).toBe(true));
      // a target in ordinary memory is filled inline, the rest still on the worker
      const plain = Buffer.alloc(65536);
      const mixed = [{ ...parts[0], into: plain } as (typeof parts)[0], ...parts.slice(1)];
      expect(await threads.verify(src, mixed)).toEqual(ok);
      expect(plain.equals(contents[0] ?? Buffer.alloc(0))).toBe(true);
    } finally {
      await threads.close();
    }
  });

  it('digests shared memory on the workers, the same hashes as inline; a put of a shared batch stores chunks under those hashes', async () => {
    const threads = new HashThreads(2);
    const zone = new MemoryBlobStore('z');
    const index = new MemoryChunkIndex();
    const store = new PackedChunkStore({ region: 'r', zones: [{ name: 'z', store: zone }], index, hashThreads: threads });
    try {
      const batch = sharedMemoryPool.acquire(24 * 65536).subarray(0, 24 * 65536);
      const blocks = Array.from({ length: 24 }, (_, i) => {
        const view = batch.subarray(i * 65536, (i + 1) * 65536);
        randomBlock(700 + i).copy(view);
        return view;
      });
      const parts = blocks.map((_, i) => ({ at: i * 65536, length: 65536 }));
      const hashes = await threads.digest(batch, parts);
      expect(hashes.map((h) => h.toString('hex'))).toEqual(blocks.map((b) => require256(b).toString('hex')));
      expect(threads.stats.offloaded).toBe(2); // 1.5 MiB sliced over both workers
      expect((await threads.digest(Buffer.from(batch), parts)).map((h) => h.toString('hex'))).toEqual(hashes.map((h) => h.toString('hex')));
      expect(threads.stats.inline).toBe(1);
      const offloaded = threads.stats.offloaded;
      await store.put(blocks.slice(4)); // views of one shared buffer: hashed on the workers
      expect(threads.stats.offloaded).toBeGreaterThan(offloaded);
      const found = await index.lookupChunks('r', blocks.map((b) => require256(b)));
      expect(found.size).toBe(20);
      const locs = blocks.slice(4).map((b) => found.get(require256(b).toString('hex')));
      const out = locs.map(() => Buffer.alloc(65536));
      store.clearCache();
      await store.readInto(locs.filter((l) => l !== undefined), out);
      expect(out.every((o, i) => o.equals(blocks[i + 4] ?? Buffer.alloc(0)))).toBe(true);
    } finally {
      await store.close();
      await threads.close();
    }
  });

  it('a job in flight when the workers stop is verified inline, never skipped', async () => {
    const threads = new HashThreads(1);
    const buf = sharedMemoryPool.acquire(32 * 65536).subarray(0, 32 * 65536);
    const parts = Array.from({ length: 32 }, (_, i) => ({ at: i * 65536, length: 65536, hash: Buffer.alloc(32) }));
    const pending = threads.verify(buf, parts);
    await threads.close();
    expect(await pending).toEqual(parts.map(() => false));
  });

  it('a digest in flight when the workers stop is hashed inline, the same hashes', async () => {
    const threads = new HashThreads(2);
    const buf = sharedMemoryPool.acquire(32 * 65536).subarray(0, 32 * 65536);
    const parts = Array.from({ length: 32 }, (_, i) => {
      randomBlock(800 + i).copy(buf, i * 65536);
      return { at: i * 65536, length: 65536 };
    });
    const pending = threads.digest(buf, parts);
    await threads.close();
    const got = (await pending).map((h) => h.toString('hex'));
    expect(got).toEqual(parts.map((p) => require256(buf.subarray(p.at, p.at + p.length)).toString('hex')));
    expect(threads.stats.inline).toBe(2); // both slices, after their workers were stopped
  });
});

function require256(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}
