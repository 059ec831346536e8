/**
 * @module nbd/ordering
 * Keeps the requests of one connection from reordering destructively while letting everything
 * else run concurrently.
 *
 * Design notes:
 * - NBD lets a server process and answer pipelined requests in any order, but a client that
 *   pipelines `write A; write B` over overlapping bytes expects B to land last, and one that
 *   pipelines `write; read` of the same bytes expects to read what it wrote. So each request
 *   declares the byte range it touches and whether it reads or modifies it; a request waits only
 *   for *earlier* requests it conflicts with:
 *   ```
 *               earlier read   earlier write   earlier flush
 *   new read        -            overlap           -
 *   new write     overlap        overlap           -
 *   new flush       -             any              -
 *   ```
 *   Non-overlapping reads and writes (a sequential `qemu-img convert`) never wait; a flush waits
 *   for every write sent before it, which is more than the spec asks (only replied-to writes) and
 *   what a careful client expects.
 * - Rejected alternative: run commands strictly one at a time per connection. Simple, but it caps
 *   a connection at one backend I/O at a time.
 * - The set of in-flight requests is small (bounded by the connection's in-flight limit), so a
 *   linear scan is cheaper than an interval tree. A request with no conflict starts synchronously.
 */

export type Access = 'read' | 'write' | 'flush' | 'none';

interface Entry {
  access: Access;
  start: number;
  end: number;
  done: Promise<void>;
}

function conflicts(earlier: Entry, access: Access, start: number, end: number): boolean {
  if (access === 'none' || earlier.access === 'none' || earlier.access === 'flush') return false;
  if (access === 'flush') return earlier.access === 'write';
  if (access === 'read' && earlier.access === 'read') return false;
  return earlier.start < end && start < earlier.end;
}

export class RequestOrder {
  private readonly active = new Set<Entry>();

  /** Number of requests started or waiting. */
  get size(): number {
    return this.active.size;
  }

  /**
   * Runs `task` once every earlier conflicting request has finished. The returned promise settles
   * when the task has finished; it never rejects (a task's rejection is swallowed here, so tasks
   * report their own errors).
   */
  run(access: Access, start: number, end: number, task: () => Promise<void>): Promise<void> {
    const deps: Promise<void>[] = [];
    for (const e of this.active) if (conflicts(e, access, start, end)) deps.push(e.done);
    const entry: Entry = { access, start, end, done: Promise.resolve() };
    const started = deps.length === 0 ? invoke(task) : Promise.all(deps).then(() => invoke(task));
    entry.done = started.then(() => {
      this.active.delete(entry);
    });
    this.active.add(entry);
    return entry.done;
  }
}

function invoke(task: () => Promise<void>): Promise<void> {
  try {
    return task().catch(() => undefined);
  } catch {
    return Promise.resolve();
  }
}
