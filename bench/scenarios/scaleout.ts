/**
 * @module bench/scenarios/scaleout
 * The scale-out backends beside the embedded ones, same workload, same run: a PostgreSQL 15
 * catalog + Ceph radosgw (S3, memstore OSD) chunk store against SQLite + the filesystem.
 *   - snapshot background copy throughput of fresh random data;
 *   - restore (hydration to 100% + flush) throughput;
 *   - catalog operation latency: snapshot request (64 blocks changed), diff of 2,000 changed blocks.
 * The servers are the throw-away ones of `npm run test:scaleout` (test/scaleout/pg-up.sh,
 * ceph-up.sh; Debian's packages, installed when missing), started in the scratch directory on
 * free ports and stopped by PID. Both catalogs run on this machine's one disk; the PostgreSQL
 * cluster runs with fsync off (as in the tests), SQLite with its normal durable commits.
 */

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { order } from '../lib/context.js';
import type { BenchContext } from '../lib/context.js';
import { MiB, fmt } from '../lib/measure.js';
import { freePort } from '../lib/sys.js';
import { Worker } from '../lib/worker-client.js';

const SCRIPTS = join(process.cwd(), 'test', 'scaleout');

function up(script: string, dir: string, env: Record<string, string>): string {
  const out = execFileSync('bash', [join(SCRIPTS, script), dir], { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const line = out.trim().split('\n').pop();
  if (!line) throw new Error(`${script} printed no address`);
  return line;
}

function down(script: string, dir: string): void {
  try {
    execFileSync('bash', [join(SCRIPTS, script), dir], { stdio: 'ignore' });
  } catch {
    // best effort: the scratch root is removed anyway
  }
}

interface Side {
  name: string;
  worker: Worker;
}

export async function runScaleOut(ctx: BenchContext): Promise<void> {
  const { rec, quick } = ctx;
  if (process.getuid?.() !== 0) {
    rec.note('scale-out scenario skipped: starting PostgreSQL and Ceph needs root (as in CI)');
    return;
  }
  const bytes = quick ? 128 * MiB : 256 * MiB;
  const reps = quick ? 2 : 3;
  const mb = bytes / 1e6;
  const pgDir = join(ctx.root, 'pg');
  const cephDir = join(ctx.root, 'ceph');
  const sides: Side[] = [];
  try {
    chmodSync(ctx.root, 0o755); // the postgres user must reach its data folder inside
    const pgUrl = up('pg-up.sh', pgDir, { PGPORT: String(await freePort()) });
    const s3 = up('ceph-up.sh', cephDir, { MON_PORT: String(await freePort()), RGW_PORT: String(await freePort()), MGR: '0' });
    ctx.log(`  postgres ${pgUrl}, ceph radosgw ${s3}`);
    const configFile = join(ctx.root, 'scaleout-config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        catalog: { kind: 'postgres', url: pgUrl },
        regions: {
          westus: {
            zones: [],
            chunkStores: { default: { kind: 's3', endpoint: s3, bucket: 'bench-westus', accessKeyId: 'test', secretAccessKey: 'test', forcePathStyle: true, createBucket: true } },
          },
        },
      }),
    );
    for (const [name, config] of [['sqlite + fs', undefined], ['postgres + ceph', configFile]] as const) {
      const dataDir = join(ctx.root, `scaleout-${sides.length}`);
      mkdirSync(dataDir, { recursive: true });
      const { worker } = await Worker.start(dataDir, false, config);
      await worker.call('group', { rg: 'so', location: 'westus' });
      await worker.call('createDisk', { rg: 'so', name: 'd', sizeGb: 1 });
      sides.push({ name, worker });
    }
    const [fs, so] = sides as [Side, Side];
    const copy: Record<string, number[]> = { [fs.name]: [], [so.name]: [] };
    const restore: Record<string, number[]> = { [fs.name]: [], [so.name]: [] };
    for (let r = 0; r < reps; r++) {
      for (const s of order(r, fs, so)) {
        await s.worker.call('fill', { rg: 'so', name: 'd', bytes });
        const snap = await s.worker.call<{ totalMs: number }>('snapshot', { rg: 'so', name: `s${r}`, disk: 'd' });
        copy[s.name]?.push(mb / (snap.totalMs / 1000));
        const res = await s.worker.call<{ totalMs: number; completion: number }>('restore', { rg: 'so', name: `r${r}`, snapshot: `s${r}` });
        if (res.completion !== 100) throw new Error(`${s.name}: restored disk at ${res.completion}%`);
        restore[s.name]?.push(mb / (res.totalMs / 1000));
        await s.worker.call('deleteDisk', { rg: 'so', name: `r${r}` });
      }
    }
    const common = { unit: 'MB/s', better: 'higher' as const, peer: 'sqlite + fs (same run)' };
    rec.add({
      ...common,
      scenario: `9. scale-out backends: snapshot copy of ${fmt(bytes / MiB)} MiB of fresh data`,
      metric: 'throughput, postgres + ceph vs sqlite + fs',
      samples: copy[so.name] ?? [],
      peerSamples: copy[fs.name] ?? [],
      note: 'snapshot request to 100%: packs PUT to radosgw (If-None-Match, one object per pack) and committed in PostgreSQL, beside packs fsynced to files and committed in SQLite',
    });
    rec.add({
      ...common,
      scenario: `9. scale-out backends: restore of ${fmt(bytes / MiB)} MiB`,
      metric: 'throughput, postgres + ceph vs sqlite + fs',
      samples: restore[so.name] ?? [],
      peerSamples: restore[fs.name] ?? [],
      note: 'disk created from the snapshot, hydrated to 100% (ranged GETs of packs from radosgw) and flushed',
    });

    const lat: Record<string, number[]> = { [fs.name]: [], [so.name]: [] };
    const diff: Record<string, number[]> = { [fs.name]: [], [so.name]: [] };
    for (const s of [fs, so]) {
      lat[s.name] = await s.worker.call<number[]>('latency', { rg: 'so', name: 'lat', sizeGb: 1024, changed: 64, rounds: quick ? 4 : 8 });
      const d = await s.worker.call<{ times: number[] }>('diff', { rg: 'so', name: 'diff', sizeGb: 1024, changed: 2_000, before: 500, reps: quick ? 3 : 7 });
      diff[s.name] = d.times;
    }
    const ms = { unit: 'ms', better: 'lower' as const, peer: 'sqlite + fs (same run)' };
    rec.add({
      ...ms,
      scenario: '9. scale-out backends: snapshot request latency, 1 TiB disk',
      metric: 'request latency, 64 blocks changed, postgres vs sqlite',
      samples: lat[so.name] ?? [],
      peerSamples: lat[fs.name] ?? [],
      note: 'freeze + one catalog transaction (point, snapshot row, job) per request',
    });
    rec.add({
      ...ms,
      scenario: '9. scale-out backends: diff, 2,000 changed blocks, 1 TiB disk',
      metric: 'all pages, postgres vs sqlite',
      samples: diff[so.name] ?? [],
      peerSamples: diff[fs.name] ?? [],
      note: 'Snapshots.diff over the delta maps of the two snapshots (engine level)',
    });
  } finally {
    for (const s of sides) await s.worker.stop().catch(() => undefined);
    down('ceph-down.sh', cephDir);
    down('pg-down.sh', pgDir);
    for (let i = 0; i < 2; i++) rmSync(join(ctx.root, `scaleout-${i}`), { recursive: true, force: true });
  }
}
