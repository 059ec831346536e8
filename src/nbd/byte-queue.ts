/**
 * @module nbd/byte-queue
 * The receive buffer of one connection: socket chunks are appended as they arrive and consumed
 * from the front in message-sized pieces.
 *
 * Design notes:
 * - No Buffer.concat of the whole buffer, ever. `take(n)` returns a zero-copy `subarray` when the
 *   n bytes sit in one received chunk (the usual case for 28-byte request headers and for small
 *   writes) and otherwise copies them once into a buffer of exactly n bytes (a 2 MiB write payload
 *   that arrived as 32 socket chunks is copied once, which is the least a contiguous payload
 *   needs). `copyTo` does the same into a buffer the caller supplies (a recycled one, see
 *   `buffer-pool.ts`).
 * - `skip(n)` discards bytes without keeping them: it is how oversized or rejected payloads are
 *   drained with bounded memory.
 * - Buffers handed out by `take` may alias socket chunks. Node allocates a fresh buffer for every
 *   socket read, so nothing else writes into them afterwards.
 */

export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Index of the first live chunk in `chunks`. */
  private first = 0;
  /** Bytes of `chunks[first]` already consumed. */
  private pos = 0;
  private total = 0;

  /** Bytes available. */
  get length(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** Removes and returns the first `n` bytes; the caller checks `length >= n` first. */
  take(n: number): Buffer {
    if (n > this.total) throw new RangeError(`take(${n}) with only ${this.total} bytes queued`);
    if (n === 0) return Buffer.alloc(0);
    const head = this.head();
    const avail = head.length - this.pos;
    if (avail >= n) {
      const out = head.subarray(this.pos, this.pos + n);
      this.advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    this.copyTo(out);
    return out;
  }

  /** True when the next `n` bytes sit in one received chunk (so `take(n)` will not copy). */
  contiguous(n: number): boolean {
    const c = this.chunks[this.first];
    return c !== undefined && c.length - this.pos >= n;
  }

  /** Moves the first `target.length` bytes into `target` (the caller checks `length` first). */
  copyTo(target: Buffer): void {
    const n = target.length;
    if (n > this.total) throw new RangeError(`copyTo(${n}) with only ${this.total} bytes queued`);
    let filled = 0;
    while (filled < n) {
      const c = this.head();
      const k = Math.min(c.length - this.pos, n - filled);
      c.copy(target, filled, this.pos, this.pos + k);
      filled += k;
      this.advance(k);
    }
  }

  /** Discards up to `n` bytes and returns how many were discarded. */
  skip(n: number): number {
    let left = Math.min(n, this.total);
    const done = left;
    while (left > 0) {
      const k = Math.min(this.head().length - this.pos, left);
      this.advance(k);
      left -= k;
    }
    return done;
  }

  /** Drops everything queued. */
  clear(): void {
    this.chunks = [];
    this.first = 0;
    this.pos = 0;
    this.total = 0;
  }

  private head(): Buffer {
    const c = this.chunks[this.first];
    if (c === undefined) throw new RangeError('byte queue is empty');
    return c;
  }

  private advance(k: number): void {
    this.pos += k;
    this.total -= k;
    if (this.pos === this.head().length) {
      this.first++;
      this.pos = 0;
      if (this.first === this.chunks.length) {
        this.chunks = [];
        this.first = 0;
      } else if (this.first >= 64) {
        this.chunks = this.chunks.slice(this.first);
        this.first = 0;
      }
    }
  }
}
