/**
 * @module engine/jobs
 * Background work kept as rows in the catalog so that it survives restarts and node loss:
 * snapshot copies, hydration, cross-region copies, garbage collection, scrubs. Jobs run in lanes
 * (`jobLane`): a lane runs its jobs one after the other in creation order (the copies of one
 * family), different lanes run in parallel. Handlers checkpoint their progress in the catalog and
 * check the abort signal between batches, so `stop()` returns quickly and a restart resumes where
 * the work stopped.
 *
 * Several nodes share the job table; a node runs only what it claimed (JobCatalog.claimJobs):
 *
 *   enqueue ──► claim pass (this node, at once) ──► run ──► finish (fenced by the claim's token)
 *                  │ only the oldest open job of a lane: the next copy of a family waits, on every node
 *                  │ head-bound kinds (snapshot copy, hydration) only in the lanes of disks whose
 *                  │ heads this node serves; the others (region copy, GC, scrub) by any node
 *   renewal: every lease beat, one statement for all claims held; a claim not renewed for a
 *            lease time is stale and any node's next pass takes the job (resuming from its
 *            checkpoint). A node that stalled finds its claims gone at its next renewal, aborts
 *            those jobs, and can neither checkpoint nor finish them (their token changed).
 *   takeover of head-bound jobs: a stale one is taken only once `bind` could take the disk's
 *            lease and reach its head here; otherwise it stays for the node that has the head.
 */

import { isRetryable, SnapdiskError } from '../core/errors.js';
import type { Job, JobKind } from '../core/model.js';
import type { JobClaimRequest } from '../core/ports.js';
import { jobLane } from '../core/ports.js';
import type { EngineContext } from './context.js';
import { FencedOut } from './leases.js';

/** `job.attempts` is the claim's fencing token; a handler that commits checks it in its transaction. */
export type JobHandler = (job: Job, signal: AbortSignal) => Promise<void>;

/** The point a job works on, from its target `familyId:seq` (snapshot copy, region copy). */
export function parsePointTarget(target: string): { familyId: string; seq: number } {
  const i = target.lastIndexOf(':');
  return { familyId: target.slice(0, i), seq: Number(target.slice(i + 1)) };
}

/** Who this node is to the job table. */
export interface JobOwnership {
  nodeId: string;
  /** A claim not renewed for this long is stale: another node may take the job over. */
  staleMs: number;
  /** False once the node stopped beating (its claims lapse): it claims nothing then. */
  live(): boolean;
  /** Lanes of head-bound jobs this node can run now (the disks whose heads it serves). */
  localLanes(): string[];
}

export interface JobSpec {
  handler: JobHandler;
  /**
   * Head-bound kinds: whether this node may run the job now (it serves the disk's head, or could
   * take the disk's lease and reach its head; taking them is part of the answer). Absent: any node.
   */
  bind?: (job: Job) => Promise<boolean>;
  /** After a job ended failed while this node held it: fail what it was making (its point). */
  onFailed?: (job: Job, err: unknown) => Promise<void>;
}

interface Held {
  job: Job;
  lane: string;
  controller: AbortController;
  /** Given back unfinished: the lane is not claimed again here on that account. */
  handedBack: boolean;
}

const MAX_ATTEMPTS = 8;
const CLAIM_BATCH = 64;
const LANES_PER_CLAIM = 400;
const TAKEOVER_BATCH = 100;

export class JobRunner {
  private readonly specs = new Map<JobKind, JobSpec>();
  private readonly held = new Map<number, Held>();
  private readonly active = new Set<Promise<unknown>>();
  private controller = new AbortController();
  private stopped = true;
  private gate: { promise: Promise<void>; open: () => void } | null = null;
  private claims: Promise<void> = Promise.resolve();

  /** Set by the engine before `start`. */
  ownership: JobOwnership = { nodeId: 'local', staleMs: 30_000, live: () => true, localLanes: () => [] };

  constructor(private readonly ctx: EngineContext) {}

  register(kind: JobKind, spec: JobSpec): void {
    this.specs.set(kind, spec);
  }

  /** Claims what is runnable here, this node's jobs of a previous run first. */
  async start(): Promise<void> {
    this.stopped = false;
    this.controller = new AbortController();
    await this.queueClaim(undefined, true);
  }

  /**
   * A job was just enqueued (or should run): claim it and whatever else is runnable in its lane.
   * Safe to call for a job that runs already or that another node holds.
   */
  schedule(job: Job): void {
    void this.queueClaim([jobLane(job.kind, job.target)]);
  }

