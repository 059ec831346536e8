/**
 * @module bench/scenarios/nbd-sas
 * Scenario 4 (NBD sequential read/write and 4 KiB random IOPS vs qemu-nbd serving a raw file) and
 * scenario 5 (SAS ranged download vs reading the raw file), against one snapdisk server process
 * (bench/worker.ts in server mode: HTTP + NBD on port 0); and the diff of scenario 6 at 1 and
 * 16 TiB through the page-blob API (HTTP + XML), beside the engine-level rows of engine.ts.
 *
 * Same data, same filesystem: a raw file of random bytes in the scratch root; qemu-nbd serves it
 * read-only and serves a second (initially sparse) raw file read-write; snapdisk's disk receives the
 * same bytes through the write cases and is then read back. Same client binaries for both servers
 * (nbdcopy, qemu-img convert, fio's nbd engine), alternating, one untimed warm-up per server and
 * case, median of the runs. Client defaults are kept: qemu-img convert flushes at the end, nbdcopy
 * does not; nbdcopy opens several connections when the server advertises multi-conn.
 */

import { randomFillSync } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { order } from '../lib/context.js';
import { rangedGet, fileRead } from '../lib/clients.js';
import { GiB, MiB, fmt, nowMs } from '../lib/measure.js';
import { freePort, startDaemon, stopDaemon, timed, waitForPort } from '../lib/sys.js';
import { Worker } from '../lib/worker-client.js';

const RG = 'bench-nbd';

interface Target {
  name: string;
  ro: string;
  rw: string;
}

async function writeRandomFile(path: string, size: number, data: number): Promise<void> {
  const fh = await open(path, 'w');
  const buf = Buffer.allocUnsafe(16 * MiB);
  for (let off = 0; off < data; off += buf.length) {
    const part = buf.subarray(0, Math.min(buf.length, data - off));
    randomFillSync(part);
    await fh.write(part, 0, part.length, off);
  }
  await fh.truncate(size);
  await fh.sync();
  await fh.close();
}

