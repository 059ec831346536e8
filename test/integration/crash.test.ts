/**
 * Crash test: a worker process runs a random stream of writes, trims, incremental snapshots and
 * restores and is killed with SIGKILL at a random moment, again and again on the same data
 * directory. After each kill the engine is reopened here and the invariants are checked:
 *  - durability: the disk holds every acknowledged write (the one in flight may or may not land);
 *  - point in time: every acknowledged snapshot, once its resumed copy finished, equals the disk
 *    as it was when the snapshot was acknowledged;
 *  - no lost change: a new incremental snapshot taken after the restart equals the disk, and the
 *    previous snapshot plus the diff to it rebuilds it;
 *  - restores: a disk restored from a snapshot equals the snapshot once hydrated.
 * SNAPDISK_CRASH_POINTS sets the number of kills (default 50). Needs `npm run build` (npm test does it).
 */

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openEngine } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import type { SnapshotRecord } from '../../src/core/model.js';
import { xorshiftBytes as bytes } from '../crash/bytes.mjs';
import { tempDir } from '../helpers/engine.js';

const SUB = '00000000-0000-4000-8000-000000000001';
const RG = 'crash';
const WINDOW = 8 * 1024 * 1024;
const WORKER = join(import.meta.dirname, '..', 'crash', 'worker.mjs');


/** Runs the worker and kills it after `ms`; returns its journal lines. */
function runAndKill(dir: string, seed: number, ms: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, dir, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | null = null;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!timer && out.includes('READY')) timer = setTimeout(() => child.kill('SIGKILL'), ms);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`worker exited by itself (code ${code}): ${err}`));
      else resolve(out.split('\n').filter((l) => l.length > 0));
    });
  });
}

interface Replay {
  image: Buffer;
  inFlight: { off: number; len: number } | null;
  snapshots: Map<string, Buffer>;
  restores: Array<{ name: string; source: string }>;
}

function replay(base: Buffer, journal: string[]): Replay {
  const image = Buffer.from(base);
  const snapshots = new Map<string, Buffer>();
  const restores: Array<{ name: string; source: string }> = [];
  let inFlight: Replay['inFlight'] = null;
  for (const line of journal) {
    const [phase, kind, a, b, c] = line.split(' ');
    if (phase === 'B' && (kind === 'W' || kind === 'Z')) inFlight = { off: Number(a), len: Number(b) };
    if (phase === 'B' && kind === 'S' && a) snapshots.set(a, Buffer.from(image)); // no write is in flight at B S
    if (phase !== 'A') continue;
    if (kind === 'W') bytes(Number(c), Number(b)).copy(image, Number(a));
    if (kind === 'Z') image.fill(0, Number(a), Number(a) + Number(b));
    if (kind === 'W' || kind === 'Z') inFlight = null;
    if (kind === 'R' && a && b) restores.push({ name: a, source: b });
  }
  return { image, inFlight, snapshots, restores };
}

function firstDiff(a: Buffer, b: Buffer, skip: { off: number; len: number } | null): number {
  for (let i = 0; i < a.length; i++) {
    if (skip && i >= skip.off && i < skip.off + skip.len) continue;
    if (a[i] !== b[i]) return i;
  }
  return -1;
}

