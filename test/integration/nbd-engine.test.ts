/**
 * The NBD server over the real engine (no external tools; the qemu/nbdinfo suites are in e2e):
 * attach state, reads and writes, read-only snapshots, a snapshot in the middle of a write stream,
 * refusal while a SAS is active, a restored disk read while it hydrates, abrupt disconnects.
 */

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resourceId } from '../../src/core/ids.js';
import { BLOCK_SIZE, MiB } from '../../src/core/units.js';
import { EngineNbdBackend, ZERO_SLICE_COSTLY } from '../../src/nbd/engine-backend.js';
import { Cmd, CmdFlag, Errno, Opt, Rep, TxFlag, encodeInfoRequest } from '../../src/nbd/protocol.js';
import { NbdServer } from '../../src/nbd/server.js';
import { RawNbdClient, replyError } from '../../src/nbd/test-client.js';
import { createDisk, prng, RG, snapshot, snapshotId, startEngine, SUB, tempDir, type TestEngine } from '../helpers/engine.js';

const CHILD = join(import.meta.dirname, 'nbd-child.mjs');

async function write(c: RawNbdClient, offset: number, data: Buffer, cookie: number, flags = 0): Promise<void> {
  c.request(Cmd.WRITE, offset, data.length, { payload: data, cookie, flags });
  const r = await c.reply();
  expect(replyError(r)).toBe(0);
}

