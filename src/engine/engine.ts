/**
 * @module engine/engine
 * The engine facade: builds the services over the ports, resumes background work on open, and
 * stops it cleanly on close. Surfaces (ARM, page blob, NBD, CLI) use only what this exposes.
 */

import { SnapdiskError } from '../core/errors.js';
import { EngineContext, type EngineDeps } from './context.js';
import { DiskRecords } from './disk-records.js';
import { Disks } from './disks.js';
import { Gc } from './gc.js';
import { Grants } from './grants.js';
import { Hydrator } from './hydration.js';
import { JobRunner } from './jobs.js';
import { Leases, LOCAL_NODE } from './leases.js';
import { KeyedMutex } from './locks.js';
import { Maps } from './maps.js';
import { Mover } from './move.js';
import { Points } from './points.js';
import { RegionCopies } from './region-copy.js';
import { Resolver } from './resolver.js';
import { Resources } from './resources.js';
import { Runtimes } from './runtimes.js';
import { Snapshots } from './snapshots.js';
import { Usage } from './usage.js';
import { Verifier } from './verify.js';

export class Engine {
  readonly ctx: EngineContext;
  readonly resources: Resources;
  readonly disks: Disks;
  readonly snapshots: Snapshots;
  readonly grants: Grants;
  readonly usage: Usage;
  readonly gc: Gc;
  readonly points: Points;
  readonly regionCopies: RegionCopies;
  readonly verifier: Verifier;
  readonly mover: Mover;
  readonly runtimes: Runtimes;
  readonly resolver: Resolver;
  readonly maps: Maps;
  readonly leases: Leases;
  private readonly jobs: JobRunner;
  private sweeper: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(deps: EngineDeps) {
    this.ctx = new EngineContext(deps);
    const locks = new KeyedMutex();
    this.jobs = new JobRunner(this.ctx);
    let runtimes: Runtimes | null = null;
    this.resolver = new Resolver(this.ctx, { runtimeForFamily: (f) => runtimes?.runtimeForFamily(f) ?? null });
    this.leases = new Leases(this.ctx, { ...(deps.node ?? LOCAL_NODE) });
    runtimes = new Runtimes(this.ctx, this.resolver, this.leases);
    this.jobs.ownership = { nodeId: this.leases.node.id, alive: (id) => this.leases.alive(id) };
    this.runtimes = runtimes;
    this.maps = new Maps(this.ctx, this.resolver, runtimes);
    const records = new DiskRecords(this.ctx, runtimes, locks);
    this.points = new Points(this.ctx, this.resolver, this.maps, runtimes, this.jobs, locks, this.leases);
    const hydrator = new Hydrator(this.ctx, this.resolver, this.maps, runtimes, records);
    this.resources = new Resources(this.ctx);
    this.disks = new Disks(this.ctx, this.resources, runtimes, records, this.points, this.resolver, hydrator, this.jobs);
    this.snapshots = new Snapshots(this.ctx, this.resources, this.points, this.resolver, this.maps, runtimes);
    this.grants = new Grants(this.ctx, records, runtimes, this.snapshots);
    this.regionCopies = new RegionCopies(this.ctx, this.resolver, this.maps, this.points, this.jobs);
    this.snapshots.regionCopies = this.regionCopies;
    this.usage = new Usage(this.ctx, this.snapshots);
    this.gc = new Gc(this.ctx);
    this.verifier = new Verifier(this.ctx);
    this.mover = new Mover(this.ctx, this.resources, runtimes, locks);

    this.jobs.register('snapshot-copy', {
      handler: (job, signal) => this.points.copy(job.target, signal),
      lane: (job) => `copy:${job.target.slice(0, job.target.lastIndexOf(':'))}`,
    });
    this.jobs.register('region-copy', {
      handler: (job, signal) => this.regionCopies.run(job.target, job.payload, signal),
      lane: (job) => `region-copy:${job.target.slice(0, job.target.lastIndexOf(':'))}`,
    });
    this.jobs.register('hydrate', {
      handler: (job, signal) => this.disks.hydrate(job.target, signal),
      lane: (job) => `hydrate:${job.target}`,
    });
    runtimes.onPowerLoss = async (rt) => {
      await this.points.failPending(
        rt,
        'InterruptedByHostRestart',
        'The host restarted before the background copy of this snapshot finished; its content could not be guaranteed.',
      );
      rt.markAllDirty();
      await rt.acknowledgeReboot(); // only once the rescan is durable: a crash before repeats it
    };
  }

