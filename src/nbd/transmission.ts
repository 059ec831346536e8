/**
 * @module nbd/transmission
 * The transmission phase of one connection: validates each request, runs it against the export
 * in the order `ordering.ts` allows, and writes its reply.
 *
 * Design notes:
 * - The connection (`connection.ts`) frames requests off the wire and calls `check` on a WRITE
 *   header before its payload arrives (so a rejected payload can be skipped instead of buffered),
 *   then `submit` with the payload. Everything else goes straight to `submit`.
 * - Replies leave through `ReplyWriter.send(parts)`, which writes header and data as one corked
 *   writev: no copy of read data into a combined buffer.
 * - Reads with structured replies (and without NBD_CMD_FLAG_DF) of at least `sparseReadMin` bytes
 *   consult `blockStatus` first: holes go out as 12-byte OFFSET_HOLE chunks and are never read;
 *   a fully allocated range costs one extra `blockStatus` call and is sent as one data chunk.
 * - Errors: with structured replies an error chunk carries the message (qemu prints it);
 *   otherwise a simple reply carries the errno alone. Successful non-read commands always get a
 *   16-byte simple reply, which the spec allows even after structured replies were negotiated.
 * - In-flight accounting (`inFlight`, `inFlightBytes`) drives the connection's backpressure.
 */

import type { BufferPool } from '../core/buffer-pool.js';
import type { NbdExport, NbdExtent } from './backend.js';
import type { ByteBudget } from './budget.js';
import { toWireError } from './errors.js';
import type { Session } from './handshake.js';
import { RequestOrder } from './ordering.js';
import type { Access } from './ordering.js';
import {
  Cmd,
  CmdFlag,
  Errno,
  ReplyFlag,
  State,
  encodeBlockStatusChunk,
  encodeDataChunkHeader,
  encodeErrorChunk,
  encodeHoleChunk,
  encodeNoneChunk,
  encodeSimpleReply,
} from './protocol.js';
import type { RequestHeader, StatusDescriptor } from './protocol.js';

export interface ReplyWriter {
  /** Writes the buffers back to back as one message; dropped silently once the socket is gone. */
  /** `done` runs once the socket took the bytes (or will never take them): buffers may be reused. */
  send(parts: Buffer[], done?: () => void): void;
}

export interface TransmissionConfig {
  maxPayload: number;
  /** Structured reads at least this long look for holes first (0 disables). */
  sparseReadMin: number;
  /** Most descriptors in one block status reply. */
  maxExtents: number;
}

export interface Rejection {
  errno: number;
  message: string;
}

const VALID_FLAGS: Record<number, number> = {
  [Cmd.READ]: CmdFlag.FUA | CmdFlag.DF,
  [Cmd.WRITE]: CmdFlag.FUA,
  [Cmd.FLUSH]: CmdFlag.FUA,
  [Cmd.TRIM]: CmdFlag.FUA,
  [Cmd.CACHE]: CmdFlag.FUA,
  [Cmd.WRITE_ZEROES]: CmdFlag.FUA | CmdFlag.NO_HOLE | CmdFlag.FAST_ZERO,
  [Cmd.BLOCK_STATUS]: CmdFlag.FUA | CmdFlag.REQ_ONE,
};

const MODIFIES = new Set<number>([Cmd.WRITE, Cmd.TRIM, Cmd.WRITE_ZEROES]);

function reject(errno: number, message: string): Rejection {
  return { errno, message };
}

