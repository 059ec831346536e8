/**
 * @module engine/runtimes
 * The registry of loaded disk runtimes. A runtime is loaded on the first data access to a disk,
 * or at start-up when the disk has snapshots still copying or is still hydrating, and stays
 * loaded until the disk is deleted, another node takes it over or the engine stops (the disk's
 * read-write NBD clients are kept apart from it, in DiskRecords).
 *
 * Several nodes: loading takes the disk's lease. A node that takes a lease and finds no head here
 * (node-local heads, the head is on the node that served the disk) hands the lease back at once,
 * so the node with the head can serve the disk again when it returns. When that node stays silent
 * past `lostAfterMs`, any node that cannot reach the head either declares it lost
 * (`reportLostHeads`): the disk shows `provisioningState: Failed` with `headLost`, its pending
 * snapshots fail with `HeadLost`, and it can be recreated from its latest snapshot anywhere. If
 * the node comes back after all, loading the head clears the mark and gives the changes of those
 * failed snapshots back to change tracking, so the next snapshot has them.
 */

import { SnapdiskError } from '../core/errors.js';
import type { DiskRecord } from '../core/model.js';
import type { Catalog } from '../core/ports.js';
import { jobLane } from '../core/ports.js';
import { BLOCK_SIZE, blockCount } from '../core/units.js';
import type { EngineContext } from './context.js';
import type { Leases } from './leases.js';
import type { Resolver, RuntimeLookup } from './resolver.js';
import { dirtyMapName, DiskRuntime } from './runtime.js';

/** The size of a disk's head volume: an upload disk keeps room for the VHD footer until finalised. */
export function volumeSize(d: DiskRecord): number {
  if ((d.diskState === 'ReadyToUpload' || d.diskState === 'ActiveUpload') && d.creationData.uploadSizeBytes) {
    return d.creationData.uploadSizeBytes;
  }
  return d.sizeBytes;
}

export class Runtimes implements RuntimeLookup {
  private readonly byDisk = new Map<string, DiskRuntime>();
  private readonly loading = new Map<string, Promise<DiskRuntime>>();
  /** Called once per load when the volume was not closed cleanly before a reboot. */
  onPowerLoss: (rt: DiskRuntime) => Promise<void> = async () => undefined;

  constructor(
    private readonly ctx: EngineContext,
    private readonly resolver: Resolver,
    private readonly leases: Leases,
  ) {
    leases.onLost = (diskId) => this.fence(diskId);
  }

  /**
   * The runtime of a disk, loading it (and taking its lease) on first use. `create` is for a new
   * disk only: any other load of a disk whose head is not on this node is an error, never an
   * empty head.
   */
  async get(disk: DiskRecord, opts: { create?: boolean } = {}): Promise<DiskRuntime> {
    const loaded = this.byDisk.get(disk.uniqueId);
    if (loaded && !loaded.closed) return loaded;
    let p = this.loading.get(disk.uniqueId);
    if (!p) {
      p = this.load(disk, opts.create === true).finally(() => this.loading.delete(disk.uniqueId));
      this.loading.set(disk.uniqueId, p);
    }
    return p;
  }

  /** Called after a runtime was fenced (lease lost): its jobs stop here. */
  onFenced: (rt: DiskRuntime) => void = () => undefined;

  /** Another node took the disk over: stop serving it at once. */
  fence(diskId: string): void {
    const rt = this.byDisk.get(diskId);
    if (!rt) return;
    this.byDisk.delete(diskId);
    rt.close();
    this.onFenced(rt);
  }

  /**
   * A catalog transaction fenced by this node's lease on the runtime's disk (work on the head:
   * new points, copy and hydration progress): it commits only while the lease is still (this
   * node, epoch).
   */
  commitFenced<T>(rt: DiskRuntime, fn: (tx: Catalog) => Promise<T>): Promise<T> {
    return this.ctx.catalog.transaction(async (tx) => {
      await this.leases.fence(tx, rt.disk.uniqueId, rt.leaseEpoch);
      return fn(tx);
    });
  }

  /**
   * Lanes of the head-bound jobs this node can run now: disks it serves that have snapshots still
   * copying or are hydrating (a sweep claims in these lanes only, so its cost follows the work).
   */
  localLanes(): string[] {
    const out: string[] = [];
    for (const rt of this.byDisk.values()) {
      if (rt.closed || !this.leases.serving(rt.disk.uniqueId)) continue;
      if (rt.isHydrating) out.push(jobLane('hydrate', rt.disk.uniqueId));
      if (rt.disk.familyId && rt.pending.length > 0) out.push(jobLane('snapshot-copy', `${rt.disk.familyId}:0`));
    }
    return out;
  }