  /** Builds the engine and resumes what a previous run left unfinished. */
  static async open(deps: EngineDeps): Promise<Engine> {
    const engine = new Engine(deps);
    await engine.leases.start();
    await engine.disks.resetAttachments((id) => engine.leases.freeOrMine(id));
    // load the heads of disks with pending copies before any read can ask for those snapshots
    for (const job of await engine.ctx.catalog.openJobs()) {
      if (job.kind !== 'snapshot-copy' && job.kind !== 'hydrate') continue; // region copies read ready points only
      const diskId = job.kind === 'hydrate' ? job.target : (await engine.resolver.family(job.target.slice(0, job.target.lastIndexOf(':')))).diskId;
      const disk = diskId ? await engine.ctx.catalog.getDiskById(diskId) : null;
      if (!disk || !(await engine.leases.freeOrMine(disk.uniqueId))) continue; // another node serves it
      await engine.runtimes.get(disk).catch((err: unknown) => engine.ctx.log.warn('cannot load a disk with pending work', { disk: disk.uniqueId, error: String(err) }));
    }
    await engine.requeueUnfinishedWork();
    await engine.jobs.start();
    await engine.grants.sweepExpired();
    engine.sweeper = setInterval(() => {
      engine.grants.sweepExpired().catch((err: unknown) => engine.ctx.log.warn('grant sweep failed', { error: String(err) }));
    }, 30_000);
    engine.sweeper.unref();
    engine.startScrub();
    engine.startGc();
    engine.startTakeover();
    return engine;
  }

  private scrubber: NodeJS.Timeout | null = null;

  /** Periodic verify of every chunk of every region, with repair from other zones. */
  private startScrub(): void {
    const hours = this.ctx.config.scrubIntervalHours ?? 0;
    if (!(hours > 0)) return;
    let running = false;
    this.scrubber = setInterval(() => {
      if (running || this.closed) return;
      running = true;
      this.verifier
        .all()
        .catch((err: unknown) => this.ctx.log.warn('scrub failed', { error: String(err) }))
        .finally(() => (running = false));
    }, hours * 3_600_000);
    this.scrubber.unref();
  }

  private takeoverTimer: NodeJS.Timeout | null = null;

  /** Several nodes: look for jobs whose node is gone (and new ones) every half lease time. */
  private startTakeover(): void {
    this.takeoverTimer = setInterval(() => {
      this.jobs.sweep().catch((err: unknown) => this.ctx.log.warn('job sweep failed', { error: String(err) }));
    }, Math.max(50, Math.floor(this.leases.node.leaseMs / 2)));
    this.takeoverTimer.unref();
  }

  private gcTimer: NodeJS.Timeout | null = null;
  private gcRunning = false;

  /** Garbage collection every 10 minutes (chunks no snapshot references, after the grace period). */
  private startGc(): void {
    const every = this.ctx.config.gcIntervalMs ?? 10 * 60 * 1000;
    if (!(every > 0)) return;
    this.gcTimer = setInterval(() => void this.collectGarbage(), every);
    this.gcTimer.unref();
  }

  /** One GC pass over every region; concurrent calls share the pass in progress. */
  async collectGarbage(): Promise<void> {
    if (this.gcRunning || this.closed) return;
    this.gcRunning = true;
    try {
      const reports = await this.gc.collectAll();
      const freed = reports.reduce((n, r) => n + r.chunksDeleted, 0);
      if (freed > 0) this.ctx.log.info('garbage collected', { chunks: freed, packs: reports.reduce((n, r) => n + r.packsDeleted + r.orphanPacksDeleted, 0) });
    } catch (err) {
      this.ctx.log.warn('garbage collection failed', { error: String(err) });
    } finally {
      this.gcRunning = false;
    }
  }

  /** Work whose job failed or vanished (hydration, copies) gets a job again at start-up. */
  private async requeueUnfinishedWork(): Promise<void> {
    const now = this.ctx.now();
    for (const d of await this.ctx.catalog.listDisks({})) {
      if (d.hydration === 'hydrating') await this.ctx.catalog.enqueueJob('hydrate', d.uniqueId, {}, now);
      if (!d.familyId) continue;
      for (const p of await this.ctx.catalog.listPoints(d.familyId)) {
        if (p.state === 'copying') await this.ctx.catalog.enqueueJob('snapshot-copy', `${p.familyId}:${p.seq}`, {}, now);
      }
    }
  }

  /** Looks for jobs to take over now (the takeover timer does it every half lease time). */
  engineSweep(): Promise<void> {
    return this.jobs.sweep();
  }

  /** Holds background jobs that have not started (maintenance, tests); `resumeJobs` releases them. */
  pauseJobs(): void {
    this.jobs.pause();
  }

  resumeJobs(): void {
    this.jobs.resume();
  }

  /** Resolves when no background job is running (tests, benchmarks, `snapshot wait`). */
  idle(): Promise<void> {
    return this.jobs.idle();
  }

  /** Stops background work at a checkpoint, flushes every head and closes the catalog. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.scrubber) clearInterval(this.scrubber);
    if (this.gcTimer) clearInterval(this.gcTimer);
    if (this.takeoverTimer) clearInterval(this.takeoverTimer);
    await this.jobs.stop();
    for (const rt of this.runtimes.all()) await rt.flush();
    this.runtimes.closeAll();
    await this.leases.stop(true);
    for (const store of this.ctx.allChunkStores()) await store.close();
    await this.ctx.catalog.close();
  }

  assertOpen(): void {
    if (this.closed) throw new SnapdiskError('Unavailable', 'the engine is shutting down');
  }
}
