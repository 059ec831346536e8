/**
 * @module cli/commands/usage
 * `snapdisk usage`: the daily usage report of snapshots (date, resource, meter, quantity), from
 * `Microsoft.Consumption/usageDetails`; `-o table` or `-o csv` for a report.
 */

import { API } from '../arm.js';
import type { CommandSpec } from '../command.js';
import { usageError } from '../errors.js';

interface UsageWire {
  properties?: {
    date?: string;
    resourceGroup?: string;
    resourceName?: string;
    resourceId?: string;
    resourceLocation?: string;
    meterName?: string;
    quantity?: number;
    unitOfMeasure?: string;
    additionalInfo?: string;
  };
}

function day(value: string | undefined, option: string): string | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))) throw usageError(`argument ${option}: '${value}' is not a date (YYYY-MM-DD).`);
  return value;
}

export const usage: CommandSpec = {
  name: 'usage',
  summary: 'Daily usage of snapshots: date, resource, meter, quantity (GB/month units).',
  description: 'Without dates: the current month up to today. A 10 GiB snapshot in a 31-day month is 0.3226 a day.',
  options: [
    { name: '--start-date', kind: 'string', metavar: 'YYYY-MM-DD', help: 'First day of the report.' },
    { name: '--end-date', kind: 'string', metavar: 'YYYY-MM-DD', help: 'Last day of the report.' },
  ],
  examples: [
    { title: 'This month as a table.', command: 'snapdisk usage -o table' },
    { title: 'January as CSV.', command: 'snapdisk usage --start-date 2024-01-01 --end-date 2024-01-31 -o csv > usage.csv' },
  ],
  transformer: (rows: unknown) =>
    (rows as Array<Record<string, unknown>>).map((r) => ({ Date: r.date, ResourceGroup: r.resourceGroup, Resource: r.resource, Meter: r.meter, Quantity: r.quantity, Unit: r.unit })),
  async run(ctx, args) {
    const start = day(args.str('start-date'), '--start-date');
    const end = day(args.str('end-date'), '--end-date');
    const clauses = [...(start ? [`properties/usageStart ge '${start}'`] : []), ...(end ? [`properties/usageEnd le '${end}'`] : [])];
    const sub = await ctx.subscription();
    const filter = clauses.length > 0 ? `&$filter=${encodeURIComponent(clauses.join(' and '))}` : '';
    const rows = await ctx.arm().list<UsageWire>(`/subscriptions/${encodeURIComponent(sub)}/providers/Microsoft.Consumption/usageDetails?api-version=${API.usage}${filter}`);
    return rows.map((r) => {
      const p = r.properties ?? {};
      let info: { UsedBytes?: number; Incremental?: boolean } = {};
      try {
        info = JSON.parse(p.additionalInfo ?? '{}') as typeof info;
      } catch {
        info = {};
      }
      return {
        date: (p.date ?? '').slice(0, 10),
        resourceGroup: p.resourceGroup ?? null,
        resource: p.resourceName ?? null,
        meter: p.meterName ?? null,
        quantity: p.quantity ?? 0,
        unit: p.unitOfMeasure ?? null,
        location: p.resourceLocation ?? null,
        usedBytes: info.UsedBytes ?? null,
        incremental: info.Incremental ?? null,
        resourceId: p.resourceId ?? null,
      };
    });
  },
};
