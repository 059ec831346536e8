/**
 * @module engine/gc
 * Mark-and-sweep of chunk storage. Marks are the entries: a chunk no entry references is garbage
 * once it is older than the grace period (a writer that just stored it has not committed its
 * entries yet). The sweep deletes chunk rows only if they are still unreferenced at that moment
 * (one statement), so a concurrent writer either sees its chunk vanish (its commit checks the
 * chunk ids and retries) or keeps it. Pack objects go when no chunk row points into them; packs
 * a crash left without any index row go after the grace period too.
 */

import type { EngineContext } from './context.js';

export interface GcReport {
  region: string;
  chunksDeleted: number;
  packsDeleted: number;
  orphanPacksDeleted: number;
  bytesFreed: number;
}

const DEFAULT_GRACE_MS = 10 * 60 * 1000;

export class Gc {
  constructor(private readonly ctx: EngineContext) {}

  async collect(region: string, graceMs = this.ctx.config.gcGraceMs ?? DEFAULT_GRACE_MS): Promise<GcReport> {
    const olderThan = new Date(this.ctx.now().getTime() - graceMs);
    const report: GcReport = { region, chunksDeleted: 0, packsDeleted: 0, orphanPacksDeleted: 0, bytesFreed: 0 };
    for (;;) {
      const ids = await this.ctx.catalog.unreferencedChunks(region, olderThan, 5000);
      if (ids.length === 0) break;
      const deleted = await this.ctx.catalog.deleteChunksIfUnreferenced(ids);
      report.chunksDeleted += deleted.length;
      if (deleted.length === 0) break;
    }
    const store = this.ctx.chunks(region);
    for (const pack of await this.ctx.catalog.emptyPacks(region, olderThan)) {
      await store.deletePack(pack.key);
      await this.ctx.catalog.deletePack(region, pack.key);
      report.packsDeleted++;
    }
    const known = await this.ctx.catalog.knownPackKeys(region);
    for await (const info of store.listPacks()) {
      if (known.has(info.key) || info.modified > olderThan) continue;
      await store.deletePack(info.key);
      report.orphanPacksDeleted++;
      report.bytesFreed += info.size;
    }
    return report;
  }

  async collectAll(graceMs?: number): Promise<GcReport[]> {
    const out: GcReport[] = [];
    for (const r of this.ctx.regions()) out.push(await this.collect(r, graceMs));
    return out;
  }
}
