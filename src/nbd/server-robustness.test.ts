/**
 * @module nbd/server-robustness.test
 * Bad input and bad timing: out-of-range and malformed requests, read-only exports, oversized and
 * truncated payloads, clients vanishing, backpressure, shutdown with requests in flight. The server
 * must answer with the right errno or close the one connection, and never take the process down.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NbdBackend } from './backend.js';
import { MemoryNbdBackend } from './memory-backend.js';
import type { MemoryDisk } from './memory-backend.js';
import { SnapdiskError } from '../core/errors.js';
import { ClientFlag, Cmd, CmdFlag, Errno, Opt, Rep, ReplyType, encodeInfoRequest, encodeOption, encodeRequest } from './protocol.js';
import { NbdServer } from './server.js';
import { RawNbdClient, asStructured, firstDifference, replyError, replyMessage } from './test-client.js';

const MiB = 1024 * 1024;
const KiB = 1024;
const DISK = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/disks/d1';
const SNAP = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/snapshots/s1';

let backend: MemoryNbdBackend;
let disk: MemoryDisk;
let snap: MemoryDisk;
let server: NbdServer;
let port: number;
const clients: RawNbdClient[] = [];

async function open(opts: { structured?: boolean; meta?: boolean } = {}, name = DISK): Promise<RawNbdClient> {
  const c = await RawNbdClient.open(port, name, opts);
  clients.push(c);
  return c;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function restart(opts: ConstructorParameters<typeof NbdServer>[1]): Promise<void> {
  await server.close();
  server = new NbdServer(backend, opts);
  ({ port } = await server.listen(0, '127.0.0.1'));
}

beforeEach(async () => {
  backend = new MemoryNbdBackend();
  disk = backend.addExport({ name: DISK, size: 64 * MiB });
  snap = backend.addExport({ name: SNAP, size: 16 * MiB, readOnly: true });
  server = new NbdServer(backend, { maxPayload: 1 * MiB });
  ({ port } = await server.listen(0, '127.0.0.1'));
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await server.close();
});

describe('nbd bad requests get errno replies and the connection stays usable', () => {
  it('out of range: READ/TRIM/CACHE/BLOCK_STATUS EINVAL, WRITE/WRITE_ZEROES ENOSPC (payload drained)', async () => {
    const c = await open({ meta: true });
    const cases: [number, number, number, number][] = [
      [Cmd.READ, 64 * MiB - 10, 11, Errno.EINVAL],
      [Cmd.READ, 2 ** 60, 1, Errno.EINVAL],
      [Cmd.TRIM, 64 * MiB, 1, Errno.EINVAL],
      [Cmd.CACHE, 64 * MiB - 4096, 8192, Errno.EINVAL],
      [Cmd.CACHE, 2 ** 60, 0, Errno.EINVAL],
      [Cmd.BLOCK_STATUS, 64 * MiB, 4096, Errno.EINVAL],
      [Cmd.WRITE_ZEROES, 63 * MiB, 2 * MiB, Errno.ENOSPC],
      [Cmd.WRITE, 64 * MiB - 100, 4096, Errno.ENOSPC],
    ];
    for (const [type, offset, length, errno] of cases) {
      const payload = type === Cmd.WRITE ? Buffer.alloc(length, 0xee) : undefined;
      c.request(type, offset, length, { payload });
      const r = await c.reply();
      expect(replyError(r), `command ${type} at ${offset}`).toBe(errno);
      expect(replyMessage(r)).toContain('beyond the end');
    }
    expect(await c.pread(64 * MiB - 16, 16)).toEqual(Buffer.alloc(16));
    expect(disk.allocatedBytes).toBe(0);
  });

  it('unknown command and invalid flags: EINVAL', async () => {
    const c = await open();
    c.request(99, 0, 0);
    expect(replyError(await c.reply())).toBe(Errno.EINVAL);
    c.request(Cmd.READ, 0, 512, { flags: CmdFlag.REQ_ONE });
    expect(replyError(await c.reply())).toBe(Errno.EINVAL);
    c.request(Cmd.READ, 0, 512, { flags: CmdFlag.DF }); // DF without structured replies
    expect(replyError(await c.reply())).toBe(Errno.EINVAL);
    c.request(Cmd.WRITE, 0, 512, { flags: CmdFlag.NO_HOLE, payload: Buffer.alloc(512, 1) });
    expect(replyError(await c.reply())).toBe(Errno.EINVAL);
    c.request(Cmd.TRIM, 0, 512, { flags: 0x8000 });
    expect(replyError(await c.reply())).toBe(Errno.EINVAL);
    expect(disk.allocatedBytes).toBe(0);
    expect(await c.pread(0, 8)).toEqual(Buffer.alloc(8));
  });

  it('read-only export: WRITE, TRIM, WRITE_ZEROES get EPERM; reads still work', async () => {
    snap.writeSync(0, Buffer.alloc(4096, 5));
    const c = await open({ structured: true }, SNAP);
    c.request(Cmd.WRITE, 0, 4096, { payload: Buffer.alloc(4096, 1) });
    const w = await c.reply();
    expect(replyError(w)).toBe(Errno.EPERM);
    expect(replyMessage(w)).toContain('read-only');
    c.request(Cmd.TRIM, 0, 4096);
    expect(replyError(await c.reply())).toBe(Errno.EPERM);
    c.request(Cmd.WRITE_ZEROES, 0, 4096);
    expect(replyError(await c.reply())).toBe(Errno.EPERM);
    expect(await c.pread(0, 4096)).toEqual(Buffer.alloc(4096, 5));
    c.request(Cmd.FLUSH, 0, 0);
    expect(replyError(await c.reply())).toBe(0);
  });

  it('oversized READ: EINVAL without touching the backend', async () => {
    const c = await open({ structured: true });
    let reads = 0;
    disk.hooks.beforeOp = (op) => {
      if (op === 'read') reads++;
    };
    c.request(Cmd.READ, 0, MiB + 1);
    const r = await c.reply();
    expect(replyError(r)).toBe(Errno.EINVAL);
    expect(replyMessage(r)).toContain('maximum block size');
    expect(reads).toBe(0);
  });

  it('oversized WRITE: the payload is drained without being buffered, EINVAL, then business as usual', async () => {
    const c = await open();
    const total = 48 * MiB;
    c.write(encodeRequest({ flags: 0, type: Cmd.WRITE, cookieHi: 0, cookieLo: 9, offset: 0, length: total }));
    const before = process.memoryUsage().arrayBuffers;
    const piece = Buffer.alloc(MiB, 0xaa);
    for (let sent = 0; sent < total; sent += piece.length) {
      if (!c.socket.write(piece)) await new Promise((resolve) => c.socket.once('drain', resolve));
    }
    const r = await c.reply();
    expect([r.cookie, replyError(r)]).toEqual([9, Errno.EINVAL]);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(24 * MiB);
    expect(disk.allocatedBytes).toBe(0);
    const data = Buffer.alloc(4096, 3);
    c.request(Cmd.WRITE, 0, data.length, { payload: data });
    expect(replyError(await c.reply())).toBe(0);
    expect(await c.pread(0, 4096)).toEqual(data);
  });

  it('a request header that arrives one byte at a time is parsed', async () => {
    const c = await open();
    const data = Buffer.alloc(100, 4);
    const bytes = Buffer.concat([encodeRequest({ flags: 0, type: Cmd.WRITE, cookieHi: 0, cookieLo: 3, offset: 10, length: 100 }), data]);
    for (const b of bytes) {
      c.write(Buffer.from([b]));
      await sleep(0);
    }
    expect(replyError(await c.reply())).toBe(0);
    expect(disk.readSync(10, 100)).toEqual(data);
  });
});

describe('nbd connection lifecycle', () => {
  it('bad request magic: the connection is closed and the export released', async () => {
    const c = await open();
    const bad = encodeRequest({ flags: 0, type: Cmd.READ, cookieHi: 0, cookieLo: 1, offset: 0, length: 512 });
    bad.writeUInt32BE(0x12345678, 0);
    c.write(bad);
    await c.closed;
    await until(() => disk.closes === 1, 'export close');
    expect(disk.openCount).toBe(0);
  });

  it('client vanishing mid-payload: connection closed, export.close() called, server still serves', async () => {
    const c = await open();
    c.write(encodeRequest({ flags: 0, type: Cmd.WRITE, cookieHi: 0, cookieLo: 1, offset: 0, length: 512 * KiB }));
    c.write(Buffer.alloc(1000, 1));
    await sleep(20);
    c.destroy();
    await until(() => disk.closes === 1, 'export close');
    expect(disk.openCount).toBe(0);
    expect(disk.allocatedBytes).toBe(0);
    const again = await open();
    expect(await again.pread(0, 4)).toEqual(Buffer.alloc(4));
  });

  it('a 4 GiB declared payload is refused at once and drained without being kept; a disconnect mid-drain cleans up', async () => {
    const c = await open();
    c.write(encodeRequest({ flags: 0, type: Cmd.WRITE, cookieHi: 0, cookieLo: 1, offset: 0, length: 0xffffffff }));
    const r = await c.reply(); // before a single payload byte was sent
    expect([r.cookie, replyError(r)]).toEqual([1, Errno.EINVAL]);
    const before = process.memoryUsage().arrayBuffers;
    const piece = Buffer.alloc(MiB, 0xcd);
    let buffered = 0;
    for (let sent = 0; sent < 96 * MiB; sent += piece.length) {
      if (!c.socket.write(piece)) await new Promise((resolve) => c.socket.once('drain', resolve));
      buffered = Math.max(buffered, server.stats().receiveBufferedBytes);
    }
    await sleep(20);
    // what the server received was dropped as it came: nowhere near the 96 MiB sent
    expect(buffered).toBeLessThan(4 * MiB);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(48 * MiB);
    expect(server.stats().inFlightBytes).toBe(0);
    c.destroy(); // 4 GiB - 97 MiB still to drain
    await until(() => disk.closes === 1, 'export close');
    expect(disk.allocatedBytes).toBe(0);
    const again = await open();
    expect(await again.pread(0, 4)).toEqual(Buffer.alloc(4));
  });

  it('a backend.open that hangs holds neither the socket nor server.close(); its export is closed when it settles', async () => {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow: NbdBackend = { list: () => backend.list(), open: async (name, o) => gate.then(() => backend.open(name, o)) };
    await server.close();
    server = new NbdServer(slow, { handshakeTimeoutMs: 150, closeTimeoutMs: 300 });
    ({ port } = await server.listen(0, '127.0.0.1'));
    const goAndWait = async (): Promise<RawNbdClient> => {
      const c = await RawNbdClient.connect(port);
      clients.push(c);
      c.sendFlags(ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES);
      c.write(encodeOption(Opt.GO, encodeInfoRequest(DISK)));
      return c;
    };
    // the handshake timeout drops a client whose GO is stuck in open
    const timedOut = await goAndWait();
    const t0 = Date.now();
    await timedOut.closed;
    expect(Date.now() - t0).toBeLessThan(1000);
    // a client that hangs up is let go at once, and the connection is gone within closeTimeoutMs
    const vanished = await goAndWait();
    await sleep(20);
    vanished.destroy();
    await until(() => server.connectionCount === 0, 'connections to go', 2000);
    // shutdown does not wait for the open either
    await goAndWait();
    await sleep(20);
    const t1 = Date.now();
    await server.close();
    expect(Date.now() - t1).toBeLessThan(1500);
    expect(disk.opens).toBe(0);
    release();
    await until(() => disk.opens === 3 && disk.closes === 3, 'late opens to be closed');
    expect(disk.openCount).toBe(0);
  });

  it('client vanishing with requests in flight: they finish, then the export closes once', async () => {
    const c = await open();
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    disk.hooks.beforeOp = () => gate;
    for (let i = 0; i < 5; i++) c.request(Cmd.WRITE, i * 4096, 4096, { payload: Buffer.alloc(4096, i + 1), cookie: i });
    await sleep(20);
    c.destroy();
    await sleep(20);
    expect(disk.closes).toBe(0); // still waiting for the in-flight writes
    release();
    await until(() => disk.closes === 1, 'export close');
    expect(disk.readSync(4 * 4096, 1)[0]).toBe(5);
  });

  it('NBD_CMD_DISC: in-flight requests complete and are answered before the close', async () => {
    const c = await open();
    disk.hooks.beforeOp = () => sleep(30);
    c.request(Cmd.WRITE, 0, 4096, { payload: Buffer.alloc(4096, 7), cookie: 11 });
    c.request(Cmd.DISC, 0, 0);
    const r = await c.reply();
    expect([r.cookie, replyError(r)]).toEqual([11, 0]);
    await c.closed;
    expect(disk.readSync(0, 1)[0]).toBe(7);
    expect(disk.closes).toBe(1); // closed before the client saw the connection end
  });

  it('server.close(): answers requests in flight, closes exports and connections', async () => {
    const c = await open();
    const idle = await open();
    disk.hooks.beforeOp = () => sleep(50);
    c.request(Cmd.READ, 0, 4096, { cookie: 5 });
    await sleep(10);
    const closing = server.close();
    const r = await c.reply(new Map([[5, 4096]]));
    expect([r.cookie, replyError(r)]).toEqual([5, 0]);
    await closing;
    await Promise.all([c.closed, idle.closed]);
    expect([disk.openCount, disk.closes]).toEqual([0, 2]);
    expect(server.connectionCount).toBe(0);
  });

  it('server.close() mid-GO: the GO still opening its export gets NBD_REP_ERR_SHUTDOWN and the export is closed', async () => {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow: NbdBackend = { list: () => backend.list(), open: async (name, o) => gate.then(() => backend.open(name, o)) };
    await server.close();
    server = new NbdServer(slow, { closeTimeoutMs: 5000 });
    ({ port } = await server.listen(0, '127.0.0.1'));
    const c = await RawNbdClient.connect(port);
    clients.push(c);
    c.sendFlags(ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES);
    const go = c.go(DISK);
    await sleep(20);
    const closing = server.close();
    await sleep(20);
    release();
    expect(await go).toBeUndefined();
    expect(c.lastError?.type).toBe(Rep.ERR_SHUTDOWN);
    expect(c.lastError?.data.toString()).toContain('shutting down');
    await closing;
    await c.closed;
    expect([disk.opens, disk.closes, disk.openCount]).toEqual([1, 1, 0]);
  });

  it('server.close() with a request running: it completes; requests sent after the close began get ESHUTDOWN', async () => {
    const c = await open({ structured: true });
    disk.hooks.beforeOp = (op, offset) => (op === 'read' && offset === 0 ? sleep(150) : undefined);
    c.request(Cmd.READ, 0, 4096, { cookie: 1 });
    await sleep(20);
    const closing = server.close();
    await sleep(20);
    c.request(Cmd.READ, 4096, 4096, { cookie: 2 });
    c.request(Cmd.WRITE, 0, 64 * KiB, { payload: Buffer.alloc(64 * KiB, 9), cookie: 3 });
    c.request(Cmd.FLUSH, 0, 0, { cookie: 4 });
    const lengths = new Map([[1, 4096]]);
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await c.reply(lengths));
    const byCookie = new Map(replies.map((r) => [r.cookie, r]));
    const first = byCookie.get(1);
    expect(first && replyError(first)).toBe(0);
    for (const cookie of [2, 3, 4]) {
      const r = byCookie.get(cookie);
      expect(r && replyError(r), `cookie ${cookie}`).toBe(Errno.ESHUTDOWN);
      expect(r && replyMessage(r)).toContain('shutting down');
    }
    await closing;
    await c.closed;
    expect(disk.allocatedBytes).toBe(0); // the late write was not run
    expect(disk.closes).toBe(1);
  });

  it('backpressure: a client that does not read replies stops the server from reading', async () => {
    await restart({ maxPayload: 1 * MiB, maxInFlightBytes: 2 * MiB });
    const big = backend.addExport({ name: '/big', size: 32 * MiB });
    big.writeSync(0, Buffer.alloc(32 * MiB, 1));
    let reads = 0;
    big.hooks.beforeOp = () => {
      reads++;
    };
    const c = await open({}, '/big');
    c.socket.pause();
    const n = 32;
    for (let i = 0; i < n; i++) c.request(Cmd.READ, i * MiB, MiB, { cookie: i });
    await sleep(300);
    // Kernel socket buffers absorb a few MiB (about 5 reads here); the rest waits unread.
    expect(reads).toBeLessThan(n / 2);
    c.socket.resume();
    const lengths = new Map(Array.from({ length: n }, (_, i) => [i, MiB]));
    for (let i = 0; i < n; i++) expect(replyError(await c.reply(lengths))).toBe(0);
    expect(reads).toBe(n);
  });

  it('at most maxInFlightRequests requests run at once per connection', async () => {
    await restart({ maxInFlightRequests: 4 });
    let running = 0;
    let peak = 0;
    disk.hooks.beforeOp = async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(5);
      running--;
    };
    const c = await open();
    for (let i = 0; i < 40; i++) c.request(Cmd.TRIM, i * 4096, 4096, { cookie: i });
    for (let i = 0; i < 40; i++) expect(replyError(await c.reply())).toBe(0);
    expect(peak).toBe(4);
  });

  it('a client that half-closes after pipelining still gets every reply, even behind backpressure', async () => {
    await restart({ maxInFlightRequests: 2 });
    disk.hooks.beforeOp = () => sleep(5);
    const c = await open();
    for (let i = 0; i < 12; i++) c.request(Cmd.WRITE, i * 4096, 4096, { payload: Buffer.alloc(4096, i + 1), cookie: i });
    c.socket.end();
    const cookies = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const r = await c.reply();
      expect(replyError(r)).toBe(0);
      cookies.add(r.cookie);
    }
    expect(cookies.size).toBe(12);
    await c.closed;
    expect(disk.readSync(11 * 4096, 1)[0]).toBe(12);
    expect(disk.closes).toBe(1);
  });

  it('server-wide budget: all clients together have at most maxTotalInFlightBytes of payload in flight; the rest wait', async () => {
    await restart({ maxPayload: MiB, maxInFlightBytes: 4 * MiB, maxTotalInFlightBytes: 2 * MiB });
    let running = 0;
    let peak = 0;
    let release = (): void => undefined;
    let gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    disk.hooks.beforeOp = async (op) => {
      if (op !== 'write') return;
      running++;
      peak = Math.max(peak, running);
      await gate;
      running--;
    };
    const writers = await Promise.all([open(), open(), open(), open()]);
    const payload = (client: number, i: number): Buffer => Buffer.alloc(MiB, 16 * client + i + 1);
    writers.forEach((c, client) => {
      for (let i = 0; i < 3; i++) c.request(Cmd.WRITE, (client * 3 + i) * MiB, MiB, { payload: payload(client, i), cookie: i });
    });
    await until(() => running === 2, 'two writes running');
    await until(() => server.stats().waitingRequests >= 1, 'a request waiting for the budget');
    await sleep(100);
    expect(running).toBe(2);
    const stats = server.stats();
    expect(stats.inFlightBytes).toBe(2 * MiB);
    // waiting requests keep their payload in the kernel's buffers, not in ours
    expect(stats.receiveBufferedBytes).toBeLessThan(4 * MiB);
    release();
    gate = Promise.resolve();
    for (const c of writers) for (let i = 0; i < 3; i++) expect(replyError(await c.reply())).toBe(0);
    expect(peak).toBe(2);
    for (let client = 0; client < 4; client++) {
      for (let i = 0; i < 3; i++) expect(firstDifference(disk.readSync((client * 3 + i) * MiB, MiB), payload(client, i))).toBeUndefined();
    }
    expect(server.stats()).toMatchObject({ inFlightBytes: 0, waitingRequests: 0 });
  });

  it('reads stay charged until the socket took them, and every path gives the budget back', async () => {
    await restart({ maxPayload: MiB, maxInFlightBytes: 8 * MiB, maxTotalInFlightBytes: 2 * MiB });
    disk.writeSync(0, Buffer.alloc(32 * MiB, 1));
    const reader = await open({ structured: true });
    reader.socket.pause(); // it does not read its replies: once the kernel's buffers are full, nothing is taken
    const n = 32;
    for (let i = 0; i < n; i++) reader.request(Cmd.READ, i * MiB, MiB, { cookie: i });
    await until(() => server.stats().waitingRequests > 0, 'reads waiting for the budget');
    await sleep(50);
    expect(server.stats()).toMatchObject({ inFlightBytes: 2 * MiB, waitingRequests: 1 });
    reader.socket.resume();
    const lengths = new Map(Array.from({ length: n }, (_, i) => [i, MiB]));
    for (let i = 0; i < n; i++) expect(replyError(await reader.reply(lengths))).toBe(0);
    await until(() => server.stats().inFlightBytes === 0, 'the budget back');
    // sparse reads: data then a hole, a hole then data
    for (const at of [32 * MiB - MiB / 2, 40 * MiB]) {
      if (at === 40 * MiB) disk.writeSync(at + MiB / 2, Buffer.alloc(4096, 2));
      reader.request(Cmd.READ, at, MiB, { cookie: 50 });
      const r = asStructured(await reader.reply());
      expect(new Set(r.chunks.map((x) => x.type))).toEqual(new Set([ReplyType.OFFSET_DATA, ReplyType.OFFSET_HOLE]));
      expect(r.chunks[r.chunks.length - 1]?.type).toBe(ReplyType.OFFSET_HOLE); // the charge rides on a hole chunk
    }
    await until(() => server.stats().inFlightBytes === 0, 'the budget back after sparse reads');

    // failures, rejections and vanishing clients
    const c = await open({ structured: true });
    disk.hooks.beforeOp = (op, offset) => {
      if (offset === 3 * MiB) throw new SnapdiskError('InternalError', `${op} failed`);
    };
    c.request(Cmd.READ, 3 * MiB, MiB, { cookie: 1 });
    c.request(Cmd.WRITE, 3 * MiB, 4096, { payload: Buffer.alloc(4096), cookie: 2 });
    c.request(Cmd.READ, 64 * MiB - 10, 100, { cookie: 3 });
    c.request(Cmd.WRITE, 0, 2 * MiB, { payload: Buffer.alloc(2 * MiB), cookie: 4 });
    for (let i = 0; i < 4; i++) expect(replyError(await c.reply(new Map([[1, MiB]])))).not.toBe(0);
    disk.hooks.beforeOp = () => sleep(20);
    const gone = await open();
    gone.request(Cmd.READ, 0, MiB, { cookie: 1 });
    gone.write(encodeRequest({ flags: 0, type: Cmd.WRITE, cookieHi: 0, cookieLo: 2, offset: 0, length: MiB }));
    gone.write(Buffer.alloc(1000));
    await sleep(5);
    gone.destroy();
    await until(() => disk.closes === 1, 'the vanished client to be closed');
    await until(() => server.stats().inFlightBytes === 0, 'the budget back');
    expect(server.stats().waitingRequests).toBe(0);
  });

  it('connections over maxConnections are refused with a message until one closes', async () => {
    await restart({ maxConnections: 2 });
    const a = await open();
    await open();
    const c = await RawNbdClient.connect(port);
    clients.push(c);
    c.sendFlags(ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES);
    expect(await c.go(DISK)).toBeUndefined();
    expect(c.lastError?.type).toBe(Rep.ERR_POLICY);
    expect(c.lastError?.data.toString()).toContain('too many connections');
    expect(disk.opens).toBe(2);
    await a.disconnect();
    await until(() => server.connectionCount === 2, 'the first client to go');
    const d = await open();
    expect(await d.pread(0, 4)).toEqual(Buffer.alloc(4));
  });
});