export async function runNbdAndSas(ctx: BenchContext): Promise<void> {
  const { rec, quick } = ctx;
  const haveQemu = ctx.peers['qemu-utils'] !== null;
  const haveNbdcopy = ctx.peers['libnbd-bin'] !== null;
  const haveFio = ctx.peers['fio'] !== null;
  if (!haveQemu) rec.note('qemu-utils is not installed: NBD comparisons are skipped');
  // the export is 1 GiB; quick mode fills only its first 256 MiB (the rest is a hole for both servers)
  const size = GiB;
  const data = quick ? 256 * MiB : GiB;
  const label = data === size ? '1 GiB of random data' : `${data / MiB} MiB of random data in a 1 GiB export`;
  const runs = quick ? 2 : 5;
  const dir = join(ctx.root, 'nbd');
  mkdirSync(dir, { recursive: true });
  const raw = join(dir, 'image.raw');
  const rwFile = join(dir, 'qemu-rw.raw');
  const dataDir = join(ctx.root, 'snapdisk-nbd');
  const daemons = [];
  const { worker: w, info } = await Worker.start(dataDir, true);
  try {
    await writeRandomFile(raw, size, data);
    const rw = await open(rwFile, 'w');
    await rw.truncate(size);
    await rw.close();
    await w.call('group', { rg: RG, location: 'westus' });
    const disk = await w.call<{ id: string; head: string }>('createDisk', { rg: RG, name: 'nbd', sizeGb: size / GiB });
    const ours: Target = { name: 'snapdisk', ro: `nbd://127.0.0.1:${info.nbdPort}${disk.id}`, rw: `nbd://127.0.0.1:${info.nbdPort}${disk.id}` };

    if (haveQemu) {
      const [qro, qrw] = [await freePort(), await freePort()];
      const base = ['-b', '127.0.0.1', '-f', 'raw', '-x', 'bench', '-t', '-e', '8'];
      daemons.push(startDaemon('qemu-nbd', [...base, '-p', String(qro), '-r', raw]), startDaemon('qemu-nbd', [...base, '-p', String(qrw), rwFile]));
      await waitForPort(qro);
      await waitForPort(qrw);
      const qemu: Target = { name: 'qemu-nbd', ro: `nbd://127.0.0.1:${qro}/bench`, rw: `nbd://127.0.0.1:${qrw}/bench` };
      const cases: Array<{ name: string; client: string; dir: 'read' | 'write'; argv: (t: Target) => [string, string[]] }> = [
        ...(haveNbdcopy ? [{ name: 'write, nbdcopy file → export', client: 'nbdcopy', dir: 'write' as const, argv: (t: Target): [string, string[]] => ['nbdcopy', [raw, t.rw]] }] : []),
        { name: 'write, qemu-img convert file → export', client: 'qemu-img', dir: 'write', argv: (t) => ['qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', raw, t.rw]] },
        ...(haveNbdcopy ? [{ name: 'read, nbdcopy export → null:', client: 'nbdcopy', dir: 'read' as const, argv: (t: Target): [string, string[]] => ['nbdcopy', [t.ro, 'null:']] }] : []),
        { name: 'read, qemu-img convert export → null-co', client: 'qemu-img', dir: 'read', argv: (t) => ['qemu-img', ['convert', '-n', '-f', 'raw', t.ro, '--target-image-opts', `driver=null-co,size=${size}`]] },
      ];
      for (const c of cases) {
        const mine: number[] = [];
        const theirs: number[] = [];
        for (const t of [ours, qemu]) {
          const [cmd, args] = c.argv(t);
          await timed(cmd, args); // warm-up: first writes allocate, caches fill
        }
        for (let r = 0; r < runs; r++) {
          for (const t of order(r, ours, qemu)) {
            const [cmd, args] = c.argv(t);
            const mbs = data / 1e6 / ((await timed(cmd, args)).ms / 1000);
            (t === ours ? mine : theirs).push(mbs);
          }
        }
        rec.add({
          scenario: `4. NBD sequential ${c.dir}, ${label}`,
          metric: c.name,
          unit: 'MB/s',
          samples: mine,
          peer: 'qemu-nbd (raw file, same client)',
          peerSamples: theirs,
          better: 'higher',
          target: '≥ 0.8 × qemu-nbd',
          designRow: `NBD sequential ${c.dir}`,
          check: (_v, ratio) => ratio !== null && ratio >= 0.8,
          note: c.dir === 'write' ? (c.client === 'qemu-img' ? 'qemu-img flushes at the end' : 'nbdcopy without --flush') : 'snapdisk reads its disk export (head file), qemu-nbd the raw file; both in page cache',
        });
      }
      if (haveFio) {
        const secs = quick ? 3 : 10;
        for (const rwMode of ['randread', 'randwrite'] as const) {
          const mine: number[] = [];
          const theirs: number[] = [];
          const fio = async (t: Target): Promise<number> => {
            const uri = rwMode === 'randread' ? t.ro : t.rw;
            const { stdout } = await timed('fio', ['--name=bench', '--ioengine=nbd', `--uri=${uri}`, `--rw=${rwMode}`, '--bs=4k', '--iodepth=16', '--time_based', `--runtime=${secs}`, `--size=${data}`, '--output-format=json']);
            const j = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: Array<{ read: { iops: number }; write: { iops: number } }> };
            const job = j.jobs[0];
            return rwMode === 'randread' ? (job?.read.iops ?? 0) : (job?.write.iops ?? 0);
          };
          for (let r = 0; r < (quick ? 2 : 3); r++) {
            for (const t of order(r, ours, qemu)) (t === ours ? mine : theirs).push(await fio(t));
          }
          rec.add({
            scenario: `4. NBD 4 KiB random ${rwMode === 'randread' ? 'read' : 'write'}, ${label}`,
            metric: `IOPS, fio nbd engine, iodepth 16, ${secs} s`,
            unit: 'IOPS',
            samples: mine,
            peer: 'qemu-nbd (raw file, same client)',
            peerSamples: theirs,
            better: 'higher',
            note: 'no DESIGN target; one connection',
          });
        }
      } else {
        rec.note('fio is not installed: the 4 KiB random IOPS comparison is skipped');
      }
    }

    // 5. SAS ranged download: the disk (served from its head) and a snapshot (from the chunk store)
    if (!haveQemu) await w.call('load', { rg: RG, name: 'nbd', file: raw });
    const snap = await w.call<{ totalMs: number }>('snapshot', { rg: RG, name: 'nbd-s1', disk: 'nbd', wait: true });
    ctx.log(`  snapshot of the ${label} disk copied in ${fmt(snap.totalMs / 1000)} s`);
    for (const d of daemons) await stopDaemon(d);
    daemons.length = 0;
    let diskUrl = '';
    for (let i = 0; i < 50 && diskUrl === ''; i++) {
      try {
        diskUrl = await w.call<string>('grant', { kind: 'disk', rg: RG, name: 'nbd' });
      } catch (err) {
        if (i === 49) throw err;
        await new Promise((r) => setTimeout(r, 100)); // the last NBD client detaches asynchronously
      }
    }
    const snapUrl = await w.call<string>('grant', { kind: 'snapshot', rg: RG, name: 'nbd-s1' });
    const range = 4 * MiB;
    for (const [what, url] of [['disk', diskUrl], ['snapshot', snapUrl]] as const) {
      for (const parallel of [1, 4]) {
        const mine: number[] = [];
        const theirs: number[] = [];
        await rangedGet(url, data, range, parallel); // warm-up (page cache, chunk cache)
        await fileRead(raw, data, range, parallel);
        for (let r = 0; r < (quick ? 2 : 3); r++) {
          for (const side of order(r, 'snapdisk', 'file')) {
            if (side === 'snapdisk') mine.push(await rangedGet(url, data, range, parallel));
            else theirs.push(await fileRead(raw, data, range, parallel));
          }
        }
        rec.add({
          scenario: `5. SAS ranged download of a ${what}, ${fmt(data / MiB)} MiB of random data`,
          metric: `4 MiB ranges, ${parallel} connection${parallel > 1 ? 's' : ''}`,
          unit: 'MB/s',
          samples: mine,
          peer: `reading the raw file (4 MiB preads, ${parallel} in flight)`,
          peerSamples: theirs,
          better: 'higher',
          note: what === 'disk' ? 'blob served from the disk head (page cache)' : 'blob served from the chunk store (verified chunks)',
        });
      }
    }
    await w.call('endGrant', { kind: 'disk', rg: RG, name: 'nbd' });
    await w.call('endGrant', { kind: 'snapshot', rg: RG, name: 'nbd-s1' });

    // 6. the diff of scenario 6 (engine.ts) through the page-blob API: one comp=pagelist request
    // with x-ms-previous-snapshot-url, as getPageRangesDiffForManagedDisks sends it (XML streamed)
    let diff1TiB: number | null = null;
    for (const [label, sizeGb] of [['1 TiB', 1024], ['16 TiB', 16384]] as const) {
      const name = `hdiff${sizeGb}`;
      await w.call('diff', { rg: RG, name, sizeGb, changed: 10_000, before: quick ? 1_000 : 10_000, reps: 1 });
      const older = await w.call<string>('grant', { kind: 'snapshot', rg: RG, name: `${name}-a` });
      const newer = await w.call<string>('grant', { kind: 'snapshot', rg: RG, name: `${name}-b` });
      const times: number[] = [];
      let ranges = 0;
      for (let i = 0; i < (quick ? 5 : 11); i++) {
        const t0 = nowMs();
        const res = await fetch(`${newer}&comp=pagelist`, { headers: { 'x-ms-previous-snapshot-url': older } });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`diff through the page-blob API: HTTP ${res.status} ${text.slice(0, 200)}`);
        times.push(nowMs() - t0);
        ranges = (text.match(/<(PageRange|ClearRange)>/g) ?? []).length;
      }
      const med = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)] ?? 0;
      if (sizeGb === 1024) diff1TiB = med;
      rec.add({
        scenario: `6. diff, 10,000 changed blocks, ${label} disk`,
        metric: `through the page-blob API (HTTP + XML, one request, ${ranges} ranges)`,
        unit: 'ms',
        samples: times,
        peer: null,
        better: 'lower',
        target: '< 200 ms',
        designRow: `diff, 10,000 changed blocks, ${label}`,
        check: (v) => v < 200,
        note:
          `comp=pagelist with x-ms-previous-snapshot-url from the bench process over loopback; the engine row is Snapshots.diff alone` +
          (diff1TiB !== null && sizeGb !== 1024 ? `; ${fmt(med / diff1TiB)} × the 1 TiB time` : ''),
      });
      await w.call('endGrant', { kind: 'snapshot', rg: RG, name: `${name}-a` });
      await w.call('endGrant', { kind: 'snapshot', rg: RG, name: `${name}-b` });
    }
  } finally {
    for (const d of daemons) await stopDaemon(d);
    await w.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}
