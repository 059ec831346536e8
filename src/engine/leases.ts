/**
 * @module engine/leases
 * Which node serves which disk head when several snapdisk nodes share one catalog.
 *
 * - A node announces itself (`nodes` row: id, URL, NBD address, heartbeat) every third of the
 *   lease time; a node whose heartbeat is older than the lease time is presumed dead.
 * - Loading a disk's runtime takes its lease (`disk_leases`); the lease is renewed with the
 *   heartbeat. Another node asking for the disk gets an error naming the owner (surfaces redirect
 *   there); once the lease expired (the owner died) any node may take it, and its epoch grows.
 * - Fencing: transactions that change a disk's maps check (node, epoch) inside the transaction,
 *   and a runtime stops serving I/O as soon as its lease deadline passes without renewal — a
 *   stalled node that wakes up can neither write the head nor commit.
 * With one node (the default) this costs one statement per disk loaded and one per renewal tick.
 */

import { SnapdiskError } from '../core/errors.js';
import type { Lease, NodeInfo } from '../core/ports.js';
import type { EngineContext } from './context.js';

export interface NodeIdentity {
  id: string;
  url: string | null;
  nbd: string | null;
  /** Lease time in ms (default 30 s). */
  leaseMs: number;
}

export const LOCAL_NODE: NodeIdentity = { id: 'local', url: null, nbd: null, leaseMs: 30_000 };

export class Leases {
  private readonly held = new Map<string, { epoch: number; deadline: number }>();
  private timer: NodeJS.Timeout | null = null;
  /** Called when a renewal finds a lease taken over: the runtime must stop serving at once. */
  onLost: (diskId: string) => void = () => undefined;

  constructor(
    private readonly ctx: EngineContext,
    readonly node: NodeIdentity,
  ) {}

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.renew().catch((err: unknown) => this.ctx.log.warn('lease renewal failed', { error: String(err) }));
    }, Math.max(50, Math.floor(this.node.leaseMs / 3)));
    this.timer.unref();
  }

  /** Stops renewing; with `release`, hands every lease back (clean shutdown). */
  async stop(release: boolean): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (release) for (const id of [...this.held.keys()]) await this.release(id);
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

  /** True while this node may serve the disk (lease held and not past its deadline). */
  serving(diskId: string): boolean {
    const h = this.held.get(diskId);
    return h !== undefined && this.ctx.now().getTime() < h.deadline;
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

  /** Fencing inside a catalog transaction: throws unless this node still holds `epoch`. */
  async fence(tx: { holdsLease(diskId: string, nodeId: string, epoch: number): Promise<boolean> }, diskId: string, epoch: number): Promise<void> {
    if (!(await tx.holdsLease(diskId, this.node.id, epoch))) {
      throw new SnapdiskError('Unavailable', `this node (${this.node.id}) no longer holds the lease of disk ${diskId}; nothing was committed`);
    }
  }

  /** Whether a node announced itself within the lease time. */
  async alive(nodeId: string): Promise<boolean> {
    if (nodeId === this.node.id) return true;
    const n = await this.ctx.catalog.getNode(nodeId);
    return n !== null && Date.parse(n.heartbeatAt) > this.ctx.now().getTime() - this.node.leaseMs;
  }

  private async beat(): Promise<void> {
    const info: NodeInfo = { id: this.node.id, url: this.node.url, nbd: this.node.nbd, heartbeatAt: this.ctx.nowIso() };
    await this.ctx.catalog.heartbeat(info);
  }

  private async renew(): Promise<void> {
    await this.beat();
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