  /**
   * Whether this node may run a head-bound job of the disk now: it serves the disk, or the disk's
   * lease is free (expired) and its head is reachable here, and loading it (taking the lease)
   * succeeds. Never takes a lease for a head that is not here.
   */
  async bind(diskId: string): Promise<boolean> {
    const loaded = this.byDisk.get(diskId);
    if (loaded && !loaded.closed) return this.leases.serving(diskId);
    if (!this.ctx.volumes.exists(diskId)) return false;
    if (!(await this.leases.freeOrMine(diskId))) return false;
    const disk = await this.ctx.catalog.getDiskById(diskId);
    if (!disk) return true; // deleted meanwhile: the job finds out and ends
    await this.get(disk);
    return true;
  }

  /**
   * Declares lost the heads of disks whose lease lapsed more than `lostAfterMs` ago, whose node
   * stayed silent that long, and that this node cannot reach either. Returns the disks marked.
   */
  async reportLostHeads(): Promise<string[]> {
    const lostAfter = this.leases.lostAfterMs;
    const now = this.ctx.now();
    const marked: string[] = [];
    for (const lease of await this.ctx.catalog.lapsedLeases(new Date(now.getTime() - lostAfter), 100)) {
      if (lease.nodeId === this.leases.node.id || this.ctx.volumes.exists(lease.diskId)) continue; // ours, or reachable: it will be served
      const node = await this.ctx.catalog.getNode(lease.nodeId);
      if (node && Date.parse(node.heartbeatAt) > now.getTime() - lostAfter) continue; // its node is back (or was stopped cleanly)
      const message = `The head (live data) of this disk was on node ${lease.nodeId}, which stopped ${node ? `at ${node.heartbeatAt}` : 'renewing its lease'} and cannot be reached from the running nodes.`;
      const done = await this.ctx.catalog.transaction(async (tx) => {
        const l = await tx.getLease(lease.diskId);
        if (!l || l.nodeId !== lease.nodeId || l.epoch !== lease.epoch || l.expiresAt !== lease.expiresAt) return false; // moved meanwhile
        await tx.releaseLease(lease.diskId, lease.nodeId); // handled: never swept again
        const disk = await tx.getDiskById(lease.diskId);
        if (!disk) return false;
        await tx.updateDisk({ ...disk, provisioningState: 'Failed', headLost: { node: lease.nodeId, since: now.toISOString(), message } });
        if (disk.familyId) {
          for (const p of await tx.listPoints(disk.familyId)) {
            if (p.state !== 'copying') continue;
            await tx.deletePointEntries(p.familyId, p.seq);
            await tx.failPoint(p.familyId, p.seq, 'HeadLost', `${message} Its blocks not copied yet were only there.`, now);
          }
        }
        // the copies and the hydration of the disk cannot run anywhere else: end their jobs
        const lanes = [jobLane('hydrate', disk.uniqueId), ...(disk.familyId ? [jobLane('snapshot-copy', `${disk.familyId}:0`)] : [])];
        for (const j of await tx.openJobs()) if (lanes.includes(jobLane(j.kind, j.target))) await tx.finishJob(j.id, 'failed', message, now);
        return true;
      });
      if (!done) continue;
      this.ctx.log.warn('disk head lost with its node', { disk: lease.diskId, node: lease.nodeId });
      marked.push(lease.diskId);
    }
    return marked;
  }

  peek(diskId: string): DiskRuntime | null {
    return this.byDisk.get(diskId) ?? null;
  }

  runtimeForFamily(familyId: string): DiskRuntime | null {
    for (const rt of this.byDisk.values()) if (rt.disk.familyId === familyId) return rt;
    return null;
  }

  all(): DiskRuntime[] {
    return [...this.byDisk.values()];
  }

  /** Takes the disk's lease for an operation on a disk whose head may be gone (deletion). */
  async claim(diskId: string): Promise<void> {
    await this.leases.acquire(diskId);
  }

  /** Closes the runtime and hands its lease back (the disk was deleted). */
  async unload(diskId: string): Promise<void> {
    const rt = this.byDisk.get(diskId);
    if (rt) {
      this.byDisk.delete(diskId);
      rt.close();
    }
    await this.leases.release(diskId);
  }

  closeAll(): void {
    for (const rt of this.byDisk.values()) rt.close();
    this.byDisk.clear();
  }

