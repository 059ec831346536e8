/**
 * The NBD server over the real engine, driven by the tools people attach disks with: qemu-io,
 * qemu-img, nbdinfo, nbdcopy (Debian qemu-utils, libnbd-bin; `npm run test:e2e` installs them).
 * Each test is skipped with a message when its tool is missing.
 */

import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resourceId } from '../../src/core/ids.js';
import { MiB } from '../../src/core/units.js';
import { EngineNbdBackend } from '../../src/nbd/engine-backend.js';
import { NbdServer } from '../../src/nbd/server.js';
import { createDisk, snapshot, snapshotId, startEngine, SUB, RG, type TestEngine } from '../helpers/engine.js';

const run = promisify(execFile);
const has = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
const qemu = has('qemu-img') && has('qemu-io');
const libnbd = has('nbdinfo') && has('nbdcopy');

async function tool(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(cmd, args, { timeout: 120_000, maxBuffer: 64 * MiB });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw Object.assign(new Error(`${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`), { stdout: e.stdout, stderr: e.stderr });
  }
}

/** Creates (or updates) a sparse file of `size` bytes with the given pieces written. */
async function sparseFile(path: string, size: number, pieces: Array<[number, Buffer]>): Promise<void> {
  const fh = await open(path, existsSync(path) ? 'r+' : 'w+');
  try {
    await fh.truncate(size);
    for (const [at, data] of pieces) await fh.write(data, 0, data.length, at);
  } finally {
    await fh.close();
  }
}

