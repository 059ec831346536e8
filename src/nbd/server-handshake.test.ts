/**
 * @module nbd/server-handshake.test
 * The fixed newstyle handshake, option by option, over a real socket with a hand-written client.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryNbdBackend } from './memory-backend.js';
import type { MemoryDisk } from './memory-backend.js';
import {
  BASE_ALLOCATION,
  ClientFlag,
  Cmd,
  CmdFlag,
  Info,
  Opt,
  Rep,
  TxFlag,
  decodeRepServer,
  encodeInfoRequest,
  encodeMetaContextRequest,
  encodeOption,
  readU64,
} from './protocol.js';
import { NbdServer } from './server.js';
import { RawNbdClient, replyError } from './test-client.js';

const MiB = 1024 * 1024;
const DISK = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/disks/d1';
const SNAP = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/snapshots/s1';

let backend: MemoryNbdBackend;
let disk: MemoryDisk;
let snap: MemoryDisk;
let server: NbdServer;
let port: number;
const clients: RawNbdClient[] = [];

async function client(flags = ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES): Promise<RawNbdClient> {
  const c = await RawNbdClient.connect(port);
  clients.push(c);
  c.sendFlags(flags);
  return c;
}

beforeEach(async () => {
  backend = new MemoryNbdBackend();
  disk = backend.addExport({ name: DISK, size: 64 * MiB, description: 'disk one' });
  snap = backend.addExport({ name: SNAP, size: 16 * MiB, readOnly: true });
  server = new NbdServer(backend, { maxPayload: 8 * MiB });
  ({ port } = await server.listen(0, '127.0.0.1'));
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await server.close();
});

describe('nbd handshake', () => {
  it('greeting advertises fixed newstyle and no-zeroes', async () => {
    const c = await RawNbdClient.connect(port);
    clients.push(c);
    expect(c.handshakeFlags).toBe(3);
  });

  it('unknown client flags: the server hangs up', async () => {
    const c = await client(0x80);
    await c.closed;
    expect(c.pendingBytes).toBe(0);
  });

  it('bad option magic: the server hangs up', async () => {
    const c = await client();
    const bad = encodeOption(Opt.LIST);
    bad.write('XXXXXXXX', 0, 'latin1');
    c.write(bad);
    await c.closed;
  });

  it('NBD_OPT_LIST: one NBD_REP_SERVER per export, then ACK; data is invalid', async () => {
    const c = await client();
    const replies = await c.option(Opt.LIST);
    expect(replies.map((r) => r.type)).toEqual([Rep.SERVER, Rep.SERVER, Rep.ACK]);
    expect(replies.slice(0, 2).map((r) => decodeRepServer(r.data))).toEqual([
      { name: DISK, description: 'disk one' },
      { name: SNAP, description: '' },
    ]);
    const bad = await c.option(Opt.LIST, Buffer.from('x'));
    expect(bad.map((r) => r.type)).toEqual([Rep.ERR_INVALID]);
    expect(disk.opens + snap.opens).toBe(0);
  });

  it('NBD_OPT_INFO: export, name, description and block size, without opening the export', async () => {
    const c = await client();
    const replies = await c.option(Opt.INFO, encodeInfoRequest(DISK.slice(1), [Info.NAME, Info.DESCRIPTION, Info.BLOCK_SIZE]));
    const info = c.parseInfo(replies);
    expect(info?.size).toBe(64 * MiB);
    const byType = new Map(info?.infos.map((r) => [r.data.readUInt16BE(0), r.data]));
    expect(byType.get(Info.NAME)?.toString('utf8', 2)).toBe(DISK);
    expect(byType.get(Info.DESCRIPTION)?.toString('utf8', 2)).toBe('disk one');
    const bs = byType.get(Info.BLOCK_SIZE);
    expect([bs?.readUInt32BE(2), bs?.readUInt32BE(6), bs?.readUInt32BE(10)]).toEqual([1, 4096, 8 * MiB]);
    expect(backend.openedNames).toEqual([]);
    const unknown = await c.option(Opt.INFO, encodeInfoRequest('/subscriptions/x/disks/nope'));
    expect(unknown[0]?.type).toBe(Rep.ERR_UNKNOWN);
    expect(unknown[0]?.data.toString()).toContain('not found');
  });

  it('NBD_OPT_GO: normalises the name, opens the export once, flags match the export', async () => {
    const c = await client();
    const go = await c.go(DISK.slice(1)); // what qemu sends for nbd://host:port/subscriptions/...
    expect(go?.size).toBe(64 * MiB);
    const flags = go?.flags ?? 0;
    for (const f of [TxFlag.HAS_FLAGS, TxFlag.SEND_FLUSH, TxFlag.SEND_FUA, TxFlag.SEND_TRIM, TxFlag.SEND_WRITE_ZEROES, TxFlag.SEND_FAST_ZERO, TxFlag.SEND_CACHE]) {
      expect(flags & f).toBe(f);
    }
    expect(flags & (TxFlag.READ_ONLY | TxFlag.SEND_DF | TxFlag.CAN_MULTI_CONN)).toBe(0);
    expect(backend.openedNames).toEqual([DISK]);
    expect(disk.clients[0]).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(disk.openCount).toBe(1);
    await c.disconnect();
    await server.close();
    expect([disk.openCount, disk.closes]).toEqual([0, 1]);
  });

  it('NBD_OPT_INFO advertises exactly the transmission flags NBD_OPT_GO does, multi-conn included', async () => {
    const shared = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/disks/shared';
    backend.addExport({ name: shared, size: 8 * MiB, multiConn: true });
    for (const name of [DISK, SNAP, shared]) {
      for (const structured of [false, true]) {
        const c = await client();
        if (structured) await c.option(Opt.STRUCTURED_REPLY);
        const info = c.parseInfo(await c.option(Opt.INFO, encodeInfoRequest(name)));
        const go = await c.go(name);
        expect(info?.flags, `${name} structured=${structured}`).toBe(go?.flags);
      }
    }
    const c = await client();
    const info = c.parseInfo(await c.option(Opt.INFO, encodeInfoRequest(shared)));
    expect((info?.flags ?? 0) & TxFlag.CAN_MULTI_CONN).toBe(TxFlag.CAN_MULTI_CONN);
  });

  it('NBD_OPT_GO on a snapshot: read-only, multi-conn; DF only with structured replies', async () => {
    const c = await client();
    expect((await c.option(Opt.STRUCTURED_REPLY))[0]?.type).toBe(Rep.ACK);
    const go = await c.go(`//${SNAP.slice(1)}`);
    const flags = go?.flags ?? 0;
    expect(flags & TxFlag.READ_ONLY).toBe(TxFlag.READ_ONLY);
    expect(flags & TxFlag.CAN_MULTI_CONN).toBe(TxFlag.CAN_MULTI_CONN);
    expect(flags & TxFlag.SEND_DF).toBe(TxFlag.SEND_DF);
    expect(flags & (TxFlag.SEND_TRIM | TxFlag.SEND_WRITE_ZEROES)).toBe(0);
    expect(backend.openedNames).toEqual([SNAP]);
  });

  it('NBD_OPT_GO errors carry the backend message; the session continues', async () => {
    const c = await client();
    expect(await c.go('/subscriptions/x/disks/missing')).toBeUndefined();
    expect(c.lastError?.type).toBe(Rep.ERR_UNKNOWN);
    expect(c.lastError?.data.toString()).toBe("The NBD export '/subscriptions/x/disks/missing' was not found.");
    backend.refuse(DISK, 'Disk d1 has an active SAS; revoke access before attaching it.');
    expect(await c.go(DISK)).toBeUndefined();
    expect(c.lastError?.type).toBe(Rep.ERR_POLICY);
    expect(c.lastError?.data.toString()).toBe('Disk d1 has an active SAS; revoke access before attaching it.');
    expect(await c.go('')).toBeUndefined();
    expect(c.lastError?.type).toBe(Rep.ERR_UNKNOWN);
    const malformed = await c.option(Opt.GO, Buffer.from([0, 0, 0, 50, 1]));
    expect(malformed[0]?.type).toBe(Rep.ERR_INVALID);
    backend.refuse(DISK, undefined);
    expect((await c.go(DISK))?.size).toBe(64 * MiB);
  });

  it('NBD_OPT_EXPORT_NAME: size and flags, with or without the 124 zero bytes', async () => {
    const c = await client();
    c.write(encodeOption(Opt.EXPORT_NAME, Buffer.from(DISK)));
    const reply = await c.read(10);
    expect(readU64(reply, 0)).toBe(64 * MiB);
    expect(reply.readUInt16BE(8) & TxFlag.HAS_FLAGS).toBe(1);
    expect(await c.pread(0, 16)).toEqual(Buffer.alloc(16));

    const old = await client(ClientFlag.FIXED_NEWSTYLE);
    old.write(encodeOption(Opt.EXPORT_NAME, Buffer.from(SNAP)));
    const full = await old.read(134);
    expect(readU64(full, 0)).toBe(16 * MiB);
    expect(full.subarray(10).every((b) => b === 0)).toBe(true);
  });

  it('NBD_OPT_EXPORT_NAME of an unknown export: the server hangs up', async () => {
    const c = await client();
    c.write(encodeOption(Opt.EXPORT_NAME, Buffer.from('/nope')));
    await c.closed;
    expect(c.pendingBytes).toBe(0);
  });

  it('NBD_OPT_ABORT: ACK, then close', async () => {
    const c = await client();
    expect((await c.option(Opt.ABORT))[0]?.type).toBe(Rep.ACK);
    await c.closed;
  });

  it('NBD_OPT_STRUCTURED_REPLY takes no data', async () => {
    const c = await client();
    expect((await c.option(Opt.STRUCTURED_REPLY, Buffer.from('x')))[0]?.type).toBe(Rep.ERR_INVALID);
    expect((await c.option(Opt.STRUCTURED_REPLY))[0]?.type).toBe(Rep.ACK);
  });

  it('NBD_OPT_LIST_META_CONTEXT: needs structured replies; all, namespace wildcard, unknown, malformed', async () => {
    const c = await client();
    const list = async (queries: string[]) => c.option(Opt.LIST_META_CONTEXT, encodeMetaContextRequest(DISK, queries));
    for (const q of [[], [BASE_ALLOCATION]]) {
      const early = await list(q);
      expect(early.map((x) => x.type)).toEqual([Rep.ERR_INVALID]);
      expect(early[0]?.data.toString()).toContain('structured replies');
    }
    await c.option(Opt.STRUCTURED_REPLY);
    for (const q of [[], ['base:'], [BASE_ALLOCATION], ['qemu:dirty-bitmap:x', BASE_ALLOCATION]]) {
      const r = await list(q);
      expect(r.map((x) => x.type)).toEqual([Rep.META_CONTEXT, Rep.ACK]);
      expect(r[0]?.data.toString('utf8', 4)).toBe(BASE_ALLOCATION);
    }
    for (const q of [['qemu:dirty-bitmap:x'], ['base:nothing'], ['nocolon']]) {
      expect((await list(q)).map((x) => x.type)).toEqual([Rep.ACK]);
    }
    const bad = await c.option(Opt.LIST_META_CONTEXT, Buffer.from([0, 0, 0, 1]));
    expect(bad[0]?.type).toBe(Rep.ERR_INVALID);
  });

  it('NBD_OPT_SET_META_CONTEXT: needs structured replies, selects base:allocation with id 1', async () => {
    const c = await client();
    const set = (queries: string[]) => c.option(Opt.SET_META_CONTEXT, encodeMetaContextRequest(DISK, queries));
    expect((await set([BASE_ALLOCATION]))[0]?.type).toBe(Rep.ERR_INVALID);
    await c.option(Opt.STRUCTURED_REPLY);
    expect((await set(['base:'])).map((r) => r.type)).toEqual([Rep.ACK]);
    expect((await set(['x-foo:bar'])).map((r) => r.type)).toEqual([Rep.ACK]);
    const r = await set([BASE_ALLOCATION]);
    expect(r.map((x) => x.type)).toEqual([Rep.META_CONTEXT, Rep.ACK]);
    expect(r[0]?.data.readUInt32BE(0)).toBe(1);
    expect(r[0]?.data.toString('utf8', 4)).toBe(BASE_ALLOCATION);
    await c.go(DISK.slice(1)); // the same export, spelled as qemu spells it
    c.request(Cmd.BLOCK_STATUS, 0, 4096, { flags: CmdFlag.REQ_ONE });
    expect(replyError(await c.reply())).toBe(0);
  });

  it('meta context selected for another export does not carry over to GO', async () => {
    const c = await client();
    await c.option(Opt.STRUCTURED_REPLY);
    await c.option(Opt.SET_META_CONTEXT, encodeMetaContextRequest(SNAP, [BASE_ALLOCATION]));
    await c.go(DISK);
    c.request(Cmd.BLOCK_STATUS, 0, 4096);
    expect(replyError(await c.reply())).toBe(22);
  });

  it('unsupported options get NBD_REP_ERR_UNSUP (STARTTLS: POLICY) and the session goes on', async () => {
    const c = await client();
    expect((await c.option(99))[0]?.type).toBe(Rep.ERR_UNSUP);
    expect((await c.option(Opt.EXTENDED_HEADERS))[0]?.type).toBe(Rep.ERR_UNSUP);
    expect((await c.option(Opt.PEEK_EXPORT))[0]?.type).toBe(Rep.ERR_UNSUP);
    expect((await c.option(Opt.STARTTLS))[0]?.type).toBe(Rep.ERR_POLICY);
    expect((await c.go(DISK))?.size).toBe(64 * MiB);
  });

  it('oversized option data is skipped and answered with NBD_REP_ERR_TOO_BIG', async () => {
    const c = await client();
    const r = await c.option(Opt.LIST_META_CONTEXT, Buffer.alloc(200 * 1024));
    expect(r[0]?.type).toBe(Rep.ERR_TOO_BIG);
    expect((await c.option(Opt.LIST)).length).toBe(3);
  });

  it('a client that never finishes the handshake is dropped after the timeout', async () => {
    const s = new NbdServer(backend, { handshakeTimeoutMs: 100 });
    const { port: p } = await s.listen(0, '127.0.0.1');
    try {
      const c = await RawNbdClient.connect(p);
      clients.push(c);
      await c.closed;
    } finally {
      await s.close();
    }
  });
});