  private async load(disk: DiskRecord, create: boolean): Promise<DiskRuntime> {
    if (!create && !this.ctx.volumes.exists(disk.uniqueId)) throw await this.headMissing(disk);
    const lease = await this.leases.acquire(disk.uniqueId);
    if (!create && !this.ctx.volumes.exists(disk.uniqueId)) {
      await this.leases.release(disk.uniqueId);
      throw await this.headMissing(disk);
    }
    try {
      return await this.open(disk, lease.epoch);
    } catch (err) {
      // no lease stays held (and renewed) without a runtime serving the disk
      await this.leases.release(disk.uniqueId).catch((e: unknown) =>
        this.ctx.log.warn('cannot hand back the lease of a disk that failed to load', { disk: disk.uniqueId, error: String(e) }),
      );
      throw err;
    }
  }

  /** Opens the head under the lease of `epoch` and registers its runtime; a failure closes what it opened. */
  private async open(disk: DiskRecord, epoch: number): Promise<DiskRuntime> {
    const size = volumeSize(disk);
    const volume = this.ctx.volumes.open(disk.uniqueId, size);
    let opened: DiskRuntime | null = null;
    try {
      const fetchBase = async (blocks: ReadonlyArray<number>): Promise<Map<number, Buffer | null>> => {
        const d = rt.disk;
        if (!d.baseFamilyId) return new Map(blocks.map((b) => [b, null]));
        return this.resolver.readBlocks(d.baseFamilyId, d.basePoint, blocks);
      };
      const rt = new DiskRuntime(disk, volume, fetchBase, size, () => this.leases.serving(disk.uniqueId));
      opened = rt;
      rt.leaseEpoch = epoch;
      if (disk.familyId) {
        for (const p of await this.ctx.catalog.listPoints(disk.familyId)) {
          if (p.state === 'copying' && p.frozenMap) {
            rt.restorePending(p.familyId, p.seq, p.frozenMap, blockCount(p.sizeBytes), p.cursor);
          } else if (p.state === 'failed' && p.seq <= disk.trackingPoint && volume.hasBitmap(dirtyMapName(p.seq - 1))) {
            // failed while this node was away (HeadLost): its frozen changes go back to tracking
            rt.restorePending(p.familyId, p.seq, dirtyMapName(p.seq - 1), blockCount(p.sizeBytes), 0);
            rt.failPending(p.seq);
            this.ctx.log.warn('changes of a snapshot that failed while the node was away are tracked again', { disk: disk.uniqueId, point: p.seq });
          }
        }
      }
      if (disk.headLost) {
        // the node that has the head is back: the disk is usable again
        await this.commitFenced(rt, async (tx) => {
          const d = await tx.getDiskById(disk.uniqueId);
          if (d?.headLost) await tx.updateDisk({ ...d, provisioningState: 'Succeeded', headLost: null });
        });
        rt.disk = { ...rt.disk, provisioningState: 'Succeeded', headLost: null };
        this.ctx.log.info('disk head served again after it had been reported lost', { disk: disk.uniqueId });
      }
      this.byDisk.set(disk.uniqueId, rt);
      if (volume.reopenedAfterReboot) {
        this.ctx.log.warn('disk head was not closed cleanly before a reboot: rescanning conservatively', {
          disk: disk.uniqueId,
        });
        await this.onPowerLoss(rt); // a failure leaves the mark: the next load rescans again
      }
      return rt;
    } catch (err) {
      if (opened && this.byDisk.get(disk.uniqueId) === opened) this.byDisk.delete(disk.uniqueId);
      if (opened) opened.close();
      else volume.close();
      throw err;
    }
  }

  /** The error for a disk whose head is not on this node, naming where it was. */
  private async headMissing(disk: DiskRecord): Promise<SnapdiskError> {
    const lease = await this.ctx.catalog.getLease(disk.uniqueId);
    const where = lease && lease.nodeId !== this.leases.node.id ? ` (it was served by node ${lease.nodeId})` : '';
    const lost = disk.headLost ? ` It was reported lost at ${disk.headLost.since}.` : '';
    return new SnapdiskError('NotFound', `The head of disk ${disk.name} is not on this node${where}: its live data is only on the node that served it.${lost}`, {
      hint: 'Start that node again, or create a new disk from its latest snapshot (createOption Copy) on any node; completed snapshots are intact.',
    });
  }
}

export const BLOCK_BYTES = BLOCK_SIZE;
