/**
 * @module api/arm/admin
 * Operator endpoints that Azure does not have, under `/providers/Snapdisk.Admin/` (the CLI's
 * `snapdisk verify` and `snapdisk gc` call them). Only a principal that may use the development
 * subscription may call them:
 *
 *   POST /providers/Snapdisk.Admin/verify[?region=eastus]   check every chunk in every zone, repair
 *                                                           what another zone can, report the rest
 *   POST /providers/Snapdisk.Admin/gc                        one garbage-collection pass now
 *   GET  /providers/Snapdisk.Admin/storage                   per region: snapshots, their used
 *                                                           (billed) bytes, the pack bytes stored
 */

import type { RouteRegistrar } from '../http/router.js';
import { authorize } from './request.js';
import type { ArmDeps } from './request.js';

export function registerAdminRoutes(arm: RouteRegistrar, deps: ArmDeps): void {
  const admin = (ctx: Parameters<Parameters<RouteRegistrar['add']>[2]>[0]): void => {
    authorize(ctx, deps, deps.identity.credentials.subscriptionId, 'Snapdisk.Admin/action');
  };
  arm.add('POST', '/providers/Snapdisk.Admin/verify', async (ctx) => {
    admin(ctx);
    const region = ctx.query.get('region')?.toLowerCase();
    if (region) deps.engine.ctx.region(region); // unknown region: 400 naming the known ones
    const reports = region ? [await deps.engine.verifier.region(region)] : await deps.engine.verifier.all();
    ctx.json(200, { value: reports, ok: reports.every((r) => r.ok) });
  });
  arm.add('POST', '/providers/Snapdisk.Admin/gc', async (ctx) => {
    admin(ctx);
    ctx.json(200, { value: await deps.engine.gc.collectAll() });
  });
  arm.add('GET', '/providers/Snapdisk.Admin/storage', async (ctx) => {
    admin(ctx);
    ctx.json(200, { value: await deps.engine.usage.storage() });
  });
}
