/**
 * @module engine/usage
 * The daily usage report of the requirement document: one row per snapshot per day it existed,
 * with quantity = used GiB / days in that month (10 GiB in a 31-day month → 0.3226 per day).
 * Incremental snapshots are billed by used size (their delta); full snapshots by the data they
 * hold. `storage()` sets that logical figure beside what each region's chunk store really holds.
 */

import { resourceId } from '../core/ids.js';
import { dailyUsageQuantity } from '../core/rules.js';
import type { EngineContext } from './context.js';
import type { Snapshots } from './snapshots.js';

export interface UsageRow {
  /** The day, `YYYY-MM-DD` (UTC). */
  date: string;
  resourceId: string;
  resourceName: string;
  resourceGroup: string;
  location: string;
  meterName: string;
  meterCategory: 'Storage';
  quantity: number;
  unitOfMeasure: '1 GB/Month';
  usedBytes: number;
  incremental: boolean;
}

/** One region's footprint: what its snapshots bill (logical) beside the pack bytes it stores. */
export interface RegionStorage {
  region: string;
  /** Zones of the region (a ZRS pack is kept in each of them). */
  zones: string[];
  /** Live snapshots stored in the region. */
  snapshots: number;
  /** Sum of their used (billed) bytes: deltas for incremental snapshots. */
  usedBytes: number;
  /** Bytes of pack objects, one replica (deduplicated, compressed where it paid, zeros never stored). */
  storedBytes: number;
}

const DAY_MS = 86_400_000;

export class Usage {
  constructor(
    private readonly ctx: EngineContext,
    private readonly snapshots: Snapshots,
  ) {}

  /** Logical (billed) and physical (stored) bytes of every region. */
  async storage(): Promise<RegionStorage[]> {
    const live = await this.ctx.catalog.listSnapshots({});
    const out: RegionStorage[] = [];
    for (const region of this.ctx.regions()) {
      const here = live.filter((s) => s.location === region);
      let usedBytes = 0;
      for (const s of here) usedBytes += await this.snapshots.usedBytes(s);
      out.push({
        region,
        zones: [...this.ctx.region(region).zones],
        snapshots: here.length,
        usedBytes,
        storedBytes: await this.ctx.chunks(region).storedBytes(),
      });
    }
    return out;
  }

  /** Rows for the days from `from` to `to` inclusive (dates at UTC midnight). */
  async daily(subscriptionId: string, from: Date, to: Date): Promise<UsageRow[]> {
    const first = utcDay(from);
    const last = utcDay(to);
    const rows: UsageRow[] = [];
    const all = await this.ctx.catalog.listSnapshots({ subscriptionId, includeDeleted: true });
    for (const s of all) {
      const used = s.deletedAt ? (s.usedBytesAtDeletion ?? 0) : await this.snapshots.usedBytes(s);
      const born = utcDay(new Date(s.timeCreated));
      const gone = s.deletedAt ? utcDay(new Date(s.deletedAt)) : Infinity;
      const redundancy = s.sku.endsWith('ZRS') ? 'ZRS' : 'LRS';
      for (let day = Math.max(first, born); day <= Math.min(last, gone); day += DAY_MS) {
        const date = new Date(day);
        rows.push({
          date: date.toISOString().slice(0, 10),
          resourceId: resourceId('snapshots', s),
          resourceName: s.name,
          resourceGroup: s.resourceGroup,
          location: s.location,
          meterName: s.incremental ? `${redundancy} Incremental Snapshots` : `${redundancy} Snapshots`,
          meterCategory: 'Storage',
          quantity: Math.round(dailyUsageQuantity(used, date) * 1e6) / 1e6,
          unitOfMeasure: '1 GB/Month',
          usedBytes: used,
          incremental: s.incremental,
        });
      }
    }
    rows.sort((a, b) => (a.date === b.date ? a.resourceId.localeCompare(b.resourceId) : a.date < b.date ? -1 : 1));
    return rows;
  }
}

function utcDay(d: Date): number {
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
}
