/**
 * @module bench/scenarios/backup
 * Scenario 1 (incremental backup after 1% random changes: snapdisk snapshot to completion vs
 * `restic backup` and `borg create` of the raw image, time and stored bytes), scenario 3 (restore:
 * hydration vs `cp` and `restic restore`) and the chart sweep (time and stored bytes against the
 * fraction of the disk changed).
 *
 * Same data: the peers back up the disk's head file, the raw image snapdisk itself serves
 * (`volumes/<disk>/head.0.img`: exactly the disk's bytes, on the same filesystem), so no second
 * copy of the image is needed and every tool reads the identical bytes. Changes are whole 64 KiB
 * blocks at random positions (changed bytes = those blocks), random data, written through the
 * engine. Stored bytes: `du --apparent-size` of the region's chunk directory (snapdisk) and of the
 * repository (peers), before and after; snapdisk adds the catalog's growth (page_count × page_size).
 *
 * Space: the peers run in two phases (snapdisk vs restic with the restore scenario, then snapdisk vs
 * borg) so that only one peer repository exists at a time; the image size falls back from 4 GiB
 * when the filesystem lacks room, and the result says so.
 */

import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { order } from '../lib/context.js';
import { BLOCK, GiB, MiB, fmt } from '../lib/measure.js';
import type { Series } from '../lib/measure.js';
import { cachedFraction, duBytes, freeBytes, timed } from '../lib/sys.js';
import { Worker } from '../lib/worker-client.js';

const RG = 'bench-backup';
const REGION = 'westus'; // no zones: one copy of each chunk, like one repository

interface Peer {
  name: 'restic' | 'borg';
  repo: string;
  env: NodeJS.ProcessEnv;
  init(): Promise<void>;
  backup(n: number): Promise<number>;
}

function restic(root: string): Peer {
  const repo = join(root, 'restic-repo');
  const env = { RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: join(root, 'restic-cache') };
  return {
    name: 'restic',
    repo,
    env,
    init: async () => void (await timed('restic', ['-r', repo, 'init'], { env })),
    backup: async () => (await timed('restic', ['-r', repo, 'backup', '--quiet', '--host', 'bench', IMAGE.path], { env })).ms,
  };
}

function borg(root: string): Peer {
  const repo = join(root, 'borg-repo');
  const env = { BORG_BASE_DIR: join(root, 'borg-home'), BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes', BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes' };
  return {
    name: 'borg',
    repo,
    env,
    init: async () => void (await timed('borg', ['init', '-e', 'none', repo], { env })),
    backup: async (n) => (await timed('borg', ['create', `${repo}::b${n}`, IMAGE.path], { env })).ms,
  };
}

/** The head file of the disk under test (set once the disk exists). */
const IMAGE = { path: '' };

interface Snap {
  ms: number;
  stored: number;
}

async function snapdiskSnapshot(w: Worker, dataDir: string, name: string, disk: string): Promise<Snap> {
  const chunks = join(dataDir, 'chunks', REGION);
  const b0 = (await duBytes(chunks)) + (await w.call<number>('catalogBytes'));
  const r = await w.call<{ totalMs: number }>('snapshot', { rg: RG, name, disk, wait: true });
  const b1 = (await duBytes(chunks)) + (await w.call<number>('catalogBytes'));
  return { ms: r.totalMs, stored: b1 - b0 };
}

async function peerBackup(p: Peer, n: number): Promise<Snap> {
  const b0 = await duBytes(p.repo);
  const t = await p.backup(n);
  return { ms: t, stored: (await duBytes(p.repo)) - b0 };
}

/** Largest image (4 GiB, else 2, else 1) whose phases fit with 2 GiB to spare. */
function pickSize(ctx: BenchContext): { size: number; note?: string } {
  if (ctx.quick) return { size: 256 * MiB };
  const free = freeBytes(ctx.root);
  for (const gib of [4, 2, 1]) {
    // head + chunks + restic repo with its increments + one restore target, 2 GiB spare
    if (4.6 * gib * GiB + 2 * GiB <= free) {
      return gib === 4 ? { size: 4 * GiB } : { size: gib * GiB, note: `the 4 GiB image did not fit: ${fmt(free / GiB)} GiB free on the benchmark filesystem, so the image is ${gib} GiB` };
    }
  }
  return { size: 512 * MiB, note: `only ${fmt(free / GiB)} GiB free: image reduced to 512 MiB` };
}

