/**
 * @module nbd/protocol
 * Pure codec for the NBD protocol as snapdisk speaks it: fixed newstyle handshake, simple and
 * structured replies, `base:allocation` block status. No I/O here: every function turns numbers
 * into bytes or bytes into numbers, for the server (`server.ts`) and for the test client alike.
 *
 * Wire facts (all big-endian, see NetworkBlockDevice/nbd doc/proto.md):
 * ```
 * greeting      "NBDMAGIC" "IHAVEOPT" u16 handshake-flags            (server, 18 bytes)
 * client flags  u32                                                     (client, 4 bytes)
 * option        "IHAVEOPT" u32 option u32 length <data>                 (client, 16 + n)
 * option reply  u64 0x3e889045565a9 u32 option u32 type u32 length <data> (server, 20 + n)
 * request       u32 0x25609513 u16 flags u16 type u64 cookie u64 offset u32 length [data]   (28 + n)
 * simple reply  u32 0x67446698 u32 error u64 cookie [data]                (16 + n)
 * chunk         u32 0x668e33ef u16 flags u16 type u64 cookie u32 length <payload>     (20 + n)
 * ```
 * 64-bit fields are handled as two u32 halves: offsets become JS numbers (exact below 2^53, and
 * anything above is larger than any export, so range checks still reject it); cookies are echoed
 * back verbatim as `cookieHi`/`cookieLo` and never interpreted.
 */

const NBD_MAGIC_HI = 0x4e42444d; // "NBDM"
const NBD_MAGIC_LO = 0x41474943; // "AGIC"
const IHAVEOPT_HI = 0x49484156; // "IHAV"
const IHAVEOPT_LO = 0x454f5054; // "EOPT"
const OPTION_REPLY_MAGIC_HI = 0x0003e889;
const OPTION_REPLY_MAGIC_LO = 0x045565a9;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

export const GREETING_SIZE = 18;
export const OPTION_HEADER_SIZE = 16;
export const OPTION_REPLY_HEADER_SIZE = 20;
export const REQUEST_HEADER_SIZE = 28;
export const SIMPLE_REPLY_HEADER_SIZE = 16;
export const CHUNK_HEADER_SIZE = 20;
/** Header of an OFFSET_DATA chunk: chunk header + u64 offset. */
export const DATA_CHUNK_HEADER_SIZE = 28;
/** Longest string (export name, error message, context name) the protocol allows. */
export const MAX_STRING_LENGTH = 4096;

export const HandshakeFlag = { FIXED_NEWSTYLE: 1 << 0, NO_ZEROES: 1 << 1 } as const;
export const ClientFlag = { FIXED_NEWSTYLE: 1 << 0, NO_ZEROES: 1 << 1 } as const;

export const Opt = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  PEEK_EXPORT: 4,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const;

const ERR = 0x80000000;
export const Rep = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: ERR + 1,
  ERR_POLICY: ERR + 2,
  ERR_INVALID: ERR + 3,
  ERR_PLATFORM: ERR + 4,
  ERR_TLS_REQD: ERR + 5,
  ERR_UNKNOWN: ERR + 6,
  ERR_SHUTDOWN: ERR + 7,
  ERR_BLOCK_SIZE_REQD: ERR + 8,
  ERR_TOO_BIG: ERR + 9,
} as const;

export function isErrorReply(type: number): boolean {
  return type >= ERR;
}

export const Info = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

export const TxFlag = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const;

export const Cmd = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;

export const CmdFlag = { FUA: 1 << 0, NO_HOLE: 1 << 1, DF: 1 << 2, REQ_ONE: 1 << 3, FAST_ZERO: 1 << 4 } as const;

export const ReplyFlag = { DONE: 1 } as const;

export const ReplyType = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: 0x8001,
  ERROR_OFFSET: 0x8002,
} as const;

/** Error values allowed on the wire (they match Linux errno numbers). */
export const Errno = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;

/** `base:allocation` status bits. */
export const State = { HOLE: 1 << 0, ZERO: 1 << 1 } as const;

export const BASE_ALLOCATION = 'base:allocation';

// ---------------------------------------------------------------------------------------------
// small helpers

const TWO_32 = 0x1_0000_0000;

/** Writes a non-negative integer (< 2^64, exact below 2^53) as u64 big-endian. */
export function writeU64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32BE(Math.floor(value / TWO_32) >>> 0, offset);
  buf.writeUInt32BE(value >>> 0, offset + 4);
}

/** Reads a u64 as a number; values past 2^53 lose precision but stay larger than any export. */
export function readU64(buf: Buffer, offset: number): number {
  return buf.readUInt32BE(offset) * TWO_32 + buf.readUInt32BE(offset + 4);
}

