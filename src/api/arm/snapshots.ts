/**
 * @module api/arm/snapshots
 * `Microsoft.Compute/snapshots` on the shared compute routes. The PUT body becomes a
 * `SnapshotSpec`: Copy of a disk (incremental or full) or of a snapshot, Import from a SAS URL
 * of this server, CopyStart (routed to the engine, which owns cross-region copies), Upload (a full
 * snapshot written through a Write SAS, engine/snapshot-uploads). A PUT on an
 * existing snapshot only updates tags, sku and the stored properties: it never takes a second
 * snapshot. Every rule (incremental sku, subscription, rate and count limits) is the engine's.
 */
import type { ResourceGroup, ResourceKey, SnapshotRecord } from '../../core/model.js';
import type { Engine } from '../../engine/engine.js';
import type { SnapshotSpec } from '../../engine/snapshots.js';
import type { RouteRegistrar } from '../http/router.js';
import type { Caller } from '../identity/identity.js';
import { registerComputeRoutes } from './compute.js';
import type { Accepted, ComputeAdapter } from './compute.js';
import { sameLocation } from './disks.js';
import { snapshotJson } from './dto.js';
import type { ArmDeps } from './request.js';
import { resolveSource } from './sources.js';
import { parseSnapshotPatch, parseSnapshotPut } from './validate.js';

class SnapshotAdapter implements ComputeAdapter<SnapshotRecord> {
  readonly kind = 'snapshots';
  readonly noun = 'snapshot';

  constructor(private readonly deps: ArmDeps) {}

  private get engine(): Engine {
    return this.deps.engine;
  }

  find(key: ResourceKey): Promise<SnapshotRecord | null> {
    return this.engine.snapshots.find(key);
  }

  get(key: ResourceKey): Promise<SnapshotRecord> {
    return this.engine.snapshots.get(key);
  }

  list(filter: { subscriptionId: string; resourceGroup?: string }): Promise<SnapshotRecord[]> {
    return this.engine.snapshots.list(filter);
  }

  json(s: SnapshotRecord): Promise<Record<string, unknown>> {
    return snapshotJson(this.engine, s);
  }

  async put(
    raw: unknown,
    key: ResourceKey,
    _group: ResourceGroup,
    existing: SnapshotRecord | null,
    caller: Caller,
  ): Promise<Accepted<SnapshotRecord>> {
    const body = parseSnapshotPut(raw);
    sameLocation(existing, body.location);
    const source = existing ? { creationData: body.creationData, inherited: {} } : await resolveSource(this.deps, caller, body.creationData);
    const spec: SnapshotSpec = {
      ...key,
      location: body.location,
      creationData: source.creationData,
      properties: { ...source.inherited, ...body.properties },
      ...(body.sku !== undefined ? { sku: body.sku } : {}),
      ...(body.incremental !== undefined ? { incremental: body.incremental } : {}),
      ...(body.tags !== undefined ? { tags: body.tags } : {}),
      ...(existing && body.sizeGb !== undefined ? { sizeGb: body.sizeGb } : {}),
    };
    return { location: body.location, work: async () => (await this.engine.snapshots.createOrUpdate(spec)).snapshot };
  }

  patch(raw: unknown, existing: SnapshotRecord): Accepted<SnapshotRecord> {
    const patch = parseSnapshotPatch(raw);
    return { location: existing.location, work: () => this.engine.snapshots.update(existing, patch) };
  }

  deleteRecord(s: SnapshotRecord): Promise<void> {
    return this.engine.snapshots.deleteRecord(s);
  }

  grantTarget(snapshot: SnapshotRecord) {
    return { kind: 'snapshot' as const, snapshot };
  }
}

export function registerSnapshotRoutes(arm: RouteRegistrar, deps: ArmDeps): void {
  registerComputeRoutes(arm, deps, new SnapshotAdapter(deps));
}
