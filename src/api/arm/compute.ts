/**
 * @module api/arm/compute
 * The routes disks and snapshots share, over a small per-kind adapter (disks.ts, snapshots.ts):
 *
 *   PUT    …/{kind}/{name}                  202 + LRO → the resource (create, or update in place)
 *   PATCH  …/{kind}/{name}                  202 + LRO → the resource
 *   GET    …/{kind}/{name}                  200
 *   DELETE …/{kind}/{name}                  202 + LRO → empty 200; 204 when it does not exist
 *   POST   …/{kind}/{name}/beginGetAccess   202 + LRO → {"accessSAS": "<url on this host>"}
 *   POST   …/{kind}/{name}/endGetAccess     202 + LRO → empty 200
 *   GET    /subscriptions/{sub}/providers/Microsoft.Compute/{kind}                 list (nextLink)
 *   GET    /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/{kind}  list
 *
 * Every route authenticates and authorises the path's subscription. Never 201 (azure-api.md §0).
 */
import { validateResourceName } from '../../core/rules.js';
import type { ComputeKind } from '../../core/ids.js';
import type { DiskRecord, ResourceGroup, ResourceKey, SnapshotRecord } from '../../core/model.js';
import type { GrantTarget } from '../../engine/grants.js';
import type { HttpContext } from '../http/context.js';
import type { RouteRegistrar } from '../http/router.js';
import type { Caller } from '../identity/identity.js';
import type { Json } from './dto.js';
import type { FinalResult } from './operations.js';
import { pageOf, sendPage } from './paging.js';
import { apiVersion, authorize, groupForWrite, readBody } from './request.js';
import type { ArmDeps } from './request.js';
import { parseGrant } from './validate.js';

/** What a PUT or PATCH will do once accepted: the region of the operation and the work. */
export interface Accepted<R> {
  location: string;
  work: () => Promise<R>;
}

export interface ComputeAdapter<R extends DiskRecord | SnapshotRecord> {
  readonly kind: ComputeKind;
  readonly noun: 'disk' | 'snapshot';
  find(key: ResourceKey): Promise<R | null>;
  get(key: ResourceKey): Promise<R>;
  list(filter: { subscriptionId: string; resourceGroup?: string }): Promise<R[]>;
  json(record: R): Promise<Json>;
  /** Checks a PUT body (and its source) and returns the work; nothing happens before `work`. */
  put(body: unknown, key: ResourceKey, group: ResourceGroup, existing: R | null, caller: Caller): Promise<Accepted<R>>;
  patch(body: unknown, existing: R): Accepted<R>;
  deleteRecord(record: R): Promise<void>;
  grantTarget(record: R): GrantTarget;
}

function keyOf(ctx: HttpContext): ResourceKey {
  return { subscriptionId: ctx.param('sub').toLowerCase(), resourceGroup: ctx.param('rg'), name: ctx.param('name') };
}

export function registerComputeRoutes<R extends DiskRecord | SnapshotRecord>(
  arm: RouteRegistrar,
  deps: ArmDeps,
  a: ComputeAdapter<R>,
): void {
  const item = `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/${a.kind}/{name}`;
  const action = (verb: string): string => `Microsoft.Compute/${a.kind}/${verb}`;
  const resourceResult = async (r: R): Promise<FinalResult> => ({ kind: 'resource', resource: a.kind, uniqueId: r.uniqueId, json: await a.json(r) });
  const start = (ctx: HttpContext, r: { subscriptionId: string; location: string }, verb: string, work: () => Promise<FinalResult>) =>
    deps.ops.start(ctx, { subscriptionId: r.subscriptionId, location: r.location, kind: `${a.kind}/${verb}`, style: 'compute', work }, apiVersion(ctx));

  arm.add('PUT', item, async (ctx) => {
    const caller = authorize(ctx, deps, ctx.param('sub'), action('write'));
    const raw = await readBody(ctx);
    const key = keyOf(ctx);
    validateResourceName(key.name, a.noun);
    const group = await groupForWrite(deps, key.subscriptionId, key.resourceGroup);
    const canonical = { ...key, resourceGroup: group.name };
    const accepted = await a.put(raw, canonical, group, await a.find(canonical), caller);
    await start(ctx, { subscriptionId: key.subscriptionId, location: accepted.location }, 'write', async () => resourceResult(await accepted.work()));
  });

  arm.add('PATCH', item, async (ctx) => {
    authorize(ctx, deps, ctx.param('sub'), action('write'));
    const raw = await readBody(ctx);
    const existing = await a.get(keyOf(ctx));
    const accepted = a.patch(raw, existing);
    await start(ctx, existing, 'write', async () => resourceResult(await accepted.work()));
  });

  arm.add('GET', item, async (ctx) => {
    authorize(ctx, deps, ctx.param('sub'), action('read'));
    ctx.json(200, await a.json(await a.get(keyOf(ctx))));
  });

  arm.add('DELETE', item, async (ctx) => {
    authorize(ctx, deps, ctx.param('sub'), action('delete'));
    const key = keyOf(ctx);
    await deps.engine.resources.requireGroup(key.subscriptionId, key.resourceGroup);
    const existing = await a.find(key);
    if (!existing) return ctx.empty(204);
    await start(ctx, existing, 'delete', async () => {
      await a.deleteRecord(existing);
      return { kind: 'empty', status: 200 };
    });
  });

  arm.add('POST', `${item}/beginGetAccess`, async (ctx) => {
    authorize(ctx, deps, ctx.param('sub'), action('beginGetAccess/action'));
    const request = parseGrant(await readBody(ctx));
    const existing = await a.get(keyOf(ctx));
    await start(ctx, existing, 'beginGetAccess', async () => {
      const grant = await deps.engine.grants.begin(a.grantTarget(existing), request);
      return { kind: 'access', grantId: grant.id, baseUrl: ctx.baseUrl };
    });
  });

  arm.add('POST', `${item}/endGetAccess`, async (ctx) => {
    authorize(ctx, deps, ctx.param('sub'), action('endGetAccess/action'));
    const existing = await a.get(keyOf(ctx));
    await start(ctx, existing, 'endGetAccess', async () => {
      await deps.engine.grants.end(a.grantTarget(existing));
      return { kind: 'empty', status: 200 };
    });
  });

  const list = async (ctx: HttpContext, resourceGroup?: string): Promise<void> => {
    const subscriptionId = ctx.param('sub').toLowerCase();
    const all = await a.list(resourceGroup === undefined ? { subscriptionId } : { subscriptionId, resourceGroup });
    const page = pageOf(ctx, all, (r) => `${r.resourceGroup}/${r.name}`, deps.pageSize);
    sendPage(ctx, await Promise.all(page.items.map((r) => a.json(r))), page.nextLink);
  };
  arm.add('GET', `/subscriptions/{sub}/providers/Microsoft.Compute/${a.kind}`, async (ctx) => {
    authorize(ctx, deps, ctx.param('sub'), action('read'));
    await list(ctx);
  });
  arm.add('GET', `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/${a.kind}`, async (ctx) => {
    authorize(ctx, deps, ctx.param('sub'), action('read'));
    await list(ctx, ctx.param('rg'));
  });
}