function utf8(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** Clips a human-readable message to the protocol's string limit (on a UTF-8 boundary). */
export function clipMessage(message: string, max = MAX_STRING_LENGTH): Buffer {
  const bytes = utf8(message);
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

// ---------------------------------------------------------------------------------------------
// handshake

export function encodeGreeting(handshakeFlags: number): Buffer {
  const b = Buffer.allocUnsafe(GREETING_SIZE);
  b.writeUInt32BE(NBD_MAGIC_HI, 0);
  b.writeUInt32BE(NBD_MAGIC_LO, 4);
  b.writeUInt32BE(IHAVEOPT_HI, 8);
  b.writeUInt32BE(IHAVEOPT_LO, 12);
  b.writeUInt16BE(handshakeFlags, 16);
  return b;
}

export interface Greeting {
  valid: boolean;
  handshakeFlags: number;
}

export function decodeGreeting(b: Buffer): Greeting {
  const valid =
    b.readUInt32BE(0) === NBD_MAGIC_HI &&
    b.readUInt32BE(4) === NBD_MAGIC_LO &&
    b.readUInt32BE(8) === IHAVEOPT_HI &&
    b.readUInt32BE(12) === IHAVEOPT_LO;
  return { valid, handshakeFlags: b.readUInt16BE(16) };
}

export function encodeClientFlags(flags: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(flags >>> 0, 0);
  return b;
}

export interface OptionHeader {
  /** False when the header does not start with IHAVEOPT: the client is not speaking NBD. */
  valid: boolean;
  option: number;
  length: number;
}

export function decodeOptionHeader(b: Buffer): OptionHeader {
  return {
    valid: b.readUInt32BE(0) === IHAVEOPT_HI && b.readUInt32BE(4) === IHAVEOPT_LO,
    option: b.readUInt32BE(8),
    length: b.readUInt32BE(12),
  };
}

/** Client side: an option with its data. */
export function encodeOption(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(OPTION_HEADER_SIZE + data.length);
  b.writeUInt32BE(IHAVEOPT_HI, 0);
  b.writeUInt32BE(IHAVEOPT_LO, 4);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(data.length, 12);
  data.copy(b, OPTION_HEADER_SIZE);
  return b;
}

export function encodeOptionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(OPTION_REPLY_HEADER_SIZE + data.length);
  b.writeUInt32BE(OPTION_REPLY_MAGIC_HI, 0);
  b.writeUInt32BE(OPTION_REPLY_MAGIC_LO, 4);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(type >>> 0, 12);
  b.writeUInt32BE(data.length, 16);
  data.copy(b, OPTION_REPLY_HEADER_SIZE);
  return b;
}

export interface OptionReplyHeader {
  valid: boolean;
  option: number;
  type: number;
  length: number;
}

export function decodeOptionReplyHeader(b: Buffer): OptionReplyHeader {
  return {
    valid: b.readUInt32BE(0) === OPTION_REPLY_MAGIC_HI && b.readUInt32BE(4) === OPTION_REPLY_MAGIC_LO,
    option: b.readUInt32BE(8),
    type: b.readUInt32BE(12),
    length: b.readUInt32BE(16),
  };
}

/** Data of an NBD_REP_SERVER reply: u32 name length, name, optional description. */
export function encodeRepServer(name: string, description?: string): Buffer {
  const n = utf8(name);
  const d = description === undefined ? Buffer.alloc(0) : clipMessage(description);
  const b = Buffer.allocUnsafe(4 + n.length + d.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  d.copy(b, 4 + n.length);
  return b;
}

export function decodeRepServer(data: Buffer): { name: string; description: string } | undefined {
  if (data.length < 4) return undefined;
  const len = data.readUInt32BE(0);
  if (len > data.length - 4) return undefined;
  return {
    name: data.toString('utf8', 4, 4 + len),
    description: data.toString('utf8', 4 + len),
  };
}

/** NBD_INFO_EXPORT: u16 type, u64 size, u16 transmission flags. */
export function encodeInfoExport(size: number, transmissionFlags: number): Buffer {
  const b = Buffer.allocUnsafe(12);
  b.writeUInt16BE(Info.EXPORT, 0);
  writeU64(b, size, 2);
  b.writeUInt16BE(transmissionFlags, 10);
  return b;
}

/** NBD_INFO_NAME or NBD_INFO_DESCRIPTION: u16 type, string. */
export function encodeInfoString(type: number, value: string): Buffer {
  const s = clipMessage(value);
  const b = Buffer.allocUnsafe(2 + s.length);
  b.writeUInt16BE(type, 0);
  s.copy(b, 2);
  return b;
}

/** NBD_INFO_BLOCK_SIZE: u16 type, u32 minimum, u32 preferred, u32 maximum. */
export function encodeInfoBlockSize(minimum: number, preferred: number, maximum: number): Buffer {
  const b = Buffer.allocUnsafe(14);
  b.writeUInt16BE(Info.BLOCK_SIZE, 0);
  b.writeUInt32BE(minimum, 2);
  b.writeUInt32BE(preferred, 6);
  b.writeUInt32BE(maximum, 10);
  return b;
}

export interface InfoRequest {
  name: string;
  infos: number[];
}

/** Data of NBD_OPT_INFO / NBD_OPT_GO: u32 name length, name, u16 count, count x u16. */
export function decodeInfoRequest(data: Buffer): InfoRequest | undefined {
  if (data.length < 6) return undefined;
  const nameLen = data.readUInt32BE(0);
  if (nameLen > data.length - 6) return undefined;
  const count = data.readUInt16BE(4 + nameLen);
  if (data.length !== 6 + nameLen + 2 * count) return undefined;
  const infos: number[] = [];
  for (let i = 0; i < count; i++) infos.push(data.readUInt16BE(6 + nameLen + 2 * i));
  return { name: data.toString('utf8', 4, 4 + nameLen), infos };
}

export function encodeInfoRequest(name: string, infos: readonly number[] = []): Buffer {
  const n = utf8(name);
  const b = Buffer.allocUnsafe(6 + n.length + 2 * infos.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  b.writeUInt16BE(infos.length, 4 + n.length);
  infos.forEach((info, i) => b.writeUInt16BE(info, 6 + n.length + 2 * i));
  return b;
}

export interface MetaContextRequest {
  name: string;
  queries: string[];
}

/** Data of NBD_OPT_LIST/SET_META_CONTEXT: u32 name length, name, u32 count, count x (u32, string). */
export function decodeMetaContextRequest(data: Buffer): MetaContextRequest | undefined {
  if (data.length < 8) return undefined;
  const nameLen = data.readUInt32BE(0);
  if (nameLen > data.length - 8) return undefined;
  const name = data.toString('utf8', 4, 4 + nameLen);
  let pos = 4 + nameLen;
  const count = data.readUInt32BE(pos);
  pos += 4;
  // Each query takes at least 4 bytes, so a count larger than that is malformed.
  if (count > (data.length - pos) / 4) return undefined;
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    if (pos + 4 > data.length) return undefined;
    const len = data.readUInt32BE(pos);
    pos += 4;
    if (len > data.length - pos) return undefined;
    queries.push(data.toString('utf8', pos, pos + len));
    pos += len;
  }
  return pos === data.length ? { name, queries } : undefined;
}

export function encodeMetaContextRequest(name: string, queries: readonly string[]): Buffer {
  const parts = [utf8(name), ...queries.map(utf8)];
  const b = Buffer.allocUnsafe(8 + parts.reduce((n, p) => n + 4 + p.length, 0) - 4);
  let pos = 0;
  parts.forEach((p, i) => {
    b.writeUInt32BE(p.length, pos);
    p.copy(b, pos + 4);
    pos += 4 + p.length;
    if (i === 0) {
      b.writeUInt32BE(queries.length, pos);
      pos += 4;
    }
  });
  return b;
}

/** NBD_REP_META_CONTEXT data: u32 context id, name. */
export function encodeMetaContext(id: number, name: string): Buffer {
  const n = utf8(name);
  const b = Buffer.allocUnsafe(4 + n.length);
  b.writeUInt32BE(id, 0);
  n.copy(b, 4);
  return b;
}

/** Reply to NBD_OPT_EXPORT_NAME: u64 size, u16 flags, and 124 zero bytes unless NO_ZEROES. */
export function encodeExportNameReply(size: number, transmissionFlags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(noZeroes ? 10 : 134);
  writeU64(b, size, 0);
  b.writeUInt16BE(transmissionFlags, 8);
  return b;
}

// ---------------------------------------------------------------------------------------------
// transmission

export interface RequestHeader {
  magic: number;
  flags: number;
  type: number;
  cookieHi: number;
  cookieLo: number;
  offset: number;
  length: number;
}

export function decodeRequest(b: Buffer, at = 0): RequestHeader {
  return {
    magic: b.readUInt32BE(at),
    flags: b.readUInt16BE(at + 4),
    type: b.readUInt16BE(at + 6),
    cookieHi: b.readUInt32BE(at + 8),
    cookieLo: b.readUInt32BE(at + 12),
    offset: readU64(b, at + 16),
    length: b.readUInt32BE(at + 24),
  };
}

/** Client side: a request header (the WRITE payload, if any, follows separately). */
export function encodeRequest(r: Omit<RequestHeader, 'magic'> & { magic?: number }): Buffer {
  const b = Buffer.allocUnsafe(REQUEST_HEADER_SIZE);
  b.writeUInt32BE(r.magic ?? REQUEST_MAGIC, 0);
  b.writeUInt16BE(r.flags, 4);
  b.writeUInt16BE(r.type, 6);
  b.writeUInt32BE(r.cookieHi >>> 0, 8);
  b.writeUInt32BE(r.cookieLo >>> 0, 12);
  writeU64(b, r.offset, 16);
  b.writeUInt32BE(r.length >>> 0, 24);
  return b;
}

export interface Cookie {
  cookieHi: number;
  cookieLo: number;
}

export function encodeSimpleReply(error: number, c: Cookie): Buffer {
  const b = Buffer.allocUnsafe(SIMPLE_REPLY_HEADER_SIZE);
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(error, 4);
  b.writeUInt32BE(c.cookieHi, 8);
  b.writeUInt32BE(c.cookieLo, 12);
  return b;
}

export interface SimpleReplyHeader extends Cookie {
  magic: number;
  error: number;
}

export function decodeSimpleReply(b: Buffer): SimpleReplyHeader {
  return { magic: b.readUInt32BE(0), error: b.readUInt32BE(4), cookieHi: b.readUInt32BE(8), cookieLo: b.readUInt32BE(12) };
}

function chunkHeader(b: Buffer, flags: number, type: number, c: Cookie, length: number): void {
  b.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeUInt32BE(c.cookieHi, 8);
  b.writeUInt32BE(c.cookieLo, 12);
  b.writeUInt32BE(length, 16);
}

/** A chunk without payload (NBD_REPLY_TYPE_NONE is the usual one, always with DONE). */
export function encodeNoneChunk(c: Cookie): Buffer {
  const b = Buffer.allocUnsafe(CHUNK_HEADER_SIZE);
  chunkHeader(b, ReplyFlag.DONE, ReplyType.NONE, c, 0);
  return b;
}

/** Header of an OFFSET_DATA chunk; `dataLength` bytes of data must follow on the wire. */
export function encodeDataChunkHeader(flags: number, c: Cookie, offset: number, dataLength: number): Buffer {
  const b = Buffer.allocUnsafe(DATA_CHUNK_HEADER_SIZE);
  chunkHeader(b, flags, ReplyType.OFFSET_DATA, c, 8 + dataLength);
  writeU64(b, offset, CHUNK_HEADER_SIZE);
  return b;
}

export function encodeHoleChunk(flags: number, c: Cookie, offset: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(CHUNK_HEADER_SIZE + 12);
  chunkHeader(b, flags, ReplyType.OFFSET_HOLE, c, 12);
  writeU64(b, offset, CHUNK_HEADER_SIZE);
  b.writeUInt32BE(length, CHUNK_HEADER_SIZE + 8);
  return b;
}

export interface StatusDescriptor {
  length: number;
  status: number;
}

export function encodeBlockStatusChunk(
  flags: number,
  c: Cookie,
  contextId: number,
  descriptors: readonly StatusDescriptor[],
): Buffer {
  const payload = 4 + 8 * descriptors.length;
  const b = Buffer.allocUnsafe(CHUNK_HEADER_SIZE + payload);
  chunkHeader(b, flags, ReplyType.BLOCK_STATUS, c, payload);
  b.writeUInt32BE(contextId, CHUNK_HEADER_SIZE);
  let pos = CHUNK_HEADER_SIZE + 4;
  for (const d of descriptors) {
    b.writeUInt32BE(d.length, pos);
    b.writeUInt32BE(d.status, pos + 4);
    pos += 8;
  }
  return b;
}

export function encodeErrorChunk(flags: number, c: Cookie, error: number, message: string): Buffer {
  const m = clipMessage(message);
  const b = Buffer.allocUnsafe(CHUNK_HEADER_SIZE + 6 + m.length);
  chunkHeader(b, flags, ReplyType.ERROR, c, 6 + m.length);
  b.writeUInt32BE(error, CHUNK_HEADER_SIZE);
  b.writeUInt16BE(m.length, CHUNK_HEADER_SIZE + 4);
  m.copy(b, CHUNK_HEADER_SIZE + 6);
  return b;
}

export interface ChunkHeader extends Cookie {
  magic: number;
  flags: number;
  type: number;
  length: number;
}

export function decodeChunkHeader(b: Buffer): ChunkHeader {
  return {
    magic: b.readUInt32BE(0),
    flags: b.readUInt16BE(4),
    type: b.readUInt16BE(6),
    cookieHi: b.readUInt32BE(8),
    cookieLo: b.readUInt32BE(12),
    length: b.readUInt32BE(16),
  };
}

/** Reads the reply magic at the front of a server message to tell simple from structured. */
export function replyMagic(b: Buffer): number {
  return b.readUInt32BE(0);
}
