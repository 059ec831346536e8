/**
 * @module bench/run
 * `npm run bench [-- --quick]`: measures snapdisk against peers in the same run and writes
 * bench/results/latest.json, one entry per measurement:
 *   {scenario, metric, unit, snapdisk, peer, peerValue, ratio, better}
 * Scenarios (engine level): snapshot request latency at 1 GiB and 1 TiB; background copy of a
 * delta beside `cp` + fsync of the same bytes; restore hydration beside `cp`; diff of 10,000
 * changed blocks at 1 TiB and 16 TiB.
 */

import { execFileSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEngine } from '../src/app.js';
import { defaultConfig } from '../src/config/config.js';
import type { DiskRecord } from '../src/core/model.js';
import { BLOCK_SIZE, GiB, MiB, TiB } from '../src/core/units.js';
import type { Engine } from '../src/engine/engine.js';

export interface Measurement {
  scenario: string;
  metric: string;
  unit: string;
  snapdisk: number;
  peer: string | null;
  peerValue: number | null;
  ratio: number | null;
  better: 'higher' | 'lower';
  target?: string;
}

const SUB = '00000000-0000-4000-8000-0000000000b1';
const RG = 'bench';
const quick = process.argv.includes('--quick');
const results: Measurement[] = [];

function record(m: Measurement): void {
  results.push(m);
  const peer = m.peer ? `  ${m.peer}: ${fmt(m.peerValue)} ${m.unit}  ratio ${fmt(m.ratio)}` : '';
  console.log(`${m.scenario.padEnd(38)} ${m.metric.padEnd(22)} ${fmt(m.snapdisk)} ${m.unit}${peer}`);
}

const fmt = (n: number | null): string => (n === null ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(2));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

function randomBuffer(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed | 1;
  for (let i = 0; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeInt32LE(x, i);
  }
  return b;
}

async function newDisk(e: Engine, name: string, sizeGb: number): Promise<DiskRecord> {
  return (await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name, sizeGb, creationData: { createOption: 'Empty' } })).disk;
}

async function snap(e: Engine, d: DiskRecord, name: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  await e.snapshots.createOrUpdate({
    subscriptionId: SUB, resourceGroup: RG, name, incremental: true,
    creationData: { createOption: 'Copy', sourceResourceId: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/disks/${d.name}` },
  });
  return ms(t0);
}

async function snapshotLatency(e: Engine): Promise<void> {
  for (const [label, sizeGb] of [['1 GiB', 1], ['1 TiB', 1024]] as const) {
    const d = await newDisk(e, `lat${sizeGb}`, sizeGb);
    const h = await e.disks.open(d.uniqueId);
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      // some changes spread over the disk each time
      for (let k = 0; k < 64; k++) await h.write(Math.floor(((k * 7919 + i * 104729) % 4096) / 4096 * (d.sizeBytes - BLOCK_SIZE) / BLOCK_SIZE) * BLOCK_SIZE, randomBuffer(4096, k + i));
      times.push(await snap(e, d, `lat${sizeGb}-${i}`));
    }
    await e.idle();
    record({ scenario: `snapshot request latency (${label} sparse)`, metric: 'median latency', unit: 'ms', snapdisk: median(times), peer: null, peerValue: null, ratio: null, better: 'lower', target: '< 50 ms' });
  }
}

function cpThroughput(dir: string, src: string, bytes: number): number {
  const dst = join(dir, 'cp-target.raw');
  const t0 = process.hrtime.bigint();
  execFileSync('cp', ['--sparse=never', src, dst]);
  const fd = openSync(dst, 'r+');
  fsyncSync(fd);
  closeSync(fd);
  const mbs = bytes / MiB / (ms(t0) / 1000);
  rmSync(dst);
  return mbs;
}

async function copyAndHydrate(e: Engine, dir: string): Promise<void> {
  const size = quick ? 256 * MiB : GiB;
  const d = await newDisk(e, 'copy', 2);
  const h = await e.disks.open(d.uniqueId);
  const raw = join(dir, 'source.raw');
  const fd = openSync(raw, 'w');
  for (let off = 0; off < size; off += 16 * MiB) {
    const chunk = randomBuffer(16 * MiB, off / MiB + 1);
    await h.write(off, chunk);
    writeSync(fd, chunk);
  }
  fsyncSync(fd);
  closeSync(fd);
  await h.flush();
  const cpBefore = cpThroughput(dir, raw, size);
  const t0 = process.hrtime.bigint();
  await snap(e, d, 'copy-s1');
  await e.idle();
  const copyMbs = size / MiB / (ms(t0) / 1000);
  const cpAfter = cpThroughput(dir, raw, size);
  const cp = (cpBefore + cpAfter) / 2;
  record({ scenario: `background copy of a ${size / MiB} MiB delta`, metric: 'throughput', unit: 'MB/s', snapdisk: copyMbs, peer: 'cp + fsync', peerValue: cp, ratio: copyMbs / cp, better: 'higher' });

  const t1 = process.hrtime.bigint();
  const { disk: r } = await e.disks.createOrUpdate({
    subscriptionId: SUB, resourceGroup: RG, name: 'restored',
    creationData: { createOption: 'Copy', sourceResourceId: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/snapshots/copy-s1` },
  });
  await e.idle();
  const rh = await e.disks.open(r.uniqueId);
  await rh.flush();
  const hydMbs = size / MiB / (ms(t1) / 1000);
  const cp2 = cpThroughput(dir, raw, size);
  record({ scenario: `restore hydration of ${size / MiB} MiB`, metric: 'throughput', unit: 'MB/s', snapdisk: hydMbs, peer: 'cp + fsync', peerValue: cp2, ratio: hydMbs / cp2, better: 'higher', target: '≥ 0.7 × cp' });
}

