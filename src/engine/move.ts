/**
 * @module engine/move
 * Moving disks and full snapshots to another resource group or subscription (`moveResources`).
 * Incremental snapshots never move (the requirement document: copy them instead); disks with an
 * active SAS, awaiting an upload or attached stay where they are. All records move in one
 * transaction under their disks' locks, so a concurrent update cannot undo the move.
 */

import { notAllowed, SnapdiskError } from '../core/errors.js';
import type { DiskRecord, SnapshotRecord } from '../core/model.js';
import type { EngineContext } from './context.js';
import type { KeyedMutex } from './locks.js';
import type { Resources } from './resources.js';
import type { Runtimes } from './runtimes.js';

export type MoveItem = { kind: 'disk'; record: DiskRecord } | { kind: 'snapshot'; record: SnapshotRecord };

const BLOCKING_DISK_STATES = new Set(['ActiveSAS', 'ActiveSASFrozen', 'ActiveUpload', 'ReadyToUpload', 'Attached']);

export class Mover {
  constructor(
    private readonly ctx: EngineContext,
    private readonly resources: Resources,
    private readonly runtimes: Runtimes,
    private readonly locks: KeyedMutex,
  ) {}

  /** Refuses what cannot move, with the reason (validateMoveResources uses it alone). */
  check(item: MoveItem): void {
    const r = item.record;
    if (item.kind === 'snapshot' && item.record.incremental) {
      throw notAllowed(
        `Snapshot ${r.name} is an incremental snapshot: incremental snapshots cannot be moved to another resource group or subscription.`,
        'Copy it instead (a snapshot in the target group with createOption Copy, sourceResourceId = this snapshot, incremental: true), then delete the original.',
      );
    }
    if (BLOCKING_DISK_STATES.has(r.diskState)) {
      throw notAllowed(`${item.kind === 'disk' ? 'Disk' : 'Snapshot'} ${r.name} is ${r.diskState} and cannot be moved now.`, 'Detach it, revoke its access or finish its upload first.');
    }
  }

  async move(items: MoveItem[], target: { subscriptionId: string; resourceGroup: string }): Promise<void> {
    const group = await this.resources.requireGroup(target.subscriptionId, target.resourceGroup);
    if (group.provisioningState === 'Deleting') {
      throw new SnapdiskError('Conflict', `Resource group '${group.name}' is being deleted: nothing can be moved into it.`);
    }
    for (const item of items) this.check(item);
    const diskIds = items.filter((i) => i.kind === 'disk').map((i) => i.record.uniqueId).sort();
    await this.withLocks(diskIds, async () => {
      const moved = await this.ctx.catalog.transaction(async (tx) => {
        const out: DiskRecord[] = [];
        for (const item of items) {
          const name = item.record.name;
          if (item.kind === 'disk') {
            if (await tx.getDisk(group.subscriptionId, group.name, name)) throw conflict('disk', name, group.name);
            const current = await tx.getDiskById(item.record.uniqueId);
            if (!current) throw new SnapdiskError('ResourceNotFound', `Disk ${name} no longer exists.`);
            this.check({ kind: 'disk', record: current });
            const next = { ...current, subscriptionId: group.subscriptionId, resourceGroup: group.name };
            await tx.updateDisk(next);
            out.push(next);
          } else {
            if (await tx.getSnapshot(group.subscriptionId, group.name, name)) throw conflict('snapshot', name, group.name);
            const current = await tx.getSnapshotForUpdate(item.record.uniqueId);
            if (!current) throw new SnapdiskError('ResourceNotFound', `Snapshot ${name} no longer exists.`);
            this.check({ kind: 'snapshot', record: current }); // granted a SAS since the request was checked
            await tx.updateSnapshot({ ...current, subscriptionId: group.subscriptionId, resourceGroup: group.name });
          }
        }
        return out;
      });
      for (const d of moved) {
        const rt = this.runtimes.peek(d.uniqueId);
        if (rt) rt.disk = d;
      }
    });
  }

  private async withLocks(ids: string[], fn: () => Promise<void>): Promise<void> {
    const [first, ...rest] = ids;
    if (first === undefined) return fn();
    return this.locks.run(first, () => this.withLocks(rest, fn));
  }
}

function conflict(kind: string, name: string, group: string): SnapdiskError {
  return new SnapdiskError('Conflict', `A ${kind} named ${name} already exists in resource group ${group}.`, {
    hint: 'Rename or delete it first; nothing was moved.',
  });
}
