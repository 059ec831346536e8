/**
 * @module engine/leases
 * Which node serves which disk head when several snapdisk nodes share one catalog.
 *
 * - A node announces itself (`nodes` row: id, URL, NBD address, heartbeat) every third of the
 *   lease time; a node whose heartbeat is older than the lease time is presumed dead.
 * - Loading a disk's runtime takes its lease (`disk_leases`); the lease is renewed with the
 *   heartbeat. Another node asking for the disk gets an error naming the owner (surfaces redirect
 *   there); once the lease expired (the owner died) any node may take it, and its epoch grows.
 * - Fencing: transactions that change a disk's maps check (node, epoch) inside the transaction
 *   and lock the lease row until they commit (`holdsLease`), and a runtime stops serving I/O a
 *   third of a lease before its deadline unless renewed (the margin covers clock skew and a
 *   renewal in flight) — a stalled node that wakes up can neither write the head nor commit.
 * - Node ids are unique among live nodes: a node that finds its id beating under another process
 *   refuses to start (a crashed predecessor on the same host is recognised at once: its pid is not
 *   running, or it is this process's pid — a restarted container — and none of this process's
 *   live nodes; otherwise it waits one beat to see whether the other process is alive).
 * With one node (the default) this costs one statement per disk loaded and one per renewal tick.
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { SnapdiskError } from '../core/errors.js';
import type { Lease, NodeInfo } from '../core/ports.js';
import type { EngineContext } from './context.js';

/** A commit refused because this node no longer holds the disk's lease (or the job's claim). */
export class FencedOut extends SnapdiskError {
  constructor(message: string) {
    super('Unavailable', message);
  }
}

export interface NodeIdentity {
  id: string;
  url: string | null;
  nbd: string | null;
  /** Lease time in ms (default 30 s). */
  leaseMs: number;
  /**
   * A node silent this long (ms) is lost: disks whose heads only it had are reported lost and
   * their pending snapshots fail (default 10 lease times).
   */
  lostAfterMs?: number;
}

export const LOCAL_NODE: NodeIdentity = { id: 'local', url: null, nbd: null, leaseMs: 30_000 };

/** Incarnations of the nodes of this process that beat now (several engines may share a process). */
const beatingHere = new Set<string>();

