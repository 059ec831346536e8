/**
 * Real tools on SAS URLs (Debian qemu-utils 7.2 and nbdkit 1.32; test/e2e/setup.sh installs them):
 * - a downloaded VHD: `qemu-img info -f vpc` (exact virtual size) and `compare -f vpc` against the
 *   raw data;
 * - a downloaded VHDX of a 512-byte-sector disk: `qemu-img info/check/compare -f vhdx`;
 * - a VHDX of a 4096-byte-sector disk: qemu 7.2 refuses 4096-byte logical sectors ("not
 *   supported", checked in docs/FORMATS.md); the refusal must be that one, not a parse error;
 * - `nbdkit curl url=<SAS URL>` serving the blob as an NBD disk, read by `qemu-img convert` and
 *   `qemu-img compare` (nbdkit asks for ranges one byte past the end: the server clamps). Tools
 *   that talk to the server run asynchronously: the server lives in this process.
 */

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SnapshotRecord } from '../../src/core/model.js';
import { MiB } from '../../src/core/units.js';
import { createDisk, prng, snapshot } from '../helpers/engine.js';
import { diskWithImage, http, startBlobServer } from '../integration/blob-harness.js';
import type { BlobServer } from '../integration/blob-harness.js';

const has = (cmd: string): boolean => spawnSync('bash', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
const hasQemu = has('qemu-img');
const hasNbdkit = has('nbdkit') && spawnSync('nbdkit', ['--dump-plugin', 'curl'], { encoding: 'utf8' }).status === 0;
if (!hasQemu) console.warn('blob-qemu.test.ts skipped: qemu-img is not installed; run test/e2e/setup.sh as root (apt-get install qemu-utils).');
if (hasQemu && !hasNbdkit) console.warn('blob-qemu.test.ts: nbdkit with its curl plugin is missing, the nbdkit test is skipped; run test/e2e/setup.sh (apt-get install nbdkit).');

function run(cmd: string, args: string[]): { status: number; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status ?? -1, out: r.stdout, err: r.stderr };
}

/** `run` without blocking the event loop: needed when the tool talks to this process's server. */
function runAsync(cmd: string, args: string[]): Promise<{ status: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ status: code ?? -1, out, err }));
  });
}

const SIZE = 64 * MiB;
let b: BlobServer;
let dir: string;
let image: Buffer;
let snap: SnapshotRecord;
let rawPath: string;

beforeAll(async () => {
  if (!hasQemu) return;
  b = await startBlobServer();
  dir = await mkdtemp(join(tmpdir(), 'snapdisk-qemu-'));
  image = Buffer.alloc(SIZE);
  const rnd = prng(61);
  rnd(5 * MiB).copy(image, 3 * MiB + 512);
  rnd(MiB).copy(image, 40 * MiB);
  rnd(4096).copy(image, SIZE - 4096);
  const disk = await diskWithImage(b, 'qemu', image);
  snap = await snapshot(b.t.engine, disk, 'qemu-s1');
  await b.t.engine.idle();
  rawPath = join(dir, 'disk.raw');
  await writeFile(rawPath, image);
});
afterAll(async () => {
  if (!hasQemu) return;
  await b.close();
  await rm(dir, { recursive: true, force: true });
});

async function download(url: string, name: string): Promise<string> {
  const r = await http(url);
  expect(r.status).toBe(200);
  const path = join(dir, name);
  await writeFile(path, r.body);
  return path;
}

