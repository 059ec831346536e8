/**
 * @module core/buffer-pool
 * Recycles large buffers on hot paths (NBD payloads and reads, page-blob reads, chunk packs and
 * runs, background copies).
 *
 * Design notes:
 * - A payload that arrives split over several socket chunks must be copied into one contiguous
 *   buffer. Allocating a fresh one per request means fresh pages per request: on the VMs snapdisk
 *   was measured on, a first touch costs ~16 µs per 4 KiB page, which capped writes near
 *   250 MB/s. Reusing buffers whose pages are already mapped removes that cost.
 * - Buffers come in power-of-two size classes (64 KiB minimum); `acquire(n)` returns a whole
 *   class buffer and the caller uses a view of its first n bytes. Idle buffers are kept up to
 *   `maxIdleBytes` in total; beyond that they are left to the GC.
 * - `sharedMemoryPool` allocates in shared memory: chunk bytes read into it are hashed on a worker
 *   thread without a copy (`chunks/hash-threads`).
 * - A buffer is released only by the code that acquired it, once nothing refers to it any more
 *   (NBD: when the backend's promise settled or the socket took the reply; HTTP: in the write
 *   callback).
 */

const MIN_CLASS = 64 * 1024;

export class BufferPool {
  private readonly idle = new Map<number, Buffer[]>();
  private idleBytes = 0;

  constructor(
    private readonly maxIdleBytes: number,
    private readonly allocate: (size: number) => Buffer = (size) => Buffer.allocUnsafeSlow(size),
  ) {}

  /** A buffer of at least `n` bytes (its length is the size class). */
  acquire(n: number): Buffer {
    const size = sizeClass(n);
    const list = this.idle.get(size);
    const buf = list?.pop();
    if (buf !== undefined) {
      this.idleBytes -= size;
      return buf;
    }
    return this.allocate(size);
  }

  /** Gives back a buffer obtained from `acquire`; it must not be used afterwards. */
  release(buf: Buffer): void {
    const size = buf.length;
    if (size !== sizeClass(size) || this.idleBytes + size > this.maxIdleBytes) return;
    let list = this.idle.get(size);
    if (list === undefined) {
      list = [];
      this.idle.set(size, list);
    }
    list.push(buf);
    this.idleBytes += size;
  }

  /** Bytes held idle, for tests. */
  get idleSize(): number {
    return this.idleBytes;
  }
}

function sizeClass(n: number): number {
  let size = MIN_CLASS;
  while (size < n) size *= 2;
  return size;
}

/** The process-wide pool for hot paths (96 MiB of idle buffers at most). */
export const sharedPool = new BufferPool(96 * 1024 * 1024);

/**
 * Recycled buffers in shared memory (a SharedArrayBuffer each), for chunk runs whose hashes are
 * checked on a worker thread: hydration groups, pack runs (64 MiB of idle buffers at most).
 */
export const sharedMemoryPool = new BufferPool(64 * 1024 * 1024, (size) => Buffer.from(new SharedArrayBuffer(size)));
