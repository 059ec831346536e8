/**
 * @module cli/account
 * Subscriptions as az prints them (`az login`, `az account show|list`), for the connection in
 * effect.
 */

import type { CommandContext } from './command.js';

export interface SubscriptionWire {
  id?: string;
  subscriptionId: string;
  displayName?: string;
  state?: string;
  tenantId?: string;
  homeTenantId?: string;
  managedByTenants?: unknown[];
}

/** One subscription in az's account shape (`cloudName` in lists, `environmentName` in show). */
export function accountEntry(ctx: CommandContext, s: SubscriptionWire, isDefault: boolean, nameKey: 'cloudName' | 'environmentName'): Record<string, unknown> {
  const conn = ctx.connection();
  const tenant = s.tenantId ?? conn.tenantId;
  return {
    [nameKey]: 'snapdisk',
    homeTenantId: s.homeTenantId ?? tenant,
    id: s.subscriptionId,
    isDefault,
    managedByTenants: s.managedByTenants ?? [],
    name: s.displayName ?? s.subscriptionId,
    state: s.state ?? 'Enabled',
    tenantId: tenant,
    user: { name: conn.clientId, type: 'servicePrincipal' },
  };
}

/** Every subscription of the principal, the one in effect marked `isDefault`. */
export async function accountList(ctx: CommandContext): Promise<Array<Record<string, unknown>>> {
  const subs = (await ctx.subscriptions()) as SubscriptionWire[];
  let current: string | undefined;
  try {
    current = await ctx.defaultSubscription();
  } catch {
    current = undefined;
  }
  return subs.map((s) => accountEntry(ctx, s, s.subscriptionId === current, 'cloudName'));
}

/** az's table transformer of `account list`. */
export function accountTable(result: unknown): unknown {
  const rows = Array.isArray(result) ? (result as Array<Record<string, unknown>>) : [result as Record<string, unknown>];
  return rows.map((r) => ({ Name: r.name, CloudName: r.cloudName ?? r.environmentName, SubscriptionId: r.id, TenantId: r.tenantId, State: r.state, IsDefault: r.isDefault }));
}
