/**
 * @module api/arm/operations
 * Long-running operations as azure-core (Python and JS) drives them (azure-api.md §3).
 *
 *   PUT/PATCH/DELETE/POST ──▶ 202  Azure-AsyncOperation: …/locations/{loc}/DiskOperations/{id}?api-version=V
 *                                  Location:             …same…&monitor=true
 *                                  Retry-After: 0
 *   GET Azure-AsyncOperation ──▶ 200 {"startTime","status":"InProgress","name"} + Retry-After: 1
 *                            ──▶ 200 {…,"endTime","status":"Succeeded","properties":{"output":…}}
 *                            ──▶ 200 {…,"status":"Failed","error":{"code","message"}}
 *   GET Location (monitor)   ──▶ 202 + Location + Retry-After: 1 while running;
 *                                then the final result: the resource (PUT/PATCH), the AccessUri
 *                                (grant), an empty 200 (delete/revoke), or the CloudError.
 *
 * Resource-manager operations (resource-group delete, move) use ARM's own shape: 202 with only
 * `Location: …/subscriptions/{sub}/operationresults/{id}`, answering 202 until done, then the
 * final status (200 or 204) or the error.
 *
 * Design notes:
 * - The work starts at once. If it fails within `syncWaitMs` the request itself fails with the
 *   error (limits are refused by the PUT, not by a later failed operation, operational contract);
 *   if it succeeds the operation is recorded as Succeeded before the 202 goes out; if it is still
 *   running the 202 says InProgress and the result is recorded when the work settles.
 * - `Retry-After: 1` on every InProgress answer: azure-core treats 0 as "no hint" and then waits
 *   its default (30 s in Python, 2 s in JS); the first poll follows the 202 immediately anyway.
 * - Results are rendered when asked for: a resource result is re-read (current
 *   `completionPercent`), falling back to its JSON at completion if it was deleted since; a grant
 *   result stores the grant id and request base URL, never the SAS itself.
 * - `drain()` waits for background work (server shutdown).
 */
import { randomUUID } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { SnapdiskError } from '../../core/errors.js';
import type { ComputeKind } from '../../core/ids.js';
import type { OperationRecord } from '../../core/model.js';
import type { Engine } from '../../engine/engine.js';
import type { SasSigner } from '../blob/sas.js';
import type { HttpContext } from '../http/context.js';
import { toSnapdiskError } from '../http/errors.js';
import type { RouteRegistrar } from '../http/router.js';
import { armStatus, cloudError } from './errors.js';
import type { CloudErrorBody } from './errors.js';
import { authorize } from './request.js';
import type { ArmDeps } from './request.js';

export type FinalResult =
  | { kind: 'resource'; resource: ComputeKind; uniqueId: string; json: unknown }
  | { kind: 'access'; grantId: string; baseUrl: string }
  | { kind: 'empty'; status: 200 | 204 };

type StoredResult = FinalResult | { kind: 'failed'; status: number; body: CloudErrorBody };

export type OperationStyle = 'compute' | 'arm';

export interface StartOptions {
  subscriptionId: string;
  /** Region in the operation URL (the resource's, lowercase). */
  location: string;
  /** What the operation does, e.g. `disks/write` (kept in the record). */
  kind: string;
  style: OperationStyle;
  work: () => Promise<FinalResult>;
}

export interface OperationsOptions {
  engine: Engine;
  sas: SasSigner;
  /** Renders a resource result afresh; null when the resource is gone. */
  render: (kind: ComputeKind, uniqueId: string) => Promise<unknown>;
  /** How long a request waits for its work before answering InProgress (default 5000 ms). */
  syncWaitMs?: number;
}

type Outcome = { ok: true; value: FinalResult } | { ok: false; error: unknown };

export class Operations {
  private readonly inflight = new Set<Promise<void>>();
  private readonly syncWaitMs: number;

  constructor(private readonly opts: OperationsOptions) {
    this.syncWaitMs = opts.syncWaitMs ?? 5_000;
  }

  /** Runs `work` and answers the request as described in the module header. */
  async start(ctx: HttpContext, o: StartOptions, apiVersion: string): Promise<void> {
    const outcome: Promise<Outcome> = o.work().then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    const first = await this.within(outcome);
    if (first && !first.ok) throw first.error;
    const now = this.opts.engine.ctx.nowIso();
    const record: OperationRecord = {
      id: randomUUID(),
      subscriptionId: o.subscriptionId.toLowerCase(),
      location: o.location,
      kind: `${o.style}:${o.kind}`,
      status: first ? 'Succeeded' : 'InProgress',
      startTime: now,
      endTime: first ? now : null,
      result: first ? first.value : null,
      error: null,
    };
    await this.opts.engine.ctx.catalog.putOperation(record);
    if (!first) this.track(record, outcome);
    const headers = acceptedHeaders(ctx.baseUrl, record, o.style, apiVersion);
    if (first?.value.kind === 'resource') ctx.json(202, first.value.json, headers);
    else ctx.empty(202, headers);
  }

