/**
 * @module chunks/wrap/retry
 * Decorators for any BlobStore, stacked in the composition root (restic's wrapBackend):
 *
 *   retry(timeout(new S3BlobStore(...)), { attempts: 5 })
 *
 * - `retry` re-runs an operation that failed with a retryable error (`isRetryable`: the backend
 *   classified it `Unavailable` or `TooManyRequests`), with capped exponential backoff and full
 *   jitter; it honours `retryAfterSeconds` when the error carries one. Permanent errors
 *   (ChunkNotFound, IntegrityError, credentials) pass through at once. Every BlobStore method is
 *   safe to repeat: put is create-if-absent (a repeat after a lost answer finds the object and
 *   succeeds), read/stat/list only read, delete is idempotent. `list` is retried when it fails
 *   before yielding anything; a failure mid-listing resumes after the last key yielded.
 * - `timeout` bounds each call (for backends without their own per-request deadline) and turns
 *   the overrun into `Unavailable`, which `retry` then retries. The remote backends already have a
 *   per-request deadline; `timeout` is the belt for the whole call.
 * Backends never retry or sleep on their own.
 */

import { isRetryable, SnapdiskError } from '../../core/errors.js';
import type { BlobInfo, BlobStore } from '../../core/ports.js';

export interface RetryOptions {
  /** Total tries including the first (default 5). */
  attempts?: number;
  /** First backoff (default 100 ms); doubles each time up to `maxDelayMs`. */
  baseDelayMs?: number;
  /** Cap of one backoff (default 5 s). */
  maxDelayMs?: number;
  /** Which errors to retry (default `isRetryable`). */
  retryable?: (err: unknown) => boolean;
  /** Called before each retry (metrics, logs). */
  onRetry?: (info: { op: string; key: string; attempt: number; delayMs: number; error: unknown }) => void;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface RetryStats {
  retries: number;
  gaveUp: number;
}

const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class RetryingBlobStore implements BlobStore {
  readonly stats: RetryStats = { retries: 0, gaveUp: 0 };
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly retryable: (err: unknown) => boolean;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(
    readonly inner: BlobStore,
    private readonly options: RetryOptions = {},
  ) {
    this.attempts = Math.max(1, options.attempts ?? 5);
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 5_000;
    this.retryable = options.retryable ?? isRetryable;
    this.sleep = options.sleep ?? realSleep;
    this.random = options.random ?? Math.random;
  }

  get name(): string {
    return this.inner.name;
  }

  put(key: string, data: Uint8Array): Promise<void> {
    return this.run('put', key, () => this.inner.put(key, data));
  }

  read(key: string, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    return this.run('read', key, () => this.inner.read(key, offset, length, into));
  }

  stat(key: string): Promise<BlobInfo | null> {
    return this.run('stat', key, () => this.inner.stat(key));
  }

  delete(key: string): Promise<void> {
    return this.run('delete', key, () => this.inner.delete(key));
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    let last: string | null = null;
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const info of this.inner.list(prefix)) {
          if (last !== null && info.key <= last) continue; // already yielded before the failure
          last = info.key;
          yield info;
        }
        return;
      } catch (err) {
        await this.backoff('list', prefix, attempt, err);
      }
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async run<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        await this.backoff(op, key, attempt, err);
      }
    }
  }

  /** Sleeps before the next try, or rethrows when the error is permanent or tries are spent. */
  private async backoff(op: string, key: string, attempt: number, err: unknown): Promise<void> {
    if (!this.retryable(err)) throw err;
    if (attempt >= this.attempts) {
      this.stats.gaveUp++;
      if (err instanceof SnapdiskError) {
        throw new SnapdiskError(err.code, `${err.message} (gave up after ${attempt} tries)`, {
          cause: err,
          ...(err.hint ? { hint: err.hint } : {}),
          ...(err.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.retryAfterSeconds } : {}),
        });
      }
      throw err;
    }
    const cap = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    const hinted = err instanceof SnapdiskError && err.retryAfterSeconds !== undefined ? err.retryAfterSeconds * 1000 : 0;
    const delayMs = Math.max(Math.round(this.random() * cap), Math.min(hinted, this.maxDelayMs));
    this.stats.retries++;
    this.options.onRetry?.({ op, key, attempt, delayMs, error: err });
    await this.sleep(delayMs);
  }
}

/** `retry(store, opts)`: the decorator as a function, for composition roots. */
export function retry(store: BlobStore, options: RetryOptions = {}): RetryingBlobStore {
  return new RetryingBlobStore(store, options);
}

export interface TimeoutOptions {
  /** Deadline of one read/stat/delete (default 30 s). */
  callMs?: number;
  /** Deadline of one put, per MiB of data, plus `callMs` (default 10 s per MiB). */
  putMsPerMiB?: number;
}

/**
 * Bounds every call; an overrun rejects with `Unavailable` (the call itself cannot be cancelled
 * through the port, so its eventual result is dropped; backends should also bound their requests).
 */
export class TimeoutBlobStore implements BlobStore {
  private readonly callMs: number;
  private readonly putMsPerMiB: number;

  constructor(
    readonly inner: BlobStore,
    options: TimeoutOptions = {},
  ) {
    this.callMs = options.callMs ?? 30_000;
    this.putMsPerMiB = options.putMsPerMiB ?? 10_000;
  }

  get name(): string {
    return this.inner.name;
  }

  put(key: string, data: Uint8Array): Promise<void> {
    // the inner call gets its own copy: one abandoned at the deadline cannot be stopped, and a
    // retry above may succeed meanwhile, so the caller would recycle a buffer it still reads
    return this.bound('put', key, this.callMs + Math.ceil((data.length / 1048576) * this.putMsPerMiB), this.inner.put(key, Buffer.from(data)));
  }

  read(key: string, offset: number, length: number): Promise<Buffer> {
    // never passes a caller's `into` down: a call abandoned at the deadline cannot be stopped and
    // could still write into a buffer the caller has recycled by then
    return this.bound('read', key, this.callMs + Math.ceil((length / 1048576) * this.putMsPerMiB), this.inner.read(key, offset, length));
  }

  stat(key: string): Promise<BlobInfo | null> {
    return this.bound('stat', key, this.callMs, this.inner.stat(key));
  }

  delete(key: string): Promise<void> {
    return this.bound('delete', key, this.callMs, this.inner.delete(key));
  }

  list(prefix: string): AsyncIterable<BlobInfo> {
    return this.inner.list(prefix);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private bound<T>(op: string, key: string, ms: number, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new SnapdiskError('Unavailable', `${op} ${key} in ${this.inner.name} took longer than ${ms} ms`)),
        ms,
      );
    });
    work.catch(() => undefined); // a late failure after the deadline is not an unhandled rejection
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  }
}

export function timeout(store: BlobStore, options: TimeoutOptions = {}): TimeoutBlobStore {
  return new TimeoutBlobStore(store, options);
}
