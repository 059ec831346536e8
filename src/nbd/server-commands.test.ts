/**
 * @module nbd/server-commands.test
 * Every transmission command over a real socket, with simple and structured replies, pipelining
 * and ordering.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapdiskError } from '../core/errors.js';
import { MemoryNbdBackend } from './memory-backend.js';
import type { MemoryDisk } from './memory-backend.js';
import { Cmd, CmdFlag, Errno, ReplyFlag, ReplyType, State, readU64 } from './protocol.js';
import { NbdServer } from './server.js';
import { RawNbdClient, asStructured, assembleRead, firstDifference, replyError, replyMessage } from './test-client.js';
import type { StructuredReply } from './test-client.js';

const MiB = 1024 * 1024;
const KiB = 1024;
const DISK = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/disks/d1';

let backend: MemoryNbdBackend;
let disk: MemoryDisk;
let server: NbdServer;
let port: number;
const clients: RawNbdClient[] = [];

async function open(opts: { structured?: boolean; meta?: boolean } = {}, name = DISK): Promise<RawNbdClient> {
  const c = await RawNbdClient.open(port, name, opts);
  clients.push(c);
  return c;
}

function pattern(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function blockStatus(r: StructuredReply): { id: number; extents: [number, number][] } {
  const c = r.chunks[0];
  if (c === undefined || c.type !== ReplyType.BLOCK_STATUS) throw new Error('not a block status reply');
  const extents: [number, number][] = [];
  for (let p = 4; p < c.payload.length; p += 8) extents.push([c.payload.readUInt32BE(p), c.payload.readUInt32BE(p + 4)]);
  return { id: c.payload.readUInt32BE(0), extents };
}

beforeEach(async () => {
  backend = new MemoryNbdBackend();
  disk = backend.addExport({ name: DISK, size: 64 * MiB });
  server = new NbdServer(backend, { maxPayload: 8 * MiB });
  ({ port } = await server.listen(0, '127.0.0.1'));
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await server.close();
});

describe('nbd commands, simple replies', () => {
  it('WRITE then READ round-trips, and lands in the backend', async () => {
    const c = await open();
    const data = pattern(300 * KiB, 1);
    c.request(Cmd.WRITE, MiB + 7, data.length, { payload: data, cookie: 42 });
    const w = await c.reply();
    expect([w.kind, w.cookie, replyError(w)]).toEqual(['simple', 42, 0]);
    expect(firstDifference(await c.pread(MiB + 7, data.length), data)).toBeUndefined();
    expect(firstDifference(disk.readSync(MiB + 7, data.length), data)).toBeUndefined();
  });

  it('WRITE with FUA, FLUSH, CACHE succeed and reach the backend', async () => {
    const c = await open();
    c.request(Cmd.WRITE, 0, 512, { payload: Buffer.alloc(512, 1), flags: CmdFlag.FUA });
    expect(replyError(await c.reply())).toBe(0);
    expect(disk.fuaWrites).toBe(1);
    c.request(Cmd.FLUSH, 0, 0);
    expect(replyError(await c.reply())).toBe(0);
    expect(disk.flushes).toBe(1);
    c.request(Cmd.CACHE, 0, MiB);
    expect(replyError(await c.reply())).toBe(0);
  });

  it('TRIM and WRITE_ZEROES zero the range; NO_HOLE keeps it allocated', async () => {
    const c = await open({ meta: true });
    c.request(Cmd.WRITE, 0, 256 * KiB, { payload: Buffer.alloc(256 * KiB, 9) });
    await c.reply();
    c.request(Cmd.TRIM, 0, 64 * KiB);
    expect(replyError(await c.reply())).toBe(0);
    c.request(Cmd.WRITE_ZEROES, 64 * KiB, 64 * KiB, { flags: CmdFlag.NO_HOLE });
    expect(replyError(await c.reply())).toBe(0);
    c.request(Cmd.WRITE_ZEROES, 128 * KiB, 64 * KiB, { flags: CmdFlag.FAST_ZERO | CmdFlag.FUA });
    expect(replyError(await c.reply())).toBe(0);
    expect(firstDifference(await c.pread(0, 192 * KiB), Buffer.alloc(192 * KiB))).toBeUndefined();
    c.request(Cmd.BLOCK_STATUS, 0, 256 * KiB);
    expect(blockStatus(asStructured(await c.reply())).extents).toEqual([
      [64 * KiB, State.HOLE | State.ZERO],
      [64 * KiB, 0],
      [64 * KiB, State.HOLE | State.ZERO],
      [64 * KiB, 0],
    ]);
  });

  it('WRITE_ZEROES with FAST_ZERO fails fast with ENOTSUP when the export says zeroing is slow', async () => {
    backend.addExport({ name: '/slow-zero', size: MiB, fastZero: false });
    const c = await open({}, '/slow-zero');
    c.request(Cmd.WRITE_ZEROES, 0, 4096, { flags: CmdFlag.FAST_ZERO });
    expect(replyError(await c.reply())).toBe(Errno.ENOTSUP);
    c.request(Cmd.WRITE_ZEROES, 0, 4096);
    expect(replyError(await c.reply())).toBe(0);
  });

  it('WRITE_ZEROES with FAST_ZERO asks the export about the range and gets ENOTSUP where it would be slow', async () => {
    const c = await open({ structured: true });
    c.request(Cmd.WRITE, 0, 2 * MiB, { payload: Buffer.alloc(2 * MiB, 7) });
    expect(replyError(await c.reply())).toBe(0);
    const asked: [number, number][] = [];
    const zeroed: number[] = [];
    disk.hooks.zeroIsFast = (offset, length) => {
      asked.push([offset, length]);
      return offset >= MiB; // the first MiB "needs a copy first"
    };
    disk.hooks.beforeOp = (op, offset) => {
      if (op === 'writeZeroes') zeroed.push(offset);
    };
    c.request(Cmd.WRITE_ZEROES, 512 * KiB, MiB, { flags: CmdFlag.FAST_ZERO, cookie: 1 });
    const slow = await c.reply();
    expect(replyError(slow)).toBe(Errno.ENOTSUP);
    expect(replyMessage(slow)).toContain('not faster');
    c.request(Cmd.WRITE_ZEROES, MiB, 512 * KiB, { flags: CmdFlag.FAST_ZERO, cookie: 2 });
    expect(replyError(await c.reply())).toBe(0);
    c.request(Cmd.WRITE_ZEROES, 0, 64 * KiB, { cookie: 3 }); // without FAST_ZERO nobody asks
    expect(replyError(await c.reply())).toBe(0);
    expect(asked).toEqual([
      [512 * KiB, MiB],
      [MiB, 512 * KiB],
    ]);
    expect(zeroed).toEqual([MiB, 0]);
    const expected = Buffer.alloc(2 * MiB, 7);
    expected.fill(0, MiB, MiB + 512 * KiB);
    expected.fill(0, 0, 64 * KiB);
    expect(firstDifference(await c.pread(0, 2 * MiB), expected)).toBeUndefined();
  });

  it('READ of zero bytes answers with an empty reply', async () => {
    const c = await open();
    expect(firstDifference(await c.pread(0, 0), Buffer.alloc(0))).toBeUndefined();
    const s = await open({ structured: true });
    s.request(Cmd.READ, 0, 0);
    const r = asStructured(await s.reply());
    expect(r.chunks.map((x) => [x.type, x.flags])).toEqual([[ReplyType.NONE, ReplyFlag.DONE]]);
  });
});

describe('nbd commands, structured replies', () => {
  beforeEach(() => {
    disk.writeSync(0, pattern(64 * KiB, 3));
    disk.writeSync(256 * KiB, pattern(8 * KiB, 4));
  });

  it('a sparse READ sends holes as hole chunks and reassembles exactly', async () => {
    const c = await open({ structured: true });
    c.request(Cmd.READ, 0, MiB);
    const r = asStructured(await c.reply());
    expect(r.chunks.map((x) => x.type)).toEqual([
      ReplyType.OFFSET_DATA,
      ReplyType.OFFSET_HOLE,
      ReplyType.OFFSET_DATA,
      ReplyType.OFFSET_HOLE,
    ]);
    expect(r.chunks.map((x) => x.flags)).toEqual([0, 0, 0, ReplyFlag.DONE]);
    expect(firstDifference(assembleRead(r, 0, MiB), disk.readSync(0, MiB))).toBeUndefined();
  });

  it('READ with DF sends exactly one data chunk, zeros included', async () => {
    const c = await open({ structured: true });
    c.request(Cmd.READ, 0, MiB, { flags: CmdFlag.DF });
    const r = asStructured(await c.reply());
    expect(r.chunks.length).toBe(1);
    expect(r.chunks[0]?.type).toBe(ReplyType.OFFSET_DATA);
    expect(readU64(r.chunks[0]?.payload ?? Buffer.alloc(8), 0)).toBe(0);
    expect(firstDifference(assembleRead(r, 0, MiB), disk.readSync(0, MiB))).toBeUndefined();
  });

  it('an all-hole READ is one hole chunk; a small READ is one data chunk', async () => {
    const c = await open({ structured: true });
    c.request(Cmd.READ, 2 * MiB, MiB, { cookie: 5 });
    const hole = asStructured(await c.reply());
    expect(hole.chunks.map((x) => [x.type, x.flags])).toEqual([[ReplyType.OFFSET_HOLE, ReplyFlag.DONE]]);
    expect(hole.cookie).toBe(5);
    c.request(Cmd.READ, 60 * KiB, 8 * KiB);
    const small = asStructured(await c.reply());
    expect(small.chunks.length).toBe(1);
    expect(firstDifference(assembleRead(small, 60 * KiB, 8 * KiB), disk.readSync(60 * KiB, 8 * KiB))).toBeUndefined();
  });

  it('a sparse READ copes with a backend that answers block status piecemeal', async () => {
    const d = backend.addExport({ name: '/piecemeal', size: 4 * MiB, maxExtentsPerCall: 1 });
    for (let i = 0; i < 16; i++) d.writeSync(i * 128 * KiB, pattern(4 * KiB, i));
    const c = await open({ structured: true }, '/piecemeal');
    c.request(Cmd.READ, 0, 4 * MiB);
    const r = asStructured(await c.reply());
    expect(r.chunks.length).toBe(32);
    expect(firstDifference(assembleRead(r, 0, 4 * MiB), d.readSync(0, 4 * MiB))).toBeUndefined();
  });

  it('BLOCK_STATUS reports allocation with context id 1, clamped to the request', async () => {
    const c = await open({ meta: true });
    c.request(Cmd.BLOCK_STATUS, 0, 300 * KiB);
    const r = blockStatus(asStructured(await c.reply()));
    expect(r.id).toBe(1);
    expect(r.extents).toEqual([
      [64 * KiB, 0],
      [192 * KiB, State.HOLE | State.ZERO],
      [8 * KiB, 0],
      [36 * KiB, State.HOLE | State.ZERO],
    ]);
    c.request(Cmd.BLOCK_STATUS, 10, 100);
    expect(blockStatus(asStructured(await c.reply())).extents).toEqual([[100, 0]]);
  });

  it('BLOCK_STATUS with REQ_ONE returns exactly one extent (qemu 7.2 rejects more)', async () => {
    const c = await open({ meta: true });
    c.request(Cmd.BLOCK_STATUS, 0, 64 * MiB, { flags: CmdFlag.REQ_ONE });
    expect(blockStatus(asStructured(await c.reply())).extents).toEqual([[64 * KiB, 0]]);
    c.request(Cmd.BLOCK_STATUS, 64 * KiB, 64 * MiB - 64 * KiB, { flags: CmdFlag.REQ_ONE });
    expect(blockStatus(asStructured(await c.reply())).extents).toEqual([[192 * KiB, State.HOLE | State.ZERO]]);
  });

  it('BLOCK_STATUS needs a negotiated context and a non-zero length', async () => {
    const c = await open({ structured: true });
    c.request(Cmd.BLOCK_STATUS, 0, 4096);
    const r = await c.reply();
    expect(replyError(r)).toBe(Errno.EINVAL);
    expect(replyMessage(r)).toContain('meta context');
    const m = await open({ meta: true });
    m.request(Cmd.BLOCK_STATUS, 0, 0);
    expect(replyError(await m.reply())).toBe(Errno.EINVAL);
  });

  it('backend errors become errno values with the message in an error chunk', async () => {
    const c = await open({ structured: true });
    disk.hooks.beforeOp = (op) => {
      if (op === 'read') throw new SnapdiskError('IntegrityError', 'chunk abc failed its hash check');
      if (op === 'flush') throw new SnapdiskError('OperationNotAllowed', 'disk is being deleted');
    };
    c.request(Cmd.READ, 0, 4096);
    const r = await c.reply();
    expect(replyError(r)).toBe(Errno.EIO);
    expect(replyMessage(r)).toBe('chunk abc failed its hash check');
    c.request(Cmd.FLUSH, 0, 0);
    expect(replyError(await c.reply())).toBe(Errno.EPERM);
    const s = await open();
    s.request(Cmd.READ, 0, 4096);
    const simple = await s.reply(new Map([[1, 4096]]));
    expect([simple.kind, replyError(simple)]).toEqual(['simple', Errno.EIO]);
    // The connection is still in sync after an errored read without payload.
    disk.hooks.beforeOp = undefined;
    expect(await s.pread(0, 16)).toEqual(disk.readSync(0, 16));
  });
});

describe('nbd pipelining', () => {
  it('many requests in flight: every cookie answered once, overlapping writes in order', async () => {
    const c = await open({ structured: true });
    let delay = 0;
    disk.hooks.beforeOp = () => new Promise((resolve) => setTimeout(resolve, (delay = (delay + 7) % 5)));
    const expected = Buffer.alloc(256 * KiB);
    const reads = new Map<number, [number, number]>();
    for (let i = 0; i < 60; i++) {
      const off = ((i * 37) % 48) * 4 * KiB;
      if (i % 3 === 2) {
        c.request(Cmd.READ, off, 16 * KiB, { cookie: 1000 + i });
        reads.set(1000 + i, [off, 16 * KiB]);
      } else {
        const data = Buffer.alloc(16 * KiB, i);
        data.copy(expected, off);
        c.request(Cmd.WRITE, off, data.length, { payload: data, cookie: 1000 + i });
      }
    }
    const seen = new Set<number>();
    for (let i = 0; i < 60; i++) {
      const r = await c.reply();
      expect(replyError(r)).toBe(0);
      expect(seen.has(r.cookie)).toBe(false);
      seen.add(r.cookie);
    }
    expect(seen.size).toBe(60);
    expect(firstDifference(disk.readSync(0, 256 * KiB), expected)).toBeUndefined();
  });

  it('a READ pipelined after a WRITE of the same bytes sees the written data', async () => {
    const c = await open();
    let first = true;
    disk.hooks.beforeOp = async (op) => {
      if (op === 'write' && first) {
        first = false;
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    };
    const data = pattern(64 * KiB, 9);
    c.request(Cmd.WRITE, 0, data.length, { payload: data, cookie: 1 });
    c.request(Cmd.READ, 0, data.length, { cookie: 2 });
    const lengths = new Map([[2, data.length]]);
    const replies = [await c.reply(lengths), await c.reply(lengths)];
    expect(replies.map((r) => r.cookie)).toEqual([1, 2]);
    const read = replies[1];
    expect(firstDifference(read?.kind === 'simple' ? read.data : Buffer.alloc(0), data)).toBeUndefined();
  });

  it('independent requests complete out of order', async () => {
    const c = await open({ structured: true });
    disk.hooks.beforeOp = async (_op, offset) => {
      if (offset === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    };
    c.request(Cmd.READ, 0, 4096, { cookie: 1 });
    c.request(Cmd.READ, MiB, 4096, { cookie: 2 });
    expect((await c.reply()).cookie).toBe(2);
    expect((await c.reply()).cookie).toBe(1);
  });

  it('FLUSH waits for the writes sent before it', async () => {
    const c = await open();
    const events: string[] = [];
    disk.hooks.beforeOp = async (op) => {
      if (op === 'write') await new Promise((resolve) => setTimeout(resolve, 30));
      events.push(op);
    };
    c.request(Cmd.WRITE, 0, 4096, { payload: Buffer.alloc(4096, 1), cookie: 1 });
    c.request(Cmd.FLUSH, 0, 0, { cookie: 2 });
    await c.reply();
    await c.reply();
    expect(events).toEqual(['write', 'flush']);
  });
});
