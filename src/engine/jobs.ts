/**
 * @module engine/jobs
 * Background work kept as rows in the catalog so that it survives restarts: snapshot copies,
 * hydration, garbage collection, resource-group deletion. Jobs run in lanes: a lane runs its jobs
 * one after the other in creation order (the copies of one family), different lanes run in
 * parallel. Handlers checkpoint their progress in the catalog and check the abort signal between
 * batches, so `stop()` returns quickly and a restart resumes where the work stopped.
 */

import { isRetryable } from '../core/errors.js';
import type { Job, JobKind } from '../core/model.js';
import type { EngineContext } from './context.js';

export type JobHandler = (job: Job, signal: AbortSignal) => Promise<void>;

/** Who may run a job when several nodes share the catalog. */
export interface JobOwnership {
  nodeId: string;
  alive(nodeId: string): Promise<boolean>;
}

export interface JobSpec {
  handler: JobHandler;
  /** Jobs with the same lane run one at a time, oldest first. */
  lane: (job: Job) => string;
}

const MAX_ATTEMPTS = 8;

export class JobRunner {
  private readonly specs = new Map<JobKind, JobSpec>();
  private readonly lanes = new Map<string, Promise<void>>();
  private readonly scheduled = new Set<number>();
  private readonly active = new Set<Promise<void>>();
  private controller = new AbortController();
  private stopped = false;
  private gate: { promise: Promise<void>; open: () => void } | null = null;

  /** Set by the engine: jobs run on one node at a time (compare-and-set of `jobs.node_id`). */
  ownership: JobOwnership | null = null;

  constructor(private readonly ctx: EngineContext) {}

  /**
   * Takes the job for this node: free jobs and jobs of dead nodes are taken over, jobs another
   * live node owns are left to it.
   */
  private async claim(job: Job): Promise<boolean> {
    const o = this.ownership;
    if (!o) return true;
    const owner = await this.ctx.catalog.jobOwner(job.id);
    if (owner === o.nodeId) return true;
    if (owner === null) return this.ctx.catalog.setJobOwner(job.id, null, o.nodeId);
    if (await o.alive(owner)) return false;
    this.ctx.log.warn('taking over the job of a node that is gone', { id: job.id, kind: job.kind, from: owner, to: o.nodeId });
    return this.ctx.catalog.setJobOwner(job.id, owner, o.nodeId);
  }

  /** Schedules open jobs that are not running here (new ones, or ones whose node died). */
  async sweep(): Promise<void> {
    if (this.stopped) return;
    for (const job of await this.ctx.catalog.openJobs()) this.schedule(job);
  }

  register(kind: JobKind, spec: JobSpec): void {
    this.specs.set(kind, spec);
  }

  /** Schedules every open job found in the catalog (after a restart). */
  async start(): Promise<void> {
    this.stopped = false;
    this.controller = new AbortController();
    for (const job of await this.ctx.catalog.openJobs()) this.schedule(job);
  }

  /** Runs `job` in its lane once the jobs ahead of it are done. Safe to call twice. */
  schedule(job: Job): void {
    if (this.stopped || this.scheduled.has(job.id)) return;
    const spec = this.specs.get(job.kind);
    if (!spec) {
      this.ctx.log.warn('no handler for job kind', { kind: job.kind, id: job.id });
      return;
    }
    this.scheduled.add(job.id);
    const lane = spec.lane(job);
    const before = this.lanes.get(lane) ?? Promise.resolve();
    const run = before.then(() => this.run(job, spec));
    this.lanes.set(lane, run);
    this.active.add(run);
    void run.finally(() => {
      this.active.delete(run);
      this.scheduled.delete(job.id);
      if (this.lanes.get(lane) === run) this.lanes.delete(lane);
    });
  }

  /** Holds jobs that have not started yet (maintenance windows, tests); running ones go on. */
  pause(): void {
    if (this.gate) return;
    let open: () => void = () => undefined;
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.gate = { promise, open };
  }

  resume(): void {
    const g = this.gate;
    this.gate = null;
    g?.open();
  }

  /** Resolves when no job is running or queued in memory. */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active]);
  }

  /** Asks running jobs to checkpoint and waits for them. Open jobs stay open in the catalog. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.controller.abort();
    this.resume();
    await this.idle();
  }

  private async run(job: Job, spec: JobSpec): Promise<void> {
    // start on a fresh turn of the event loop: the request that queued the job answers first
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.gate && !this.stopped) await Promise.race([this.gate.promise, abortPromise(this.controller.signal)]);
    if (this.stopped || !(await this.claim(job))) return;
    const signal = this.controller.signal;
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) return;
      try {
        await spec.handler(job, signal);
        if (signal.aborted) return;
        await this.ctx.catalog.finishJob(job.id, 'done', null, this.ctx.now());
        return;
      } catch (err) {
        if (signal.aborted) return;
        const message = err instanceof Error ? err.message : String(err);
        if (isRetryable(err) && attempt < MAX_ATTEMPTS) {
          this.ctx.log.warn('job failed, retrying', { id: job.id, kind: job.kind, target: job.target, attempt, error: message });
          await sleep(Math.min(5000, 50 * 2 ** attempt), signal);
          continue;
        }
        this.ctx.log.error('job failed', { id: job.id, kind: job.kind, target: job.target, error: message });
        await this.ctx.catalog.finishJob(job.id, 'failed', message, this.ctx.now());
        return;
      }
    }
  }
}

function abortPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
