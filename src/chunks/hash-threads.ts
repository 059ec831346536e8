/**
 * @module chunks/hash-threads
 * SHA-256 verification of chunk bytes on worker threads, so that the event loop is free to write
 * heads and serve requests while the hashes of the next run are computed (invariant 5 is kept:
 * every chunk is still hashed and compared, only on another thread).
 *
 *   verify(buf, parts) ── buf in shared memory ──► worker: sha256 each part, compare ──► ok[]
 *                      └─ otherwise, or small ─────► inline on the caller's thread
 *
 * Design notes:
 * - Only bytes in a SharedArrayBuffer travel to a worker (nothing is copied: the worker hashes the
 *   caller's memory). `sharedMemoryPool` (core/buffer-pool) hands out such buffers; the chunk store reads runs into
 *   them. The caller must not touch the bytes until the promise settles.
 * - Below `OFFLOAD_MIN_BYTES` the message round trip (tens of µs) costs more than it saves.
 * - Workers start on first use, keep the process alive only while they have work, and are
 *   replaced after a crash; a job whose worker failed is verified inline, never skipped.
 * - The worker's code is a short CommonJS string (`eval`), so it runs the same from TypeScript
 *   sources (tests) and from the compiled tree.
 */

import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** One byte range of `buf` and the SHA-256 it must have. */
export interface HashPart {
  at: number;
  length: number;
  hash: Buffer;
}

/** Runs smaller than this are hashed inline: the message round trip would cost more. */
export const OFFLOAD_MIN_BYTES = 512 * 1024;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', (m) => {
  const bytes = new Uint8Array(m.memory, m.base, m.span);
  const ok = new Uint8Array(m.at.length);
  for (let i = 0; i < m.at.length; i++) {
    const digest = createHash('sha256').update(bytes.subarray(m.at[i], m.at[i] + m.length[i])).digest();
    ok[i] = digest.equals(Buffer.from(m.hashes.buffer, m.hashes.byteOffset + i * 32, 32)) ? 1 : 0;
  }
  parentPort.postMessage({ id: m.id, ok }, [ok.buffer]);
});
`;

interface Job {
  resolve: (ok: boolean[]) => void;
  reject: (err: Error) => void;
}

interface Thread {
  worker: Worker;
  jobs: Map<number, Job>;
}

export class HashThreads {
  private readonly threads: Array<Thread | null>;
  private next = 0;
  private nextId = 1;
  private closed = false;
  /** Jobs verified on a worker and inline (tests and benchmarks look at them). */
  readonly stats = { offloaded: 0, inline: 0 };

  constructor(count: number) {
    this.threads = new Array<Thread | null>(Math.max(0, count)).fill(null);
  }

  /** For each part: true when its bytes hash to `part.hash`. */
  async verify(buf: Buffer, parts: ReadonlyArray<HashPart>): Promise<boolean[]> {
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    if (this.closed || this.threads.length === 0 || bytes < OFFLOAD_MIN_BYTES || !(buf.buffer instanceof SharedArrayBuffer)) {
      return verifyInline(buf, parts, this.stats);
    }
    try {
      const ok = await this.post(buf, parts);
      this.stats.offloaded++;
      return ok;
    } catch {
      return verifyInline(buf, parts, this.stats); // the worker died: never skip a check
    }
  }

  /** Stops the workers (jobs in flight are verified inline). */
  async close(): Promise<void> {
    this.closed = true;
    const all = this.threads.splice(0).filter((t): t is Thread => t !== null);
    await Promise.all(all.map((t) => t.worker.terminate()));
  }

  private post(buf: Buffer, parts: ReadonlyArray<HashPart>): Promise<boolean[]> {
    const slot = this.next++ % this.threads.length;
    const thread = this.threads[slot] ?? this.spawn(slot);
    const id = this.nextId++;
    const at = new Int32Array(parts.length);
    const length = new Int32Array(parts.length);
    const hashes = new Uint8Array(parts.length * 32);
    let span = 0;
    parts.forEach((p, i) => {
      at[i] = p.at;
      length[i] = p.length;
      hashes.set(p.hash.subarray(0, 32), i * 32);
      span = Math.max(span, p.at + p.length);
    });
    return new Promise<boolean[]>((resolve, reject) => {
      if (thread.jobs.size === 0) thread.worker.ref();
      thread.jobs.set(id, { resolve, reject });
      thread.worker.postMessage({ id, memory: buf.buffer, base: buf.byteOffset, span, at, length, hashes });
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
      job.resolve(Array.from(m.ok, (v) => v === 1));
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
  return parts.map((p) => createHash('sha256').update(buf.subarray(p.at, p.at + p.length)).digest().equals(p.hash));
}

/** Workers for the process: one fewer than the cores (the event loop keeps one), at least one. */
export const hashThreads = new HashThreads(Math.min(4, Math.max(1, availableParallelism() - 1)));
