/**
 * @module nbd/engine-backend
 * The NBD port implemented by the engine: every disk is a read-write export, every snapshot a
 * read-only one, both named by their ARM resource id. A connection to a disk attaches it
 * (`diskState: Attached`, `managedBy` = the client address) until the last connection closes;
 * attaching is refused while the disk has an active SAS or awaits an upload.
 */

import { SnapdiskError } from '../core/errors.js';
import { parseResourceId, resourceId } from '../core/ids.js';
import type { Engine } from '../engine/engine.js';
import type { NbdBackend, NbdExport, NbdExportInfo, NbdExtent, NbdOpenOptions } from './backend.js';

/**
 * Every connection to a disk reads and writes the one head volume of its runtime, and a flush
 * syncs that volume: a flush on one connection covers the writes of all (NBD_FLAG_CAN_MULTI_CONN).
 * Listed and opened exports must agree, so both take it from here.
 */
const DISK_MULTI_CONN = true;

export class EngineNbdBackend implements NbdBackend {
  constructor(private readonly engine: Engine) {}

  async list(): Promise<NbdExportInfo[]> {
    const out: NbdExportInfo[] = [];
    const catalog = this.engine.ctx.catalog;
    for (const d of await catalog.listDisks({})) {
      out.push({ name: resourceId('disks', d), description: `disk ${d.name} (${d.sku}, ${d.diskState})`, size: d.sizeBytes, readOnly: false, multiConn: DISK_MULTI_CONN });
    }
    for (const s of await catalog.listSnapshots({})) {
      out.push({ name: resourceId('snapshots', s), description: `snapshot ${s.name} (read-only)`, size: s.sizeBytes, readOnly: true });
    }
    return out;
  }

  async open(name: string, options: NbdOpenOptions): Promise<NbdExport> {
    let id;
    try {
      id = parseResourceId(name, 'export name');
    } catch {
      throw new SnapdiskError(
        'ResourceNotFound',
        `export '${name}' is not a disk or snapshot id; use /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/disks/<name> (nbdinfo --list shows them)`,
      );
    }
    if (id.kind === 'disks') return this.openDisk(id, options);
    return this.openSnapshot(id);
  }

  private async openDisk(key: { subscriptionId: string; resourceGroup: string; name: string }, options: NbdOpenOptions): Promise<NbdExport> {
    const disk = await this.engine.disks.find(key);
    if (!disk) throw new SnapdiskError('ResourceNotFound', `disk ${key.name} does not exist in resource group ${key.resourceGroup}`);
    const h = await this.engine.disks.attach(disk.uniqueId, options.client);
    let closed = false;
    return {
      get size() {
        return h.sizeBytes;
      },
      readOnly: false,
      multiConn: DISK_MULTI_CONN,
      fastZero: true,
      read: (offset, length) => h.read(offset, length),
      readInto: (offset, target) => h.readInto(target, offset),
      write: async (offset, data, fua) => {
        await h.write(offset, data);
        if (fua) await h.flush();
      },
      flush: () => h.flush(),
      trim: async (offset, length, fua) => {
        await h.zero(offset, length);
        if (fua) await h.flush();
      },
      writeZeroes: async (offset, length, fua) => {
        await h.zero(offset, length);
        if (fua) await h.flush();
      },
      blockStatus: async (offset, length): Promise<NbdExtent[]> =>
        (await h.extents(offset, length)).map((x) => ({ length: x.length, hole: x.hole })),
      close: async () => {
        if (closed) return;
        closed = true;
        await this.engine.disks.detach(disk.uniqueId);
      },
    };
  }

  private async openSnapshot(key: { subscriptionId: string; resourceGroup: string; name: string }): Promise<NbdExport> {
    const snap = await this.engine.snapshots.find(key);
    if (!snap) throw new SnapdiskError('ResourceNotFound', `snapshot ${key.name} does not exist in resource group ${key.resourceGroup}`);
    await this.engine.snapshots.assertUsable(snap, 'an NBD export');
    const refuse = (): Promise<never> => Promise.reject(new SnapdiskError('OperationNotAllowed', `snapshot ${snap.name} is read-only`));
    return {
      size: snap.sizeBytes,
      readOnly: true,
      read: (offset, length) => this.engine.snapshots.read(snap, offset, length),
      readInto: (offset, target) => this.engine.snapshots.readInto(snap, offset, target),
      write: refuse,
      trim: refuse,
      writeZeroes: refuse,
      flush: async () => undefined,
      blockStatus: async (offset, length) =>
        (await this.engine.snapshots.extents(snap, offset, length)).map((x) => ({ length: x.length, hole: x.hole })),
      close: async () => undefined,
    };
  }
}