  /** Resolves when every operation answered as InProgress has recorded its result. */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  private within(outcome: Promise<Outcome>): Promise<Outcome | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), this.syncWaitMs);
    });
    return Promise.race([outcome, timeout]).finally(() => clearTimeout(timer));
  }

  private track(record: OperationRecord, outcome: Promise<Outcome>): void {
    const done = outcome.then(async (o) => {
      const endTime = this.opts.engine.ctx.nowIso();
      if (o.ok) {
        await this.opts.engine.ctx.catalog.putOperation({ ...record, status: 'Succeeded', endTime, result: o.value });
        return;
      }
      const err = toSnapdiskError(o.error, record.id);
      if (err.code === 'InternalError') this.opts.engine.ctx.log.error('operation failed', { operation: record.id, error: String(o.error) });
      const body = cloudError(err);
      const failed: StoredResult = { kind: 'failed', status: armStatus(err), body };
      await this.opts.engine.ctx.catalog.putOperation({ ...record, status: 'Failed', endTime, result: failed, error: body.error });
    });
    const tracked = done.catch((err: unknown) => {
      this.opts.engine.ctx.log.error('recording an operation result failed', { operation: record.id, error: String(err) });
    });
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }

  /** The operation of the path, only within its subscription. */
  async find(subscriptionId: string, id: string): Promise<OperationRecord | null> {
    const op = await this.opts.engine.ctx.catalog.getOperation(id);
    return op && op.subscriptionId === subscriptionId.toLowerCase() ? op : null;
  }

  /** GET on the Azure-AsyncOperation URL: the operation-status document (always 200). */
  async sendStatus(ctx: HttpContext, op: OperationRecord): Promise<void> {
    const doc: Record<string, unknown> = { startTime: op.startTime };
    if (op.endTime) doc.endTime = op.endTime;
    doc.status = op.status;
    const result = op.result as StoredResult | null;
    if (op.status === 'Succeeded' && result && result.kind !== 'failed' && result.kind !== 'empty') {
      doc.properties = { output: await this.output(result) };
    }
    if (op.status === 'Failed' && result?.kind === 'failed') doc.error = result.body.error;
    doc.name = op.id;
    ctx.json(200, doc, op.status === 'InProgress' ? { 'retry-after': '1' } : {});
  }

  /** GET on the Location URL: 202 while running, then the final result or the error. */
  async sendFinal(ctx: HttpContext, op: OperationRecord): Promise<void> {
    const result = op.result as StoredResult | null;
    if (op.status === 'InProgress' || result === null) {
      ctx.empty(202, { location: `${ctx.baseUrl}${ctx.path}?${ctx.query.toString()}`, 'retry-after': '1' });
      return;
    }
    switch (result.kind) {
      case 'failed':
        ctx.json(result.status, result.body);
        return;
      case 'empty':
        ctx.empty(result.status);
        return;
      default:
        ctx.json(200, await this.output(result));
    }
  }

  private async output(result: Exclude<FinalResult, { kind: 'empty' }>): Promise<unknown> {
    if (result.kind === 'resource') return (await this.opts.render(result.resource, result.uniqueId)) ?? result.json;
    const grant = await this.opts.engine.ctx.catalog.getGrant(result.grantId);
    return grant ? { accessSAS: this.opts.sas.url(result.baseUrl, grant) } : {};
  }
}

function acceptedHeaders(baseUrl: string, op: OperationRecord, style: OperationStyle, apiVersion: string): OutgoingHttpHeaders {
  const v = encodeURIComponent(apiVersion);
  if (style === 'arm') {
    return { location: `${baseUrl}/subscriptions/${op.subscriptionId}/operationresults/${op.id}?api-version=${v}`, 'retry-after': '0' };
  }
  const status = `${baseUrl}/subscriptions/${op.subscriptionId}/providers/Microsoft.Compute/locations/${op.location}/DiskOperations/${op.id}?api-version=${v}`;
  return { 'azure-asyncoperation': status, location: `${status}&monitor=true`, 'retry-after': '0' };
}

/** The two polling routes: Compute's DiskOperations and ARM's operationresults. */
export function registerOperationRoutes(arm: RouteRegistrar, deps: ArmDeps): void {
  const notFound = (id: string): SnapdiskError =>
    new SnapdiskError('NotFound', `The operation '${id}' was not found.`, { hint: 'Operation URLs come from the Azure-AsyncOperation and Location headers of a 202 response.' });

  arm.add('GET', '/subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/DiskOperations/{id}', async (ctx) => {
    const sub = ctx.param('sub');
    authorize(ctx, deps, sub, 'Microsoft.Compute/locations/DiskOperations/read');
    const op = await deps.ops.find(sub, ctx.param('id'));
    if (!op || !op.kind.startsWith('compute:')) throw notFound(ctx.param('id'));
    if ((ctx.query.get('monitor') ?? '').toLowerCase() === 'true') await deps.ops.sendFinal(ctx, op);
    else await deps.ops.sendStatus(ctx, op);
  });

  arm.add('GET', '/subscriptions/{sub}/operationresults/{id}', async (ctx) => {
    const sub = ctx.param('sub');
    authorize(ctx, deps, sub, 'Microsoft.Resources/subscriptions/operationresults/read');
    const op = await deps.ops.find(sub, ctx.param('id'));
    if (!op || !op.kind.startsWith('arm:')) throw notFound(ctx.param('id'));
    await deps.ops.sendFinal(ctx, op);
  });
}
