/**
 * @module nbd/test-client
 * A deliberately low-level NBD client for tests: it sends exactly the bytes a test asks for
 * (including malformed ones) and reads replies one message at a time, so tests can check the
 * server's answers byte by byte. Not for production use: no pipelining bookkeeping, no retries.
 */

import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { ByteQueue } from './byte-queue.js';
import {
  CHUNK_HEADER_SIZE,
  ClientFlag,
  Cmd,
  GREETING_SIZE,
  Info,
  OPTION_REPLY_HEADER_SIZE,
  Opt,
  Rep,
  ReplyFlag,
  ReplyType,
  SIMPLE_REPLY_HEADER_SIZE,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
  decodeChunkHeader,
  decodeGreeting,
  decodeOptionReplyHeader,
  decodeSimpleReply,
  encodeClientFlags,
  encodeInfoRequest,
  encodeMetaContextRequest,
  encodeOption,
  encodeRequest,
  isErrorReply,
  readU64,
} from './protocol.js';
import type { ChunkHeader } from './protocol.js';

export interface OptionReply {
  option: number;
  type: number;
  data: Buffer;
}

export interface Chunk extends ChunkHeader {
  payload: Buffer;
}

export interface SimpleReply {
  kind: 'simple';
  error: number;
  cookie: number;
  data: Buffer;
}

export interface StructuredReply {
  kind: 'structured';
  cookie: number;
  chunks: Chunk[];
}

export interface GoResult {
  size: number;
  flags: number;
  infos: OptionReply[];
}

const TWO_32 = 0x1_0000_0000;

export function cookieOf(hi: number, lo: number): number {
  return hi * TWO_32 + lo;
}

