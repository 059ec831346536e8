/**
 * @module nbd/bench-nbd
 * Throughput check of the NBD server against `qemu-nbd` (not a test; DESIGN.md §6 target:
 * ≥ 0.8 × qemu-nbd with the same client). Serves one export of random data from the in-memory
 * backend and the same bytes from a raw file through `qemu-nbd`. Both serve from RAM: the files
 * go to /dev/shm (or $SNAPDISK_BENCH_DIR), so qemu-nbd's writes land in tmpfs, not in a disk's
 * writeback. Then it times, for each server, with the same client binaries:
 *   read:  qemu-img convert → null-co      nbdcopy → null:
 *   write: qemu-img convert file → export  nbdcopy file → export
 * Each pair is run alternately (ours, qemu-nbd, ...) after one untimed warm-up; the median is kept.
 *
 * Usage (needs qemu-utils and libnbd-bin):
 *   npm run build && node dist/src/nbd/bench-nbd.js [sizeMiB=1024] [runs=3] [filter]
 * where `filter` keeps only the cases whose name contains it (e.g. `write`, `nbdcopy`).
 *
 * Notes:
 * - The memory backend hands out views of its storage (no copy per read), so this measures the
 *   server (framing, replies, backpressure, socket writes), not a storage engine.
 * - The server runs in a child process (`bench-nbd.js --serve ...`) that never forks: spawning
 *   the clients from a process holding gigabytes write-protects all its pages (copy-on-write
 *   after fork), and the faults that follow cost more than the I/O on a VM.
 */

import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdtemp, open, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MemoryNbdBackend } from './memory-backend.js';
import { NbdServer } from './server.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const NAME_RO = '/subscriptions/00000000-0000-0000-0000-00000000beef/resourceGroups/bench/providers/Microsoft.Compute/snapshots/ro';
const NAME_RW = '/subscriptions/00000000-0000-0000-0000-00000000beef/resourceGroups/bench/providers/Microsoft.Compute/disks/rw';

interface Target {
  label: string;
  ro: string;
  rw: string;
}

interface Case {
  name: string;
  args: (t: Target, file: string, size: number) => [string, string[]];
}

const CASES: Case[] = [
  {
    name: 'read  qemu-img convert -> null-co',
    args: (t, _f, size) => ['qemu-img', ['convert', '-n', '-f', 'raw', t.ro, '--target-image-opts', `driver=null-co,size=${size}`]],
  },
  { name: 'read  nbdcopy -> null:', args: (t) => ['nbdcopy', [t.ro, 'null:']] },
  { name: 'write qemu-img convert file ->', args: (t, f) => ['qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', f, t.rw]] },
  { name: 'write nbdcopy file ->', args: (t, f) => ['nbdcopy', [f, t.rw]] },
];

