/**
 * @module nbd/protocol.test
 * Codec round trips and the exact bytes of the messages real clients parse.
 */

import { describe, expect, it } from 'vitest';
import {
  Cmd,
  Info,
  Opt,
  Rep,
  ReplyFlag,
  ReplyType,
  clipMessage,
  decodeChunkHeader,
  decodeGreeting,
  decodeInfoRequest,
  decodeMetaContextRequest,
  decodeOptionHeader,
  decodeOptionReplyHeader,
  decodeRepServer,
  decodeRequest,
  decodeSimpleReply,
  encodeBlockStatusChunk,
  encodeDataChunkHeader,
  encodeErrorChunk,
  encodeExportNameReply,
  encodeGreeting,
  encodeHoleChunk,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeInfoRequest,
  encodeMetaContextRequest,
  encodeOption,
  encodeOptionReply,
  encodeRepServer,
  encodeRequest,
  encodeSimpleReply,
  readU64,
  writeU64,
} from './protocol.js';

const cookie = { cookieHi: 0xdeadbeef, cookieLo: 0x01020304 };

describe('nbd protocol codec', () => {
  it('greeting: NBDMAGIC IHAVEOPT flags', () => {
    const g = encodeGreeting(3);
    expect(g.toString('latin1', 0, 16)).toBe('NBDMAGICIHAVEOPT');
    expect(g.readUInt16BE(16)).toBe(3);
    expect(decodeGreeting(g)).toEqual({ valid: true, handshakeFlags: 3 });
  });

  it('u64: exact below 2^53, larger values stay larger than any export', () => {
    const b = Buffer.alloc(8);
    for (const v of [0, 1, 0xffffffff, 0x100000000, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER]) {
      writeU64(b, v, 0);
      expect(readU64(b, 0)).toBe(v);
    }
    b.fill(0xff);
    expect(readU64(b, 0)).toBeGreaterThan(Number.MAX_SAFE_INTEGER);
  });

  it('option and option reply framing', () => {
    const o = encodeOption(Opt.GO, Buffer.from('abc'));
    expect(o.toString('latin1', 0, 8)).toBe('IHAVEOPT');
    expect(decodeOptionHeader(o)).toEqual({ valid: true, option: Opt.GO, length: 3 });
    expect(o.toString('latin1', 16)).toBe('abc');
    const r = encodeOptionReply(Opt.LIST, Rep.ERR_UNSUP, Buffer.from('no'));
    expect(r.readUInt32BE(0)).toBe(0x0003e889);
    expect(r.readUInt32BE(4)).toBe(0x045565a9);
    expect(decodeOptionReplyHeader(r)).toEqual({ valid: true, option: Opt.LIST, type: 0x80000001, length: 2 });
  });

  it('NBD_REP_SERVER carries name and description', () => {
    expect(decodeRepServer(encodeRepServer('/a/b', 'desc'))).toEqual({ name: '/a/b', description: 'desc' });
    expect(decodeRepServer(Buffer.from([0, 0, 0, 9, 1]))).toBeUndefined();
  });

  it('INFO/GO request round trip and malformed data', () => {
    const data = encodeInfoRequest('/subscriptions/x/disks/d', [Info.NAME, Info.BLOCK_SIZE]);
    expect(decodeInfoRequest(data)).toEqual({ name: '/subscriptions/x/disks/d', infos: [1, 3] });
    expect(decodeInfoRequest(data.subarray(0, data.length - 1))).toBeUndefined();
    expect(decodeInfoRequest(Buffer.concat([data, Buffer.alloc(1)]))).toBeUndefined();
    const lying = Buffer.from(data);
    lying.writeUInt32BE(10_000, 0);
    expect(decodeInfoRequest(lying)).toBeUndefined();
  });

  it('meta context request round trip and malformed data', () => {
    const data = encodeMetaContextRequest('exp', ['base:allocation', 'qemu:dirty-bitmap:x']);
    expect(decodeMetaContextRequest(data)).toEqual({ name: 'exp', queries: ['base:allocation', 'qemu:dirty-bitmap:x'] });
    expect(decodeMetaContextRequest(encodeMetaContextRequest('', []))).toEqual({ name: '', queries: [] });
    expect(decodeMetaContextRequest(data.subarray(0, data.length - 2))).toBeUndefined();
    const huge = Buffer.from(data);
    huge.writeUInt32BE(0xffffffff, 4 + 3); // query count
    expect(decodeMetaContextRequest(huge)).toBeUndefined();
  });

  it('info replies have the documented layout', () => {
    const e = encodeInfoExport(2 ** 33, 0x1234);
    expect(e.length).toBe(12);
    expect(e.readUInt16BE(0)).toBe(Info.EXPORT);
    expect(readU64(e, 2)).toBe(2 ** 33);
    expect(e.readUInt16BE(10)).toBe(0x1234);
    const bs = encodeInfoBlockSize(1, 4096, 32 << 20);
    expect([bs.readUInt16BE(0), bs.readUInt32BE(2), bs.readUInt32BE(6), bs.readUInt32BE(10)]).toEqual([3, 1, 4096, 32 << 20]);
  });

  it('EXPORT_NAME reply with and without the 124 zero bytes', () => {
    expect(encodeExportNameReply(1024, 1, true).length).toBe(10);
    const full = encodeExportNameReply(1024, 1, false);
    expect(full.length).toBe(134);
    expect(full.subarray(10).every((b) => b === 0)).toBe(true);
  });

  it('request round trip', () => {
    const r = { flags: 1, type: Cmd.WRITE, ...cookie, offset: 2 ** 40, length: 65536 };
    const b = encodeRequest(r);
    expect(b.length).toBe(28);
    expect(b.readUInt32BE(0)).toBe(0x25609513);
    expect(decodeRequest(b)).toEqual({ magic: 0x25609513, ...r });
  });

  it('simple reply and chunks', () => {
    expect(decodeSimpleReply(encodeSimpleReply(22, cookie))).toEqual({ magic: 0x67446698, error: 22, ...cookie });
    const d = encodeDataChunkHeader(ReplyFlag.DONE, cookie, 4096, 512);
    expect(decodeChunkHeader(d)).toEqual({ magic: 0x668e33ef, flags: 1, type: ReplyType.OFFSET_DATA, ...cookie, length: 520 });
    expect(readU64(d, 20)).toBe(4096);
    const h = encodeHoleChunk(0, cookie, 8192, 4096);
    expect(decodeChunkHeader(h).length).toBe(12);
    expect(h.readUInt32BE(28)).toBe(4096);
    const bs = encodeBlockStatusChunk(ReplyFlag.DONE, cookie, 1, [
      { length: 4096, status: 0 },
      { length: 8192, status: 3 },
    ]);
    expect(decodeChunkHeader(bs).length).toBe(4 + 16);
    expect([bs.readUInt32BE(20), bs.readUInt32BE(24), bs.readUInt32BE(28), bs.readUInt32BE(32), bs.readUInt32BE(36)]).toEqual([
      1, 4096, 0, 8192, 3,
    ]);
    const e = encodeErrorChunk(ReplyFlag.DONE, cookie, 1, 'read-only');
    expect(decodeChunkHeader(e).type).toBe(ReplyType.ERROR);
    expect(e.readUInt32BE(20)).toBe(1);
    expect(e.toString('utf8', 26, 26 + e.readUInt16BE(24))).toBe('read-only');
  });

  it('messages are clipped to 4096 bytes on a UTF-8 boundary', () => {
    const m = clipMessage('é'.repeat(3000));
    expect(m.length).toBeLessThanOrEqual(4096);
    expect(m.toString('utf8')).toBe('é'.repeat(m.length / 2));
  });
});
