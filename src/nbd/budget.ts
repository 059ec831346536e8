/**
 * @module nbd/budget
 * The server-wide budget of payload bytes in flight: what keeps many clients, each within its own
 * connection's limits, from adding up to more memory than the process can afford.
 *
 * Design notes:
 * - A READ is charged its length from the moment its header is parsed until the socket has taken
 *   the reply data (the pooled buffer it was read into stays referenced that long); a WRITE its
 *   length from the header until the backend is done with the payload. Other commands carry no
 *   payload and cost nothing here.
 * - A request that does not fit waits, in arrival order across all connections: its connection
 *   stops reading the socket (backpressure to the client) until the bytes are granted. Nobody
 *   queues behind a waiter, so a large request is not starved by a stream of small ones.
 * - The limit is at least the largest payload, so every request fits once the others finish.
 *   A client that stops reading its replies keeps its reads charged; the per-connection limit
 *   (`maxInFlightBytes`) caps what one such client can hold.
 */

interface Waiter {
  bytes: number;
  grant: () => void;
}

export class ByteBudget {
  private used = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit <= 0) throw new RangeError(`budget limit must be a positive integer, got ${limit}`);
  }

  /** Bytes charged right now. */
  get inUse(): number {
    return this.used;
  }

  /** Requests waiting for bytes. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Charges `bytes` when they fit and nobody is waiting; false otherwise (then call `wait`). */
  tryTake(bytes: number): boolean {
    if (this.waiters.length > 0 || !this.fits(bytes)) return false;
    this.used += bytes;
    return true;
  }

  /**
   * Queues for `bytes`; `grant` runs (synchronously, from a later `give`) once they are charged.
   * Returns a function that leaves the queue; calling it after the grant does nothing.
   */
  wait(bytes: number, grant: () => void): () => void {
    const w: Waiter = { bytes, grant };
    this.waiters.push(w);
    return () => {
      const i = this.waiters.indexOf(w);
      if (i < 0) return;
      this.waiters.splice(i, 1);
      if (i === 0) this.drain(); // the head may have been what held the others back
    };
  }

  /** Returns bytes charged by `tryTake` or granted by `wait`. */
  give(bytes: number): void {
    if (bytes === 0) return;
    this.used -= bytes;
    if (this.used < 0) throw new Error(`nbd budget returned ${-this.used} bytes more than it charged`);
    this.drain();
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.limit;
  }

  private drain(): void {
    for (let w = this.waiters[0]; w !== undefined && this.fits(w.bytes); w = this.waiters[0]) {
      this.waiters.shift();
      this.used += w.bytes;
      w.grant();
    }
  }
}
