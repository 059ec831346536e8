/**
 * @module nbd/real-clients.test
 * The server driven by the real clients snapdisk users run: qemu-io, qemu-img, nbdinfo, nbdcopy
 * (Debian packages qemu-utils and libnbd-bin). Each test is skipped when its tool is missing, so
 * `npm test` passes on a bare machine; `apt-get install -y qemu-utils libnbd-bin` enables them.
 *
 * Export names are full ARM ids and go into URIs the way users type them,
 * `nbd://127.0.0.1:PORT/subscriptions/...`: qemu and libnbd strip the leading slash, the server
 * puts it back, and the backend is asked for `/subscriptions/...`.
 */

import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryNbdBackend } from './memory-backend.js';
import type { MemoryDisk } from './memory-backend.js';
import { NbdServer } from './server.js';
import { firstDifference } from './test-client.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const SUB = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute';
const DISK = `${SUB}/disks/d1`;
const SNAP = `${SUB}/snapshots/s1`;

function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

let backend: MemoryNbdBackend;
let disk: MemoryDisk;
let snap: MemoryDisk;
let server: NbdServer;
let port: number;
let dir: string;

/** The URI users type: the ARM id after `host:port`, so its leading slash is the path's. */
const uri = (name: string): string => `nbd://127.0.0.1:${port}${name}`;

async function tool(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(cmd, args, { timeout: 60_000, maxBuffer: 16 * MiB });
}

/** Runs a command expected to fail; resolves with its combined output. */
async function failing(cmd: string, args: string[]): Promise<string> {
  try {
    await tool(cmd, args);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  throw new Error(`${cmd} ${args.join(' ')} succeeded unexpectedly`);
}

/** A raw image of `size` bytes: a random data island of 64 KiB..1 MiB in every 4 MiB, holes between. */
function sparseImage(size: number): Buffer {
  const img = Buffer.alloc(size);
  for (let off = 0, i = 0; off < size; off += 4 * MiB, i++) {
    const at = off + (i % 3) * 512 * 1024;
    randomBytes(Math.min(64 * 1024 * (1 + (i % 16)), size - at)).copy(img, at);
  }
  return img;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'snapdisk-nbd-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  backend = new MemoryNbdBackend();
  disk = backend.addExport({ name: DISK, size: 64 * MiB, description: 'disk d1' });
  snap = backend.addExport({ name: SNAP, size: 32 * MiB, readOnly: true });
  server = new NbdServer(backend);
  ({ port } = await server.listen(0, '127.0.0.1'));
});

afterEach(async () => {
  await server.close();
});

describe('qemu-io / qemu-img', () => {
  it.skipIf(!has('qemu-io'))('qemu-io writes and reads back a pattern through an ARM-id URI', async () => {
    const { stdout } = await tool('qemu-io', ['-f', 'raw', uri(DISK), '-c', 'write -P 0xab 1M 64k', '-c', 'read -P 0xab 1M 64k']);
    expect(stdout).toContain('wrote 65536/65536 bytes at offset 1048576');
    expect(stdout).toContain('read 65536/65536 bytes at offset 1048576');
    expect(stdout).not.toContain('Pattern verification failed');
    expect(backend.openedNames).toEqual([DISK]);
    expect(disk.readSync(MiB, 65536).every((b) => b === 0xab)).toBe(true);
    expect([disk.opens, disk.closes]).toEqual([1, 1]);
  });

  it.skipIf(!has('qemu-img'))('qemu-img info: size; unknown and refused exports print the server message', async () => {
    const { stdout } = await tool('qemu-img', ['info', uri(DISK)]);
    expect(stdout).toContain('virtual size: 64 MiB (67108864 bytes)');
    const missing = await failing('qemu-img', ['info', uri(`${SUB}/disks/nope`)]);
    expect(missing).toContain(`server reported: The NBD export '${SUB}/disks/nope' was not found.`);
    backend.refuse(DISK, 'Disk d1 has an active SAS; call endGetAccess first.');
    const refused = await failing('qemu-img', ['info', uri(DISK)]);
    expect(refused).toContain('Disk d1 has an active SAS; call endGetAccess first.');
  });

  it.skipIf(!has('qemu-img'))('qemu-img convert to the server, then compare against the shadow raw file', async () => {
    const shadow = join(dir, 'shadow-in.raw');
    const img = sparseImage(64 * MiB);
    await writeFile(shadow, img);
    await tool('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', shadow, uri(DISK)]);
    expect(firstDifference(disk.readSync(0, 64 * MiB), img)).toBeUndefined();
    const { stdout } = await tool('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', shadow, uri(DISK)]);
    expect(stdout).toContain('Images are identical.');
    img[5 * MiB] = (img[5 * MiB] ?? 0) ^ 1;
    await writeFile(shadow, img);
    const diff = await failing('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', shadow, uri(DISK)]);
    expect(diff).toContain(`Content mismatch at offset ${5 * MiB}!`);
  });

  it.skipIf(!has('qemu-img'))('qemu-img convert from the server reproduces the export', async () => {
    const img = sparseImage(64 * MiB);
    disk.writeSync(0, img);
    const out = join(dir, 'from-server.raw');
    await tool('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri(DISK), out]);
    expect(firstDifference(await readFile(out), img)).toBeUndefined();
    const { stdout } = await tool('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', out, uri(DISK)]);
    expect(stdout).toContain('Images are identical.');
  });

  it.skipIf(!has('qemu-io'))('a snapshot export is read-only: reads work, opening it writable fails', async () => {
    snap.writeSync(0, Buffer.alloc(4096, 0x11));
    const { stdout } = await tool('qemu-io', ['-r', '-f', 'raw', uri(SNAP), '-c', 'read -P 0x11 0 4k']);
    expect(stdout).toContain('read 4096/4096 bytes at offset 0');
    const out = await failing('qemu-io', ['-f', 'raw', uri(SNAP), '-c', 'write -P 0x22 0 4k']);
    expect(out).toMatch(/Permission denied|read-only/);
    expect(snap.readSync(0, 1)[0]).toBe(0x11);
  });

  it.skipIf(!has('qemu-io'))('two clients at once write disjoint ranges of one disk', async () => {
    await Promise.all([
      tool('qemu-io', ['-f', 'raw', uri(DISK), '-c', 'write -P 0x01 0 8M', '-c', 'read -P 0x01 0 8M']),
      tool('qemu-io', ['-f', 'raw', uri(DISK), '-c', 'write -P 0x02 8M 8M', '-c', 'read -P 0x02 8M 8M']),
    ]);
    expect(disk.readSync(0, 8 * MiB).every((b) => b === 1)).toBe(true);
    expect(disk.readSync(8 * MiB, 8 * MiB).every((b) => b === 2)).toBe(true);
    expect([disk.opens, disk.closes, disk.openCount]).toEqual([2, 2, 0]);
    expect(new Set(disk.clients).size).toBe(2);
  });
});