describe('crash safety (SIGKILL at random points)', () => {
  const dir = tempDir('snapdisk-crash-');
  afterAll(() => undefined);

  it('keeps every invariant across kill points', async () => {
    expect(existsSync(join(import.meta.dirname, '..', '..', 'dist', 'src', 'app.js'))).toBe(true);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ limits: { incrementalSnapshotsPerDiskPer5Minutes: 1000000, incrementalSnapshotsPerDisk: 1000000 } }));
    const points = Number(process.env.SNAPDISK_CRASH_POINTS ?? 50);
    let model: Buffer = Buffer.alloc(WINDOW);
    let lastSnap: string | null = null;
    let x = 12345;
    for (let k = 0; k < points; k++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      const journal = await runAndKill(dir, k + 1, 40 + (x % 600));
      const r = replay(model, journal);
      const { engine } = await openEngine({ dataDir: dir, config: loadConfig(join(dir, 'config.json')), durableCatalog: false });
      try {
        await engine.idle();
        const disk = await engine.disks.find({ subscriptionId: SUB, resourceGroup: RG, name: 'd' });
        if (!disk) {
          expect(journal.some((l) => l.startsWith('A '))).toBe(false);
          continue;
        }
        const h = await engine.disks.open(disk.uniqueId);
        const now = await h.read(0, WINDOW);
        const at = firstDiff(now, r.image, r.inFlight);
        expect(at, `kill ${k}: disk differs at ${at} (acknowledged write lost)`).toBe(-1);
        for (const [name, expected] of r.snapshots) {
          const s = await engine.snapshots.find({ subscriptionId: SUB, resourceGroup: RG, name });
          if (!s) {
            expect(journal.includes(`A S ${name}`), `kill ${k}: acknowledged snapshot ${name} is missing`).toBe(false);
            continue;
          }
          expect((await engine.snapshots.status(s)).completionPercent).toBe(100);
          const got = await engine.snapshots.read(s, 0, WINDOW);
          expect(firstDiff(got, expected, null), `kill ${k}: snapshot ${name} is not the disk at its creation`).toBe(-1);
          lastSnap = name;
        }
        for (const { name, source } of r.restores) {
          const d = await engine.disks.find({ subscriptionId: SUB, resourceGroup: RG, name });
          const s = await engine.snapshots.find({ subscriptionId: SUB, resourceGroup: RG, name: source });
          if (!d || !s) continue;
          const a = await (await engine.disks.open(d.uniqueId)).read(0, WINDOW);
          const b = await engine.snapshots.read(s, 0, WINDOW);
          expect(firstDiff(a, b, null), `kill ${k}: restored disk ${name} differs from ${source}`).toBe(-1);
          expect(engine.disks.completionPercent(await engine.disks.getById(d.uniqueId))).toBe(100);
        }
        // no lost change: a snapshot now equals the disk, and diff(prev → now) rebuilds it
        const check = `check-${k}`;
        const { snapshot } = await engine.snapshots.createOrUpdate({
          subscriptionId: SUB, resourceGroup: RG, name: check, incremental: true,
          creationData: { createOption: 'Copy', sourceResourceId: `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/disks/d` },
        });
        await engine.idle();
        const snapImage = await engine.snapshots.read(snapshot, 0, WINDOW);
        expect(firstDiff(snapImage, now, null), `kill ${k}: a change since the last snapshot was lost`).toBe(-1);
        const prev = lastSnap ? await engine.snapshots.find({ subscriptionId: SUB, resourceGroup: RG, name: lastSnap }) : null;
        if (prev) await expectDiffRebuilds(engine, prev, snapshot, now, k);
        lastSnap = check;
        model = now;
      } finally {
        await engine.close();
      }
    }
  }, 1_200_000);
});

/** Runs the worker's start-up only, killed `ms` after it printed a line containing `marker`. */
function killAfter(dir: string, marker: string, ms: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, dir, '1', 'open'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | null = null;
    const kill = (): void => void child.kill('SIGKILL');
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!timer && (out.includes(marker) || out.includes('READY'))) timer = setTimeout(kill, out.includes(marker) ? ms : 0);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`worker exited by itself (code ${code}): ${err}`));
      else resolve(out.split('\n').filter((l) => l.length > 0));
    });
  });
}

