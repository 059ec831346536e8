/**
 * @module bench/scenarios/memory
 * Scenario 8: peak RSS of a snapdisk server process (bench/worker.ts in server mode: the same
 * composition as `snapdisk serve`: engine, HTTP listeners, NBD) with 10 attached 1 TiB disks under
 * light I/O: one fio process with one NBD connection per disk (4–64 KiB random reads and writes
 * over the whole TiB, 25 IOPS each), and one snapshot of every disk half-way (so background copies
 * run under the I/O). Peak = VmHWM of the process at the end; RSS is sampled every 250 ms.
 */

import { writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { fmt } from '../lib/measure.js';
import { timed } from '../lib/sys.js';
import { Worker } from '../lib/worker-client.js';

const RG = 'bench-mem';

export async function runMemory(ctx: BenchContext): Promise<void> {
  const { rec, quick } = ctx;
  if (ctx.peers['fio'] === null) {
    rec.note('fio is not installed: the memory scenario (NBD clients) is skipped');
    return;
  }
  const dataDir = join(ctx.root, 'snapdisk-mem');
  const dir = join(ctx.root, 'mem');
  mkdirSync(dir, { recursive: true });
  const { worker: w, info } = await Worker.start(dataDir, true);
  const secs = quick ? 10 : 40;
  const samples: number[] = [];
  let timer: NodeJS.Timeout | null = null;
  try {
    await w.call('group', { rg: RG, location: 'westus' });
    const started = w.memory();
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push((await w.call<{ id: string }>('createDisk', { rg: RG, name: `d${i}`, sizeGb: 1024 })).id);
    const job = [
      '[global]',
      'ioengine=nbd',
      'rw=randrw',
      'bssplit=4k/60:16k/20:64k/20',
      'iodepth=1',
      'rate_iops=25',
      'time_based',
      `runtime=${secs}`,
      'size=1t',
      'thread',
      '',
      ...ids.flatMap((id, i) => [`[d${i}]`, `uri=nbd://127.0.0.1:${info.nbdPort}${id}`, '']),
    ].join('\n');
    const jobFile = join(dir, 'light.fio');
    writeFileSync(jobFile, job);
    timer = setInterval(() => {
      try {
        samples.push(w.memory().rssMiB);
      } catch {
        // the process is gone; the result says so below
      }
    }, 250);
    const fio = timed('fio', ['--output-format=json', jobFile]);
    await new Promise((r) => setTimeout(r, (secs * 1000) / 2));
    for (let i = 0; i < 10; i++) await w.call('snapshot', { rg: RG, name: `d${i}-s1`, disk: `d${i}`, wait: false });
    const out = await fio;
    const j = JSON.parse(out.stdout.slice(out.stdout.indexOf('{'))) as { jobs: Array<{ read: { io_bytes: number; iops: number }; write: { io_bytes: number; iops: number } }> };
    const iops = j.jobs.reduce((n, x) => n + x.read.iops + x.write.iops, 0);
    const ioBytes = j.jobs.reduce((n, x) => n + x.read.io_bytes + x.write.io_bytes, 0);
    await w.call('idle');
    if (timer) clearInterval(timer);
    timer = null;
    const m = w.memory();
    rec.add({
      scenario: '8. memory, 10 attached 1 TiB disks under light I/O',
      metric: 'peak RSS of the server process (VmHWM)',
      unit: 'MiB',
      samples: [m.hwmMiB],
      peer: null,
      better: 'lower',
      target: '< 300 MiB',
      designRow: 'memory',
      check: (v) => v < 300,
      note: `RSS after start ${fmt(started.rssMiB)} MiB, median while loaded ${fmt(samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)])} MiB, at the end ${fmt(m.rssMiB)} MiB; fio ${secs} s, ${fmt(iops)} IOPS in total, ${fmt(ioBytes / 2 ** 20)} MiB moved, 10 snapshots half-way`,
    });
  } finally {
    if (timer) clearInterval(timer);
    await w.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}