export async function runBackupAndRestore(ctx: BenchContext): Promise<void> {
  const { rec } = ctx;
  const { size, note } = pickSize(ctx);
  if (note) rec.note(`scenario 1/3: ${note}`);
  const label = size >= GiB ? `${size / GiB} GiB` : `${size / MiB} MiB`;
  const reps = ctx.quick ? 2 : 3;
  const changeBlocks = Math.round((size / BLOCK) * 0.01);
  const dataDir = join(ctx.root, 'snapdisk-backup');
  const { worker: w } = await Worker.start(dataDir, false);
  const peers: Peer[] = [];
  if (ctx.peers['restic']) peers.push(restic(ctx.root));
  else rec.note('restic is not installed: its backup and restore comparisons are skipped');
  if (ctx.peers['borg']) peers.push(borg(ctx.root));
  else rec.note('borg is not installed: its backup comparison is skipped');
  try {
    await w.call('group', { rg: RG, location: REGION });
    const disk = await w.call<{ head: string }>('createDisk', { rg: RG, name: 'vm', sizeGb: Math.max(1, Math.ceil(size / GiB)) });
    IMAGE.path = disk.head;
    ctx.log(`  writing ${label} of random data`);
    await w.call('fill', { rg: RG, name: 'vm', bytes: size });
    let seq = 0;
    const first = await snapdiskSnapshot(w, dataDir, `s${seq++}`, 'vm');
    const initial: Record<string, number> = {};
    let seed = 1;

    for (const p of peers) {
      const cache = await cachedFraction(IMAGE.path);
      ctx.log(`  phase ${p.name}: image ${fmt((cache ?? 0) * 100, 0)}% in page cache`);
      await p.init();
      const init = await peerBackup(p, 0);
      initial[p.name] = init.ms;
      rec.add({
        scenario: `1. initial full backup of a ${label} image`,
        metric: `time (${p.name})`,
        unit: 's',
        samples: [first.ms / 1000],
        peer: `${p.name} (first backup)`,
        peerSamples: [init.ms / 1000],
        better: 'lower',
        note: `one run each; snapdisk stored ${fmt(first.stored / MiB)} MiB, ${p.name} ${fmt(init.stored / MiB)} MiB`,
      });
      const ours: Snap[] = [];
      const theirs: Snap[] = [];
      let changed = 0;
      for (let r = 0; r < reps; r++) {
        const c = await w.call<{ changedBlockBytes: number }>('change', { rg: RG, name: 'vm', blocks: changeBlocks, seed: seed++, limitBytes: size });
        changed = c.changedBlockBytes;
        for (const side of order(r, 'snapdisk', p.name)) {
          if (side === 'snapdisk') ours.push(await snapdiskSnapshot(w, dataDir, `s${seq++}`, 'vm'));
          else theirs.push(await peerBackup(p, r + 1));
        }
      }
      const ratioTarget = 1 / 25;
      rec.add({
        scenario: `1. incremental backup, ${label} image, 1% changed`,
        metric: `time to completion vs ${p.name}`,
        unit: 's',
        samples: ours.map((x) => x.ms / 1000),
        peer: `${p.name} backup`,
        peerSamples: theirs.map((x) => x.ms / 1000),
        better: 'lower',
        ...(p.name === 'restic'
          ? { target: '≥ 25× faster than restic (ratio ≤ 0.04)', designRow: 'incremental snapshot, 4 GiB, 1% changed', check: (_v: number, ratio: number | null) => ratio !== null && ratio <= ratioTarget }
          : {}),
        note: `${changeBlocks} random 64 KiB blocks rewritten per round (${fmt(changed / MiB)} MiB); image ${fmt((cache ?? 0) * 100, 0)}% in page cache`,
      });
      rec.add({
        scenario: `1. incremental backup, ${label} image, 1% changed`,
        metric: `stored bytes ÷ changed bytes (vs ${p.name})`,
        unit: '×',
        samples: ours.map((x) => x.stored / changed),
        peer: `${p.name} repository growth`,
        peerSamples: theirs.map((x) => x.stored / changed),
        better: 'lower',
        ...(p.name === 'restic'
          ? { target: '≤ 1.05 × changed bytes', designRow: 'incremental snapshot, 4 GiB, 1% changed', check: (v: number) => v <= 1.05 }
          : {}),
        note: `du --apparent-size of chunks/${REGION} + catalog growth vs du of the ${p.name} repository; ${p.name === 'restic' ? 'restic repository v2, compression auto (zstd), encrypted (cannot be disabled)' : 'borg -e none, default compression lz4'}`,
      });
      if (p.name === 'restic') await runRestore(ctx, w, p, `s${seq - 1}`, label, size);
      rmSync(p.repo, { recursive: true, force: true });
    }
    if (peers.length === 0) {
      const ours: Snap[] = [];
      for (let r = 0; r < reps; r++) {
        await w.call('change', { rg: RG, name: 'vm', blocks: changeBlocks, seed: seed++, limitBytes: size });
        ours.push(await snapdiskSnapshot(w, dataDir, `s${seq++}`, 'vm'));
      }
      rec.add({ scenario: `1. incremental backup, ${label} image, 1% changed`, metric: 'time to completion', unit: 's', samples: ours.map((x) => x.ms / 1000), peer: null, better: 'lower' });
    }
  } finally {
    await w.stop();
    rmSync(dataDir, { recursive: true, force: true });
    for (const d of ['restic-repo', 'restic-cache', 'borg-repo', 'borg-home', 'restore']) rmSync(join(ctx.root, d), { recursive: true, force: true });
  }
}

