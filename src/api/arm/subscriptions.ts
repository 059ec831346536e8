/**
 * @module api/arm/subscriptions
 * Subscriptions and what `az login` / `az account` read about them:
 *
 *   GET /subscriptions                      the subscriptions the caller may use
 *   GET /subscriptions/{sub}                one of them (403 / 404 otherwise)
 *   GET /subscriptions/{sub}/locations      the configured regions (`az account list-locations`)
 *   GET /tenants                            the one tenant (`az account tenant list`)
 */
import type { RouteRegistrar } from '../http/router.js';
import { locationJson, subscriptionJson } from './dto.js';
import { pageOf, sendPage } from './paging.js';
import { authenticate, authorize } from './request.js';
import type { ArmDeps } from './request.js';

export function registerSubscriptionRoutes(arm: RouteRegistrar, deps: ArmDeps): void {
  const { engine } = deps;

  arm.add('GET', '/subscriptions', async (ctx) => {
    const caller = authenticate(ctx, deps);
    const mine = new Set(caller.subscriptionIds.map((s) => s.toLowerCase()));
    const visible = (await engine.resources.listSubscriptions()).filter((s) => mine.has(s.subscriptionId.toLowerCase()));
    // ordered by display name: "snapdisk development" first, the default az picks after login
    const page = pageOf(ctx, visible, (s) => `${s.displayName}|${s.subscriptionId}`, deps.pageSize);
    sendPage(ctx, page.items.map(subscriptionJson), page.nextLink);
  });

  arm.add('GET', '/subscriptions/{sub}', async (ctx) => {
    const sub = ctx.param('sub');
    authorize(ctx, deps, sub, 'Microsoft.Resources/subscriptions/read');
    ctx.json(200, subscriptionJson(await engine.resources.requireSubscription(sub.toLowerCase())));
  });

  arm.add('GET', '/subscriptions/{sub}/locations', async (ctx) => {
    const sub = ctx.param('sub');
    authorize(ctx, deps, sub, 'Microsoft.Resources/subscriptions/locations/read');
    const s = await engine.resources.requireSubscription(sub.toLowerCase());
    const value = engine.ctx.regions().map((name) => locationJson(s.subscriptionId, name, engine.ctx.region(name).zones));
    ctx.json(200, { value });
  });

  arm.add('GET', '/tenants', (ctx) => {
    const caller = authenticate(ctx, deps);
    ctx.json(200, {
      value: [{ id: `/tenants/${caller.tenantId}`, tenantId: caller.tenantId, tenantCategory: 'Home', displayName: 'snapdisk' }],
    });
  });
}
