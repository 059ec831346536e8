/**
 * @module bench/worker
 * The snapdisk side of the benchmark: a child process that opens the engine (`openEngine`) or the
 * whole server (`startSnapdisk` with NBD, HTTP on port 0) and answers operations from the
 * controller (bench/run.ts) over Node IPC: `{id, op, args}` → `{id, ok, result | error}`.
 *
 * Why a child: the controller spawns restic, borg, qemu-nbd, nbdcopy and fio; forking from a process
 * that holds an engine with gigabytes touched is slow (copy-on-write faults, see
 * src/nbd/bench-nbd.ts), and the memory scenario needs the server's own peak RSS. Timings of
 * snapdisk operations are taken here, next to the engine, so IPC never counts.
 */

import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openEngine } from '../src/app.js';
import { SasSigner } from '../src/api/blob/sas.js';
import { defaultConfig, loadConfig } from '../src/config/config.js';
import type { SnapdiskConfig } from '../src/config/config.js';
import type { DiskRecord, SnapshotRecord } from '../src/core/model.js';
import type { Engine } from '../src/engine/engine.js';
import type { DiskHandle } from '../src/engine/disks.js';
import { startNbd } from '../src/nbd/start.js';
import { startSnapdisk } from '../src/server.js';
import type { RunningServer } from '../src/server.js';

export const SUB = '00000000-0000-4000-8000-0000000000b1';
const BLOCK = 64 * 1024;
const MiB = 1024 * 1024;

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
const diskId = (rg: string, name: string): string => `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/disks/${name}`;
const snapId = (rg: string, name: string): string => `/subscriptions/${SUB}/resourceGroups/${rg}/providers/Microsoft.Compute/snapshots/${name}`;