/** Scenario 3: the latest snapshot restored (hydrated, flushed) vs cp of the image and restic restore. */
async function runRestore(ctx: BenchContext, w: Worker, p: Peer, snapshot: string, label: string, size: number): Promise<void> {
  const { rec } = ctx;
  const reps = ctx.quick ? 2 : 3;
  const dir = join(ctx.root, 'restore');
  const mb = size / 1e6;
  const ours: number[] = [];
  const cps: number[] = [];
  const rs: number[] = [];
  let n = 0;
  for (let r = 0; r < reps; r++) {
    const sides = r % 3 === 0 ? ['snapdisk', 'cp', 'restic'] : r % 3 === 1 ? ['cp', 'restic', 'snapdisk'] : ['restic', 'snapdisk', 'cp'];
    for (const side of sides) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      if (side === 'snapdisk') {
        const name = `restored-${n++}`;
        const res = await w.call<{ totalMs: number; completion: number; head: string }>('restore', { rg: RG, name, snapshot });
        if (res.completion !== 100) throw new Error(`restored disk at ${res.completion}%`);
        if (r === 0) await timed('cmp', [res.head, IMAGE.path]); // the restore is byte-exact
        ours.push(mb / (res.totalMs / 1000));
        await w.call('deleteDisk', { rg: RG, name });
      } else if (side === 'cp') {
        const target = join(dir, 'image.raw');
        const t = await timed('cp', ['--sparse=never', IMAGE.path, target]);
        const s = await timed('sync', [target]);
        cps.push(mb / ((t.ms + s.ms) / 1000));
      } else {
        const t = await timed('restic', ['-r', p.repo, 'restore', 'latest', '--target', dir], { env: p.env });
        const file = findFile(dir);
        const s = await timed('sync', [file]);
        rs.push(mb / ((t.ms + s.ms) / 1000));
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
  const common = { scenario: `3. restore of a ${label} snapshot`, unit: 'MB/s', better: 'higher' as const, samples: ours };
  rec.add({
    ...common,
    metric: 'throughput vs cp',
    peer: 'cp --sparse=never + sync',
    peerSamples: cps,
    target: '≥ 0.7 × a plain file copy',
    designRow: 'restore hydration throughput',
    check: (_v, ratio) => ratio !== null && ratio >= 0.7,
    note: 'snapdisk: create the disk from the snapshot, hydrate to 100%, flush; peers: copy then fsync the target. Sources were written minutes before (page cache warm as far as memory allows).',
  });
  rec.add({ ...common, metric: 'throughput vs restic restore', peer: 'restic restore + sync', peerSamples: rs });
}

function findFile(dir: string): string {
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) return join(e.parentPath, e.name);
  }
  throw new Error(`no file restored under ${dir}`);
}

