/**
 * @module api/arm/groups
 * Resource groups (Microsoft.Resources), as ARM serves them:
 *
 *   PUT    /subscriptions/{sub}/resourcegroups/{rg}   201 created, 200 updated (tags)
 *   PATCH  …                                          200 (tags)
 *   GET    …                                          200, 404 ResourceGroupNotFound
 *   HEAD   …                                          204 / 404 (`az group exists`)
 *   DELETE …                                          202 + Location (ARM operationresults): deletes
 *                                                     every snapshot and disk in it, then the group
 *   GET    /subscriptions/{sub}/resourcegroups        list with nextLink
 *
 * While a group is being deleted it shows `provisioningState: Deleting` and refuses new
 * resources (409 ResourceGroupBeingDeleted). If a resource cannot be deleted (an active SAS, an
 * attached disk) the operation fails with that error and the group returns to `Succeeded` with
 * what is left in it.
 */
import type { ResourceGroup } from '../../core/model.js';
import type { Engine } from '../../engine/engine.js';
import type { HttpContext } from '../http/context.js';
import type { RouteRegistrar } from '../http/router.js';
import { groupJson } from './dto.js';
import { ArmError } from './errors.js';
import { pageOf, sendPage } from './paging.js';
import { apiVersion, authorize, readBody } from './request.js';
import type { ArmDeps } from './request.js';
import { checkTags, isObject } from './schema.js';
import { parseGroupPut } from './validate.js';

const GROUP = '/subscriptions/{sub}/resourcegroups/{rg}';

/** Deletes what the group holds (snapshots first, then disks), then the group itself. */
async function deleteGroupContents(engine: Engine, group: ResourceGroup): Promise<void> {
  const scope = { subscriptionId: group.subscriptionId, resourceGroup: group.name };
  try {
    for (;;) {
      const snapshots = await engine.snapshots.list(scope);
      const disks = await engine.disks.list(scope);
      if (snapshots.length === 0 && disks.length === 0) break;
      for (const s of snapshots) await engine.snapshots.deleteRecord(s);
      for (const d of disks) await engine.disks.deleteRecord(d);
    }
  } catch (err) {
    await engine.resources.markSucceeded(group.subscriptionId, group.name);
    throw err;
  }
  await engine.resources.removeGroup(group.subscriptionId, group.name);
}

async function putGroup(ctx: HttpContext, deps: ArmDeps): Promise<void> {
  const sub = ctx.param('sub');
  authorize(ctx, deps, sub, 'Microsoft.Resources/subscriptions/resourceGroups/write');
  const body = parseGroupPut(await readBody(ctx));
  const existing = await deps.engine.resources.findGroup(sub.toLowerCase(), ctx.param('rg'));
  if (existing?.provisioningState === 'Deleting') {
    throw new ArmError('Conflict', 'ResourceGroupBeingDeleted', `The resource group '${existing.name}' is in deprovisioning state and cannot perform this operation.`);
  }
  const name = existing?.name ?? ctx.param('rg');
  const { group, created } = await deps.engine.resources.putGroup(sub.toLowerCase(), name, body.location, body.tags ?? {});
  ctx.json(created ? 201 : 200, groupJson(group));
}

async function patchGroup(ctx: HttpContext, deps: ArmDeps): Promise<void> {
  const sub = ctx.param('sub');
  authorize(ctx, deps, sub, 'Microsoft.Resources/subscriptions/resourceGroups/write');
  const raw = await readBody(ctx);
  const body = isObject(raw) ? raw : {};
  const group = await deps.engine.resources.requireGroup(sub.toLowerCase(), ctx.param('rg'));
  const tags = body.tags === undefined || body.tags === null ? group.tags : checkTags(body.tags);
  const { group: updated } = await deps.engine.resources.putGroup(group.subscriptionId, group.name, group.location, tags);
  ctx.json(200, groupJson(updated));
}

async function deleteGroup(ctx: HttpContext, deps: ArmDeps): Promise<void> {
  const sub = ctx.param('sub');
  authorize(ctx, deps, sub, 'Microsoft.Resources/subscriptions/resourceGroups/delete');
  const group = await deps.engine.resources.markDeleting(sub.toLowerCase(), ctx.param('rg'));
  await deps.ops.start(
    ctx,
    {
      subscriptionId: group.subscriptionId,
      location: group.location,
      kind: 'resourceGroups/delete',
      style: 'arm',
      work: async () => {
        await deleteGroupContents(deps.engine, group);
        return { kind: 'empty', status: 200 };
      },
    },
    apiVersion(ctx),
  );
}

export function registerGroupRoutes(arm: RouteRegistrar, deps: ArmDeps): void {
  const { engine } = deps;
  arm.add('PUT', GROUP, (ctx) => putGroup(ctx, deps));
  arm.add('PATCH', GROUP, (ctx) => patchGroup(ctx, deps));
  arm.add('DELETE', GROUP, (ctx) => deleteGroup(ctx, deps));
  arm.add('GET', GROUP, async (ctx) => {
    const sub = ctx.param('sub');
    authorize(ctx, deps, sub, 'Microsoft.Resources/subscriptions/resourceGroups/read');
    ctx.json(200, groupJson(await engine.resources.requireGroup(sub.toLowerCase(), ctx.param('rg'))));
  });
  arm.add('HEAD', GROUP, async (ctx) => {
    const sub = ctx.param('sub');
    authorize(ctx, deps, sub, 'Microsoft.Resources/subscriptions/resourceGroups/read');
    ctx.empty((await engine.resources.findGroup(sub.toLowerCase(), ctx.param('rg'))) ? 204 : 404);
  });
  arm.add('GET', '/subscriptions/{sub}/resourcegroups', async (ctx) => {
    const sub = ctx.param('sub');
    authorize(ctx, deps, sub, 'Microsoft.Resources/subscriptions/resourceGroups/read');
    await engine.resources.requireSubscription(sub.toLowerCase());
    const page = pageOf(ctx, await engine.resources.listGroups(sub.toLowerCase()), (g) => g.name, deps.pageSize);
    sendPage(ctx, page.items.map(groupJson), page.nextLink);
  });
}