describe('crash safety of the start-up rescan after a reboot', () => {
  it('a kill while the rescan runs never skips it: changes of failed copies and untracked ones stay in the next snapshot', async () => {
    expect(existsSync(join(import.meta.dirname, '..', '..', 'dist', 'src', 'app.js'))).toBe(true);
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const delays = [0, 1, 2, 4, 7, 12, 20, 35];
    for (const ms of delays) {
      const dir = tempDir('snapdisk-reboot-');
      try {
        writeFileSync(join(dir, 'config.json'), JSON.stringify({ limits: { incrementalSnapshotsPerDiskPer5Minutes: 1000000 } }));
        const config = loadConfig(join(dir, 'config.json'));
        const source = `/subscriptions/${SUB}/resourceGroups/${RG}/providers/Microsoft.Compute/disks/d`;
        const snap = async (e: Awaited<ReturnType<typeof openEngine>>['engine'], name: string): Promise<SnapshotRecord> =>
          (await e.snapshots.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name, incremental: true, creationData: { createOption: 'Copy', sourceResourceId: source } })).snapshot;
        // before the "reboot": block 0 copied into s0; blocks 10..29 frozen in 20 snapshots still copying
        let opened = await openEngine({ dataDir: dir, config, durableCatalog: true });
        let e = opened.engine;
        await e.resources.ensureSubscription({ subscriptionId: SUB, displayName: 'crash', tenantId: 't', state: 'Enabled' });
        await e.resources.putGroup(SUB, RG, 'eastus');
        const { disk } = await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: RG, name: 'd', sizeGb: 1, creationData: { createOption: 'Empty' } });
        const h = await e.disks.open(disk.uniqueId);
        await h.write(0, bytes(1, 4096));
        const s0 = await snap(e, 's0');
        await e.idle();
        e.pauseJobs();
        for (let i = 0; i < 20; i++) {
          await h.write((10 + i) * 65536, bytes(100 + i, 4096));
          await snap(e, `s${i + 1}`);
        }
        await e.close();
        // the machine lost power with the head open (the page cache survived: the kindest case)
        const meta = join(dir, 'volumes', disk.uniqueId, 'meta.json');
        writeFileSync(meta, JSON.stringify({ bootId: 'the-boot-before', open: true }));
        const journal = await killAfter(dir, 'rescanning conservatively', ms);
        expect(journal.some((l) => l.includes('rescanning conservatively')), `delay ${ms}: ${journal.join('; ')}`).toBe(true);
        opened = await openEngine({ dataDir: dir, config, durableCatalog: true });
        e = opened.engine;
        try {
          await e.idle();
          const now = await (await e.disks.open(disk.uniqueId)).read(0, 32 * 65536);
          const check = await snap(e, 'check');
          await e.idle();
          expect(firstDiff(await e.snapshots.read(check, 0, now.length), now, null), `delay ${ms}: a change was lost`).toBe(-1);
          const diff = await e.snapshots.diff(check, await e.snapshots.getById(s0.uniqueId), { end: 32 * 65536 });
          const changed = new Set(diff.ranges.flatMap((r) => Array.from({ length: (r.end - r.start) / 65536 }, (_, i) => r.start / 65536 + i)));
          // blocks 10..29: the failed copies gave them back; block 0: the rescan after the reboot
          for (const b of [0, ...Array.from({ length: 20 }, (_, i) => 10 + i)]) expect(changed.has(b), `delay ${ms}: block ${b} missing from the diff`).toBe(true);
          for (let i = 1; i <= 20; i++) {
            const s = await e.snapshots.find({ subscriptionId: SUB, resourceGroup: RG, name: `s${i}` });
            expect(s && (await e.snapshots.status(s)).provisioningState).toBe('Failed');
          }
          expect(JSON.parse(readFileSync(meta, 'utf8'))).toEqual({ bootId: boot, open: true });
        } finally {
          await e.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }, 300_000);
});

async function expectDiffRebuilds(
  engine: Awaited<ReturnType<typeof openEngine>>['engine'],
  older: SnapshotRecord,
  newer: SnapshotRecord,
  expected: Buffer,
  k: number,
): Promise<void> {
  const image = await engine.snapshots.read(older, 0, WINDOW);
  const d = await engine.snapshots.diff(newer, older, { end: WINDOW });
  for (const range of d.ranges) {
    const data = range.clear ? Buffer.alloc(range.end - range.start) : await engine.snapshots.read(newer, range.start, range.end - range.start);
    data.copy(image, range.start);
  }
  expect(firstDiff(image, expected, null), `kill ${k}: diff ${older.name} → ${newer.name} misses a change`).toBe(-1);
}