/** tmpfs when there is one, so qemu-nbd serves and stores RAM like the memory backend. */
async function benchRoot(): Promise<string> {
  const wanted = process.env['SNAPDISK_BENCH_DIR'] ?? '/dev/shm';
  try {
    await access(wanted, constants.W_OK);
    return wanted;
  } catch {
    return tmpdir();
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const addr = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on port ${port}`);
}

/** Writes `size` random bytes to `file`, and an empty file of the same size for writes. */
async function prepare(dir: string, size: number): Promise<{ file: string; rwFile: string }> {
  const file = join(dir, 'bench.raw');
  const fh = await open(file, 'w');
  const chunk = Buffer.allocUnsafe(16 * MiB);
  for (let off = 0; off < size; off += chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, size - off));
    randomFillSync(part);
    await fh.write(part, 0, part.length, off);
  }
  await fh.close();
  const rwFile = join(dir, 'bench-rw.raw');
  const rw = await open(rwFile, 'w');
  await rw.truncate(size);
  await rw.close();
  return { file, rwFile };
}

/** Child mode: load `file` into a read-only memory export, add an empty read-write one, serve. */
async function serve(file: string): Promise<void> {
  const backend = new MemoryNbdBackend();
  const fh = await open(file, 'r');
  const size = (await fh.stat()).size;
  const ro = backend.addExport({ name: NAME_RO, size, readOnly: true });
  const chunk = Buffer.allocUnsafe(16 * MiB);
  for (let off = 0; off < size; off += chunk.length) {
    const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, size - off), off);
    ro.writeSync(off, chunk.subarray(0, bytesRead));
  }
  await fh.close();
  backend.addExport({ name: NAME_RW, size });
  const server = new NbdServer(backend);
  const { port } = await server.listen(0, '127.0.0.1');
  process.stdout.write(`PORT ${port}\n`);
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

/** Starts the snapdisk server child and resolves with its port. */
function startOurs(file: string): Promise<{ child: ChildProcess; port: number }> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [self, '--serve', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m !== null) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
}

function startQemuNbd(port: number, file: string, readOnly: boolean): ChildProcess {
  const args = ['-b', '127.0.0.1', '-p', String(port), '-f', 'raw', '-x', 'bench', '-t', '-e', '8'];
  if (readOnly) args.push('-r');
  return spawn('qemu-nbd', [...args, file], { stdio: 'ignore' });
}

async function timeOnce(cmd: string, args: string[]): Promise<number> {
  const start = process.hrtime.bigint();
  await run(cmd, args, { maxBuffer: 16 * MiB });
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function measure(c: Case, targets: Target[], file: string, size: number, runs: number): Promise<number[]> {
  const times: number[][] = targets.map(() => []);
  for (const t of targets) {
    const [cmd, args] = c.args(t, file, size);
    await timeOnce(cmd, args); // warm-up (JIT, page cache, lazily allocated segments)
  }
  for (let r = 0; r < runs; r++) {
    for (const [i, t] of targets.entries()) {
      const [cmd, args] = c.args(t, file, size);
      times[i]?.push(await timeOnce(cmd, args));
    }
  }
  return times.map((ts) => size / 1e6 / median(ts));
}

async function main(): Promise<void> {
  const size = Number(process.argv[2] ?? 1024) * MiB;
  const runs = Number(process.argv[3] ?? 3);
  const filter = process.argv[4] ?? '';
  const dir = await mkdtemp(join(await benchRoot(), 'snapdisk-bench-nbd-'));
  const children: ChildProcess[] = [];
  try {
    process.stdout.write(`preparing ${size / MiB} MiB of random data in ${dir} ...\n`);
    const { file, rwFile } = await prepare(dir, size);
    const ours = await startOurs(file);
    children.push(ours.child);
    const [qro, qrw] = [await freePort(), await freePort()];
    children.push(startQemuNbd(qro, file, true), startQemuNbd(qrw, rwFile, false));
    await Promise.all([waitForPort(qro), waitForPort(qrw)]);
    const targets: Target[] = [
      { label: 'snapdisk', ro: `nbd://127.0.0.1:${ours.port}${NAME_RO}`, rw: `nbd://127.0.0.1:${ours.port}${NAME_RW}` },
      { label: 'qemu-nbd', ro: `nbd://127.0.0.1:${qro}/bench`, rw: `nbd://127.0.0.1:${qrw}/bench` },
    ];
    process.stdout.write(`${'case'.padEnd(36)}${'snapdisk MB/s'.padStart(15)}${'qemu-nbd MB/s'.padStart(15)}${'ratio'.padStart(8)}\n`);
    for (const c of CASES.filter((x) => x.name.includes(filter))) {
      const [mine = NaN, theirs = NaN] = await measure(c, targets, file, size, runs);
      process.stdout.write(
        `${c.name.padEnd(36)}${mine.toFixed(0).padStart(15)}${theirs.toFixed(0).padStart(15)}${(mine / theirs).toFixed(2).padStart(8)}\n`,
      );
    }
  } finally {
    for (const child of children) child.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve') await serve(process.argv[3] ?? '');
else await main();