describe('NBD over the engine', () => {
  let t: TestEngine;
  let server: NbdServer;
  let port = 0;
  beforeEach(async () => {
    t = await startEngine();
    server = new NbdServer(new EngineNbdBackend(t.engine));
    port = (await server.listen(0, '127.0.0.1')).port;
  });
  afterEach(async () => {
    await server.close();
    await t.dispose();
  });

  it('a connection attaches the disk (managedBy = client) until it closes; data round-trips', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const id = resourceId('disks', disk);
    const c = await RawNbdClient.open(port, id.slice(1), { structured: true });
    expect(c.go.size).toBe(disk.sizeBytes);
    expect(c.go.flags & TxFlag.READ_ONLY).toBe(0);
    const attached = await e.disks.getById(disk.uniqueId);
    expect(attached.diskState).toBe('Attached');
    expect(attached.managedBy).toMatch(/^127\.0\.0\.1:\d+$/);
    const data = prng(1)(300_000);
    await write(c, 12_345, data, 1, CmdFlag.FUA);
    expect((await c.pread(12_345, data.length)).equals(data)).toBe(true);
    expect((await (await e.disks.open(disk.uniqueId)).read(12_345, data.length)).equals(data)).toBe(true);
    await c.disconnect();
    await new Promise((r) => setTimeout(r, 50));
    const detached = await e.disks.getById(disk.uniqueId);
    expect(detached.diskState).toBe('Unattached');
    expect(detached.managedBy).toBeNull();
  });

  it('NBD_OPT_INFO (nbdinfo --list) and NBD_OPT_GO advertise the same flags: multi-conn on disks and snapshots', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    await (await e.disks.open(disk.uniqueId)).write(0, Buffer.alloc(BLOCK_SIZE, 1));
    const snap = await snapshot(e, disk, 's');
    for (const name of [resourceId('disks', disk), snapshotId(snap)]) {
      const c = await RawNbdClient.connect(port);
      c.sendFlags(1 | 2);
      await c.option(Opt.STRUCTURED_REPLY);
      const info = c.parseInfo(await c.option(Opt.INFO, encodeInfoRequest(name)));
      expect((await e.disks.getById(disk.uniqueId)).diskState).toBe('Unattached'); // INFO attaches nothing
      const go = await c.go(name);
      expect(info?.flags, name).toBe(go?.flags);
      expect((go?.flags ?? 0) & TxFlag.CAN_MULTI_CONN).toBe(TxFlag.CAN_MULTI_CONN);
      await c.disconnect();
    }
  });

  it('a snapshot taken in the middle of a write stream holds exactly the writes acknowledged before it', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const c = await RawNbdClient.open(port, resourceId('disks', disk), { structured: true });
    const rnd = prng(2);
    const shadow = Buffer.alloc(16 * MiB);
    let snap = null;
    let atSnap: Buffer | null = null;
    for (let i = 0; i < 60; i++) {
      const off = (i * 977_531) % (16 * MiB - 200_000);
      const data = rnd(1 + ((i * 7919) % 200_000));
      await write(c, off, data, i + 10);
      data.copy(shadow, off);
      if (i === 29) {
        snap = await snapshot(e, disk, 'mid');
        atSnap = Buffer.from(shadow);
      }
    }
    if (!snap || !atSnap) throw new Error('no snapshot');
    expect((await e.snapshots.read(snap, 0, 16 * MiB)).equals(atSnap)).toBe(true);
    await e.idle();
    expect((await e.snapshots.read(snap, 0, 16 * MiB)).equals(atSnap)).toBe(true);
    // the snapshot is a read-only export with the same bytes
    const r = await RawNbdClient.open(port, snapshotId(snap), { structured: true });
    expect(r.go.flags & TxFlag.READ_ONLY).not.toBe(0);
    expect((await r.pread(0, 16 * MiB)).equals(atSnap)).toBe(true);
    r.request(Cmd.WRITE, 0, 512, { payload: Buffer.alloc(512), cookie: 99 });
    expect(replyError(await r.reply())).not.toBe(0);
    await r.disconnect();
    await c.disconnect();
  });

  it('attach is refused with a clear message while a SAS is active; a restored disk reads while it hydrates', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const data = prng(3)(8 * MiB);
    await (await e.disks.open(disk.uniqueId)).write(MiB, data);
    await e.grants.begin({ kind: 'disk', disk: await e.disks.getById(disk.uniqueId) }, { access: 'Read', durationInSeconds: 600 });
    const c = await RawNbdClient.connect(port);
    c.sendFlags(1 | 2);
    const refused = await c.go(resourceId('disks', disk));
    expect(refused).toBeUndefined();
    expect(c.lastError?.data.toString()).toContain('active SAS');
    c.destroy();
    await e.grants.end({ kind: 'disk', disk: await e.disks.getById(disk.uniqueId) });
    const s = await snapshot(e, await e.disks.getById(disk.uniqueId), 's');
    await e.idle();
    e.pauseJobs();
    const { disk: r } = await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'r', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(s) } });
    const rc = await RawNbdClient.open(port, resourceId('disks', r), { structured: true });
    expect(e.disks.completionPercent(await e.disks.getById(r.uniqueId))).toBeLessThan(100);
    expect((await rc.pread(MiB, data.length)).equals(data)).toBe(true);
    await write(rc, MiB + 10, Buffer.from('patched'), 5);
    e.resumeJobs();
    await e.idle();
    const expected = Buffer.from(data);
    Buffer.from('patched').copy(expected, 10);
    expect((await rc.pread(MiB, data.length)).equals(expected)).toBe(true);
    await rc.disconnect();
  });

  it('FAST_ZERO gets ENOTSUP where zeroing would copy for a pending snapshot or fetch from the base', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const data = prng(4)(4 * MiB);
    await (await e.disks.open(disk.uniqueId)).write(0, data);
    e.pauseJobs();
    const s = await snapshot(e, disk, 'pending'); // its 64 frozen blocks wait to be copied
    const c = await RawNbdClient.open(port, resourceId('disks', disk), { structured: true });
    const zero = async (offset: number, length: number, flags: number, cookie: number): Promise<number> => {
      c.request(Cmd.WRITE_ZEROES, offset, length, { flags, cookie });
      return replyError(await c.reply());
    };
    expect(await zero(0, MiB, CmdFlag.FAST_ZERO, 1)).toBe(Errno.ENOTSUP);
    expect((await c.pread(0, MiB)).equals(data.subarray(0, MiB))).toBe(true);
    expect(await zero(16 * MiB, MiB, CmdFlag.FAST_ZERO, 2)).toBe(0); // nothing frozen there
    expect(await zero(0, MiB, 0, 3)).toBe(0); // the slow way saves the old bytes first
    expect(await zero(BLOCK_SIZE, BLOCK_SIZE, CmdFlag.FAST_ZERO, 4)).toBe(0); // saved already: fast now
    expect(await zero(MiB, MiB, CmdFlag.FAST_ZERO, 5)).toBe(Errno.ENOTSUP);
    e.resumeJobs();
    await e.idle();
    expect((await e.snapshots.read(s, 0, 4 * MiB)).equals(data)).toBe(true);
    expect(await zero(MiB, MiB, CmdFlag.FAST_ZERO, 6)).toBe(0); // the snapshot is complete
    await c.disconnect();

    // a restored disk still hydrating: partial blocks would be fetched from the base first
    e.pauseJobs();
    const { disk: r } = await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'r', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(s) } });
    const rc = await RawNbdClient.open(port, resourceId('disks', r), { structured: true });
    rc.request(Cmd.WRITE_ZEROES, 4096, 4096, { flags: CmdFlag.FAST_ZERO, cookie: 7 });
    expect(replyError(await rc.reply())).toBe(Errno.ENOTSUP);
    rc.request(Cmd.WRITE_ZEROES, MiB, MiB, { flags: CmdFlag.FAST_ZERO, cookie: 8 }); // whole blocks: no fetch
    expect(replyError(await rc.reply())).toBe(0);
    expect(e.disks.completionPercent(await e.disks.getById(r.uniqueId))).toBeLessThan(100);
    const expected = Buffer.from(data);
    expected.fill(0, MiB, 2 * MiB);
    expect((await rc.pread(0, 4 * MiB)).equals(expected)).toBe(true);
    e.resumeJobs();
    await e.idle();
    expect((await rc.pread(0, 4 * MiB)).equals(expected)).toBe(true);
    await rc.disconnect();
  });

  it('a huge TRIM over blocks a pending snapshot still needs does not hold the event loop in one piece', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const size = 128 * MiB;
    const h = await e.disks.open(disk.uniqueId);
    const piece = prng(5)(8 * MiB);
    for (let at = 0; at < size; at += piece.length) await h.write(at, piece);
    e.pauseJobs();
    const s = await snapshot(e, disk, 'pending'); // every block of the TRIM is copied to the cow log first
    const c = await RawNbdClient.open(port, resourceId('disks', disk));
    // count the turns of the event loop while the TRIM runs: one piece would be a single turn
    let turns = 0;
    let spinning = true;
    const spin = (): void => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    c.request(Cmd.TRIM, 0, size, { cookie: 1 });
    const r = await c.reply();
    spinning = false;
    expect(replyError(r)).toBe(0);
    // 128 MiB of blocks to save first: 32 costly slices of 4 MiB, a turn after each
    expect(turns).toBeGreaterThanOrEqual(size / ZERO_SLICE_COSTLY);
    expect((await c.pread(0, MiB)).equals(Buffer.alloc(MiB))).toBe(true);
    e.resumeJobs();
    await e.idle();
    expect((await e.snapshots.read(s, size - 8 * MiB, 8 * MiB)).equals(piece)).toBe(true);
    await c.disconnect();
  });

  it('a snapshot taken in the middle of a pipelined write stream: the acknowledged writes are in it, later ones are not, none in part', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const c = await RawNbdClient.open(port, resourceId('disks', disk), { structured: true });
    const n = 300;
    const at = (i: number): number => i * 40_000 + (i % 7) * 13; // unaligned, 1-2 blocks each, never overlapping
    const len = 30_000;
    const data = Array.from({ length: 2 * n }, (_, i) => prng(100 + i)(len));
    // the first n writes go out at once, without waiting for any reply
    for (let i = 0; i < n; i++) c.request(Cmd.WRITE, at(i), len, { payload: data[i], cookie: i });
    const acked = new Set<number>();
    while (acked.size < n / 3) {
      const r = await c.reply();
      expect(replyError(r)).toBe(0);
      acked.add(r.cookie);
    }
    const before = new Set(acked); // acknowledged when the snapshot is requested
    const snap = await snapshot(e, disk, 'mid');
    // sent after the snapshot was created: must not be in it
    for (let i = n; i < 2 * n; i++) c.request(Cmd.WRITE, at(i), len, { payload: data[i], cookie: i });
    while (acked.size < 2 * n) acked.add((await c.reply()).cookie);
    expect(before.size).toBeLessThan(n); // the snapshot did come in the middle of the stream
    await e.idle();
    const image = await e.snapshots.read(snap, 0, at(2 * n));
    let inIt = 0;
    for (let i = 0; i < 2 * n; i++) {
      const got = image.subarray(at(i), at(i) + len);
      const present = got.equals(data[i] ?? Buffer.alloc(0));
      if (!present) expect(got.equals(Buffer.alloc(len)), `write ${i} is in the snapshot in part`).toBe(true);
      if (before.has(i)) expect(present, `acknowledged write ${i} missing`).toBe(true);
      if (i >= n) expect(present, `write ${i}, sent after the snapshot, is in it`).toBe(false);
      if (present) inIt++;
    }
    expect(inIt).toBeGreaterThanOrEqual(before.size);
    // and nothing else: the gaps between the writes are zeros
    for (let i = 0; i < 2 * n; i++) expect(image.subarray(at(i) + len, at(i + 1)).every((b) => b === 0)).toBe(true);
    const live = await (await e.disks.open(disk.uniqueId)).read(0, at(2 * n));
    for (let i = 0; i < 2 * n; i++) expect(live.subarray(at(i), at(i) + len).equals(data[i] ?? Buffer.alloc(0))).toBe(true);
    await c.disconnect();
  });

  it('two connections on one disk: each sees the other’s acknowledged writes in order; concurrent writers interleave', async () => {
    const e = t.engine;
    const { disk } = await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'shared', sizeGb: 1, sku: 'Premium_LRS', maxShares: 2, creationData: { createOption: 'Empty' } });
    const id = resourceId('disks', disk);
    const a = await RawNbdClient.open(port, id, { structured: true });
    const b = await RawNbdClient.open(port, id, { structured: true });
    expect(a.go.flags & TxFlag.CAN_MULTI_CONN).toBe(TxFlag.CAN_MULTI_CONN);
    const x = prng(21)(192 * 1024);
    const y = prng(22)(64 * 1024);
    const z = prng(23)(10_000);
    await write(a, 0, x, 1, CmdFlag.FUA);
    await write(b, 64 * 1024, y, 2); // over the middle of a's data
    b.request(Cmd.FLUSH, 0, 0, { cookie: 3 });
    expect(replyError(await b.reply())).toBe(0);
    const expected = Buffer.from(x);
    y.copy(expected, 64 * 1024);
    expect((await a.pread(0, x.length)).equals(expected)).toBe(true);
    await write(a, 100_000, z, 4); // over b's data, then a's flush
    a.request(Cmd.FLUSH, 0, 0, { cookie: 5 });
    expect(replyError(await a.reply())).toBe(0);
    z.copy(expected, 100_000);
    expect((await b.pread(0, x.length)).equals(expected)).toBe(true);
    expect((await (await e.disks.open(disk.uniqueId)).read(0, x.length)).equals(expected)).toBe(true);

    // both pipeline 4 KiB writes into the same 64 KiB blocks, a the even slots, b the odd ones
    const slots = 1024;
    const base = 8 * MiB;
    const piece = (i: number): Buffer => prng(1000 + i)(4096);
    for (let i = 0; i < slots; i++) {
      const w = i % 2 === 0 ? a : b;
      w.request(Cmd.WRITE, base + i * 4096, 4096, { payload: piece(i), cookie: 100 + i, flags: i % 50 === 0 ? CmdFlag.FUA : 0 });
    }
    for (let i = 0; i < slots / 2; i++) {
      expect(replyError(await a.reply())).toBe(0);
      expect(replyError(await b.reply())).toBe(0);
    }
    const all = Buffer.concat(Array.from({ length: slots }, (_, i) => piece(i)));
    expect((await a.pread(base, all.length)).equals(all)).toBe(true);
    expect((await (await e.disks.open(disk.uniqueId)).read(base, all.length)).equals(all)).toBe(true);
    await a.disconnect();
    await b.disconnect();
  });

  it('two connections keep the disk Attached until the last one closes', async () => {
    const e = t.engine;
    const { disk } = await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'two', sizeGb: 1, sku: 'Premium_LRS', maxShares: 2, creationData: { createOption: 'Empty' } });
    const id = resourceId('disks', disk);
    const a = await RawNbdClient.open(port, id);
    const b = await RawNbdClient.open(port, id);
    const state = async (): Promise<[string, string | null]> => {
      const d = await e.disks.getById(disk.uniqueId);
      return [d.diskState, d.managedBy];
    };
    const peer = (c: RawNbdClient): string => `127.0.0.1:${c.socket.localPort ?? 0}`;
    expect(await state()).toEqual(['Attached', peer(a)]);
    await a.disconnect();
    expect(await state()).toEqual(['Attached', peer(b)]); // managedBy names a client still attached
    await write(b, 0, Buffer.alloc(4096, 3), 1); // still served
    await b.disconnect();
    expect(await state()).toEqual(['Unattached', null]);
    // and a new connection attaches again
    const c = await RawNbdClient.open(port, id);
    expect((await state())[0]).toBe('Attached');
    await c.disconnect();
    expect(await state()).toEqual(['Unattached', null]);
  });

  it('attach is refused while the disk awaits an upload (ReadyToUpload), and nothing changes', async () => {
    const e = t.engine;
    const { disk } = await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'up', creationData: { createOption: 'Upload', uploadSizeBytes: 32 * MiB + 512 } });
    expect(disk.diskState).toBe('ReadyToUpload');
    const c = await RawNbdClient.connect(port);
    c.sendFlags(1 | 2);
    expect(await c.go(resourceId('disks', disk))).toBeUndefined();
    expect(c.lastError?.type).toBe(Rep.ERR_POLICY);
    expect(c.lastError?.data.toString()).toContain('waiting for an upload');
    // the session goes on, and the disk is as it was
    expect((await c.option(Opt.LIST)).some((r) => r.type === Rep.SERVER)).toBe(true);
    c.destroy();
    const after = await e.disks.getById(disk.uniqueId);
    expect([after.diskState, after.managedBy]).toEqual(['ReadyToUpload', null]);
  });

  it('an abrupt disconnect mid-write leaves the server serving and the disk detached', async () => {
    const e = t.engine;
    const disk = await createDisk(e, 'd');
    const c = await RawNbdClient.open(port, resourceId('disks', disk));
    await write(c, 0, Buffer.alloc(BLOCK_SIZE, 7), 1);
    // header of a 1 MiB write, then half the payload, then gone
    c.request(Cmd.WRITE, 0, MiB, { payload: Buffer.alloc(MiB / 2, 9), cookie: 2 });
    c.destroy();
    await new Promise((r) => setTimeout(r, 100));
    expect((await e.disks.getById(disk.uniqueId)).diskState).toBe('Unattached');
    const again = await RawNbdClient.open(port, resourceId('disks', disk));
    const head = await again.pread(0, BLOCK_SIZE);
    expect(head.equals(Buffer.alloc(BLOCK_SIZE, 7))).toBe(true);
    again.request(Cmd.READ, disk.sizeBytes - 10, 20, { cookie: 3 });
    const past = await again.reply(new Map([[3, 20]]));
    expect(replyError(past)).not.toBe(0);
    await again.disconnect();
  });
});