describe('nbdinfo / nbdcopy', () => {
  it.skipIf(!has('nbdinfo'))('nbdinfo --map shows holes where nothing was written', async () => {
    disk.writeSync(MiB, Buffer.alloc(64 * 1024, 1));
    const { stdout } = await tool('nbdinfo', ['--map', uri(DISK)]);
    const rows = stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
    expect(rows).toEqual([
      ['0', String(MiB), '3', 'hole,zero'],
      [String(MiB), '65536', '0', 'data'],
      [String(MiB + 65536), String(63 * MiB - 65536), '3', 'hole,zero'],
    ]);
  });

  it.skipIf(!has('nbdinfo'))('nbdinfo --list lists every export without attaching any', async () => {
    const { stdout } = await tool('nbdinfo', ['--list', `nbd://127.0.0.1:${port}`]);
    expect(stdout).toContain(`export="${DISK}":`);
    expect(stdout).toContain(`export="${SNAP}":`);
    expect(stdout).toContain('description: disk d1');
    expect(stdout).toMatch(/is_read_only: true/);
    expect(stdout).toContain('base:allocation');
    expect(backend.openedNames).toEqual([]);
  });

  it.skipIf(!has('nbdinfo'))('nbdinfo shows block sizes and flags of one export', async () => {
    const { stdout } = await tool('nbdinfo', [uri(DISK)]);
    expect(stdout).toContain('export-size: 67108864');
    expect(stdout).toContain('block_size_minimum: 1');
    expect(stdout).toContain('block_size_preferred: 4096');
    expect(stdout).toContain('block_size_maximum: 33554432');
    expect(stdout).toContain('can_fua: true');
    expect(stdout).toContain('can_multi_conn: false');
  });

  it.skipIf(!has('nbdcopy'))('nbdcopy file -> server -> file round-trips; multi-conn on a snapshot', async () => {
    const img = sparseImage(64 * MiB);
    const src = join(dir, 'nbdcopy-src.raw');
    const dst = join(dir, 'nbdcopy-dst.raw');
    await writeFile(src, img);
    await tool('nbdcopy', [src, uri(DISK)]);
    expect(firstDifference(disk.readSync(0, 64 * MiB), img)).toBeUndefined();
    await tool('nbdcopy', [uri(DISK), dst]);
    expect(firstDifference(await readFile(dst), img)).toBeUndefined();
    // A read-only export advertises multi-conn, so nbdcopy opens several connections at once.
    snap.writeSync(0, img.subarray(0, 32 * MiB));
    await tool('nbdcopy', ['--connections=4', uri(SNAP), dst]);
    expect(firstDifference(await readFile(dst), img.subarray(0, 32 * MiB))).toBeUndefined();
    expect(snap.opens).toBeGreaterThan(1);
    expect(snap.openCount).toBe(0);
  });
});
