/**
 * @module api/arm/request
 * What every ARM handler does first, in one place: authenticate the bearer token, authorise the
 * subscription of the path for the caller (and any other subscription a request names, such as a
 * source resource), read the JSON body, and know the api-version to echo in URLs it builds.
 *
 * Any api-version is accepted (azure-api.md §0); a request without one is served too, and the
 * URLs built for it (nextLink, operation URLs) carry `DEFAULT_API_VERSION`.
 */
import { randomUUID } from 'node:crypto';
import { SnapdiskError } from '../../core/errors.js';
import type { ResourceGroup } from '../../core/model.js';
import type { Engine } from '../../engine/engine.js';
import type { SasSigner } from '../blob/sas.js';
import type { HttpContext } from '../http/context.js';
import type { Caller, Identity } from '../identity/identity.js';
import { ArmError } from './errors.js';
import type { Operations } from './operations.js';

export const DEFAULT_API_VERSION = '2025-01-02';

/** Largest ARM request body (Azure's limit is 4 MiB; disk and snapshot bodies are tiny). */
const BODY_LIMIT = 1024 * 1024;

export interface ArmDeps {
  engine: Engine;
  identity: Identity;
  sas: SasSigner;
  ops: Operations;
  /** Items per list page before a `nextLink` (default 100). */
  pageSize: number;
}

/** The api-version of the request (echoed into nextLink and operation URLs). */
export function apiVersion(ctx: HttpContext): string {
  return ctx.query.get('api-version') ?? DEFAULT_API_VERSION;
}

/** Authenticates the request; also sets the correlation header ARM sends on every response. */
export function authenticate(ctx: HttpContext, deps: ArmDeps): Caller {
  const correlation = ctx.header('x-ms-correlation-request-id');
  ctx.res.setHeader('x-ms-correlation-request-id', correlation && /^[\w-]{1,100}$/.test(correlation) ? correlation : randomUUID());
  return deps.identity.authenticate(ctx);
}

/** Authenticates the request and authorises `subscriptionId` (the path's) for the caller. */
export function authorize(ctx: HttpContext, deps: ArmDeps, subscriptionId: string, action: string): Caller {
  const caller = authenticate(ctx, deps);
  deps.identity.authorize(caller, subscriptionId, action);
  return caller;
}

/** Authorises one more subscription for an authenticated caller (e.g. a source resource's). */
export function authorizeAlso(deps: ArmDeps, caller: Caller, subscriptionId: string, action: string): void {
  deps.identity.authorize(caller, subscriptionId, action);
}

/** The JSON body; malformed JSON is 400 `InvalidRequestContent` and nothing happens. */
export async function readBody(ctx: HttpContext): Promise<unknown> {
  try {
    return await ctx.readJson(BODY_LIMIT);
  } catch (err) {
    if (err instanceof SnapdiskError && err.code === 'BadRequest') {
      throw new ArmError('BadRequest', 'InvalidRequestContent', err.message, {
        target: 'body',
        hint: 'Send a valid JSON document with Content-Type: application/json.',
      });
    }
    throw err;
  }
}

/** The resource group of the path, refusing new resources in a group being deleted. */
export async function groupForWrite(deps: ArmDeps, subscriptionId: string, name: string): Promise<ResourceGroup> {
  const group = await deps.engine.resources.requireGroup(subscriptionId, name);
  if (group.provisioningState === 'Deleting') {
    throw new ArmError('Conflict', 'ResourceGroupBeingDeleted', `The resource group '${group.name}' is in deprovisioning state and cannot perform this operation.`);
  }
  return group;
}