/** One syscall from an `strace -f -yy -ttt -T` log: what, on which file or socket, when. */
interface Traced {
  call: string;
  target: string;
  start: number;
  end: number;
  /** Last argument of pwrite64 (the file offset). */
  offset?: number;
}

function parseStrace(text: string): Traced[] {
  const out: Traced[] = [];
  const open = new Map<string, Traced>();
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, pid = '', t = '0', rest = ''] = m;
    const at = Number(t);
    const resumed = /^<\.\.\. (\w+) resumed>.*<(\d+\.\d+)>$/.exec(rest);
    if (resumed) {
      const r = open.get(pid);
      if (r) r.end = r.start + Number(resumed[2]);
      open.delete(pid);
      continue;
    }
    const call = /^(\w+)\(\d+<(.+?)>(?=, |\)| <unfinished)(.*)$/.exec(rest);
    if (!call) continue;
    const [, name = '', target = '', tail = ''] = call;
    const r: Traced = { call: name, target, start: at, end: at };
    const off = /, (\d+)\)\s+=/.exec(tail);
    if (name === 'pwrite64' && off) r.offset = Number(off[1]);
    const took = /<(\d+\.\d+)>$/.exec(tail);
    if (tail.includes('<unfinished ...>')) open.set(pid, r);
    else if (took) r.end = at + Number(took[1]);
    out.push(r);
  }
  return out;
}

