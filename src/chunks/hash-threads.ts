/**
 * @module chunks/hash-threads
 * Verification of chunk bytes on worker threads: SHA-256 of each chunk (after inflating the
 * deflated ones), compared with its indexed hash, so that the event loop is free to write heads
 * and serve requests while the next run is checked. Invariant 5 holds: every chunk is still
 * decoded, hashed and compared, only on another thread.
 *
 *   verify(buf, parts) ── buf in shared memory ──► worker: [inflate into part.into,] sha256, compare ──► ok[]
 *                      └─ otherwise, or small ─────► the same, inline on the caller's thread
 *
 * Design notes:
 * - Only bytes in a SharedArrayBuffer travel to a worker, and nothing is copied: the worker
 *   hashes the caller's memory, and inflates a deflated chunk straight into its target when that
 *   is shared memory too. `sharedMemoryPool` (core/buffer-pool) hands out such buffers. The
 *   caller must not touch the bytes until the promise settles.
 * - Below `OFFLOAD_MIN_BYTES` the message round trip (tens of µs) costs more than it saves.
 * - Workers start on first use, keep the process alive only while they have work, and are
 *   replaced after a crash; a job whose worker failed is verified inline, never skipped.
 * - The worker's code is a short CommonJS string (`eval`), so it runs the same from TypeScript
 *   sources (tests) and from the compiled tree.
 */

import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { inflateRawSync } from 'node:zlib';

/**
 * One chunk in `buf`: its stored bytes at [at, at + length) and the SHA-256 of its content. A
 * deflated part (`rawLength` set) is inflated; when intact its first `into.length` bytes are
 * written to `into`.
 */
export interface HashPart {
  at: number;
  length: number;
  hash: Buffer;
  rawLength?: number;
  into?: Buffer;
}