  /** Periodic pass: claims new and stale jobs, takes head-bound jobs over where possible. */
  async sweep(): Promise<void> {
    if (this.stopped) return;
    await this.queueClaim();
    await this.track(this.takeover());
  }

  /** Heartbeat of every claim held (called with each lease beat); lost claims abort their jobs. */
  async renew(): Promise<void> {
    if (this.held.size === 0) return;
    const claims = [...this.held.values()].map((h) => ({ id: h.job.id, fence: h.job.attempts }));
    const kept = await this.ctx.catalog.renewJobClaims(this.ownership.nodeId, claims, this.ctx.now());
    for (const c of claims) {
      const h = this.held.get(c.id);
      if (!h || kept.has(c.id) || h.job.attempts !== c.fence) continue;
      this.ctx.log.warn('job taken over by another node: stopping it here', { id: h.job.id, kind: h.job.kind, target: h.job.target });
      this.held.delete(c.id);
      h.controller.abort();
    }
  }

  /** Stops the jobs of these lanes here at their next checkpoint and hands them back (lease lost). */
  abandon(lanes: ReadonlyArray<string>): void {
    for (const h of this.held.values()) if (lanes.includes(h.lane)) h.controller.abort();
  }

  /** Jobs held by this node (tests, diagnostics). */
  heldJobs(): Job[] {
    return [...this.held.values()].map((h) => h.job);
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

  /** Resolves when no job is running, waiting or being claimed here. */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active]);
  }

  /** Asks running jobs to checkpoint, hands them back and waits. Open jobs stay open in the catalog. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.controller.abort();
    for (const h of this.held.values()) h.controller.abort();
    this.resume();
    await this.idle();
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.active.add(p);
    void p.finally(() => this.active.delete(p)).catch(() => undefined);
    return p;
  }

  /**
   * Claim passes run one after the other; `lanes` narrows the claim to those lanes, `bound` says
   * that `bind` just accepted their head-bound jobs (takeover).
   */
  private queueClaim(lanes?: string[], reclaimOwn = false, bound = false): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const next = this.claims.then(() => this.claimPass(lanes, reclaimOwn, bound));
    this.claims = next.catch((err: unknown) => this.ctx.log.warn('job claim failed', { error: String(err) }));
    return this.track(this.claims);
  }

  /**
   * One claim pass. With `lanes` (a job was just enqueued here, or one of those lanes just ran a
   * job here): only those lanes — one indexed statement — and a lane of a head-bound kind only
   * while this node serves its disk (`localLanes`) or `bind` accepted it (`boundLanes`): a job
   * handed back to the node that has the head is never claimed again here at once. Without
   * (start, sweep): every kind any node may run, and head-bound kinds in the lanes of the disks
   * this node serves.
   */
  private async claimPass(lanes: string[] | undefined, reclaimOwn: boolean, boundLanes: boolean): Promise<void> {
    const o = this.ownership;
    if (this.stopped || !o.live()) return;
    const now = this.ctx.now();
    const base = { nodeId: o.nodeId, at: now, staleBefore: new Date(now.getTime() - o.staleMs), limit: CLAIM_BATCH, reclaimOwn };
    const free: JobKind[] = [];
    const bound: JobKind[] = [];
    for (const [kind, spec] of this.specs) (spec.bind ? bound : free).push(kind);
    const claimAll = async (request: Omit<JobClaimRequest, 'nodeId' | 'at' | 'staleBefore' | 'limit'>): Promise<void> => {
      for (;;) {
        const got = await this.ctx.catalog.claimJobs({ ...base, ...request });
        for (const job of got) this.launch(job);
        if (got.length < CLAIM_BATCH || this.stopped) return;
      }
    };
    const headBound = (lane: string): boolean => bound.some((k) => lane.startsWith(`${k}|`));
    let laneList: string[];
    if (!lanes) laneList = o.localLanes().filter(headBound);
    else if (boundLanes || !lanes.some(headBound)) laneList = lanes;
    else {
      const local = new Set(o.localLanes());
      laneList = lanes.filter((l) => !headBound(l) || local.has(l));
    }
    if (!lanes) await claimAll({ kinds: free });
    for (let i = 0; i < laneList.length && !this.stopped; i += LANES_PER_CLAIM) {
      await claimAll({ kinds: lanes ? [...free, ...bound] : bound, lanes: laneList.slice(i, i + LANES_PER_CLAIM) });
    }
  }

  /** Head-bound jobs whose claim is stale: taken where `bind` gets the disk's lease and head. */
  private async takeover(): Promise<void> {
    const bound = [...this.specs].filter(([, s]) => s.bind).map(([k]) => k);
    if (bound.length === 0 || this.stopped || !this.ownership.live()) return;
    const now = this.ctx.now();
    const lanes: string[] = [];
    for (const job of await this.ctx.catalog.staleJobs(bound, new Date(now.getTime() - this.ownership.staleMs), TAKEOVER_BATCH)) {
      if (this.held.has(job.id) || this.stopped) continue;
      const bind = this.specs.get(job.kind)?.bind;
      const ok = bind ? await bind(job).catch((err: unknown) => {
        this.ctx.log.warn('cannot take a job over', { id: job.id, kind: job.kind, target: job.target, error: String(err) });
        return false;
      }) : false;
      if (!ok) continue;
      this.ctx.log.warn('taking over a job whose node stopped renewing it', { id: job.id, kind: job.kind, target: job.target, from: job.nodeId ?? null });
      lanes.push(jobLane(job.kind, job.target));
    }
    if (lanes.length > 0) await this.queueClaim(lanes, false, true);
  }

  private launch(job: Job): void {
    const held = this.held.get(job.id);
    if (held) {
      held.job.attempts = job.attempts; // re-claimed our own stale claim: the new token
      return;
    }
    const spec = this.specs.get(job.kind);
    if (!spec) return;
    const controller = new AbortController();
    const h: Held = { job, lane: jobLane(job.kind, job.target), controller, handedBack: false };
    // the runner's stop aborts the job; the listener goes with the job (a long-lived server runs many)
    const stop = (): void => controller.abort();
    if (this.controller.signal.aborted) controller.abort();
    else this.controller.signal.addEventListener('abort', stop, { once: true });
    this.held.set(job.id, h);
    void this.track(
      this.run(h, spec).finally(() => {
        this.controller.signal.removeEventListener('abort', stop);
        if (this.held.get(job.id) === h) this.held.delete(job.id);
        // the lane's next job (the next copy of the family) is claimable now; a job handed back
        // stays for the node that runs it now (or for this node's next sweep)
        if (!h.handedBack) void this.queueClaim([h.lane]);
      }),
    );
  }

  private async run(h: Held, spec: JobSpec): Promise<void> {
    const { job, controller } = h;
    const signal = controller.signal;
    // start on a fresh turn of the event loop: the request that queued the job answers first
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.gate && !signal.aborted) await untilAborted(this.gate.promise, signal);
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) return this.handBack(h);
      try {
        await spec.handler(job, signal);
        if (signal.aborted) return this.handBack(h);
        if (!(await this.ctx.catalog.finishClaimedJob(job.id, job.attempts, 'done', null, this.ctx.now()))) {
          this.ctx.log.warn('job finished after another node took it over; its result stands only where it was committed', { id: job.id, kind: job.kind });
        }
        return;
      } catch (err) {
        if (signal.aborted) return this.handBack(h);
        const message = err instanceof Error ? err.message : String(err);
        if (err instanceof FencedOut || (err instanceof SnapdiskError && err.owner)) {
          // the disk moved to another node, or the claim did: that node runs the job
          this.ctx.log.warn('job belongs to another node now: handing it back', { id: job.id, kind: job.kind, target: job.target, error: message });
          return this.handBack(h);
        }
        if (isRetryable(err) && attempt < MAX_ATTEMPTS) {
          this.ctx.log.warn('job failed, retrying', { id: job.id, kind: job.kind, target: job.target, attempt, error: message });
          await sleep(Math.min(5000, 50 * 2 ** attempt), signal);
          continue;
        }
        this.ctx.log.error('job failed', { id: job.id, kind: job.kind, target: job.target, error: message });
        // fail the point only while the job is still ours (another node may be running it)
        if (await this.ctx.catalog.finishClaimedJob(job.id, job.attempts, 'failed', message, this.ctx.now())) {
          await spec.onFailed?.(job, err).catch((e: unknown) =>
            this.ctx.log.error('cannot record the failure of a job', { id: job.id, kind: job.kind, error: String(e) }),
          );
        }
        return;
      }
    }
  }

  /** Gives a job back unfinished so that another node (or this one later) takes it. */
  private async handBack(h: Held): Promise<void> {
    h.handedBack = true;
    await this.ctx.catalog.releaseClaimedJob(h.job.id, h.job.attempts, this.ctx.now()).catch(() => undefined);
  }
}

/** Waits for `promise` or for `signal` to abort, whichever comes first, leaving no listener behind. */
async function untilAborted(promise: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  let onAbort = (): void => undefined;
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  const timer = new Promise<void>((resolve) => (t = setTimeout(resolve, ms)));
  return untilAborted(timer, signal).finally(() => clearTimeout(t));
}
