/**
 * @module api/arm/routes
 * The Azure Resource Manager surface (operational-contract.md "Azure Resource Manager surface"),
 * registered on the shared router with the ARM error mapper:
 *
 *   subscriptions.ts  GET /subscriptions, /subscriptions/{sub}, /subscriptions/{sub}/locations, /tenants
 *   groups.ts         resource groups: PUT, PATCH, GET, HEAD, DELETE (LRO), list
 *   disks.ts          Microsoft.Compute/disks      ┐ PUT, PATCH, GET, DELETE, lists,
 *   snapshots.ts      Microsoft.Compute/snapshots  ┘ beginGetAccess, endGetAccess (compute.ts)
 *   operations.ts     DiskOperations and operationresults polling
 *   move.ts           moveResources, validateMoveResources
 *   usage.ts          Microsoft.Consumption/usageDetails
 *   admin.ts          Snapdisk.Admin: verify, gc (operator endpoints, not Azure's)
 *
 *   const arm = registerArmRoutes(router, { engine, identity, sas });
 *   …
 *   await arm.drain();   // on shutdown, before engine.close()
 */
import type { Engine } from '../../engine/engine.js';
import { registerAdminRoutes } from './admin.js';
import type { SasSigner } from '../blob/sas.js';
import type { Router } from '../http/router.js';
import type { Identity } from '../identity/identity.js';
import { diskJson, snapshotJson } from './dto.js';
import { redirectToOwner } from '../http/errors.js';
import { armErrorMapper } from './errors.js';
import { registerDiskRoutes } from './disks.js';
import { registerGroupRoutes } from './groups.js';
import { registerMoveRoutes } from './move.js';
import { Operations, registerOperationRoutes } from './operations.js';
import type { ArmDeps } from './request.js';
import { registerSnapshotRoutes } from './snapshots.js';
import { registerSubscriptionRoutes } from './subscriptions.js';
import { registerUsageRoutes } from './usage.js';

export interface ArmOptions {
  engine: Engine;
  identity: Identity;
  sas: SasSigner;
  /** Items per list page before a `nextLink` (default 100). */
  pageSize?: number;
  /** How long a write waits for its work before answering 202 InProgress (default 5000 ms). */
  syncWaitMs?: number;
}

export interface ArmSurface {
  /** Waits until every background operation has recorded its result. */
  drain(): Promise<void>;
}

export function registerArmRoutes(router: Router, options: ArmOptions): ArmSurface {
  const { engine } = options;
  const ops = new Operations({
    engine,
    sas: options.sas,
    ...(options.syncWaitMs !== undefined ? { syncWaitMs: options.syncWaitMs } : {}),
    render: async (kind, uniqueId) => {
      if (kind === 'disks') {
        const d = await engine.ctx.catalog.getDiskById(uniqueId);
        return d ? diskJson(engine, d) : null;
      }
      const s = await engine.ctx.catalog.getSnapshotById(uniqueId);
      return s ? snapshotJson(engine, s) : null;
    },
  });
  const deps: ArmDeps = { engine, identity: options.identity, sas: options.sas, ops, pageSize: options.pageSize ?? 100 };
  const arm = router.group(redirectToOwner(armErrorMapper));
  registerSubscriptionRoutes(arm, deps);
  registerGroupRoutes(arm, deps);
  registerDiskRoutes(arm, deps);
  registerSnapshotRoutes(arm, deps);
  registerOperationRoutes(arm, deps);
  registerMoveRoutes(arm, deps);
  registerUsageRoutes(arm, deps);
  registerAdminRoutes(arm, deps);
  return { drain: () => ops.drain() };
}
