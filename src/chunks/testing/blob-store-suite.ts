/**
 * @module chunks/testing/blob-store-suite
 * The BlobStore contract, run by every backend: `describeBlobStore(name, factory)`.
 */

import { describe, expect, it } from 'vitest';
import { SnapdiskError } from '../../core/errors.js';
import type { BlobStore } from '../../core/ports.js';

export function describeBlobStore(name: string, factory: () => Promise<{ store: BlobStore; dispose(): Promise<void> }>): void {
  describe(`BlobStore contract: ${name}`, () => {
    const withStore = async (fn: (s: BlobStore) => Promise<void>): Promise<void> => {
      const { store, dispose } = await factory();
      try {
        await fn(store);
      } finally {
        await store.close();
        await dispose();
      }
    };

    it('put then read: exact bytes at any offset; stat reports the size', () =>
      withStore(async (s) => {
        const data = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
        await s.put('packs/ab/one.pack', data);
        expect((await s.read('packs/ab/one.pack', 0, data.length)).equals(data)).toBe(true);
        expect((await s.read('packs/ab/one.pack', 1234, 100)).equals(data.subarray(1234, 1334))).toBe(true);
        expect((await s.stat('packs/ab/one.pack'))?.size).toBe(10_000);
        expect(await s.stat('packs/ab/missing.pack')).toBeNull();
      }));

    it('put of an existing key with the same bytes is a no-op', () =>
      withStore(async (s) => {
        await s.put('packs/x/a', Buffer.from('abc'));
        await s.put('packs/x/a', Buffer.from('abc'));
        expect((await s.read('packs/x/a', 0, 3)).toString()).toBe('abc');
      }));

    it('read of a missing key is ChunkNotFound; past the end is IntegrityError, never short', () =>
      withStore(async (s) => {
        await s.put('packs/x/b', Buffer.from('0123456789'));
        await expect(s.read('packs/x/nope', 0, 1)).rejects.toSatisfy((e) => e instanceof SnapdiskError && e.code === 'ChunkNotFound');
        await expect(s.read('packs/x/b', 5, 10)).rejects.toSatisfy((e) => e instanceof SnapdiskError && e.code === 'IntegrityError');
      }));

    it('delete is idempotent and list filters by prefix in key order', () =>
      withStore(async (s) => {
        await s.put('packs/01/b', Buffer.from('b'));
        await s.put('packs/00/a', Buffer.from('a'));
        await s.put('other/c', Buffer.from('c'));
        const keys: string[] = [];
        for await (const i of s.list('packs/')) keys.push(i.key);
        expect(keys).toEqual(['packs/00/a', 'packs/01/b']);
        await s.delete('packs/00/a');
        await s.delete('packs/00/a');
        expect(await s.stat('packs/00/a')).toBeNull();
        await expect(s.read('packs/00/a', 0, 1)).rejects.toBeInstanceOf(SnapdiskError);
      }));
  });
}