export class Leases {
  private readonly held = new Map<string, { epoch: number; deadline: number }>();
  private timer: NodeJS.Timeout | null = null;
  /** `host/pid/random`: this process among the ones that ever beat under this node id. */
  readonly incarnation = `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
  /** Called when a renewal finds a lease taken over: the runtime must stop serving at once. */
  onLost: (diskId: string) => void = () => undefined;
  /** Runs with every beat (job claims are renewed with the heartbeat). */
  onBeat: () => Promise<void> = async () => undefined;

  constructor(
    private readonly ctx: EngineContext,
    readonly node: NodeIdentity,
  ) {}

  /** Time between beats: a third of the lease. */
  get beatMs(): number {
    return Math.max(50, Math.floor(this.node.leaseMs / 3));
  }

  get lostAfterMs(): number {
    return this.node.lostAfterMs ?? 10 * this.node.leaseMs;
  }

  /** True while this node beats (started, not stopped): only then does it claim work. */
  get live(): boolean {
    return this.timer !== null;
  }

  async start(): Promise<void> {
    await this.checkUnique();
    await this.beat();
    beatingHere.add(this.incarnation);
    this.timer = setInterval(() => {
      this.renew().catch((err: unknown) => this.ctx.log.warn('lease renewal failed', { error: String(err) }));
    }, this.beatMs);
    this.timer.unref();
  }

  /** Stops renewing; with `release`, hands every lease back and retires the node (clean shutdown). */
  async stop(release: boolean): Promise<void> {
    const wasLive = this.timer !== null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    beatingHere.delete(this.incarnation);
    if (!release || !wasLive) return; // a node that stopped beating hands nothing back (as after a crash)
    for (const id of [...this.held.keys()]) await this.release(id);
    // a restart under the same id need not wait to tell this process from a live duplicate
    await this.ctx.catalog.heartbeat({ id: this.node.id, url: this.node.url, nbd: this.node.nbd, heartbeatAt: new Date(0).toISOString(), incarnation: null });
  }

  /**
   * Refuses to start when another live process beats under this node id: two nodes with one id
   * would take each other's leases and job claims for their own.
   */
  private async checkUnique(): Promise<void> {
    const seen = await this.ctx.catalog.getNode(this.node.id);
    if (!seen?.incarnation || !this.fresh(seen)) return;
    const [host, pid] = seen.incarnation.split('/');
    if (host === hostname() && pid !== undefined) {
      if (Number(pid) === process.pid) {
        // this process: one of its live nodes, or a process before it with the same pid (crashed)
        if (beatingHere.has(seen.incarnation)) throw this.inUse(seen);
        return;
      }
      if (!processAlive(Number(pid))) return; // our crashed predecessor
    }
    // wait for one beat of the other process (plus a margin): a live one moves its heartbeat
    await new Promise((r) => setTimeout(r, this.beatMs + Math.min(2000, Math.max(100, this.beatMs / 2))));
    const again = await this.ctx.catalog.getNode(this.node.id);
    if (!again || !this.fresh(again) || (again.incarnation === seen.incarnation && again.heartbeatAt === seen.heartbeatAt)) return; // it stopped
    throw this.inUse(again);
  }

  private inUse(other: NodeInfo): SnapdiskError {
    return new SnapdiskError('Conflict', `node id ${this.node.id} is in use by another running snapdisk node (${other.incarnation ?? 'unknown'}, heartbeat ${other.heartbeatAt}).`, {
      hint: 'Give every node its own id: "node.id" in config.json or SNAPDISK_NODE_ID (on a PostgreSQL catalog the default is the host name and HTTPS port).',
    });
  }

  private fresh(n: NodeInfo): boolean {
    return Date.parse(n.heartbeatAt) > this.ctx.now().getTime() - this.node.leaseMs;
  }

  /** Takes the disk's lease or throws an error naming the node that holds it. */
  async acquire(diskId: string): Promise<Lease> {
    const now = this.ctx.now();
    const lease = await this.ctx.catalog.acquireLease(diskId, this.node.id, new Date(now.getTime() + this.node.leaseMs), now);
    if (lease) {
      this.held.set(diskId, { epoch: lease.epoch, deadline: now.getTime() + this.node.leaseMs });
      return lease;
    }
    const other = await this.ctx.catalog.getLease(diskId);
    const owner = other ? await this.ctx.catalog.getNode(other.nodeId) : null;
    throw new SnapdiskError(
      'Unavailable',
      `Disk ${diskId} is served by node ${other?.nodeId ?? 'unknown'}${owner?.url ? ` (${owner.url})` : ''}, not by this node (${this.node.id}).`,
      {
        hint: owner?.nbd ? `Attach it through that node: nbd://${owner.nbd}/<disk id>.` : 'Send the request to that node.',
        ...(other ? { owner: { node: other.nodeId, url: owner?.url ?? null, nbd: owner?.nbd ?? null } } : {}),
        retryAfterSeconds: Math.max(1, Math.ceil(this.node.leaseMs / 1000)),
      },
    );
  }

  epoch(diskId: string): number {
    return this.held.get(diskId)?.epoch ?? 0;
  }

  /**
   * True while this node may serve the disk: lease held and more than a third of the lease time
   * before its deadline (the margin for clock skew and a renewal in flight).
   */
  serving(diskId: string): boolean {
    const h = this.held.get(diskId);
    return h !== undefined && this.ctx.now().getTime() < h.deadline - this.node.leaseMs / 3;
  }

  async release(diskId: string): Promise<void> {
    this.held.delete(diskId);
    await this.ctx.catalog.releaseLease(diskId, this.node.id);
  }

  /** True when no live node other than this one holds the disk's lease. */
  async freeOrMine(diskId: string): Promise<boolean> {
    const l = await this.ctx.catalog.getLease(diskId);
    return !l || l.nodeId === this.node.id || Date.parse(l.expiresAt) < this.ctx.now().getTime() || !(await this.alive(l.nodeId));
  }

  /** Fencing inside a catalog transaction: throws unless this node still holds `epoch` (row locked until commit). */
  async fence(tx: { holdsLease(diskId: string, nodeId: string, epoch: number): Promise<boolean> }, diskId: string, epoch: number): Promise<void> {
    if (!(await tx.holdsLease(diskId, this.node.id, epoch))) {
      throw new FencedOut(`this node (${this.node.id}) no longer holds the lease of disk ${diskId}; nothing was committed`);
    }
  }

  /** Whether a node announced itself within the lease time. */
  async alive(nodeId: string): Promise<boolean> {
    if (nodeId === this.node.id) return true;
    const n = await this.ctx.catalog.getNode(nodeId);
    return n !== null && Date.parse(n.heartbeatAt) > this.ctx.now().getTime() - this.node.leaseMs;
  }

  private async beat(): Promise<void> {
    const info: NodeInfo = { id: this.node.id, url: this.node.url, nbd: this.node.nbd, heartbeatAt: this.ctx.nowIso(), incarnation: this.incarnation };
    await this.ctx.catalog.heartbeat(info);
  }

  private async renew(): Promise<void> {
    await this.beat();
    await this.onBeat().catch((err: unknown) => this.ctx.log.warn('job claim renewal failed', { error: String(err) }));
    const ids = [...this.held.keys()];
    if (ids.length === 0) return;
    const now = this.ctx.now().getTime();
    const kept = await this.ctx.catalog.renewLeases(this.node.id, ids, new Date(now + this.node.leaseMs));
    for (const id of ids) {
      const h = this.held.get(id);
      if (!h) continue;
      if (kept.has(id)) h.deadline = now + this.node.leaseMs;
      else {
        this.held.delete(id);
        this.ctx.log.warn('lease lost: another node took the disk over', { disk: id, node: this.node.id });
        this.onLost(id);
      }
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