describe('NBD with qemu and libnbd tools over the engine', () => {
  let t: TestEngine;
  let server: NbdServer;
  let port = 0;
  const uri = (id: string): string => `nbd://127.0.0.1:${port}${id}`;

  beforeAll(async () => {
    t = await startEngine();
    server = new NbdServer(new EngineNbdBackend(t.engine));
    port = (await server.listen(0, '127.0.0.1')).port;
  });
  afterAll(async () => {
    await server.close();
    await t.dispose();
  });

  it.skipIf(!qemu && !process.env.CI)('qemu-io writes and verifies patterns; qemu-img convert and compare against a shadow file', async () => {
    const disk = await createDisk(t.engine, 'qio');
    const id = resourceId('disks', disk);
    await tool('qemu-io', ['-f', 'raw', uri(id), '-c', 'write -P 0xab 1M 4M', '-c', 'write -P 0x5c 100M 65536', '-c', 'read -P 0xab 1M 4M', '-c', 'read -P 0x5c 100M 65536']);
    const raw = join(t.dir, 'shadow.raw');
    await sparseFile(raw, disk.sizeBytes, [
      [MiB, Buffer.alloc(4 * MiB, 0xab)],
      [100 * MiB, Buffer.alloc(65536, 0x5c)],
    ]);
    expect(await tool('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', raw, uri(id)])).toContain('Images are identical');
    await sparseFile(raw, disk.sizeBytes, [[MiB + 4096, Buffer.alloc(1, 0xac)]]);
    const mismatch = await tool('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', raw, uri(id)]).catch((e: { stdout?: string }) => e.stdout ?? '');
    expect(mismatch).toContain(`Content mismatch at offset ${MiB + 4096}`);
    // write a whole random image with qemu-img convert and read it back
    const disk2 = await createDisk(t.engine, 'conv');
    const id2 = resourceId('disks', disk2);
    const src = join(t.dir, 'random.raw');
    const data = randomBytes(32 * MiB);
    await sparseFile(src, disk2.sizeBytes, [[0, data]]);
    await tool('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', src, uri(id2)]);
    const back = await (await t.engine.disks.open(disk2.uniqueId)).read(0, 32 * MiB);
    expect(back.equals(data)).toBe(true);
    // a snapshot of it is a read-only export with the same bytes
    const s = await snapshot(t.engine, disk2, 'conv-s');
    const out = join(t.dir, 'snap.raw');
    await tool('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri(snapshotId(s)), out]);
    expect((await readFile(out)).subarray(0, 32 * MiB).equals(data)).toBe(true);
    const refused = await tool('qemu-io', ['-f', 'raw', uri(snapshotId(s)), '-c', 'write 0 512']).catch((e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`);
    expect(refused.toLowerCase()).toMatch(/read-only|permission|not permitted/);
  });

  it.skipIf(!qemu && !process.env.CI)('qemu-img convert into a disk whose snapshot is still copying: FAST_ZERO refusals are taken, the snapshot keeps the old bytes', async () => {
    const disk = await createDisk(t.engine, 'busy');
    const id = resourceId('disks', disk);
    const old = randomBytes(16 * MiB);
    await (await t.engine.disks.open(disk.uniqueId)).write(0, old);
    t.engine.pauseJobs();
    try {
      const s = await snapshot(t.engine, disk, 'busy-s'); // pending: its 256 blocks still to copy
      const src = join(t.dir, 'sparse-src.raw');
      const fresh = randomBytes(MiB);
      await sparseFile(src, disk.sizeBytes, [[4 * MiB, fresh]]);
      // -n: the target is not known to be zero, so qemu-img zeroes it first (fast zero when offered)
      await tool('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', src, uri(id)]);
      expect(await tool('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, uri(id)])).toContain('Images are identical');
      t.engine.resumeJobs();
      await t.engine.idle();
      expect((await t.engine.snapshots.read(s, 0, 16 * MiB)).equals(old)).toBe(true);
    } finally {
      t.engine.resumeJobs();
    }
  });

  it.skipIf(!libnbd && !process.env.CI)('nbdinfo --map shows holes where nothing was written; nbdcopy copies; two clients at once', async () => {
    const disk = await createDisk(t.engine, 'map');
    const id = resourceId('disks', disk);
    await (await t.engine.disks.open(disk.uniqueId)).write(8 * MiB, randomBytes(MiB));
    const map = await tool('nbdinfo', ['--map', uri(id)]);
    const lines = map.trim().split('\n').map((l) => l.trim().split(/\s+/));
    const data = lines.filter((l) => l[2] === '0');
    expect(data.map((l) => [Number(l[0]), Number(l[1])])).toEqual([[8 * MiB, MiB]]);
    expect(lines.some((l) => l[3]?.includes('hole'))).toBe(true);
    const copy = join(t.dir, 'nbdcopy.raw');
    await tool('nbdcopy', [uri(id), copy]);
    const copied = await readFile(copy);
    expect(copied.length).toBe(disk.sizeBytes);
    expect(copied.subarray(8 * MiB, 9 * MiB).equals(await (await t.engine.disks.open(disk.uniqueId)).read(8 * MiB, MiB))).toBe(true);
    await Promise.all([
      tool('nbdcopy', [uri(id), join(t.dir, 'a.raw')]),
      tool('nbdcopy', [uri(id), join(t.dir, 'b.raw')]),
    ]);
    expect((await readFile(join(t.dir, 'a.raw'))).equals(await readFile(join(t.dir, 'b.raw')))).toBe(true);
    const listed = await tool('nbdinfo', ['--list', `nbd://127.0.0.1:${port}`]);
    expect(listed).toContain(id);
    // --list asks NBD_OPT_INFO; its flags must be the ones a connection (NBD_OPT_GO) gets
    type Listed = { exports: Array<Record<string, unknown>> };
    const json = JSON.parse(await tool('nbdinfo', ['--list', '--json', `nbd://127.0.0.1:${port}`])) as Listed;
    const single = JSON.parse(await tool('nbdinfo', ['--json', uri(id)])) as Listed;
    const flags = (e: Record<string, unknown> | undefined): unknown[] => ['is_read_only', 'can_flush', 'can_fua', 'can_trim', 'can_zero', 'can_fast_zero', 'can_multi_conn', 'can_cache', 'can_df'].map((k) => e?.[k]);
    const fromList = json.exports.find((e) => e['export-name'] === id);
    expect(fromList?.['can_multi_conn']).toBe(true);
    expect(flags(fromList)).toEqual(flags(single.exports[0]));
  });

  it.skipIf(!qemu && !process.env.CI)('a restored disk reads correctly through qemu-img while it still hydrates', async () => {
    const disk = await createDisk(t.engine, 'src');
    const data = randomBytes(16 * MiB);
    await (await t.engine.disks.open(disk.uniqueId)).write(0, data);
    const s = await snapshot(t.engine, disk, 'src-s');
    await t.engine.idle();
    t.engine.pauseJobs();
    const { disk: r } = await t.engine.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'restored', creationData: { createOption: 'Copy', sourceResourceId: snapshotId(s) } });
    const out = join(t.dir, 'restored.raw');
    await tool('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri(resourceId('disks', r)), out]);
    expect(t.engine.disks.completionPercent(await t.engine.disks.getById(r.uniqueId))).toBeLessThan(100);
    expect((await readFile(out)).subarray(0, 16 * MiB).equals(data)).toBe(true);
    t.engine.resumeJobs();
    await t.engine.idle();
  });
});
