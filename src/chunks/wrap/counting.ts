/**
 * @module chunks/wrap/counting
 * A BlobStore decorator that counts requests and bytes per operation, for metrics and for the
 * cost figures of docs/SCALE-OUT.md (object-store bills are per request and per byte).
 * Stack it innermost (`retry(counting(s3))`) to count every request sent, retries included.
 */

import type { BlobInfo, BlobStore } from '../../core/ports.js';

export interface RequestCounts {
  put: number;
  read: number;
  stat: number;
  delete: number;
  /** Listing calls (each may be several pages). */
  list: number;
  bytesPut: number;
  bytesRead: number;
}

export const emptyCounts = (): RequestCounts => ({ put: 0, read: 0, stat: 0, delete: 0, list: 0, bytesPut: 0, bytesRead: 0 });

export class CountingBlobStore implements BlobStore {
  counts: RequestCounts = emptyCounts();

  constructor(readonly inner: BlobStore) {}

  get name(): string {
    return this.inner.name;
  }

  /** Returns the counts so far and starts again from zero. */
  take(): RequestCounts {
    const c = this.counts;
    this.counts = emptyCounts();
    return c;
  }

  put(key: string, data: Uint8Array): Promise<void> {
    this.counts.put++;
    this.counts.bytesPut += data.length;
    return this.inner.put(key, data);
  }

  async read(key: string, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    this.counts.read++;
    const b = await this.inner.read(key, offset, length, into);
    this.counts.bytesRead += b.length;
    return b;
  }

  stat(key: string): Promise<BlobInfo | null> {
    this.counts.stat++;
    return this.inner.stat(key);
  }

  delete(key: string): Promise<void> {
    this.counts.delete++;
    return this.inner.delete(key);
  }

  list(prefix: string): AsyncIterable<BlobInfo> {
    this.counts.list++;
    return this.inner.list(prefix);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

export const counting = (store: BlobStore): CountingBlobStore => new CountingBlobStore(store);

export function addCounts(a: RequestCounts, b: RequestCounts): RequestCounts {
  return {
    put: a.put + b.put,
    read: a.read + b.read,
    stat: a.stat + b.stat,
    delete: a.delete + b.delete,
    list: a.list + b.list,
    bytesPut: a.bytesPut + b.bytesPut,
    bytesRead: a.bytesRead + b.bytesRead,
  };
}
