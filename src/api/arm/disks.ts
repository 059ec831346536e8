/**
 * @module api/arm/disks
 * `Microsoft.Compute/disks` on the shared compute routes: the PUT body becomes a `DiskSpec`
 * (create options Empty, Upload, Copy from a disk or snapshot, Import from a SAS URL of this
 * server), the PATCH body a `DiskPatch`. A PUT on an existing disk updates its updatable fields;
 * its location cannot change.
 */
import { invalid } from '../../core/errors.js';
import type { DiskRecord, ResourceGroup, ResourceKey } from '../../core/model.js';
import type { Engine } from '../../engine/engine.js';
import type { RouteRegistrar } from '../http/router.js';
import type { Caller } from '../identity/identity.js';
import { registerComputeRoutes } from './compute.js';
import type { Accepted, ComputeAdapter } from './compute.js';
import { diskJson } from './dto.js';
import type { ArmDeps } from './request.js';
import { resolveSource } from './sources.js';
import { parseDiskPatch, parseDiskPut } from './validate.js';

export function sameLocation(existing: { location: string; name: string } | null, location: string): void {
  if (existing && existing.location !== location) {
    throw invalid(
      `The location of ${existing.name} is ${existing.location}; it cannot change to ${location}.`,
      'location',
      'Create a copy in the other region instead.',
    );
  }
}

class DiskAdapter implements ComputeAdapter<DiskRecord> {
  readonly kind = 'disks';
  readonly noun = 'disk';

  constructor(private readonly deps: ArmDeps) {}

  private get engine(): Engine {
    return this.deps.engine;
  }

  find(key: ResourceKey): Promise<DiskRecord | null> {
    return this.engine.disks.find(key);
  }

  get(key: ResourceKey): Promise<DiskRecord> {
    return this.engine.disks.get(key);
  }

  list(filter: { subscriptionId: string; resourceGroup?: string }): Promise<DiskRecord[]> {
    return this.engine.disks.list(filter);
  }

  json(d: DiskRecord): Promise<Record<string, unknown>> {
    return Promise.resolve(diskJson(this.engine, d));
  }

  async put(raw: unknown, key: ResourceKey, _group: ResourceGroup, existing: DiskRecord | null, caller: Caller): Promise<Accepted<DiskRecord>> {
    const body = parseDiskPut(raw);
    sameLocation(existing, body.location);
    const source = existing ? { creationData: body.creationData, inherited: {} } : await resolveSource(this.deps, caller, body.creationData);
    const spec = {
      ...key,
      location: body.location,
      creationData: source.creationData,
      properties: { ...source.inherited, ...body.properties },
      ...(body.sku !== undefined ? { sku: body.sku } : {}),
      ...(body.zones !== undefined ? { zones: body.zones } : {}),
      ...(body.tags !== undefined ? { tags: body.tags } : {}),
      ...(body.sizeGb !== undefined ? { sizeGb: body.sizeGb } : {}),
      ...(body.maxShares !== undefined ? { maxShares: body.maxShares } : {}),
    };
    return { location: body.location, work: async () => (await this.engine.disks.createOrUpdate(spec)).disk };
  }

  patch(raw: unknown, existing: DiskRecord): Accepted<DiskRecord> {
    const patch = parseDiskPatch(raw);
    return { location: existing.location, work: () => this.engine.disks.update(existing, patch) };
  }

  deleteRecord(d: DiskRecord): Promise<void> {
    return this.engine.disks.deleteRecord(d);
  }

  grantTarget(disk: DiskRecord) {
    return { kind: 'disk' as const, disk };
  }
}

export function registerDiskRoutes(arm: RouteRegistrar, deps: ArmDeps): void {
  registerComputeRoutes(arm, deps, new DiskAdapter(deps));
}
