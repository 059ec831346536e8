import { describe, expect, it } from 'vitest';
import { SnapdiskError } from '../../core/errors.js';
import type { BlobInfo, BlobStore } from '../../core/ports.js';
import { MemoryBlobStore } from '../memory/memory-blob-store.js';
import { describeBlobStore } from '../testing/blob-store-suite.js';
import { retry, timeout } from './retry.js';

/** A BlobStore whose next `failures` calls reject with `error` before reaching the inner store. */
class FlakyBlobStore implements BlobStore {
  calls = 0;
  constructor(
    readonly inner: BlobStore,
    public failures: number,
    private readonly error: () => unknown = () => new SnapdiskError('Unavailable', 'connection reset'),
  ) {}
  get name(): string {
    return this.inner.name;
  }
  private async gate(): Promise<void> {
    this.calls++;
    if (this.failures > 0) {
      this.failures--;
      throw this.error();
    }
  }
  async put(key: string, data: Uint8Array): Promise<void> {
    await this.gate();
    return this.inner.put(key, data);
  }
  async read(key: string, offset: number, length: number): Promise<Buffer> {
    await this.gate();
    return this.inner.read(key, offset, length);
  }
  async stat(key: string): Promise<BlobInfo | null> {
    await this.gate();
    return this.inner.stat(key);
  }
  async delete(key: string): Promise<void> {
    await this.gate();
    return this.inner.delete(key);
  }
  async *list(prefix: string): AsyncIterable<BlobInfo> {
    let n = 0;
    for await (const info of this.inner.list(prefix)) {
      if (n++ === 1) await this.gate(); // fail in the middle of a listing
      yield info;
    }
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const noSleep = { sleep: async (): Promise<void> => undefined };

describeBlobStore('memory behind retry(timeout(...))', async () => ({
  store: retry(timeout(new MemoryBlobStore())),
  dispose: async () => undefined,
}));

describe('retry decorator', () => {
  it('retries a store that fails N times, then succeeds; backoff grows and is capped', async () => {
    const flaky = new FlakyBlobStore(new MemoryBlobStore(), 3);
    const delays: number[] = [];
    const store = retry(flaky, { attempts: 5, baseDelayMs: 100, maxDelayMs: 250, random: () => 1, ...noSleep, onRetry: (i) => delays.push(i.delayMs) });
    await store.put('packs/a', Buffer.from('abc'));
    expect(flaky.calls).toBe(4);
    expect(delays).toEqual([100, 200, 250]);
    expect(store.stats).toEqual({ retries: 3, gaveUp: 0 });
    flaky.failures = 2;
    expect((await store.read('packs/a', 1, 2)).toString()).toBe('bc');
    const into = Buffer.alloc(8);
    expect((await store.read('packs/a', 0, 3, into)).toString()).toBe('abc');
  });

  it('gives up after the last attempt with the original code and the number of tries', async () => {
    const flaky = new FlakyBlobStore(new MemoryBlobStore(), 10);
    const store = retry(flaky, { attempts: 3, ...noSleep });
    const err = await store.stat('k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapdiskError);
    expect((err as SnapdiskError).code).toBe('Unavailable');
    expect((err as SnapdiskError).message).toMatch(/gave up after 3 tries/);
    expect(flaky.calls).toBe(3);
    expect(store.stats.gaveUp).toBe(1);
  });

  it('never retries permanent errors (missing object, integrity, credentials)', async () => {
    for (const code of ['ChunkNotFound', 'IntegrityError', 'InternalError'] as const) {
      const flaky = new FlakyBlobStore(new MemoryBlobStore(), 1, () => new SnapdiskError(code, 'permanent'));
      const store = retry(flaky, noSleep);
      await expect(store.delete('k')).rejects.toSatisfy((e) => e instanceof SnapdiskError && e.code === code);
      expect(flaky.calls).toBe(1);
    }
    const inner = new MemoryBlobStore();
    await expect(retry(inner, noSleep).read('missing', 0, 1)).rejects.toSatisfy((e) => e instanceof SnapdiskError && e.code === 'ChunkNotFound');
  });

  it('honours Retry-After from a throttled store', async () => {
    const flaky = new FlakyBlobStore(new MemoryBlobStore(), 1, () => new SnapdiskError('TooManyRequests', 'SlowDown', { retryAfterSeconds: 2 }));
    const slept: number[] = [];
    const store = retry(flaky, { random: () => 0, sleep: async (ms) => void slept.push(ms) });
    await store.put('k', Buffer.from('x'));
    expect(slept).toEqual([2000]);
  });

  it('a listing that fails midway resumes after the last key it yielded', async () => {
    const inner = new MemoryBlobStore();
    for (const k of ['p/1', 'p/2', 'p/3', 'p/4']) await inner.put(k, Buffer.from(k));
    const flaky = new FlakyBlobStore(inner, 1);
    const keys: string[] = [];
    for await (const i of retry(flaky, noSleep).list('p/')) keys.push(i.key);
    expect(keys).toEqual(['p/1', 'p/2', 'p/3', 'p/4']);
  });
});

describe('timeout decorator', () => {
  it('turns a call that hangs into Unavailable, which retry then retries', async () => {
    let hang = true;
    const inner = new MemoryBlobStore();
    const slow: BlobStore = Object.assign(Object.create(inner) as BlobStore, {
      stat: (key: string) => (hang ? ((hang = false), new Promise<never>(() => undefined)) : inner.stat(key)),
    });
    const bounded = timeout(slow, { callMs: 20 });
    await expect(bounded.stat('k')).rejects.toSatisfy((e) => e instanceof SnapdiskError && e.code === 'Unavailable');
    hang = true;
    expect(await retry(bounded, noSleep).stat('k')).toBeNull();
  });

  it('a put abandoned at its deadline, then retried with success, stores the bytes of its call even if the caller reuses the buffer', async () => {
    const inner = new MemoryBlobStore();
    let first = true;
    let finishLate: () => Promise<void> = async () => undefined;
    const slow: BlobStore = Object.assign(Object.create(inner) as BlobStore, {
      put: (key: string, data: Uint8Array): Promise<void> => {
        if (!first) return inner.put(key, data);
        first = false;
        return new Promise<void>((resolve) => {
          finishLate = async () => resolve(await inner.put(`${key}.late`, data)); // still reading the data
        });
      },
    });
    const data = Buffer.from('pack bytes');
    await retry(timeout(slow, { callMs: 20 }), noSleep).put('k', data);
    data.fill(0x2a); // the caller recycles its buffer once the put succeeded
    await finishLate();
    expect((await inner.read('k', 0, 10)).toString()).toBe('pack bytes');
    expect((await inner.read('k.late', 0, 10)).toString()).toBe('pack bytes');
  });
});