const hasStrace = spawnSync('strace', ['-f', '-o', '/dev/null', 'true'], { stdio: 'ignore' }).status === 0;

describe('NBD durability over the engine (a server process under strace, then SIGKILL)', () => {
  it.skipIf(!hasStrace)('FUA and FLUSH reply only after the head and its change tracking were fdatasynced; acknowledged writes survive SIGKILL', async () => {
    const dir = tempDir();
    const log = join(dir, 'strace.log');
    const child = spawn(
      'strace',
      ['-f', '-yy', '-ttt', '-T', '-e', 'trace=pwrite64,fdatasync,fsync,write,writev', '-o', log, process.execPath, CHILD, dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const hung = setTimeout(() => child.kill('SIGKILL'), 120_000);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const ready = await new Promise<string[]>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = /READY (\d+) (\d+) (\S+)\n/.exec(out);
        if (line) resolve([line[1] ?? '', line[2] ?? '', line[3] ?? '']);
      });
      child.on('exit', (code) => reject(new Error(`child exited (${code}): ${stderr}`)));
    });
    const port = Number(ready[0]);
    const pid = Number(ready[1]);
    const id = ready[2] ?? '';
    // strace does not take its tracee along when it is killed: the server process is killed itself
    const kill = (): void => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    };
    let reopened: TestEngine | undefined;
    try {
      const c = await RawNbdClient.open(port, id);
      const data = [prng(11)(64 * 1024), prng(12)(64 * 1024), prng(13)(64 * 1024)];
      const at = [0, MiB, 2 * MiB];
      await write(c, at[0] ?? 0, data[0] ?? Buffer.alloc(0), 1);
      await write(c, at[1] ?? 0, data[1] ?? Buffer.alloc(0), 2, CmdFlag.FUA);
      await write(c, at[2] ?? 0, data[2] ?? Buffer.alloc(0), 3);
      c.request(Cmd.FLUSH, 0, 0, { cookie: 4 });
      expect(replyError(await c.reply())).toBe(0);
      kill();
      await exited; // strace ends with its tracee, its log complete

      const calls = parseStrace(readFileSync(log, 'utf8'));
      const replies = calls.filter((x) => (x.call === 'write' || x.call === 'writev') && x.target.includes(`:${port}->`));
      const head = (offset: number): Traced => {
        const w = calls.find((x) => x.call === 'pwrite64' && x.target.endsWith('/head.0.img') && x.offset === offset);
        if (!w) throw new Error(`no pwrite64 of the head at ${offset} in the trace`);
        return w;
      };
      const replyAfter = (t: number): Traced => {
        const r = replies.find((x) => x.start > t);
        if (!r) throw new Error(`no reply after ${t}`);
        return r;
      };
      const synced = (file: RegExp, from: number, to: number): boolean =>
        calls.some((x) => x.call === 'fdatasync' && file.test(x.target) && x.start >= from && x.end <= to);
      const HEAD = /\/head\.0\.img$/;
      const DIRTY = /\/dirty-\d+\.bitmap$/;
      const ALLOC = /\/alloc\.bitmap$/;
      // a plain write is answered without a sync (so the checks below can tell)
      const w0 = head(at[0] ?? 0);
      const r0 = replyAfter(w0.end);
      expect(synced(HEAD, w0.start, r0.start)).toBe(false);
      // FUA: the data and both bitmaps it set bits in were synced after the write, before the reply
      const w1 = head(at[1] ?? 0);
      const r1 = replyAfter(w1.end);
      for (const file of [HEAD, DIRTY, ALLOC]) expect(synced(file, w1.end, r1.start), `FUA sync of ${file}`).toBe(true);
      // FLUSH: synced after the request came (after the previous reply went), before its reply
      const w2 = head(at[2] ?? 0);
      const r2 = replyAfter(w2.end);
      const r3 = replyAfter(r2.end);
      for (const file of [HEAD, DIRTY, ALLOC]) expect(synced(file, r2.end, r3.start), `FLUSH sync of ${file}`).toBe(true);

      // SIGKILL: every acknowledged write is there, and the change tracking knows about it
      reopened = await startEngine({ dir });
      const e = reopened.engine;
      const disk = await e.disks.get({ subscriptionId: SUB, resourceGroup: RG, name: 'd' });
      expect(disk.diskState).toBe('Unattached');
      const s = await snapshot(e, disk, 'after-kill');
      await e.idle();
      for (let i = 0; i < 3; i++) {
        expect((await (await e.disks.open(disk.uniqueId)).read(at[i] ?? 0, 64 * 1024)).equals(data[i] ?? Buffer.alloc(0))).toBe(true);
        expect((await e.snapshots.read(s, at[i] ?? 0, 64 * 1024)).equals(data[i] ?? Buffer.alloc(0))).toBe(true);
      }
    } finally {
      kill();
      await exited;
      clearTimeout(hung);
      if (reopened) await reopened.dispose();
      else rmSync(dir, { recursive: true, force: true });
    }
  });
});
