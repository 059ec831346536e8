/**
 * @module nbd/engine-backend
 * The NBD port implemented by the engine: every disk is a read-write export, every snapshot a
 * read-only one, both named by their ARM resource id. A connection to a disk attaches it
 * (`diskState: Attached`, `managedBy` = the client address) until the last connection closes;
 * attaching is refused while the disk has an active SAS or awaits an upload.
 */

import { setImmediate as nextTurn } from 'node:timers/promises';
import { SnapdiskError } from '../core/errors.js';
import { parseResourceId, resourceId } from '../core/ids.js';
import { BLOCK_SIZE, MiB } from '../core/units.js';
import type { DiskHandle } from '../engine/disks.js';
import type { Engine } from '../engine/engine.js';
import type { DiskRuntime } from '../engine/runtime.js';
import type { NbdBackend, NbdExport, NbdExportInfo, NbdExtent, NbdOpenOptions } from './backend.js';

/**
 * Every connection to a disk reads and writes the one head volume of its runtime, and a flush
 * syncs that volume: a flush on one connection covers the writes of all (NBD_FLAG_CAN_MULTI_CONN).
 * Listed and opened exports must agree, so both take it from here.
 */
const DISK_MULTI_CONN = true;

/**
 * TRIM and WRITE_ZEROES run in slices, with a turn of the event loop between them: zeroing is
 * synchronous in the engine and, over blocks a pending snapshot still needs, copies each one into
 * its cow log first (tens of ms per 4 MiB on a busy machine), so one 4 GiB request in one piece
 * could hold every other connection for seconds. Slices that are cheap (`zeroIsFast`) are up to
 * ZERO_SLICE_CHEAP bytes, the others ZERO_SLICE_COSTLY; both are block multiples and slices start
 * on multiples of their size, so no slice splits a block.
 */
export const ZERO_SLICE_CHEAP = 1024 * MiB;
export const ZERO_SLICE_COSTLY = 4 * MiB;
/**
 * Group commit for one connection's flushes (FLUSH, and the flush behind every FUA write): a
 * flush asked for while another is running waits for it and then shares the next one with every
 * other request that arrived meanwhile. Each caller's flush still starts after its call, so it
 * covers every write that completed before; sixteen pipelined FUA writes cost two volume syncs
 * instead of sixteen (a volume sync is an fdatasync of each of its files, milliseconds each).
 */
export class FlushGroup {
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(private readonly sync: () => Promise<void>) {}

  flush(): Promise<void> {
    if (this.running === undefined) return this.begin();
    this.queued ??= this.running.then(noop, noop).then(() => {
      this.queued = undefined;
      return this.begin();
    });
    return this.queued;
  }

  private begin(): Promise<void> {
    const p: Promise<void> = this.sync().finally(() => {
      if (this.running === p) this.running = undefined;
    });
    this.running = p;
    return p;
  }
}

const noop = (): void => undefined;

/** FAST_ZERO: frozen blocks looked at before giving up and calling the range not fast. */
const FAST_ZERO_SCAN_LIMIT = 4096;

async function zeroInSlices(h: DiskHandle, runtime: () => DiskRuntime | null, offset: number, length: number): Promise<void> {
  const end = offset + length;
  const sliceEnd = (pos: number, size: number): number => Math.min(end, (Math.floor(pos / size) + 1) * size);
  let pos = offset;
  for (;;) {
    const rt = runtime();
    const big = sliceEnd(pos, ZERO_SLICE_CHEAP);
    const next = rt !== null && zeroIsFast(rt, pos, big - pos) ? big : sliceEnd(pos, ZERO_SLICE_COSTLY);
    await h.zero(pos, next - pos);
    pos = next;
    if (pos >= end) return;
    await nextTurn();
  }
}

/**
 * Whether zeroing [offset, offset+length) of the disk now is cheap: it fetches nothing from the
 * base (a hydrating disk's partially covered blocks and the frozen ones it still lacks are fetched
 * first) and copies nothing into a pending snapshot's cow log (its frozen, uncommitted blocks not
 * saved yet). Mirrors what `DiskRuntime.zero` does; a stale answer only costs speed.
 */
export function zeroIsFast(rt: DiskRuntime, offset: number, length: number): boolean {
  if (length === 0) return true;
  const end = offset + length;
  const first = Math.floor(offset / BLOCK_SIZE);
  const last = Math.floor((end - 1) / BLOCK_SIZE);
  if (rt.isHydrating) {
    if (offset % BLOCK_SIZE !== 0 && !rt.isHydrated(first)) return false;
    if (end % BLOCK_SIZE !== 0 && end !== rt.sizeBytes && !rt.isHydrated(last)) return false;
    if (first === last && length < BLOCK_SIZE && !rt.isHydrated(first)) return false;
  }
  let scanned = 0;
  for (const p of rt.pending) {
    if (p.cursor > last) continue;
    for (let b = p.frozen.nextSet(Math.max(first, p.cursor)); b !== -1 && b <= last; b = p.frozen.nextSet(b + 1)) {
      if (!p.cow.has(b) || !rt.isHydrated(b) || ++scanned > FAST_ZERO_SCAN_LIMIT) return false;
    }
  }
  return true;
}

export class EngineNbdBackend implements NbdBackend {
  constructor(private readonly engine: Engine) {}

  async list(): Promise<NbdExportInfo[]> {
    const out: NbdExportInfo[] = [];
    const catalog = this.engine.ctx.catalog;
    for (const d of await catalog.listDisks({})) {
      if (d.uploadFor) continue; // the hidden upload disk of a snapshot created for upload
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
    const runtime = (): DiskRuntime | null => this.engine.runtimes.peek(disk.uniqueId);
    const flushes = new FlushGroup(() => h.flush());
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
        if (fua) await flushes.flush();
      },
      flush: () => flushes.flush(),
      zeroIsFast: (offset, length) => {
        const rt = runtime();
        return rt !== null && zeroIsFast(rt, offset, length);
      },
      trim: async (offset, length, fua) => {
        await zeroInSlices(h, runtime, offset, length);
        if (fua) await flushes.flush();
      },
      writeZeroes: async (offset, length, fua) => {
        await zeroInSlices(h, runtime, offset, length);
        if (fua) await flushes.flush();
      },
      // the engine's extents carry an offset too; the server reads only length and hole
      blockStatus: (offset, length): Promise<NbdExtent[]> => h.extents(offset, length),
      close: async () => {
        if (closed) return;
        closed = true;
        await this.engine.disks.detach(disk.uniqueId, options.client);
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
      blockStatus: (offset, length) => this.engine.snapshots.extents(snap, offset, length),
      close: async () => undefined,
    };
  }
}
