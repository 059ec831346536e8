/**
 * @module api/arm/usage
 * `GET /subscriptions/{sub}/providers/Microsoft.Consumption/usageDetails`: the daily usage of
 * snapshots in Azure's legacy usage-details shape, one row per snapshot per day it existed, with
 * `quantity` = used GiB / days in that month (10 GiB in a 31-day month → 0.3226 per day).
 *
 *   {"value":[{"id":"/subscriptions/S/providers/Microsoft.Consumption/usageDetails/<guid>",
 *              "name":"<guid>","type":"Microsoft.Consumption/usageDetails","kind":"legacy",
 *              "properties":{"date":"2024-01-05T00:00:00.0000000Z","quantity":0.3226,
 *                            "meterName":"ZRS Incremental Snapshots","resourceId":"…", …}}],
 *    "nextLink":"…"}
 *
 * The period comes from `$filter`, e.g. `properties/usageStart ge '2024-01-01' and
 * properties/usageEnd le '2024-01-31'` (also `usageStart`/`usageEnd`/`date` without the
 * prefix, `eq`/`gt`/`lt`); without one it is the current month up to today. Days after today are
 * never reported.
 */
import { createHash } from 'node:crypto';
import { invalid } from '../../core/errors.js';
import type { UsageRow } from '../../engine/usage.js';
import type { HttpContext } from '../http/context.js';
import type { RouteRegistrar } from '../http/router.js';
import { pageOf, sendPage } from './paging.js';
import { authorize } from './request.js';
import type { ArmDeps } from './request.js';

const DAY_MS = 86_400_000;
const CLAUSE = /^(?:properties\/)?(usageStart|usageEnd|date)\s+(ge|gt|le|lt|eq)\s+'(\d{4}-\d{2}-\d{2})(?:T[0-9:.]+Z?)?'$/i;

interface Period {
  from: Date;
  to: Date;
}

function utcDay(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
}

/** The reporting period of a `$filter` (inclusive days); the current month when absent. */
export function parsePeriod(filter: string | null, today: Date): Period {
  const day = utcDay(today);
  let from = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), 1));
  let to = day;
  if (filter !== null && filter.trim() !== '') {
    for (const clause of filter.trim().split(/\s+and\s+/i)) {
      const m = CLAUSE.exec(clause.trim());
      const date = m?.[3] ? new Date(`${m[3]}T00:00:00Z`) : undefined;
      if (!m?.[2] || !date || Number.isNaN(date.getTime())) {
        throw invalid(
          `The $filter clause '${clause}' is not understood.`,
          '$filter',
          "Use properties/usageStart ge 'YYYY-MM-DD' and properties/usageEnd le 'YYYY-MM-DD'.",
        );
      }
      const op = m[2].toLowerCase();
      if (op === 'ge' || op === 'eq') from = op === 'eq' ? (to = date) : date;
      if (op === 'gt') from = new Date(date.getTime() + DAY_MS);
      if (op === 'le') to = date;
      if (op === 'lt') to = new Date(date.getTime() - DAY_MS);
    }
  }
  return { from, to: to > day ? day : to };
}

function rowId(subscriptionId: string, row: UsageRow): string {
  const h = createHash('sha256').update(`${subscriptionId}|${row.date}|${row.resourceId.toLowerCase()}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function monthBounds(date: string): { start: string; end: string } {
  const d = new Date(`${date}T00:00:00Z`);
  const start = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
  const end = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0));
  return { start: `${start.toISOString().slice(0, 10)}T00:00:00.0000000Z`, end: `${end.toISOString().slice(0, 10)}T00:00:00.0000000Z` };
}

function usageJson(subscriptionId: string, subscriptionName: string, row: UsageRow): Record<string, unknown> {
  const id = rowId(subscriptionId, row);
  const period = monthBounds(row.date);
  return {
    id: `/subscriptions/${subscriptionId}/providers/Microsoft.Consumption/usageDetails/${id}`,
    name: id,
    type: 'Microsoft.Consumption/usageDetails',
    kind: 'legacy',
    properties: {
      billingPeriodStartDate: period.start,
      billingPeriodEndDate: period.end,
      subscriptionId,
      subscriptionName,
      date: `${row.date}T00:00:00.0000000Z`,
      product: `Snapshots - ${row.meterName}`,
      meterId: createHash('sha256').update(row.meterName).digest('hex').slice(0, 32),
      meterName: row.meterName,
      meterDetails: { meterName: row.meterName, meterCategory: row.meterCategory, meterSubCategory: 'Snapshots', unitOfMeasure: row.unitOfMeasure },
      quantity: row.quantity,
      unitOfMeasure: row.unitOfMeasure,
      resourceId: row.resourceId,
      resourceName: row.resourceName,
      resourceGroup: row.resourceGroup,
      resourceLocation: row.location,
      consumedService: 'Microsoft.Compute',
      chargeType: 'Usage',
      frequency: 'UsageBased',
      additionalInfo: JSON.stringify({ UsedBytes: row.usedBytes, Incremental: row.incremental }),
    },
  };
}

async function usageDetails(ctx: HttpContext, deps: ArmDeps): Promise<void> {
  const sub = ctx.param('sub');
  authorize(ctx, deps, sub, 'Microsoft.Consumption/usageDetails/read');
  const subscription = await deps.engine.resources.requireSubscription(sub.toLowerCase());
  const period = parsePeriod(ctx.query.get('$filter'), deps.engine.ctx.now());
  const rows = period.from > period.to ? [] : await deps.engine.usage.daily(subscription.subscriptionId, period.from, period.to);
  const top = Number(ctx.query.get('$top') ?? NaN);
  const size = Number.isInteger(top) && top > 0 ? Math.min(top, 1000) : deps.pageSize;
  const page = pageOf(ctx, rows, (r) => `${r.date}|${r.resourceId}`, size);
  sendPage(ctx, page.items.map((r) => usageJson(subscription.subscriptionId, subscription.displayName, r)), page.nextLink);
}

export function registerUsageRoutes(arm: RouteRegistrar, deps: ArmDeps): void {
  arm.add('GET', '/subscriptions/{sub}/providers/Microsoft.Consumption/usageDetails', (ctx) => usageDetails(ctx, deps));
}
