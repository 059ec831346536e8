/**
 * @module api/arm/dto
 * Engine records → the JSON Azure returns (azure-api.md §2): canonical casing, lowercase
 * locations, read-only properties computed from the record (`uniqueId`, `timeCreated`,
 * `diskSizeGB`/`diskSizeBytes`, `provisioningState`, `diskState`, `incrementalSnapshotFamilyId`,
 * `creationData.sourceUniqueId`, `completionPercent`, `copyCompletionError`, `sku.tier`), the
 * stored writable properties echoed verbatim over the platform defaults Azure shows
 * (`encryption`, `networkAccessPolicy`, `publicNetworkAccess`). Absent values are omitted, never
 * `null`, as in Azure's recorded responses.
 */
import { resourceId } from '../../core/ids.js';
import type { CreationData, DiskRecord, ResourceGroup, SnapshotRecord, Subscription } from '../../core/model.js';
import { defaultTier, redactSasSignature, skuTier } from '../../core/rules.js';
import { GiB } from '../../core/units.js';
import type { Engine } from '../../engine/engine.js';

export type Json = Record<string, unknown>;

const PLATFORM_DEFAULTS: Json = {
  encryption: { type: 'EncryptionAtRestWithPlatformKey' },
  networkAccessPolicy: 'AllowAll',
  publicNetworkAccess: 'Enabled',
};

/** Whole GiB as Azure reports them (an upload disk of 20 MiB shows 1). */
export function sizeGbOf(bytes: number): number {
  return Math.ceil(bytes / GiB);
}

export function creationDataJson(cd: CreationData): Json {
  const { extra, ...fields } = cd;
  const out: Json = { ...(extra ?? {}) };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined && v !== null) out[k] = v;
  // the SAS of an Import is the caller's secret: its signature is never echoed
  if (typeof out.sourceUri === 'string') out.sourceUri = redactSasSignature(out.sourceUri);
  return out;
}

function tracked(id: string, name: string, type: string, location: string, tags: Record<string, string>): Json {
  return { name, id, type, location, tags };
}

/** A disk as Azure returns it. */
export function diskJson(engine: Engine, d: DiskRecord): Json {
  const sizeGb = sizeGbOf(d.sizeBytes);
  const props: Json = { ...PLATFORM_DEFAULTS, ...d.properties };
  props.creationData = creationDataJson(d.creationData);
  props.diskSizeGB = sizeGb;
  if (d.maxShares > 1) props.maxShares = d.maxShares;
  if (d.hydration !== 'none') props.completionPercent = engine.disks.completionPercent(d);
  props.timeCreated = d.timeCreated;
  props.provisioningState = d.provisioningState;
  // several nodes: the head was on a node that stopped (provisioningState is Failed meanwhile)
  if (d.headLost) props.headLost = { node: d.headLost.node, since: d.headLost.since, message: d.headLost.message };
  props.diskState = d.diskState;
  props.diskSizeBytes = d.sizeBytes;
  props.uniqueId = d.uniqueId;
  if (props.tier === undefined) {
    const tier = defaultTier(d.sku, d.sizeBytes);
    if (tier) props.tier = tier;
  }
  const out = tracked(resourceId('disks', d), d.name, 'Microsoft.Compute/disks', d.location, d.tags);
  if (d.managedBy) out.managedBy = d.managedBy;
  out.sku = { name: d.sku, tier: skuTier(d.sku) };
  if (d.zones.length > 0) out.zones = [...d.zones];
  out.properties = props;
  return out;
}

/** A snapshot as Azure returns it (reads its background-copy status). */
export async function snapshotJson(engine: Engine, s: SnapshotRecord): Promise<Json> {
  const st = await engine.snapshots.status(s);
  const props: Json = { ...PLATFORM_DEFAULTS, ...s.properties };
  props.creationData = creationDataJson(s.creationData);
  props.diskSizeGB = sizeGbOf(s.sizeBytes);
  props.timeCreated = s.timeCreated;
  props.provisioningState = st.provisioningState;
  props.diskState = s.diskState;
  props.diskSizeBytes = s.sizeBytes;
  props.uniqueId = s.uniqueId;
  props.incremental = s.incremental;
  if (s.incremental) props.incrementalSnapshotFamilyId = s.familyId;
  props.completionPercent = st.completionPercent;
  if (st.copyCompletionError) props.copyCompletionError = { ...st.copyCompletionError };
  props.snapshotAccessState = st.completionPercent < 100 ? 'Pending' : 'Available';
  const out = tracked(resourceId('snapshots', s), s.name, 'Microsoft.Compute/snapshots', s.location, s.tags);
  out.sku = { name: s.sku, tier: skuTier(s.sku) };
  out.properties = props;
  return out;
}

export function groupId(subscriptionId: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${name}`;
}

/** A resource group as ARM returns it. */
export function groupJson(g: ResourceGroup): Json {
  const out: Json = {
    id: groupId(g.subscriptionId, g.name),
    name: g.name,
    type: 'Microsoft.Resources/resourceGroups',
    location: g.location,
  };
  if (Object.keys(g.tags).length > 0) out.tags = g.tags;
  out.properties = { provisioningState: g.provisioningState };
  return out;
}

/** A subscription as ARM returns it (`GET /subscriptions`, what `az login` reads). */
export function subscriptionJson(s: Subscription): Json {
  return {
    id: `/subscriptions/${s.subscriptionId}`,
    authorizationSource: 'RoleBased',
    managedByTenants: [],
    subscriptionId: s.subscriptionId,
    tenantId: s.tenantId,
    homeTenantId: s.tenantId,
    displayName: s.displayName,
    state: s.state,
    subscriptionPolicies: { locationPlacementId: 'Public_2014-09-01', quotaId: 'PayAsYouGo_2014-09-01', spendingLimit: 'Off' },
  };
}

const REGION_NAMES: Readonly<Record<string, string>> = { eastus: 'East US', westus: 'West US' };

/** A location of `GET /subscriptions/{sub}/locations`. */
export function locationJson(subscriptionId: string, name: string, zones: readonly string[]): Json {
  const displayName = REGION_NAMES[name] ?? name;
  return {
    id: `/subscriptions/${subscriptionId}/locations/${name}`,
    name,
    displayName,
    regionalDisplayName: displayName,
    type: 'Region',
    metadata: { regionType: 'Physical', regionCategory: 'Recommended' },
    availabilityZoneMappings: zones.map((z) => ({ logicalZone: z, physicalZone: `${name}-az${z}` })),
  };
}
