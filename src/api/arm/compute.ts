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

/** The handlers of one resource kind. */
class ComputeRoutes<R extends DiskRecord | SnapshotRecord> {
  constructor(
    private readonly deps: ArmDeps,
    private readonly a: ComputeAdapter<R>,
  ) {}

  private action(verb: string): string {
    return `Microsoft.Compute/${this.a.kind}/${verb}`;
  }

  private authorize(ctx: HttpContext, verb: string): Caller {
    return authorize(ctx, this.deps, ctx.param('sub'), this.action(verb));
  }

  private async resourceResult(r: R): Promise<FinalResult> {
    return { kind: 'resource', resource: this.a.kind, uniqueId: r.uniqueId, json: await this.a.json(r) };
  }

  private start(ctx: HttpContext, r: { subscriptionId: string; location: string }, verb: string, work: () => Promise<FinalResult>): Promise<void> {
    const options = { subscriptionId: r.subscriptionId, location: r.location, kind: `${this.a.kind}/${verb}`, style: 'compute' as const, work };
    return this.deps.ops.start(ctx, options, apiVersion(ctx));
  }

  async put(ctx: HttpContext): Promise<void> {
    const caller = this.authorize(ctx, 'write');
    const raw = await readBody(ctx);
    const key = keyOf(ctx);
    validateResourceName(key.name, this.a.noun);
    const group = await groupForWrite(this.deps, key.subscriptionId, key.resourceGroup);
    const canonical = { ...key, resourceGroup: group.name };
    const accepted = await this.a.put(raw, canonical, group, await this.a.find(canonical), caller);
    const target = { subscriptionId: key.subscriptionId, location: accepted.location };
    await this.start(ctx, target, 'write', async () => this.resourceResult(await accepted.work()));
  }

  async patch(ctx: HttpContext): Promise<void> {
    this.authorize(ctx, 'write');
    const raw = await readBody(ctx);
    const existing = await this.a.get(keyOf(ctx));
    const accepted = this.a.patch(raw, existing);
    await this.start(ctx, existing, 'write', async () => this.resourceResult(await accepted.work()));
  }

  async get(ctx: HttpContext): Promise<void> {
    this.authorize(ctx, 'read');
    ctx.json(200, await this.a.json(await this.a.get(keyOf(ctx))));
  }

  async delete(ctx: HttpContext): Promise<void> {
    this.authorize(ctx, 'delete');
    const key = keyOf(ctx);
    await this.deps.engine.resources.requireGroup(key.subscriptionId, key.resourceGroup);
    const existing = await this.a.find(key);
    if (!existing) return ctx.empty(204);
    await this.start(ctx, existing, 'delete', async () => {
      await this.a.deleteRecord(existing);
      return { kind: 'empty', status: 200 };
    });
  }

  async beginGetAccess(ctx: HttpContext): Promise<void> {
    this.authorize(ctx, 'beginGetAccess/action');
    const request = parseGrant(await readBody(ctx));
    const existing = await this.a.get(keyOf(ctx));
    await this.start(ctx, existing, 'beginGetAccess', async () => {
      const grant = await this.deps.engine.grants.begin(this.a.grantTarget(existing), request);
      return { kind: 'access', grantId: grant.id, baseUrl: ctx.baseUrl };
    });
  }

  async endGetAccess(ctx: HttpContext): Promise<void> {
    this.authorize(ctx, 'endGetAccess/action');
    const existing = await this.a.get(keyOf(ctx));
    await this.start(ctx, existing, 'endGetAccess', async () => {
      await this.deps.engine.grants.end(this.a.grantTarget(existing));
      return { kind: 'empty', status: 200 };
    });
  }

  /** List by subscription (`rg` absent) or by resource group, one page. */
  async list(ctx: HttpContext, byGroup: boolean): Promise<void> {
    this.authorize(ctx, 'read');
    const subscriptionId = ctx.param('sub').toLowerCase();
    const all = await this.a.list(byGroup ? { subscriptionId, resourceGroup: ctx.param('rg') } : { subscriptionId });
    const page = pageOf(ctx, all, (r) => `${r.resourceGroup}/${r.name}`, this.deps.pageSize);
    sendPage(ctx, await Promise.all(page.items.map((r) => this.a.json(r))), page.nextLink);
  }
}

export function registerComputeRoutes<R extends DiskRecord | SnapshotRecord>(arm: RouteRegistrar, deps: ArmDeps, a: ComputeAdapter<R>): void {
  const r = new ComputeRoutes(deps, a);
  const item = `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/${a.kind}/{name}`;
  arm.add('PUT', item, (ctx) => r.put(ctx));
  arm.add('PATCH', item, (ctx) => r.patch(ctx));
  arm.add('GET', item, (ctx) => r.get(ctx));
  arm.add('DELETE', item, (ctx) => r.delete(ctx));
  arm.add('POST', `${item}/beginGetAccess`, (ctx) => r.beginGetAccess(ctx));
  arm.add('POST', `${item}/endGetAccess`, (ctx) => r.endGetAccess(ctx));
  arm.add('GET', `/subscriptions/{sub}/providers/Microsoft.Compute/${a.kind}`, (ctx) => r.list(ctx, false));
  arm.add('GET', `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/${a.kind}`, (ctx) => r.list(ctx, true));
}
