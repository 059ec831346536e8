/**
 * @module chunks/testing/chunk-store-suite
 * The ChunkStore contract, run by every combination of blob backend and index:
 * `describeChunkStore(name, factory)`. The factory also returns a way to damage stored bytes,
 * so that verification is tested for real.
 */

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SnapdiskError } from '../../core/errors.js';
import type { ChunkLocation } from '../../core/model.js';
import type { ChunkIndex, ChunkStore } from '../../core/ports.js';

export interface ChunkStoreFixture {
  store: ChunkStore;
  index: ChunkIndex;
  /** Flips one byte of a stored pack in every zone (or in the zones listed). */
  corrupt(pack: string, at: number, zones?: number[]): Promise<void>;
  /** Clears caches so that the next read goes to the zones. */
  uncache(): void;
  dispose(): Promise<void>;
}

function block(seed: number, compressible = false): Buffer {
  const b = Buffer.alloc(65536);
  let x = seed || 1;
  for (let i = 0; i < b.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = compressible ? (i % 64 < 8 ? x & 0xff : 0x41) : x & 0xff;
  }
  return b;
}

export function describeChunkStore(name: string, factory: () => Promise<ChunkStoreFixture>): void {
  describe(`ChunkStore contract: ${name}`, () => {
    const withStore = async (fn: (f: ChunkStoreFixture) => Promise<void>): Promise<void> => {
      const f = await factory();
      try {
        await fn(f);
      } finally {
        await f.store.close();
        await f.dispose();
      }
    };
    const locate = async (f: ChunkStoreFixture, data: Buffer): Promise<ChunkLocation> => {
      const hash = createHash('sha256').update(data).digest();
      const loc = (await f.index.lookupChunks(f.store.region, [hash])).get(hash.toString('hex'));
      if (!loc) throw new Error('chunk not indexed');
      return loc;
    };

    it('put then read returns the same bytes, compressible or not', () =>
      withStore(async (f) => {
        const blocks = [block(1), block(2, true), block(3)];
        const stored = await f.store.put(blocks);
        expect(stored.map((s) => s.deduplicated)).toEqual([false, false, false]);
        f.uncache();
        for (const b of blocks) expect((await f.store.read(await locate(f, b))).equals(b)).toBe(true);
        const comp = await locate(f, block(2, true));
        expect(comp.storedLength).toBeLessThan(comp.rawLength);
      }));

    it('readMany returns every chunk in order, adjacent ones read together, damage still detected', () =>
      withStore(async (f) => {
        const blocks = [block(31), block(32, true), block(33), block(34)];
        await f.store.put(blocks);
        f.uncache();
        const locs = await Promise.all([blocks[2], blocks[0], blocks[3], blocks[1]].map((b) => locate(f, b ?? Buffer.alloc(0))));
        const got = await f.store.readMany(locs);
        expect(got.map((g) => g.equals(blocks[[2, 0, 3, 1][got.indexOf(g)] ?? 0] ?? Buffer.alloc(0)))).toEqual([true, true, true, true]);
        const loc0 = locs[1];
        if (!loc0) throw new Error('missing');
        await f.corrupt(loc0.pack, loc0.offset + 5);
        f.uncache();
        await expect(f.store.readMany(locs)).rejects.toSatisfy((e) => e instanceof SnapdiskError && e.code === 'IntegrityError');
      }));

    it('identical blocks are stored once (in one call and across calls)', () =>
      withStore(async (f) => {
        const a = block(7);
        const first = await f.store.put([a, a]);
        expect(first[0]?.id).toBe(first[1]?.id);
        expect(first.map((s) => s.deduplicated)).toEqual([false, true]);
        const bytes = await f.store.storedBytes();
        const again = await f.store.put([a]);
        expect(again[0]?.deduplicated).toBe(true);
        expect(again[0]?.id).toBe(first[0]?.id);
        expect(await f.store.storedBytes()).toBe(bytes);
      }));

    it('a flipped byte in stored data is an IntegrityError, never wrong bytes', () =>
      withStore(async (f) => {
        const a = block(11);
        await f.store.put([a]);
        const loc = await locate(f, a);
        await f.corrupt(loc.pack, loc.offset + 100);
        f.uncache();
        await expect(f.store.read(loc)).rejects.toSatisfy((e) => e instanceof SnapdiskError && e.code === 'IntegrityError');
      }));

    it('a missing pack is an error naming the chunk', () =>
      withStore(async (f) => {
        const a = block(12);
        await f.store.put([a]);
        const loc = await locate(f, a);
        await f.store.deletePack(loc.pack);
        f.uncache();
        await expect(f.store.read(loc)).rejects.toThrow(loc.hash.toString('hex'));
      }));

    it('lists and deletes packs', () =>
      withStore(async (f) => {
        await f.store.put([block(21)]);
        await f.store.put([block(22)]);
        const keys: string[] = [];
        for await (const p of f.store.listPacks()) keys.push(p.key);
        expect(keys.length).toBe(2);
        for (const k of keys) await f.store.deletePack(k);
        const left: string[] = [];
        for await (const p of f.store.listPacks()) left.push(p.key);
        expect(left).toEqual([]);
      }));
  });
}
