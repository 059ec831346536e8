/**
 * @module api/arm/move
 * `POST /subscriptions/{sub}/resourceGroups/{rg}/moveResources` and `…/validateMoveResources`
 * with `{"resources":[ids],"targetResourceGroup":"/subscriptions/{sub2}/resourceGroups/{rg2}"}`.
 *
 * Disks and full snapshots move (to another group, or another subscription the caller may use);
 * incremental snapshots are refused with the rule of the requirement document and the way out
 * (copy them). Disks with an active SAS, waiting for an upload or attached, snapshots with an
 * active SAS, and names already taken in the target are refused too. Validation happens before the
 * answer, so an invalid move fails at once with the reason (409/400/404); a valid one answers
 * ARM's 202 + `Location`, whose final GET is 204.
 *
 * The rules (incremental snapshots never move, busy disks stay) and the move itself belong to the
 * engine (`engine.mover`); this file parses, authorizes and plans.
 */
import { invalid, SnapdiskError } from '../../core/errors.js';
import { tryParseResourceId } from '../../core/ids.js';
import type { DiskRecord, ResourceGroup, SnapshotRecord } from '../../core/model.js';
import type { Engine } from '../../engine/engine.js';
import type { HttpContext } from '../http/context.js';
import type { RouteRegistrar } from '../http/router.js';
import type { Caller } from '../identity/identity.js';
import { apiVersion, authorize, authorizeAlso, groupForWrite, readBody } from './request.js';
import type { ArmDeps } from './request.js';
import { parseMove } from './validate.js';

type Movable = { kind: 'disk'; record: DiskRecord } | { kind: 'snapshot'; record: SnapshotRecord };

interface MovePlan {
  source: ResourceGroup;
  target: ResourceGroup;
  items: Movable[];
}

async function targetGroup(deps: ArmDeps, caller: Caller, id: string): Promise<ResourceGroup> {
  const m = /^\/?subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/?$/i.exec(id.trim());
  if (!m?.[1] || !m[2]) {
    throw invalid(`'${id}' is not a resource group id.`, 'targetResourceGroup', 'Use /subscriptions/{subscription}/resourceGroups/{name}.');
  }
  authorizeAlso(deps, caller, m[1], 'Microsoft.Resources/subscriptions/resourceGroups/write');
  return groupForWrite(deps, m[1].toLowerCase(), m[2]);
}

async function lookup(engine: Engine, id: string, source: ResourceGroup): Promise<Movable> {
  const parsed = tryParseResourceId(id);
  if (!parsed) {
    throw invalid(`'${id}' cannot be moved: only Microsoft.Compute/disks and Microsoft.Compute/snapshots resources exist on this server.`, 'resources');
  }
  if (parsed.subscriptionId !== source.subscriptionId || parsed.resourceGroup.toLowerCase() !== source.name.toLowerCase()) {
    throw invalid(`'${id}' is not in the source resource group '${source.name}'.`, 'resources', 'Move resources from the group named in the request path.');
  }
  if (parsed.kind === 'disks') {
    const record = await engine.disks.find(parsed);
    if (record) return { kind: 'disk', record };
  } else {
    const record = await engine.snapshots.find(parsed);
    if (record) return { kind: 'snapshot', record };
  }
  throw new SnapdiskError('ResourceNotFound', `The Resource 'Microsoft.Compute/${parsed.kind}/${parsed.name}' under resource group '${source.name}' was not found.`, { target: 'resources' });
}

async function plan(ctx: HttpContext, deps: ArmDeps, action: string): Promise<MovePlan> {
  const sub = ctx.param('sub');
  const caller = authorize(ctx, deps, sub, action);
  const body = parseMove(await readBody(ctx));
  const source = await deps.engine.resources.requireGroup(sub.toLowerCase(), ctx.param('rg'));
  const target = await targetGroup(deps, caller, body.targetResourceGroup);
  if (target.subscriptionId === source.subscriptionId && target.name.toLowerCase() === source.name.toLowerCase()) {
    throw invalid('The source and target resource groups are the same.', 'targetResourceGroup');
  }
  const items: Movable[] = [];
  const seen = new Set<string>();
  for (const id of body.resources) {
    const item = await lookup(deps.engine, id, source);
    if (seen.has(item.record.uniqueId)) continue;
    seen.add(item.record.uniqueId);
    deps.engine.mover.check(item);
    const key = { subscriptionId: target.subscriptionId, resourceGroup: target.name, name: item.record.name };
    const taken = item.kind === 'disk' ? await deps.engine.disks.find(key) : await deps.engine.snapshots.find(key);
    if (taken) throw new SnapdiskError('Conflict', `A ${item.kind} named ${item.record.name} already exists in resource group '${target.name}'.`, { target: 'resources' });
    items.push(item);
  }
  return { source, target, items };
}

async function executeMove(engine: Engine, p: MovePlan): Promise<void> {
  await engine.mover.move(p.items, { subscriptionId: p.target.subscriptionId, resourceGroup: p.target.name });
}

export function registerMoveRoutes(arm: RouteRegistrar, deps: ArmDeps): void {
  const base = '/subscriptions/{sub}/resourceGroups/{rg}';
  arm.add('POST', `${base}/moveResources`, async (ctx) => {
    const p = await plan(ctx, deps, 'Microsoft.Resources/subscriptions/resourceGroups/moveResources/action');
    await deps.ops.start(ctx, {
      subscriptionId: p.source.subscriptionId,
      location: p.source.location,
      kind: 'moveResources',
      style: 'arm',
      work: async () => {
        await executeMove(deps.engine, p);
        return { kind: 'empty', status: 204 };
      },
    }, apiVersion(ctx));
  });
  arm.add('POST', `${base}/validateMoveResources`, async (ctx) => {
    const p = await plan(ctx, deps, 'Microsoft.Resources/subscriptions/resourceGroups/validateMoveResources/action');
    await deps.ops.start(ctx, {
      subscriptionId: p.source.subscriptionId,
      location: p.source.location,
      kind: 'validateMoveResources',
      style: 'arm',
      work: () => Promise.resolve({ kind: 'empty', status: 204 }),
    }, apiVersion(ctx));
  });
}