describe.skipIf(!hasQemu && !process.env.CI)('blob + qemu-img', () => {
  it('VHD: qemu-img info -f vpc gives the exact size; compare -f vpc with the raw data is identical', async () => {
    const vhd = await download((await b.grant(snap)).url, 'disk.vhd');
    const info = run('qemu-img', ['info', '-f', 'vpc', '--output=json', vhd]);
    expect(info.status, info.err).toBe(0);
    const parsed = JSON.parse(info.out) as { format: string; 'virtual-size': number };
    expect(parsed.format).toBe('vpc');
    expect(parsed['virtual-size']).toBe(SIZE);
    const cmp = run('qemu-img', ['compare', '-f', 'raw', '-F', 'vpc', rawPath, vhd]);
    expect(cmp.status, cmp.out + cmp.err).toBe(0);
    expect(cmp.out).toContain('Images are identical');
  });

  it('VHDX (512-byte sectors): qemu-img info, check and compare -f vhdx', async () => {
    const vhdx = await download((await b.grant(snap, 'Read', 'VHDX')).url, 'disk.vhdx');
    const info = run('qemu-img', ['info', '-f', 'vhdx', '--output=json', vhdx]);
    expect(info.status, info.err).toBe(0);
    expect((JSON.parse(info.out) as { 'virtual-size': number })['virtual-size']).toBe(SIZE);
    const check = run('qemu-img', ['check', '-f', 'vhdx', vhdx]);
    expect(check.status, check.out + check.err).toBe(0);
    const cmp = run('qemu-img', ['compare', '-f', 'raw', '-F', 'vhdx', rawPath, vhdx]);
    expect(cmp.status, cmp.out + cmp.err).toBe(0);
    expect(cmp.out).toContain('Images are identical');
  });

  it('VHDX (4096-byte sectors): qemu 7.2 refuses the sector size, not the structure', async () => {
    const e = b.t.engine;
    const disk = await createDisk(e, 'qemu4k', 1, { sku: 'PremiumV2_LRS' });
    const h = await e.disks.open(disk.uniqueId);
    await h.write(8 * MiB, prng(62)(MiB));
    const s = await snapshot(e, disk, 'qemu4k-s');
    await e.idle();
    const vhdx = await download((await b.grant(s)).url, 'disk4k.vhdx');
    const info = run('qemu-img', ['info', '-f', 'vhdx', vhdx]);
    if (info.status === 0) {
      // a qemu with 4096-byte VHDX support: then it must read the right size
      expect(info.out).toContain('1 GiB');
    } else {
      expect(info.err).toMatch(/not supported/i);
      expect(info.err).not.toMatch(/corrupt|invalid|checksum|header/i);
    }
  });
});

describe.skipIf((!hasQemu || !hasNbdkit) && !process.env.CI)('blob + nbdkit curl', () => {
  let nbdkit: ChildProcess | undefined;
  afterAll(() => {
    if (nbdkit?.pid !== undefined && nbdkit.exitCode === null) nbdkit.kill('SIGTERM');
  });

  it('nbdkit serves the SAS URL as NBD; qemu-img converts and compares it', async () => {
    const { url } = await b.grant(snap);
    const sock = join(dir, 'nbd.sock');
    nbdkit = spawn('nbdkit', ['-f', '-U', sock, 'curl', `url=${url}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    nbdkit.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(sock), err).toBe(true);
    const nbd = `nbd+unix:///?socket=${sock}`;
    // the NBD disk is the whole blob: disk bytes and the VHD footer
    const info = await runAsync('qemu-img', ['info', '-f', 'raw', '--output=json', nbd]);
    expect(info.status, info.err).toBe(0);
    expect((JSON.parse(info.out) as { 'virtual-size': number })['virtual-size']).toBe(SIZE + 512);
    const out = join(dir, 'via-nbd.raw');
    const conv = await runAsync('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', nbd, out]);
    expect(conv.status, conv.err + err).toBe(0);
    const cmp = run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', rawPath, out]);
    expect(cmp.status, cmp.out + cmp.err).toBe(0);
    const direct = await runAsync('qemu-img', ['compare', '-f', 'raw', '-F', 'vpc', rawPath, nbd]);
    expect(direct.status, direct.out + direct.err).toBe(0);
    expect(direct.out).toContain('Images are identical');
  });
});