/** xorshift32: deterministic picks for a seed. */
function prng(seed: number): () => number {
  let x = seed | 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** `n` distinct block indexes in [0, blocks), in ascending order. */
function pickBlocks(n: number, blocks: number, seed: number): number[] {
  const rnd = prng(seed);
  const set = new Set<number>();
  while (set.size < Math.min(n, blocks)) set.add(Math.floor(rnd() * blocks));
  return [...set].sort((a, b) => a - b);
}

let engine: Engine | null = null;
let server: RunningServer | null = null;
let dataDir = '';
let signer: SasSigner | null = null;
const handles = new Map<string, DiskHandle>();

function eng(): Engine {
  if (!engine) throw new Error('worker not started');
  return engine;
}

/** The defaults (or `configFile`, e.g. a PostgreSQL catalog and S3 chunk stores) with the limits lifted. */
function benchConfig(configFile?: string): SnapdiskConfig {
  const config = configFile ? loadConfig(configFile, true) : defaultConfig();
  // the benchmark takes many snapshots of one disk in a few minutes
  config.limits.incrementalSnapshotsPerDisk = 10_000;
  config.limits.incrementalSnapshotsPerDiskPer5Minutes = 1_000_000;
  config.limits.activeSasPerSnapshotFamily = 100;
  return config;
}

async function handle(uniqueId: string): Promise<DiskHandle> {
  let h = handles.get(uniqueId);
  if (!h) {
    h = await eng().disks.open(uniqueId);
    handles.set(uniqueId, h);
  }
  return h;
}

async function findDisk(rg: string, name: string): Promise<DiskRecord> {
  const d = await eng().disks.find({ subscriptionId: SUB, resourceGroup: rg, name });
  if (!d) throw new Error(`disk ${rg}/${name} not found`);
  return d;
}

async function findSnap(rg: string, name: string): Promise<SnapshotRecord> {
  const s = await eng().snapshots.find({ subscriptionId: SUB, resourceGroup: rg, name });
  if (!s) throw new Error(`snapshot ${rg}/${name} not found`);
  return s;
}

async function snapshot(rg: string, name: string, disk: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  await eng().snapshots.createOrUpdate({
    subscriptionId: SUB,
    resourceGroup: rg,
    name,
    incremental: true,
    creationData: { createOption: 'Copy', sourceResourceId: diskId(rg, disk) },
  });
  return ms(t0);
}

async function writeRandom(h: DiskHandle, blocks: number[], writeBytes: number, seed: number): Promise<number> {
  const rnd = prng(seed ^ 0x5bd1e995);
  const buf = Buffer.allocUnsafe(writeBytes);
  for (const b of blocks) {
    randomFillSync(buf);
    const within = writeBytes >= BLOCK ? 0 : Math.floor(rnd() * (BLOCK / writeBytes)) * writeBytes;
    await h.write(b * BLOCK + within, buf);
  }
  return blocks.length * writeBytes;
}

type Args = Record<string, unknown>;
const str = (a: Args, k: string): string => {
  const v = a[k];
  if (typeof v !== 'string') throw new Error(`argument ${k} missing`);
  return v;
};
const num = (a: Args, k: string, dflt?: number): number => {
  const v = a[k];
  if (typeof v === 'number') return v;
  if (dflt !== undefined) return dflt;
  throw new Error(`argument ${k} missing`);
};

const ops: Record<string, (a: Args) => Promise<unknown>> = {
  async start(a) {
    dataDir = str(a, 'dataDir');
    const config = benchConfig(typeof a.configFile === 'string' ? a.configFile : undefined);
    if (a.server === true) {
      server = await startSnapdisk({ dataDir, config, host: '127.0.0.1', httpsPort: 0, httpPort: 0, nbdPort: 0, nbd: startNbd });
      engine = server.engine;
    } else {
      engine = (await openEngine({ dataDir, config })).engine;
    }
    signer = SasSigner.open(join(dataDir, 'identity', 'sas.key'));
    await eng().resources.ensureSubscription({ subscriptionId: SUB, displayName: 'bench', tenantId: 't', state: 'Enabled' });
    return { pid: process.pid, httpUrl: server?.httpUrl ?? null, nbdPort: server?.nbdPort ?? null };
  },

  async group(a) {
    await eng().resources.putGroup(SUB, str(a, 'rg'), str(a, 'location'));
    return null;
  },

  async createDisk(a) {
    const rg = str(a, 'rg');
    const name = str(a, 'name');
    const { disk } = await eng().disks.createOrUpdate({
      subscriptionId: SUB,
      resourceGroup: rg,
      name,
      sizeGb: num(a, 'sizeGb'),
      creationData: { createOption: 'Empty' },
      ...(typeof a.location === 'string' ? { location: a.location } : {}),
    });
    return { uniqueId: disk.uniqueId, id: diskId(rg, name), head: join(dataDir, 'volumes', disk.uniqueId, 'head.0.img'), sizeBytes: disk.sizeBytes };
  },

  /** Random bytes over [0, bytes) of the disk, then a flush; returns the time. */
  async fill(a) {
    const d = await findDisk(str(a, 'rg'), str(a, 'name'));
    const h = await handle(d.uniqueId);
    const bytes = num(a, 'bytes');
    const buf = Buffer.allocUnsafe(16 * MiB);
    const t0 = process.hrtime.bigint();
    for (let off = 0; off < bytes; off += buf.length) {
      const part = buf.subarray(0, Math.min(buf.length, bytes - off));
      randomFillSync(part);
      await h.write(off, part);
    }
    await h.flush();
    return ms(t0);
  },

  /** Writes the bytes of a file into the disk from offset 0. */
  async load(a) {
    const d = await findDisk(str(a, 'rg'), str(a, 'name'));
    const h = await handle(d.uniqueId);
    const fd = openSync(str(a, 'file'), 'r');
    const buf = Buffer.allocUnsafe(16 * MiB);
    try {
      for (let off = 0; ; off += buf.length) {
        const n = readSync(fd, buf, 0, buf.length, off);
        if (n === 0) break;
        await h.write(off, buf.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
    await h.flush();
    return null;
  },

  /** Rewrites `blocks` distinct random 64 KiB blocks below `limitBytes` (whole blocks or `writeBytes` inside each). */
  async change(a) {
    const d = await findDisk(str(a, 'rg'), str(a, 'name'));
    const h = await handle(d.uniqueId);
    const limit = num(a, 'limitBytes', d.sizeBytes);
    const blocks = pickBlocks(num(a, 'blocks'), Math.floor(limit / BLOCK), num(a, 'seed'));
    const bytes = await writeRandom(h, blocks, num(a, 'writeBytes', BLOCK), num(a, 'seed'));
    await h.flush();
    return { blocks: blocks.length, bytes, changedBlockBytes: blocks.length * BLOCK };
  },

  /** An incremental snapshot: request latency, and (wait) time to completion and used bytes. */
  async snapshot(a) {
    const rg = str(a, 'rg');
    const name = str(a, 'name');
    const t0 = process.hrtime.bigint();
    const requestMs = await snapshot(rg, name, str(a, 'disk'));
    if (a.wait === false) return { requestMs };
    await eng().idle();
    const totalMs = ms(t0);
    const s = await findSnap(rg, name);
    const status = await eng().snapshots.status(s);
    if (status.completionPercent !== 100) throw new Error(`snapshot ${name} at ${status.completionPercent}% after idle`);
    return { requestMs, totalMs, usedBytes: status.usedBytes };
  },

  /** Logical size of the catalog (page_count × page_size, WAL included), read on its own connection. */
  async catalogBytes() {
    const db = new Database(join(dataDir, 'catalog.db'), { readonly: true, fileMustExist: true });
    try {
      const pages = db.pragma('page_count', { simple: true }) as number;
      const size = db.pragma('page_size', { simple: true }) as number;
      return pages * size;
    } finally {
      db.close();
    }
  },

  /** A disk restored from a snapshot, hydrated to completion and flushed: the time. */
  async restore(a) {
    const rg = str(a, 'rg');
    const name = str(a, 'name');
    const t0 = process.hrtime.bigint();
    const { disk } = await eng().disks.createOrUpdate({
      subscriptionId: SUB,
      resourceGroup: rg,
      name,
      creationData: { createOption: 'Copy', sourceResourceId: snapId(rg, str(a, 'snapshot')) },
    });
    const requestMs = ms(t0);
    await eng().idle();
    const h = await eng().disks.open(disk.uniqueId);
    await h.flush();
    const totalMs = ms(t0);
    const after = await eng().disks.getById(disk.uniqueId);
    return { requestMs, totalMs, completion: eng().disks.completionPercent(after), head: join(dataDir, 'volumes', disk.uniqueId, 'head.0.img') };
  },

  async deleteDisk(a) {
    const d = await findDisk(str(a, 'rg'), str(a, 'name'));
    handles.delete(d.uniqueId);
    await eng().disks.delete({ subscriptionId: SUB, resourceGroup: str(a, 'rg'), name: str(a, 'name') });
    await eng().idle();
    return null;
  },

  async deleteSnapshot(a) {
    await eng().snapshots.delete({ subscriptionId: SUB, resourceGroup: str(a, 'rg'), name: str(a, 'name') });
    return null;
  },

  async collectGarbage() {
    await eng().collectGarbage();
    return null;
  },

  /** A read SAS URL on a disk or snapshot (http). */
  async grant(a) {
    if (!server || !signer) throw new Error('grant needs the server mode');
    const rg = str(a, 'rg');
    const name = str(a, 'name');
    const target = a.kind === 'disk' ? { kind: 'disk' as const, disk: await findDisk(rg, name) } : { kind: 'snapshot' as const, snapshot: await findSnap(rg, name) };
    const g = await eng().grants.begin(target, { access: 'Read', durationInSeconds: 3600 });
    return signer.url(server.httpUrl, g);
  },

  async endGrant(a) {
    const rg = str(a, 'rg');
    const name = str(a, 'name');
    const target = a.kind === 'disk' ? { kind: 'disk' as const, disk: await findDisk(rg, name) } : { kind: 'snapshot' as const, snapshot: await findSnap(rg, name) };
    await eng().grants.end(target);
    return null;
  },

  async idle() {
    await eng().idle();
    return null;
  },

  /** Snapshot request latency: `rounds` snapshots, each after `changed` 4 KiB writes spread over the disk. */
  async latency(a) {
    const rg = str(a, 'rg');
    const name = str(a, 'name');
    const d = (await eng().disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: rg, name, sizeGb: num(a, 'sizeGb'), creationData: { createOption: 'Empty' } })).disk;
    const h = await handle(d.uniqueId);
    const blocks = Math.floor(d.sizeBytes / BLOCK);
    const times: number[] = [];
    const rounds = num(a, 'rounds');
    for (let i = 0; i < rounds; i++) {
      await writeRandom(h, pickBlocks(num(a, 'changed'), blocks, 1000 + i), 4096, i);
      // the previous copy is left running on purpose: requests must be instant meanwhile too
      times.push(await snapshot(rg, `${name}-${i}`, name));
    }
    await eng().idle();
    return times;
  },

  /** Diff of two snapshots with `changed` blocks between them, all pages: times of `reps` runs. */
  async diff(a) {
    const rg = str(a, 'rg');
    const name = str(a, 'name');
    const changed = num(a, 'changed');
    const d = (await eng().disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: rg, name, sizeGb: num(a, 'sizeGb'), creationData: { createOption: 'Empty' } })).disk;
    const h = await handle(d.uniqueId);
    const blocks = Math.floor(d.sizeBytes / BLOCK);
    // history before the older snapshot (`before` blocks); the diff itself covers `changed` blocks
    await writeRandom(h, pickBlocks(num(a, 'before', changed), blocks, 1), 4096, 1);
    await snapshot(rg, `${name}-a`, name);
    await writeRandom(h, pickBlocks(changed, blocks, 977), 4096, 2);
    await snapshot(rg, `${name}-b`, name);
    await eng().idle();
    const older = await findSnap(rg, `${name}-a`);
    const newer = await findSnap(rg, `${name}-b`);
    const times: number[] = [];
    let ranges = 0;
    let pages = 0;
    for (let i = 0; i < num(a, 'reps'); i++) {
      const t0 = process.hrtime.bigint();
      let start = 0;
      ranges = 0;
      pages = 0;
      for (;;) {
        const page = await eng().snapshots.diff(newer, older, { start, maxRanges: 10_000 });
        ranges += page.ranges.length;
        pages++;
        if (page.next === undefined) break;
        start = page.next;
      }
      times.push(ms(t0));
    }
    handles.delete(d.uniqueId);
    return { times, ranges, pages };
  },

  /**
   * Cross-region copy: a disk in `rg` (eastus) with `bytes` of random data, snapshot 1 copied to
   * westus (CopyStart), then `reps` rounds of: change `blocks` blocks, snapshot, CopyStart, wait;
   * each round reports the mirror point's bytesMoved beside the delta.
   */
  async regionCopy(a) {
    const rg = str(a, 'rg');
    const target = str(a, 'targetRg');
    const rc = typeof a.name === 'string' ? a.name : 'rc';
    const e = eng();
    const d = (await e.disks.createOrUpdate({ subscriptionId: SUB, resourceGroup: rg, name: rc, sizeGb: num(a, 'sizeGb'), creationData: { createOption: 'Empty' } })).disk;
    await ops.fill?.({ rg, name: rc, bytes: num(a, 'bytes') });
    const copy = async (n: number): Promise<{ ms: number; bytesMoved: number; usedBytes: number }> => {
      await snapshot(rg, `${rc}-${n}`, rc);
      await e.idle();
      const src = await findSnap(rg, `${rc}-${n}`);
      const t0 = process.hrtime.bigint();
      await e.snapshots.createOrUpdate({
        subscriptionId: SUB,
        resourceGroup: target,
        name: `${rc}-${n}-westus`,
        location: 'westus',
        incremental: true,
        creationData: { createOption: 'CopyStart', sourceResourceId: snapId(rg, `${rc}-${n}`) },
      });
      await e.idle();
      const took = ms(t0);
      const mirror = await findSnap(target, `${rc}-${n}-westus`);
      const point = await e.ctx.catalog.getPoint(mirror.familyId, mirror.point);
      if (!point || point.state !== 'ready') throw new Error(`mirror point of ${rc}-${n} is ${point?.state ?? 'missing'}`);
      const srcStatus = await e.snapshots.status(src);
      return { ms: took, bytesMoved: point.bytesMoved ?? 0, usedBytes: srcStatus.usedBytes };
    };
    const first = await copy(0);
    const rounds: Array<{ ms: number; bytesMoved: number; usedBytes: number; changedBytes: number }> = [];
    const h = await handle(d.uniqueId);
    for (let i = 1; i <= num(a, 'reps'); i++) {
      const blocks = pickBlocks(num(a, 'blocks'), Math.floor(num(a, 'bytes') / BLOCK), 4242 + i);
      await writeRandom(h, blocks, BLOCK, 77 + i);
      rounds.push({ ...(await copy(i)), changedBytes: blocks.length * BLOCK });
    }
    return { first, rounds };
  },

  async close() {
    handles.clear();
    if (server) await server.close();
    else if (engine) await engine.close();
    engine = null;
    server = null;
    return null;
  },
};

process.on('message', (msg: { id: number; op: string; args: Args }) => {
  const fn = ops[msg.op];
  const reply = (body: Record<string, unknown>): void => {
    process.send?.({ id: msg.id, ...body });
  };
  if (!fn) {
    reply({ ok: false, error: `unknown op ${msg.op}` });
    return;
  }
  fn(msg.args ?? {}).then(
    (result) => reply({ ok: true, result }),
    (err: unknown) => reply({ ok: false, error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) }),
  );
});
process.on('disconnect', () => {
  void ops.close?.({}).finally(() => process.exit(0));
});