export class Transmission {
  private readonly exp: NbdExport;
  private readonly order = new RequestOrder();
  private inFlightCount = 0;
  private inFlightByteCount = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly session: Session,
    private readonly config: TransmissionConfig,
    private readonly writer: ReplyWriter,
    /** Called whenever a request settles, so the connection can resume reading. */
    private readonly onSettled: () => void,
    /** The server-wide budget the connection charged each request's payload to. */
    private readonly budget: ByteBudget,
    /** Recycled buffers for read replies. */
    private readonly pool: BufferPool,
  ) {
    this.exp = session.export;
  }

  /** Bytes of payload a request moves (the amount charged to the budget): READ and WRITE lengths. */
  static payloadOf(h: RequestHeader): number {
    return h.type === Cmd.READ || h.type === Cmd.WRITE ? h.length : 0;
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  get inFlightBytes(): number {
    return this.inFlightByteCount;
  }

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    if (this.inFlightCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Validates a request header; undefined when the request may run. */
  check(h: RequestHeader): Rejection | undefined {
    const valid = VALID_FLAGS[h.type];
    if (valid === undefined) return reject(Errno.EINVAL, `unknown command ${h.type}`);
    if ((h.flags & ~valid) !== 0) return reject(Errno.EINVAL, `invalid flags 0x${h.flags.toString(16)} for command ${h.type}`);
    if ((h.flags & CmdFlag.DF) !== 0 && !this.session.structured) {
      return reject(Errno.EINVAL, 'NBD_CMD_FLAG_DF needs structured replies');
    }
    if (h.type === Cmd.FLUSH) return undefined;
    if ((h.type === Cmd.READ || h.type === Cmd.WRITE) && h.length > this.config.maxPayload) {
      return reject(Errno.EINVAL, `request of ${h.length} bytes exceeds the maximum block size ${this.config.maxPayload}`);
    }
    if (h.type === Cmd.BLOCK_STATUS) {
      if (this.session.metaContextId === undefined) return reject(Errno.EINVAL, 'no meta context was negotiated');
      if (h.length === 0) return reject(Errno.EINVAL, 'block status of zero bytes');
    }
    if (MODIFIES.has(h.type) && this.exp.readOnly) return reject(Errno.EPERM, 'export is read-only');
    if (h.offset > this.exp.size || h.length > this.exp.size - h.offset) {
      const errno = h.type === Cmd.WRITE || h.type === Cmd.WRITE_ZEROES ? Errno.ENOSPC : Errno.EINVAL;
      return reject(errno, `range ${h.offset}+${h.length} is beyond the end of the export (${this.exp.size} bytes)`);
    }
    return undefined;
  }

  /** Replies with an error without running anything. */
  replyError(h: RequestHeader, errno: number, message: string): void {
    if (this.session.structured) this.writer.send([encodeErrorChunk(ReplyFlag.DONE, h, errno, message)]);
    else this.writer.send([encodeSimpleReply(errno, h)]);
  }

  /**
   * Runs a request that passed `check`. The connection charged `payloadOf(h)` bytes to the budget;
   * this gives them back once nothing refers to the payload or the read data any more. For WRITE
   * `payload` holds the data and `release` is called once the backend is done with it.
   */
  submit(h: RequestHeader, payload?: Buffer, release?: () => void): void {
    const cost = Transmission.payloadOf(h);
    this.inFlightCount++;
    this.inFlightByteCount += cost;
    const access = accessOf(h.type);
    const end = access === 'flush' || access === 'none' ? 0 : h.offset + h.length;
    void this.order.run(access, h.offset, end, () => this.execute(h, payload, cost)).then(() => {
      release?.();
      this.settle(cost);
    });
  }

  private settle(cost: number): void {
    this.inFlightCount--;
    this.inFlightByteCount -= cost;
    if (this.inFlightCount === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
    this.onSettled();
  }

  /** Runs one request and replies; gives its charge back unless a read's last send took it over. */
  private async execute(h: RequestHeader, payload: Buffer | undefined, charge: number): Promise<void> {
    let handedOver = false;
    try {
      if (h.type === Cmd.READ) handedOver = await this.read(h, charge);
      else await this.dispatch(h, payload);
    } catch (err) {
      const w = toWireError(err);
      this.replyError(h, w.errno, w.message);
    }
    if (!handedOver) this.budget.give(charge);
  }

  private async dispatch(h: RequestHeader, payload: Buffer | undefined): Promise<void> {
    const fua = (h.flags & CmdFlag.FUA) !== 0;
    switch (h.type) {
      case Cmd.WRITE:
        if (h.length > 0) await this.exp.write(h.offset, payload ?? Buffer.alloc(0), fua);
        break;
      case Cmd.FLUSH:
        await this.exp.flush();
        break;
      case Cmd.TRIM:
        if (h.length > 0) await this.exp.trim(h.offset, h.length, fua);
        break;
      case Cmd.WRITE_ZEROES:
        if ((h.flags & CmdFlag.FAST_ZERO) !== 0 && !this.zeroIsFast(h.offset, h.length)) {
          this.replyError(h, Errno.ENOTSUP, 'writing zeroes to this range is not faster than writing data right now');
          return;
        }
        if (h.length > 0) await this.exp.writeZeroes(h.offset, h.length, fua, (h.flags & CmdFlag.NO_HOLE) !== 0);
        break;
      case Cmd.BLOCK_STATUS:
        return this.blockStatus(h);
      case Cmd.CACHE:
        break; // a hint; the backend has no cache to prime
    }
    this.writer.send([encodeSimpleReply(0, h)]);
  }

  private zeroIsFast(offset: number, length: number): boolean {
    const exp = this.exp;
    if (exp.fastZero === false) return false;
    return exp.zeroIsFast === undefined || exp.zeroIsFast(offset, length);
  }

  /**
   * READ. Resolves true when the last send took the charge over: it is given back (with the
   * pooled buffers) once the socket has taken the data, not when the request settles.
   */
  private async read(h: RequestHeader, charge: number): Promise<boolean> {
    if (h.length === 0) {
      this.writer.send([this.session.structured ? encodeNoneChunk(h) : encodeSimpleReply(0, h)]);
      return false;
    }
    if (this.session.structured && (h.flags & CmdFlag.DF) === 0 && this.config.sparseReadMin > 0 && h.length >= this.config.sparseReadMin) {
      const got = await this.exp.blockStatus(h.offset, h.length);
      const head = got[0];
      // the usual answer, "all data", goes straight to one data chunk without building anything
      if (head === undefined || head.hole || head.length < h.length) {
        const extents = await this.coveringExtents(h.offset, h.length, got);
        if (extents.length > 1 || extents[0]?.hole === true) return this.sparseRead(h, extents, charge);
      }
    }
    const buf = await this.readData(h.offset, h.length);
    const header = this.session.structured ? encodeDataChunkHeader(ReplyFlag.DONE, h, h.offset, h.length) : encodeSimpleReply(0, h);
    this.writer.send([header, buf.length === h.length ? buf : buf.subarray(0, h.length)], () => this.returnRead(buf, charge));
    return true;
  }

  /** Once the socket took a read's data: its buffer back to the pool, its bytes to the budget. */
  private returnRead(buf: Buffer, charge: number): void {
    this.recycle(buf);
    this.budget.give(charge);
  }

  /**
   * The bytes of [offset, offset+length) at the front of a buffer: one from the server's pool
   * filled by `readInto` (fresh pages cost a page fault each on some VMs), or the backend's own
   * from `read`. The caller sends a view and hands it to `recycle` once the socket took it.
   */
  private async readData(offset: number, length: number): Promise<Buffer> {
    const exp = this.exp;
    if (exp.readInto === undefined) {
      const data = await exp.read(offset, length);
      if (data.length !== length) throw new Error(`backend read returned ${data.length} bytes instead of ${length}`);
      return data;
    }
    const pooled = this.pool.acquire(length);
    try {
      await exp.readInto(offset, pooled.subarray(0, length));
    } catch (err) {
      this.pool.release(pooled);
      throw err;
    }
    return pooled;
  }

  /** Gives a buffer from `readData` back: pooled ones to the pool, the backend's to the GC. */
  private recycle(buf: Buffer): void {
    if (this.exp.readInto !== undefined) this.pool.release(buf);
  }

  /**
   * Extents covering exactly [offset, offset+length), merged, hole flags normalised; `first` is
   * the backend's answer for the whole range, asked again from where it stopped.
   */
  private async coveringExtents(offset: number, length: number, first: NbdExtent[]): Promise<NbdExtent[]> {
    const out: NbdExtent[] = [];
    let pos = offset;
    const end = offset + length;
    for (let got = first; ; got = await this.exp.blockStatus(pos, end - pos)) {
      const before = pos;
      for (const e of got) {
        if (pos >= end) break;
        if (!(e.length > 0)) continue;
        pos = pushExtent(out, Math.min(e.length, end - pos), e.hole, pos);
      }
      if (pos >= end) return out;
      if (pos === before) throw new Error(`backend block status made no progress at offset ${pos}`);
    }
  }

  /**
   * Sends holes as hole chunks and reads only the data extents (into pooled buffers, all at once),
   * all chunks in offset order; if one read fails, none of its successors is sent.
   */
  private async sparseRead(h: RequestHeader, extents: NbdExtent[], charge: number): Promise<boolean> {
    let pos = h.offset;
    const reads = extents.map((e) => {
      const at = pos;
      pos += e.length;
      return e.hole ? undefined : this.readData(at, e.length);
    });
    reads.forEach((r) => r?.then((b) => b, () => undefined));
    pos = h.offset;
    let i = 0;
    try {
      for (; i < extents.length; i++) {
        const e = extents[i] as NbdExtent;
        const r = reads[i];
        const last = i === extents.length - 1;
        const flags = last ? ReplyFlag.DONE : 0;
        if (r === undefined) {
          if (last) {
            // writes complete in order: once this one is taken, so are the data chunks before it
            this.writer.send([encodeHoleChunk(flags, h, pos, e.length)], () => this.budget.give(charge));
            return true;
          }
          this.writer.send([encodeHoleChunk(flags, h, pos, e.length)]);
        } else {
          const buf = await r;
          const data = buf.length === e.length ? buf : buf.subarray(0, e.length);
          const header = encodeDataChunkHeader(flags, h, pos, e.length);
          if (last) {
            this.writer.send([header, data], () => this.returnRead(buf, charge));
            return true;
          }
          this.writer.send([header, data], () => this.recycle(buf));
        }
        pos += e.length;
      }
      return false;
    } finally {
      // buffers of reads that were started but whose chunks were never sent
      for (let k = i + 1; k < reads.length; k++) void reads[k]?.then((b) => this.recycle(b), () => undefined);
    }
  }

  private async blockStatus(h: RequestHeader): Promise<void> {
    const got = await this.exp.blockStatus(h.offset, h.length);
    const reqOne = (h.flags & CmdFlag.REQ_ONE) !== 0;
    const limit = reqOne ? 1 : this.config.maxExtents;
    const descriptors: StatusDescriptor[] = [];
    let left = h.length;
    for (const e of got) {
      if (left === 0) break;
      if (!(e.length > 0)) continue;
      const length = Math.min(e.length, left);
      const status = e.hole ? State.HOLE | State.ZERO : 0;
      const last = descriptors[descriptors.length - 1];
      if (last !== undefined && last.status === status) last.length += length;
      else if (descriptors.length < limit) descriptors.push({ length, status });
      else break;
      left -= length;
    }
    if (descriptors.length === 0) throw new Error('backend block status returned no extent');
    const id = this.session.metaContextId ?? 0;
    this.writer.send([encodeBlockStatusChunk(ReplyFlag.DONE, h, id, descriptors)]);
  }
}

function pushExtent(out: NbdExtent[], length: number, hole: boolean, pos: number): number {
  const last = out[out.length - 1];
  if (last !== undefined && last.hole === hole) last.length += length;
  else out.push({ length, hole });
  return pos + length;
}

function accessOf(type: number): Access {
  switch (type) {
    case Cmd.READ:
    case Cmd.BLOCK_STATUS:
      return 'read';
    case Cmd.WRITE:
    case Cmd.TRIM:
    case Cmd.WRITE_ZEROES:
      return 'write';
    case Cmd.FLUSH:
      return 'flush';
    default:
      return 'none';
  }
}
