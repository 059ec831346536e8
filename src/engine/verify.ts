/**
 * @module engine/verify
 * `snapdisk verify` and the background scrub: read every chunk of a region in every zone, check
 * it against its SHA-256, rewrite damaged or missing zone copies from intact bytes, and report
 * what no zone holds intact together with the snapshots that need it.
 */

import { resourceId } from '../core/ids.js';
import type { ChunkLocation } from '../core/model.js';
import type { EngineContext } from './context.js';

export interface LostChunk {
  hash: string;
  pack: string;
  /** Snapshots whose content includes the chunk (ARM ids). */
  snapshots: string[];
}

export interface VerifyReport {
  region: string;
  packsChecked: number;
  chunksChecked: number;
  repaired: Array<{ pack: string; zones: string[] }>;
  lost: LostChunk[];
  ok: boolean;
}

export class Verifier {
  constructor(private readonly ctx: EngineContext) {}

  async region(region: string): Promise<VerifyReport> {
    const store = this.ctx.chunks(region);
    const report: VerifyReport = { region, packsChecked: 0, chunksChecked: 0, repaired: [], lost: [], ok: true };
    const lost: ChunkLocation[] = [];
    for (const key of [...(await this.ctx.catalog.knownPackKeys(region))].sort()) {
      const chunks = await this.ctx.catalog.chunksOfPack(region, key);
      if (chunks.length === 0) continue;
      const r = await store.scrubPack(key, chunks);
      report.packsChecked++;
      report.chunksChecked += chunks.length;
      if (r.repairedZones.length > 0) report.repaired.push({ pack: key, zones: r.repairedZones });
      lost.push(...r.lost);
    }
    report.lost = await this.affected(lost);
    report.ok = report.lost.length === 0;
    if (report.repaired.length > 0 || !report.ok) {
      this.ctx.log.warn('verify found problems', { region, repaired: report.repaired.length, lost: report.lost.length });
    }
    return report;
  }

  async all(): Promise<VerifyReport[]> {
    const out: VerifyReport[] = [];
    for (const r of this.ctx.regions()) out.push(await this.region(r));
    return out;
  }

  /** The snapshots whose resolved content uses each lost chunk (same family at or after the entry, and families built on them). */
  private async affected(lost: ChunkLocation[]): Promise<LostChunk[]> {
    if (lost.length === 0) return [];
    const uses = await this.ctx.catalog.entriesUsingChunks(lost.map((c) => c.id));
    const out: LostChunk[] = [];
    for (const chunk of lost) {
      const ids = new Set<string>();
      for (const u of uses.filter((x) => x.chunkId === chunk.id)) {
        for (const s of await this.ctx.catalog.listSnapshots({ familyId: u.familyId })) if (s.point >= u.point) ids.add(resourceId('snapshots', s));
        for (const s of await this.ctx.catalog.listSnapshots({})) {
          const fam = await this.ctx.catalog.getFamily(s.familyId);
          if (fam?.baseFamilyId === u.familyId && fam.basePoint >= u.point) ids.add(resourceId('snapshots', s));
        }
      }
      out.push({ hash: chunk.hash.toString('hex'), pack: chunk.pack, snapshots: [...ids].sort() });
    }
    return out;
  }
}
