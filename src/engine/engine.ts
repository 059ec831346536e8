/**
 * @module engine/engine
 * The engine facade: builds the services over the ports, resumes background work on open, and
 * stops it cleanly on close. Surfaces (ARM, page blob, NBD, CLI) use only what this exposes.
 *
 * Background timers (every node):
 *   beat (lease/3)        heartbeat, disk lease renewals, job claim renewals
 *   sweep (lease/2)       claim new and stale jobs, take head-bound jobs over, report lost heads
 *   GC, scrub (interval)  enqueue the singleton job when its last run is older than the interval
 *                         (the catalog keeps the time of the last run, so a restart does not
 *                         rerun it at once); one node claims and runs it
 */

import { SnapdiskError } from '../core/errors.js';
import type { Job } from '../core/model.js';
import { jobLane } from '../core/ports.js';
import { EngineContext, type EngineDeps } from './context.js';
import { DiskRecords } from './disk-records.js';
import { Disks } from './disks.js';
import { Gc } from './gc.js';
import { Grants } from './grants.js';
import { Hydrator } from './hydration.js';
import { JobRunner, parsePointTarget } from './jobs.js';
import { Leases, LOCAL_NODE } from './leases.js';
import { KeyedMutex } from './locks.js';
import { Maps } from './maps.js';
import { Mover } from './move.js';
import { Points } from './points.js';
import { RegionCopies } from './region-copy.js';
import { Resolver } from './resolver.js';
import { Resources } from './resources.js';
import { Runtimes } from './runtimes.js';
import { SnapshotUploads } from './snapshot-uploads.js';
import { Snapshots } from './snapshots.js';
import { Usage } from './usage.js';
import { Verifier } from './verify.js';

/** The longest delay `setTimeout` honours (2^31−1 ms, ≈ 24.8 days). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** Periodic jobs re-check at most this often. */
const MIN_PERIODIC_MS = 1000;

export class Engine {
  readonly ctx: EngineContext;
  readonly resources: Resources;
  readonly disks: Disks;
  readonly snapshots: Snapshots;
  readonly grants: Grants;
  readonly uploads: SnapshotUploads;
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
    const rts = runtimes;
    this.jobs.ownership = {
      nodeId: this.leases.node.id,
      staleMs: this.leases.node.leaseMs,
      live: () => this.leases.live && !this.closed,
      localLanes: () => rts.localLanes(),
    };
    this.leases.onBeat = () => this.jobs.renew();
    runtimes.onFenced = (rt) => this.jobs.abandon([jobLane('hydrate', rt.disk.uniqueId), ...(rt.disk.familyId ? [jobLane('snapshot-copy', `${rt.disk.familyId}:0`)] : [])]);
    this.runtimes = runtimes;
    this.maps = new Maps(this.ctx, this.resolver, runtimes);
    const records = new DiskRecords(this.ctx, runtimes, locks);
    this.points = new Points(this.ctx, this.resolver, this.maps, runtimes, this.jobs, locks);
    const hydrator = new Hydrator(this.ctx, this.resolver, this.maps, runtimes, records);
    this.resources = new Resources(this.ctx);
    this.disks = new Disks(this.ctx, this.resources, runtimes, records, this.points, this.resolver, hydrator, this.jobs);
    this.snapshots = new Snapshots(this.ctx, this.resources, this.points, this.resolver, this.maps, runtimes);
    this.uploads = new SnapshotUploads(this.ctx, this.disks, records, this.points);
    this.snapshots.uploads = this.uploads;
    this.grants = new Grants(this.ctx, records, runtimes, this.snapshots, this.uploads);
    this.regionCopies = new RegionCopies(this.ctx, this.resolver, this.maps, this.points, this.jobs);
    this.snapshots.regionCopies = this.regionCopies;
    this.usage = new Usage(this.ctx, this.snapshots);
    this.gc = new Gc(this.ctx);
    this.verifier = new Verifier(this.ctx);
    this.mover = new Mover(this.ctx, this.resources, runtimes, locks);