export class RawNbdClient {
  handshakeFlags = 0;
  private readonly queue = new ByteQueue();
  private waiter: (() => void) | undefined;
  private ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.end());
  }

  /** Connects and reads the 18-byte greeting. */
  static async connect(port: number, host = '127.0.0.1'): Promise<RawNbdClient> {
    const socket = connect(port, host);
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawNbdClient(socket);
    const greeting = decodeGreeting(await client.read(GREETING_SIZE));
    if (!greeting.valid) throw new Error('bad greeting');
    client.handshakeFlags = greeting.handshakeFlags;
    return client;
  }

  /** Connects, sends flags and negotiates structured replies / meta context as asked, then GO. */
  static async open(
    port: number,
    name: string,
    opts: { structured?: boolean; meta?: boolean } = {},
  ): Promise<RawNbdClient & { go: GoResult }> {
    const c = await RawNbdClient.connect(port);
    c.sendFlags(ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES);
    if (opts.structured === true || opts.meta === true) {
      const r = await c.option(Opt.STRUCTURED_REPLY);
      if (r[0]?.type !== Rep.ACK) throw new Error('structured replies refused');
    }
    if (opts.meta === true) {
      const r = await c.option(Opt.SET_META_CONTEXT, encodeMetaContextRequest(name, ['base:allocation']));
      if (r.length !== 2) throw new Error('base:allocation not selected');
    }
    const go = await c.go(name, [Info.BLOCK_SIZE]);
    if (go === undefined) throw new Error(`GO ${name} failed`);
    return Object.assign(c, { go });
  }

  private push(chunk: Buffer): void {
    this.queue.push(chunk);
    this.wake();
  }

  private end(): void {
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Resolves with exactly n bytes, or rejects if the server closes first. */
  async read(n: number): Promise<Buffer> {
    while (this.queue.length < n) {
      if (this.ended) throw new Error(`connection closed while waiting for ${n} bytes (have ${this.queue.length})`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
    return this.queue.take(n);
  }

  get pendingBytes(): number {
    return this.queue.length;
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  sendFlags(flags: number): void {
    this.write(encodeClientFlags(flags));
  }

  async readOptionReply(): Promise<OptionReply> {
    const h = decodeOptionReplyHeader(await this.read(OPTION_REPLY_HEADER_SIZE));
    if (!h.valid) throw new Error('bad option reply magic');
    return { option: h.option, type: h.type, data: await this.read(h.length) };
  }

  /** Sends an option and collects replies up to the final one (ACK or an error). */
  async option(option: number, data?: Buffer): Promise<OptionReply[]> {
    this.write(encodeOption(option, data));
    const out: OptionReply[] = [];
    for (;;) {
      const r = await this.readOptionReply();
      out.push(r);
      if (r.type === Rep.ACK || isErrorReply(r.type)) return out;
    }
  }

  /** NBD_OPT_GO; undefined (with the error reply in `lastError`) when refused. */
  async go(name: string, infos: number[] = []): Promise<GoResult | undefined> {
    const replies = await this.option(Opt.GO, encodeInfoRequest(name, infos));
    return this.parseInfo(replies);
  }

  lastError: OptionReply | undefined;

  parseInfo(replies: OptionReply[]): GoResult | undefined {
    const last = replies[replies.length - 1];
    if (last === undefined || last.type !== Rep.ACK) {
      this.lastError = last;
      return undefined;
    }
    const exp = replies.find((r) => r.type === Rep.INFO && r.data.readUInt16BE(0) === Info.EXPORT);
    if (exp === undefined) throw new Error('no NBD_INFO_EXPORT');
    return { size: readU64(exp.data, 2), flags: exp.data.readUInt16BE(10), infos: replies.slice(0, -1) };
  }

  /** Sends a request header (and payload for writes). */
  request(type: number, offset: number, length: number, opts: { flags?: number; cookie?: number; payload?: Buffer } = {}): void {
    const cookie = opts.cookie ?? 1;
    const header = encodeRequest({
      flags: opts.flags ?? 0,
      type,
      cookieHi: Math.floor(cookie / TWO_32),
      cookieLo: cookie >>> 0,
      offset,
      length,
    });
    this.write(opts.payload === undefined ? header : Buffer.concat([header, opts.payload]));
  }

  /**
   * Reads one reply. `readLengths` maps the cookies of outstanding simple-reply READs to their
   * lengths (a simple reply does not say how much data follows).
   */
  async reply(readLengths: Map<number, number> = new Map()): Promise<SimpleReply | StructuredReply> {
    const first = await this.read(4);
    const magic = first.readUInt32BE(0);
    if (magic === SIMPLE_REPLY_MAGIC) {
      const h = decodeSimpleReply(Buffer.concat([first, await this.read(SIMPLE_REPLY_HEADER_SIZE - 4)]));
      const cookie = cookieOf(h.cookieHi, h.cookieLo);
      const len = h.error === 0 ? (readLengths.get(cookie) ?? 0) : 0;
      return { kind: 'simple', error: h.error, cookie, data: await this.read(len) };
    }
    if (magic !== STRUCTURED_REPLY_MAGIC) throw new Error(`bad reply magic 0x${magic.toString(16)}`);
    const chunks: Chunk[] = [];
    let header: Buffer = Buffer.concat([first, await this.read(CHUNK_HEADER_SIZE - 4)]);
    for (;;) {
      const h = decodeChunkHeader(header);
      chunks.push({ ...h, payload: await this.read(h.length) });
      if ((h.flags & ReplyFlag.DONE) !== 0) return { kind: 'structured', cookie: cookieOf(h.cookieHi, h.cookieLo), chunks };
      header = await this.read(CHUNK_HEADER_SIZE);
    }
  }

  /** READ with a simple or structured reply, reassembled; throws on an error reply. */
  async pread(offset: number, length: number, flags = 0): Promise<Buffer> {
    this.request(Cmd.READ, offset, length, { flags, cookie: 7 });
    const r = await this.reply(new Map([[7, length]]));
    return assembleRead(r, offset, length);
  }

  /** Sends DISC and waits for the server to close. */
  async disconnect(): Promise<void> {
    this.request(Cmd.DISC, 0, 0);
    await this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** The reply as a structured one; throws if the server sent a simple reply. */
export function asStructured(r: SimpleReply | StructuredReply): StructuredReply {
  if (r.kind !== 'structured') throw new Error(`expected a structured reply, got a simple one (error ${r.error})`);
  return r;
}

/** The errno of a reply (0 for success). */
export function replyError(r: SimpleReply | StructuredReply): number {
  if (r.kind === 'simple') return r.error;
  const err = r.chunks.find((c) => (c.type & 0x8000) !== 0);
  return err === undefined ? 0 : err.payload.readUInt32BE(0);
}

/** The message of a structured error reply. */
export function replyMessage(r: SimpleReply | StructuredReply): string {
  if (r.kind === 'simple') return '';
  const err = r.chunks.find((c) => (c.type & 0x8000) !== 0);
  if (err === undefined) return '';
  return err.payload.toString('utf8', 6, 6 + err.payload.readUInt16BE(4));
}

export function assembleRead(r: SimpleReply | StructuredReply, offset: number, length: number): Buffer {
  const errno = replyError(r);
  if (errno !== 0) throw new Error(`read failed with errno ${errno} ${replyMessage(r)}`);
  if (r.kind === 'simple') return r.data;
  const out: Buffer = Buffer.alloc(length);
  const covered = new Uint8Array(length);
  for (const c of r.chunks) {
    if (c.type === ReplyType.OFFSET_DATA) {
      const at = readU64(c.payload, 0) - offset;
      c.payload.copy(out, at, 8);
      covered.fill(1, at, at + c.payload.length - 8);
    } else if (c.type === ReplyType.OFFSET_HOLE) {
      const at = readU64(c.payload, 0) - offset;
      covered.fill(1, at, at + c.payload.readUInt32BE(8));
    }
  }
  if (covered.some((v) => v === 0)) throw new Error('structured read did not cover the whole range');
  return out;
}

/** Compares two buffers fast (vitest's toEqual walks them byte by byte); names the first difference. */
export function firstDifference(a: Buffer, b: Buffer): string | undefined {
  if (a.equals(b)) return undefined;
  if (a.length !== b.length) return `lengths differ: ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `bytes differ at offset ${i}: ${a[i]} vs ${b[i]}`;
  return 'buffers differ';
}