async function diffAtScale(e: Engine): Promise<void> {
  const changed = 10_000;
  for (const [label, sizeGb] of [['1 TiB', 1024], ['16 TiB', 16384]] as const) {
    const d = await newDisk(e, `diff${sizeGb}`, sizeGb);
    const h = await e.disks.open(d.uniqueId);
    const blocks = (sizeGb * GiB) / BLOCK_SIZE;
    const pick = (i: number, salt: number): number => Math.floor(((i * 2654435761 + salt) % 4294967296) / 4294967296 * blocks);
    for (let i = 0; i < changed; i++) await h.write(pick(i, 1) * BLOCK_SIZE, randomBuffer(4096, i + 1));
    await snap(e, d, `diff${sizeGb}-a`);
    for (let i = 0; i < changed; i++) await h.write(pick(i, 977) * BLOCK_SIZE, randomBuffer(4096, i + 99));
    await snap(e, d, `diff${sizeGb}-b`);
    await e.idle();
    const a = await e.snapshots.find({ subscriptionId: SUB, resourceGroup: RG, name: `diff${sizeGb}-a` });
    const b = await e.snapshots.find({ subscriptionId: SUB, resourceGroup: RG, name: `diff${sizeGb}-b` });
    if (!a || !b) throw new Error('bench snapshots missing');
    const times: number[] = [];
    let ranges = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      let start = 0;
      ranges = 0;
      for (;;) {
        const page = await e.snapshots.diff(b, a, { start, maxRanges: 10_000 });
        ranges += page.ranges.length;
        if (page.next === undefined) break;
        start = page.next;
      }
      times.push(ms(t0));
    }
    record({ scenario: `diff, ${changed} changed blocks (${label})`, metric: `all pages (${ranges} ranges)`, unit: 'ms', snapdisk: median(times), peer: null, peerValue: null, ratio: null, better: 'lower', target: '< 200 ms' });
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'snapdisk-bench-'));
  const config = defaultConfig();
  config.limits.incrementalSnapshotsPerDiskPer5Minutes = 1_000_000;
  const { engine } = await openEngine({ dataDir: join(dir, 'data'), config });
  try {
    await engine.resources.ensureSubscription({ subscriptionId: SUB, displayName: 'bench', tenantId: 't', state: 'Enabled' });
    await engine.resources.putGroup(SUB, RG, 'westus');
    console.log(`snapdisk bench (${quick ? 'quick' : 'full'}) in ${dir}`);
    await snapshotLatency(engine);
    await copyAndHydrate(engine, dir);
    await diffAtScale(engine);
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const out = join(process.cwd(), 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.json'), JSON.stringify({ date: new Date().toISOString(), mode: quick ? 'quick' : 'full', results }, null, 2) + '\n');
  console.log(`wrote ${join(out, 'latest.json')}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

export { TiB };