/** Runs smaller than this are checked inline: the message round trip would cost more. */
export const OFFLOAD_MIN_BYTES = 512 * 1024;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { inflateRawSync } = require('node:zlib');
parentPort.on('message', (m) => {
  const bytes = new Uint8Array(m.memory, m.base, m.span);
  if (m.digest) {
    const out = new Uint8Array(m.at.length * 32);
    for (let i = 0; i < m.at.length; i++) out.set(createHash('sha256').update(bytes.subarray(m.at[i], m.at[i] + m.length[i])).digest(), i * 32);
    parentPort.postMessage({ id: m.id, ok: out }, [out.buffer]);
    return;
  }
  const ok = new Uint8Array(m.at.length);
  for (let i = 0; i < m.at.length; i++) {
    let data = bytes.subarray(m.at[i], m.at[i] + m.length[i]);
    const into = m.into[i];
    try {
      if (m.raw[i] >= 0) data = inflateRawSync(data, { maxOutputLength: Math.max(m.raw[i], 1) });
      if (m.raw[i] >= 0 && data.length !== m.raw[i]) continue;
      const digest = createHash('sha256').update(data).digest();
      if (!digest.equals(Buffer.from(m.hashes.buffer, m.hashes.byteOffset + i * 32, 32))) continue;
      if (into) new Uint8Array(into.memory, into.offset, into.length).set(data.subarray(0, into.length));
      ok[i] = 1;
    } catch {
      // does not inflate: not intact
    }
  }
  parentPort.postMessage({ id: m.id, ok }, [ok.buffer]);
});
`;

interface Job {
  resolve: (reply: Uint8Array) => void;
  reject: (err: Error) => void;
}

interface Thread {
  worker: Worker;
  jobs: Map<number, Job>;
}

export class HashThreads {
  private readonly threads: Array<Thread | null>;
  private nextId = 1;
  private closed = false;
  /** Jobs verified on a worker and inline (tests and benchmarks look at them). */
  readonly stats = { offloaded: 0, inline: 0 };

  constructor(count: number) {
    this.threads = new Array<Thread | null>(Math.max(0, count)).fill(null);
  }

  /** For each part: true when it is intact (and, deflated, its bytes were written to `into`). */
  async verify(buf: Buffer, parts: ReadonlyArray<HashPart>): Promise<boolean[]> {
    // parts inflated into ordinary memory cannot be handed over: those are checked here
    const here: number[] = [];
    const there: number[] = [];
    let bytes = 0;
    parts.forEach((p, i) => {
      if (p.into && !(p.into.buffer instanceof SharedArrayBuffer)) here.push(i);
      else {
        there.push(i);
        bytes += p.rawLength ?? p.length;
      }
    });
    if (!this.offloads(buf, bytes)) return verifyInline(buf, parts, this.stats);
    const out = new Array<boolean>(parts.length).fill(false);
    const remote = there.map((i) => parts[i]).filter((p): p is HashPart => p !== undefined);
    const pending = this.onWorkers(buf, remote, bytes, false, (reply) => Array.from(reply, (v) => v === 1), (slice) => verifyInline(buf, slice, this.stats));
    if (here.length > 0) {
      const local = verifyInline(buf, here.map((i) => parts[i]).filter((p): p is HashPart => p !== undefined), this.stats);
      here.forEach((i, j) => (out[i] = local[j] ?? false));
    }
    const ok = await pending;
    there.forEach((i, j) => (out[i] = ok[j] ?? false));
    return out;
  }

  /**
   * SHA-256 of each `[at, at + length)` of `buf` (chunks about to be stored). Buffers in shared
   * memory are hashed on the workers, sliced like `verify`; others, and small jobs, inline.
   */
  async digest(buf: Buffer, parts: ReadonlyArray<{ at: number; length: number }>): Promise<Buffer[]> {
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    const inline = (slice: ReadonlyArray<{ at: number; length: number }>): Buffer[] => {
      this.stats.inline++;
      return slice.map((p) => createHash('sha256').update(buf.subarray(p.at, p.at + p.length)).digest());
    };
    if (!this.offloads(buf, bytes)) return inline(parts);
    return this.onWorkers(buf, parts, bytes, true, (out, slice) => slice.map((_, k) => Buffer.from(out.buffer, out.byteOffset + k * 32, 32)), inline);
  }

  /** Whether a job of `bytes` in `buf` goes to the workers: shared memory, large enough, workers running. */
  private offloads(buf: Buffer, bytes: number): boolean {
    return !this.closed && this.threads.length > 0 && bytes >= OFFLOAD_MIN_BYTES && buf.buffer instanceof SharedArrayBuffer;
  }

  /**
   * `parts` of `buf` on the workers, in order: a large job is cut into slices for several workers
   * (a request waits on its longest slice); `reply` turns a worker's answer into the results of
   * its slice, and a slice whose worker died is done `inline` instead: never skipped.
   */
  private async onWorkers<P extends Pick<HashPart, 'at' | 'length'> & Partial<HashPart>, R>(
    buf: Buffer,
    parts: ReadonlyArray<P>,
    bytes: number,
    digest: boolean,
    reply: (out: Uint8Array, slice: ReadonlyArray<P>) => R[],
    inline: (slice: ReadonlyArray<P>) => R[],
  ): Promise<R[]> {
    const slices = Math.max(1, Math.min(this.threads.length, Math.floor(bytes / OFFLOAD_MIN_BYTES), parts.length));
    const per = Math.ceil(parts.length / slices);
    const jobs: Array<Promise<R[]>> = [];
    for (let i = 0; i < parts.length; i += per) {
      const slice = parts.slice(i, i + per);
      jobs.push(
        this.post(buf, slice, digest).then(
          (out) => {
            this.stats.offloaded++;
            return reply(out, slice);
          },
          () => inline(slice),
        ),
      );
    }
    return (await Promise.all(jobs)).flat();
  }

  /** Stops the workers (jobs in flight are verified inline). */
  async close(): Promise<void> {
    this.closed = true;
    const all = this.threads.splice(0).filter((t): t is Thread => t !== null);
    await Promise.all(all.map((t) => t.worker.terminate()));
  }

  private post(buf: Buffer, parts: ReadonlyArray<Pick<HashPart, 'at' | 'length'> & Partial<HashPart>>, digest = false): Promise<Uint8Array> {
    // the least busy worker (one not started yet counts as idle)
    let slot = 0;
    for (let i = 1; i < this.threads.length && (this.threads[slot]?.jobs.size ?? 0) > 0; i++) {
      if ((this.threads[i]?.jobs.size ?? 0) < (this.threads[slot]?.jobs.size ?? 0)) slot = i;
    }
    const thread = this.threads[slot] ?? this.spawn(slot);
    const id = this.nextId++;
    const at = new Int32Array(parts.length);
    const length = new Int32Array(parts.length);
    const raw = new Int32Array(parts.length);
    const hashes = new Uint8Array(parts.length * 32);
    const into = parts.map((p) => (p.into ? { memory: p.into.buffer, offset: p.into.byteOffset, length: Math.min(p.into.length, p.rawLength ?? p.length) } : null));
    let span = 0;
    parts.forEach((p, i) => {
      at[i] = p.at;
      length[i] = p.length;
      raw[i] = p.rawLength ?? -1;
      if (p.hash) hashes.set(p.hash.subarray(0, 32), i * 32);
      span = Math.max(span, p.at + p.length);
    });
    return new Promise<Uint8Array>((resolve, reject) => {
      if (thread.jobs.size === 0) thread.worker.ref();
      thread.jobs.set(id, { resolve, reject });
      thread.worker.postMessage({ id, digest, memory: buf.buffer, base: buf.byteOffset, span, at, length, raw, hashes, into });
    });
  }

  private spawn(slot: number): Thread {
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'snapdisk-hash' });
    const thread: Thread = { worker, jobs: new Map() };
    worker.unref();
    worker.on('message', (m: { id: number; ok: Uint8Array }) => {
      const job = thread.jobs.get(m.id);
      if (!job) return;
      thread.jobs.delete(m.id);
      if (thread.jobs.size === 0) worker.unref();
      job.resolve(m.ok);
    });
    const fail = (err: Error): void => {
      if (this.threads[slot] === thread) this.threads[slot] = null;
      for (const job of thread.jobs.values()) job.reject(err);
      thread.jobs.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`hash worker exited with code ${code}`)));
    this.threads[slot] = thread;
    return thread;
  }
}

function verifyInline(buf: Buffer, parts: ReadonlyArray<HashPart>, stats: { inline: number }): boolean[] {
  stats.inline++;
  return parts.map((p) => {
    let data = buf.subarray(p.at, p.at + p.length);
    try {
      if (p.rawLength !== undefined) data = inflateRawSync(data, { maxOutputLength: Math.max(p.rawLength, 1) });
    } catch {
      return false;
    }
    if ((p.rawLength !== undefined && data.length !== p.rawLength) || !createHash('sha256').update(data).digest().equals(p.hash)) return false;
    p.into?.set(data.subarray(0, p.into.length));
    return true;
  });
}

/**
 * Workers for the process: as many as the cores, at most 4 (the event loop mostly waits for the
 * workers and the disk); `SNAPDISK_HASH_THREADS` overrides it (0: everything inline).
 */
export const hashThreads = new HashThreads(threadCount(process.env['SNAPDISK_HASH_THREADS']));

function threadCount(setting: string | undefined): number {
  const n = setting === undefined || setting === '' ? NaN : Number(setting);
  return Number.isInteger(n) && n >= 0 ? Math.min(n, 16) : Math.min(4, availableParallelism());
}