/**
 * The chart: on a smaller disk, snapdisk, restic and borg after changing 0.1% … 10% of it; time
 * to completion and stored bytes of each tool per fraction (one run per point).
 */
export async function runSweep(ctx: BenchContext): Promise<void> {
  const { rec } = ctx;
  const size = ctx.quick ? 128 * MiB : GiB;
  const fractions = ctx.quick ? [1, 10] : [0.1, 0.5, 1, 2, 5, 10];
  const label = size >= GiB ? `${size / GiB} GiB` : `${size / MiB} MiB`;
  const dataDir = join(ctx.root, 'snapdisk-sweep');
  const root = join(ctx.root, 'sweep');
  mkdirSync(root, { recursive: true });
  const { worker: w } = await Worker.start(dataDir, false);
  const peers = [ctx.peers['restic'] ? restic(root) : null, ctx.peers['borg'] ? borg(root) : null].filter((p): p is Peer => p !== null);
  const time: Record<string, Array<number | null>> = { snapdisk: [] };
  const stored: Record<string, Array<number | null>> = { snapdisk: [] };
  for (const p of peers) {
    time[p.name] = [];
    stored[p.name] = [];
  }
  try {
    await w.call('group', { rg: RG, location: REGION });
    const disk = await w.call<{ head: string }>('createDisk', { rg: RG, name: 'vm', sizeGb: Math.max(1, Math.ceil(size / GiB)) });
    IMAGE.path = disk.head;
    await w.call('fill', { rg: RG, name: 'vm', bytes: size });
    let seq = 0;
    await snapdiskSnapshot(w, dataDir, `s${seq++}`, 'vm');
    for (const p of peers) {
      await p.init();
      await p.backup(0);
    }
    for (const [i, f] of fractions.entries()) {
      const blocks = Math.max(1, Math.round((size / BLOCK) * (f / 100)));
      const c = await w.call<{ changedBlockBytes: number }>('change', { rg: RG, name: 'vm', blocks, seed: 9000 + i, limitBytes: size });
      const sides = ['snapdisk', ...peers.map((p) => p.name)];
      const rot = [...sides.slice(i % sides.length), ...sides.slice(0, i % sides.length)];
      for (const side of rot) {
        const s = side === 'snapdisk' ? await snapdiskSnapshot(w, dataDir, `s${seq++}`, 'vm') : await peerBackup(peers.find((p) => p.name === side) as Peer, i + 1);
        time[side]?.push(s.ms / 1000);
        stored[side]?.push(s.stored / c.changedBlockBytes);
      }
      ctx.log(`  sweep ${f}%: ${Object.entries(time).map(([k, v]) => `${k} ${fmt(v[v.length - 1])} s`).join(', ')}`);
    }
  } finally {
    await w.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  }
  const note = `${label} image of random data; whole 64 KiB blocks rewritten at random; one run per point; restic (zstd auto, encrypted), borg (-e none, lz4)`;
  const series: Series[] = [
    {
      id: 'backup-time-vs-changed',
      title: `Incremental backup of a ${label} disk image: time to completion`,
      xLabel: '% of the disk changed',
      yLabel: 'seconds',
      x: fractions,
      lines: Object.entries(time).map(([name, y]) => ({ name, y })),
      logY: true,
      note,
    },
    {
      id: 'backup-stored-vs-changed',
      title: `Incremental backup of a ${label} disk image: bytes stored per byte changed`,
      xLabel: '% of the disk changed',
      yLabel: 'stored ÷ changed',
      x: fractions,
      lines: Object.entries(stored).map(([name, y]) => ({ name, y })),
      logY: true,
      note,
    },
  ];
  rec.series.push(...series);
}