    // head-bound: run where the disk's head is served (bind); the others run on any node
    this.jobs.register('snapshot-copy', {
      handler: async (job, signal) => {
        await this.points.copy(job.target, signal);
        // the hidden disk of a snapshot created for upload goes once its copy is done
        if (!signal.aborted) await this.uploads.afterCopy(job.target);
      },
      bind: async (job) => {
        const fam = await this.ctx.catalog.getFamily(parsePointTarget(job.target).familyId);
        return !fam?.diskId || rts.bind(fam.diskId);
      },
      onFailed: (job, err) => this.points.failCopy(job.target, err),
    });
    this.jobs.register('hydrate', {
      handler: (job, signal) => this.disks.hydrate(job.target, signal),
      bind: (job) => rts.bind(job.target),
    });
    this.jobs.register('region-copy', {
      handler: (job, signal) => this.regionCopies.run(job, signal),
      onFailed: (job, err) => this.regionCopies.failCopy(job, err),
    });
    this.jobs.register('gc', { handler: () => this.runGc() });
    this.jobs.register('scrub', { handler: () => this.runScrub() });
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
    try {
      await engine.leases.start();
    } catch (err) {
      // nothing runs yet: release what the caller opened for us
      for (const store of engine.ctx.allChunkStores()) await store.close().catch(() => undefined);
      await engine.ctx.catalog.close().catch(() => undefined);
      throw err;
    }
    await engine.disks.resetAttachments((id) => engine.leases.freeOrMine(id));
    // load the heads of disks with pending copies before any read can ask for those snapshots
    for (const job of await engine.ctx.catalog.openJobs()) {
      if (job.kind !== 'snapshot-copy' && job.kind !== 'hydrate') continue; // region copies read ready points only
      const diskId = job.kind === 'hydrate' ? job.target : (await engine.resolver.family(parsePointTarget(job.target).familyId)).diskId;
      const disk = diskId ? await engine.ctx.catalog.getDiskById(diskId) : null;
      if (!disk || !(await engine.leases.freeOrMine(disk.uniqueId))) continue; // another node serves it
      await engine.runtimes.get(disk).catch((err: unknown) => engine.ctx.log.warn('cannot load a disk with pending work', { disk: disk.uniqueId, error: String(err) }));
    }
    await engine.requeueUnfinishedWork();
    await engine.jobs.start();
    // snapshots created for upload: finish what a stop interrupted (their point, their hidden disk)
    await engine.uploads.resume((id) => engine.leases.freeOrMine(id));
    await engine.grants.sweepExpired();
    engine.sweeper = setInterval(() => {
      engine.grants.sweepExpired().catch((err: unknown) => engine.ctx.log.warn('grant sweep failed', { error: String(err) }));
    }, 30_000);
    engine.sweeper.unref();
    engine.periodic('scrub', (engine.ctx.config.scrubIntervalHours ?? 0) * 3_600_000);
    engine.periodic('gc', engine.ctx.config.gcIntervalMs ?? 10 * 60 * 1000);
    engine.startTakeover();
    return engine;
  }

  private readonly periodicTimers = new Map<'gc' | 'scrub', NodeJS.Timeout>();

  /**
   * Runs a singleton job (GC, scrub) every `everyMs` across all nodes: each node wakes when the
   * last run (any node's, from the catalog) is one interval old and enqueues the job unless it is
   * open already or another node's run just finished; one node claims it. Timers are chained
   * `setTimeout`s of at most 2^31−1 ms (Node turns a longer delay into 1 ms), so long intervals
   * are waited in steps. A first start records a baseline: the first run comes one interval later.
   */
  private periodic(kind: 'gc' | 'scrub', everyMs: number): void {
    if (!(everyMs > 0)) return;
    const tick = async (): Promise<void> => {
      if (this.closed) return;
      let wait = everyMs;
      try {
        const now = this.ctx.now();
        const last = await this.ctx.catalog.lastJobDone(kind);
        if (last === null) {
          const j = await this.ctx.catalog.enqueueJob(kind, 'baseline', { baseline: true }, now);
          await this.ctx.catalog.finishJob(j.id, 'done', null, now);
        } else if (Date.parse(last) + everyMs <= now.getTime()) {
          const job = await this.ctx.catalog.enqueueJobIfDue(kind, 'all', {}, now, new Date(now.getTime() - everyMs));
          if (job && this.leases.live) this.jobs.schedule(job);
        } else {
          wait = Date.parse(last) + everyMs - now.getTime();
        }
      } catch (err) {
        this.ctx.log.warn(`cannot schedule the ${kind === 'gc' ? 'garbage collection' : 'scrub'}`, { error: String(err) });
        wait = Math.min(everyMs, 60_000);
      }
      if (this.closed) return;
      const t = setTimeout(() => void tick(), Math.min(MAX_TIMEOUT_MS, Math.max(MIN_PERIODIC_MS, wait)));
      t.unref();
      this.periodicTimers.set(kind, t);
    };
    void tick();
  }

  /** The scrub job: verify every chunk of every region, repair from other zones, log what is lost. */
  private async runScrub(): Promise<void> {
    const reports = await this.verifier.all();
    const lost = reports.reduce((n, r) => n + r.lost.length, 0);
    const repaired = reports.reduce((n, r) => n + r.repaired.length, 0);
    const chunks = reports.reduce((n, r) => n + r.chunksChecked, 0);
    if (lost > 0) this.ctx.log.error('scrub found chunks no zone holds intact', { lost, snapshots: [...new Set(reports.flatMap((r) => r.lost.flatMap((l) => l.snapshots)))] });
    else this.ctx.log.info('scrub done', { chunks, repaired });
  }

  /** The GC job: one pass over every region. */
  private async runGc(): Promise<void> {
    const reports = await this.gc.collectAll();
    const freed = reports.reduce((n, r) => n + r.chunksDeleted, 0);
    if (freed > 0) this.ctx.log.info('garbage collected', { chunks: freed, packs: reports.reduce((n, r) => n + r.packsDeleted + r.orphanPacksDeleted, 0) });
  }

  private takeoverTimer: NodeJS.Timeout | null = null;

  /**
   * Every half lease time: claim new and stale jobs, take over head-bound jobs whose node stopped
   * (when the head is reachable here), and report disks whose heads are lost with their node.
   */
  private startTakeover(): void {
    this.takeoverTimer = setInterval(() => {
      void this.engineSweep().catch((err: unknown) => this.ctx.log.warn('job sweep failed', { error: String(err) }));
    }, Math.max(50, Math.floor(this.leases.node.leaseMs / 2)));
    this.takeoverTimer.unref();
  }

  private gcRunning = false;

  /** One GC pass over every region, here and now (admin, benchmarks); concurrent calls share the pass. */
  async collectGarbage(): Promise<void> {
    if (this.gcRunning || this.closed) return;
    this.gcRunning = true;
    try {
      await this.runGc();
    } catch (err) {
      this.ctx.log.warn('garbage collection failed', { error: String(err) });
    } finally {
      this.gcRunning = false;
    }
  }

  /**
   * Background work whose job ended or vanished gets a job again at start-up: hydrations, and
   * points still copying (snapshot copies out of a head, and cross-region copies).
   */
  private async requeueUnfinishedWork(): Promise<void> {
    const now = this.ctx.now();
    for (const d of await this.ctx.catalog.listDisks({})) {
      if (d.hydration === 'hydrating') await this.ctx.catalog.enqueueJob('hydrate', d.uniqueId, {}, now);
    }
    for (const p of await this.ctx.catalog.copyingPoints()) {
      const target = `${p.familyId}:${p.seq}`;
      if (!p.sourceFamilyId) {
        await this.ctx.catalog.enqueueJob('snapshot-copy', target, {}, now);
        continue;
      }
      // a CopyStart mirror point: the job needs the source snapshot's id (CopySourceNotFound)
      const snap = (await this.ctx.catalog.listSnapshots({ familyId: p.familyId })).find((s) => s.point === p.seq);
      await this.ctx.catalog.enqueueJob('region-copy', target, { source: snap?.creationData.sourceUniqueId ?? '' }, now);
    }
  }

  /** One sweep now (the takeover timer does it every half lease time). */
  async engineSweep(): Promise<void> {
    if (!this.leases.live || this.closed) return;
    await this.jobs.sweep();
    await this.runtimes.reportLostHeads();
  }

  /** Jobs this node holds a claim on (tests, diagnostics). */
  heldJobs(): Job[] {
    return this.jobs.heldJobs();
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
    for (const t of this.periodicTimers.values()) clearTimeout(t);
    if (this.takeoverTimer) clearInterval(this.takeoverTimer);
    await this.jobs.stop();
    // the head files are this node's data whether or not it still serves them: make them durable
    for (const rt of this.runtimes.all()) await rt.volume.flush();
    this.runtimes.closeAll();
    await this.leases.stop(true);
    for (const store of this.ctx.allChunkStores()) await store.close();
    await this.ctx.catalog.close();
  }

  assertOpen(): void {
    if (this.closed) throw new SnapdiskError('Unavailable', 'the engine is shutting down');
  }
}
