/**
 * @module chunks/memory/memory-blob-store
 * BlobStore in memory, for tests and for the contract suite's reference behaviour.
 */

import { SnapdiskError } from '../../core/errors.js';
import type { BlobInfo, BlobStore } from '../../core/ports.js';

export class MemoryBlobStore implements BlobStore {
  private readonly objects = new Map<string, { data: Buffer; modified: Date }>();

  constructor(readonly name = 'memory') {}

  async put(key: string, data: Uint8Array): Promise<void> {
    if (this.objects.has(key)) return;
    this.objects.set(key, { data: Buffer.from(data), modified: new Date() });
  }

  async read(key: string, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const o = this.objects.get(key);
    if (!o) throw new SnapdiskError('ChunkNotFound', `object ${key} is missing from ${this.name}`);
    if (offset < 0 || offset + length > o.data.length) {
      throw new SnapdiskError('IntegrityError', `object ${key} ends before ${offset + length}`);
    }
    if (into && into.length >= length) {
      o.data.copy(into, 0, offset, offset + length);
      return into.subarray(0, length);
    }
    return Buffer.from(o.data.subarray(offset, offset + length));
  }

  async stat(key: string): Promise<BlobInfo | null> {
    const o = this.objects.get(key);
    return o ? { key, size: o.data.length, modified: o.modified } : null;
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    for (const [key, o] of [...this.objects].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (key.startsWith(prefix)) yield { key, size: o.data.length, modified: o.modified };
    }
  }

  async close(): Promise<void> {
    // nothing to release
  }

  /** Test hook: flips one byte of an object in place (corruption tests). */
  corrupt(key: string, at: number): void {
    const o = this.objects.get(key);
    if (!o) throw new Error(`no object ${key}`);
    o.data[at] = (o.data[at] ?? 0) ^ 0xff;
  }
}
