/**
 * The NBD server over the real engine (no external tools; the qemu/nbdinfo suites are in e2e):
 * attach state, reads and writes, read-only snapshots, a snapshot in the middle of a write stream,
 * refusal while a SAS is active, a restored disk read while it hydrates, abrupt disconnects.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resourceId } from '../../src/core/ids.js';
import { BLOCK_SIZE, MiB } from '../../src/core/units.js';
import { EngineNbdBackend } from '../../src/nbd/engine-backend.js';
import { Cmd, CmdFlag, Errno, Opt, TxFlag, encodeInfoRequest } from '../../src/nbd/protocol.js';
import { NbdServer } from '../../src/nbd/server.js';
import { RawNbdClient, replyError } from '../../src/nbd/test-client.js';
import { createDisk, prng, RG, snapshot, snapshotId, startEngine, SUB, type TestEngine } from '../helpers/engine.js';

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
    let last = performance.now();
    let longest = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 1);
    const t0 = performance.now();
    c.request(Cmd.TRIM, 0, size, { cookie: 1 });
    const r = await c.reply();
    const took = performance.now() - t0;
    clearInterval(ticker);
    expect(replyError(r)).toBe(0);
    expect(longest, `longest turn ${longest.toFixed(0)} ms of ${took.toFixed(0)} ms`).toBeLessThan(took / 4);
    expect((await c.pread(0, MiB)).equals(Buffer.alloc(MiB))).toBe(true);
    e.resumeJobs();
    await e.idle();
    expect((await e.snapshots.read(s, size - 8 * MiB, 8 * MiB)).equals(piece)).toBe(true);
    await c.disconnect();
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
