/**
 * @module api/arm/validate
 * Request bodies of the ARM surface, checked before anything is created: the known properties of
 * each level (azure-api.md §2, every api-version treated alike), their types, names and sizes.
 * A failure is a 400 CloudError with `target` naming the property.
 *
 * Properties snapdisk does not interpret but Azure stores (osType, hyperVGeneration, encryption,
 * networkAccessPolicy, ...) are kept verbatim in the record's `properties` and echoed on GET.
 * Read-only properties (id, uniqueId, provisioningState, ...) are accepted and ignored.
 */
import { invalid } from '../../core/errors.js';
import { parseResourceId } from '../../core/ids.js';
import type { CreateOption, CreationData, DiskSku, SnapshotSku } from '../../core/model.js';
import { MAX_UPLOAD_BYTES, parseDiskSku, parseSnapshotSku, validateDiskSizeGb, validateUploadSize } from '../../core/rules.js';
import { GiB } from '../../core/units.js';
import type { DiskPatch } from '../../engine/disks.js';
import type { GrantRequest } from '../../engine/grants.js';
import type { SnapshotPatch } from '../../engine/snapshots.js';
import { bool, int, isObject, obj, parseObject, str } from './schema.js';
import type { FieldKind, JsonObject, Schema } from './schema.js';

const RO: FieldKind = 'readonly';
const enumOf = (...values: string[]): FieldKind => ({ enum: values });

const ENCRYPTION: Schema = {
  diskEncryptionSetId: 'string',
  type: enumOf('EncryptionAtRestWithPlatformKey', 'EncryptionAtRestWithCustomerKey', 'EncryptionAtRestWithPlatformAndCustomerKeys'),
};

/** Writable properties stored and echoed without interpretation (disk and snapshot). */
const OPAQUE_COMMON: Schema = {
  osType: enumOf('Windows', 'Linux'),
  hyperVGeneration: enumOf('V1', 'V2'),
  purchasePlan: 'object',
  supportedCapabilities: 'object',
  encryptionSettingsCollection: 'object',
  encryption: { fields: ENCRYPTION },
  networkAccessPolicy: enumOf('AllowAll', 'AllowPrivate', 'DenyAll'),
  diskAccessId: 'string',
  securityProfile: 'object',
  supportsHibernation: 'boolean',
  publicNetworkAccess: enumOf('Enabled', 'Disabled'),
  dataAccessAuthMode: enumOf('AzureActiveDirectory', 'None'),
};

const OPAQUE_DISK: Schema = {
  ...OPAQUE_COMMON,
  diskIOPSReadWrite: 'integer',
  diskMBpsReadWrite: 'integer',
  diskIOPSReadOnly: 'integer',
  diskMBpsReadOnly: 'integer',
  tier: 'string',
  burstingEnabled: 'boolean',
  optimizedForFrequentAttach: 'boolean',
  availabilityPolicy: 'object',
};

const CREATION_DATA: Schema = {
  createOption: 'string',
  sourceResourceId: 'string',
  sourceUniqueId: RO,
  sourceUri: 'string',
  storageAccountId: 'string',
  uploadSizeBytes: 'integer',
  logicalSectorSize: 'integer',
  imageReference: 'object',
  galleryImageReference: 'object',
  securityDataUri: 'string',
  securityMetadataUri: 'string',
  performancePlus: 'boolean',
  elasticSanResourceId: 'string',
  provisionedBandwidthCopySpeed: enumOf('None', 'Enhanced'),
  instantAccessDurationMinutes: 'integer',
};

/** creationData fields the engine does not interpret: kept in `creationData.extra`. */
const CREATION_EXTRA = ['imageReference', 'galleryImageReference', 'securityDataUri', 'securityMetadataUri', 'performancePlus',
  'elasticSanResourceId', 'provisionedBandwidthCopySpeed', 'instantAccessDurationMinutes'] as const;

const DISK_PROPERTIES: Schema = {
  ...OPAQUE_DISK,
  creationData: { fields: CREATION_DATA },
  diskSizeGB: 'integer',
  maxShares: 'integer',
  completionPercent: RO,
  timeCreated: RO,
  diskSizeBytes: RO,
  uniqueId: RO,
  provisioningState: RO,
  diskState: RO,
  shareInfo: RO,
  burstingEnabledTime: RO,
  propertyUpdatesInProgress: RO,
  LastOwnershipUpdateTime: RO,
  headLost: RO,
};

const SNAPSHOT_PROPERTIES: Schema = {
  ...OPAQUE_COMMON,
  creationData: { fields: CREATION_DATA },
  diskSizeGB: 'integer',
  incremental: 'boolean',
  completionPercent: RO,
  copyCompletionError: RO,
  timeCreated: RO,
  diskSizeBytes: RO,
  diskState: RO,
  uniqueId: RO,
  provisioningState: RO,
  incrementalSnapshotFamilyId: RO,
  snapshotAccessState: RO,
};

const SKU: Schema = { name: 'string', tier: RO };

const TRACKED: Schema = { id: RO, name: RO, type: RO, etag: RO, systemData: RO, location: 'string', tags: 'tags', sku: { fields: SKU }, extendedLocation: 'object', managedBy: RO };

const DISK: Schema = { ...TRACKED, zones: 'strings', managedByExtended: RO, properties: { fields: DISK_PROPERTIES } };
const SNAPSHOT: Schema = { ...TRACKED, properties: { fields: SNAPSHOT_PROPERTIES } };

const DISK_UPDATE_PROPERTIES: Schema = { ...OPAQUE_DISK, diskSizeGB: 'integer', maxShares: 'integer' };
const SNAPSHOT_UPDATE_PROPERTIES: Schema = { ...OPAQUE_COMMON, diskSizeGB: 'integer' };
const DISK_UPDATE: Schema = { tags: 'tags', sku: { fields: SKU }, properties: { fields: DISK_UPDATE_PROPERTIES } };
const SNAPSHOT_UPDATE: Schema = { tags: 'tags', sku: { fields: SKU }, properties: { fields: SNAPSHOT_UPDATE_PROPERTIES } };

/** Create options snapdisk serves; the other values of the Azure enum get a clear refusal. */
const SUPPORTED_OPTIONS: readonly CreateOption[] = ['Empty', 'Copy', 'Upload', 'CopyStart', 'Import'];
const AZURE_ONLY_OPTIONS = ['Attach', 'FromImage', 'ImportSecure', 'UploadPreparedSecure', 'CopyFromSanSnapshot', 'Restore'];

const T_CD = 'properties.creationData';

/** `West US` → `westus`, as ARM normalises locations. */
export function normaliseLocation(location: string): string {
  return location.toLowerCase().replace(/\s+/g, '');
}

function requireLocation(body: JsonObject): string {
  const location = str(body, 'location');
  if (location === undefined || location.trim() === '') {
    throw invalid("The property 'location' is required.", 'location', 'Give the region, e.g. "location": "eastus".');
  }
  return normaliseLocation(location);
}

function refuseEdgeZone(body: JsonObject): void {
  if (body.extendedLocation !== undefined) {
    throw invalid('Edge zones (extendedLocation) are not available on this server.', 'extendedLocation', 'Remove extendedLocation.');
  }
}

function createOptionOf(cd: JsonObject): CreateOption {
  const raw = str(cd, 'createOption');
  if (raw === undefined) throw invalid(`The property '${T_CD}.createOption' is required.`, `${T_CD}.createOption`);
  const found = SUPPORTED_OPTIONS.find((o) => o.toLowerCase() === raw.toLowerCase());
  if (found) return found;
  const azure = AZURE_ONLY_OPTIONS.find((o) => o.toLowerCase() === raw.toLowerCase());
  throw invalid(
    azure
      ? `createOption '${azure}' is not supported by this server.`
      : `The value '${raw}' of ${T_CD}.createOption is not a create option.`,
    `${T_CD}.createOption`,
    `Use one of ${SUPPORTED_OPTIONS.join(', ')}.`,
  );
}

/** creationData: the create option and the source fields it needs. */
export function parseCreationData(cd: JsonObject | undefined): CreationData {
  if (cd === undefined) throw invalid(`The property '${T_CD}' is required.`, T_CD, 'Give at least {"createOption": "Empty"}.');
  const createOption = createOptionOf(cd);
  const out: CreationData = { createOption };
  const sourceResourceId = str(cd, 'sourceResourceId');
  if (sourceResourceId !== undefined) {
    parseResourceId(sourceResourceId, `${T_CD}.sourceResourceId`);
    out.sourceResourceId = sourceResourceId;
  }
  const sourceUri = str(cd, 'sourceUri');
  if (sourceUri !== undefined) out.sourceUri = sourceUri;
  const storageAccountId = str(cd, 'storageAccountId');
  if (storageAccountId !== undefined) out.storageAccountId = storageAccountId;
  const upload = int(cd, 'uploadSizeBytes');
  if (upload !== undefined) out.uploadSizeBytes = validateUploadSize(upload);
  const sector = int(cd, 'logicalSectorSize');
  if (sector !== undefined) {
    if (sector !== 512 && sector !== 4096) throw invalid(`The value '${sector}' of ${T_CD}.logicalSectorSize must be 512 or 4096.`, `${T_CD}.logicalSectorSize`);
    out.logicalSectorSize = sector;
  }
  const extra: JsonObject = {};
  for (const k of CREATION_EXTRA) if (cd[k] !== undefined) extra[k] = cd[k];
  if (Object.keys(extra).length > 0) out.extra = extra;
  requireSource(out);
  return out;
}

function requireSource(cd: CreationData): void {
  const needsId = cd.createOption === 'Copy' || cd.createOption === 'CopyStart';
  if (needsId && cd.sourceResourceId === undefined) {
    throw invalid(`sourceResourceId is required when createOption is ${cd.createOption}.`, `${T_CD}.sourceResourceId`);
  }
  if (cd.createOption === 'Import' && cd.sourceUri === undefined) {
    throw invalid('sourceUri is required when createOption is Import.', `${T_CD}.sourceUri`, 'Give the SAS URL of a disk or snapshot of this server (beginGetAccess).');
  }
  if (cd.createOption === 'Upload' && cd.uploadSizeBytes === undefined) {
    throw invalid('uploadSizeBytes is required when createOption is Upload.', `${T_CD}.uploadSizeBytes`);
  }
}

/** The writable, uninterpreted properties of a checked `properties` object. */
function opaque(props: JsonObject, schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(schema)) if (props[k] !== undefined) out[k] = props[k];
  return out;
}

function sizeGb(props: JsonObject): number | undefined {
  const gb = int(props, 'diskSizeGB');
  if (gb !== undefined) validateDiskSizeGb(gb);
  return gb;
}

function maxShares(props: JsonObject): number | undefined {
  const n = int(props, 'maxShares');
  if (n !== undefined && (n < 1 || n > 15)) throw invalid(`maxShares must be between 1 and 15, not ${n}.`, 'properties.maxShares');
  return n;
}

function skuName(body: JsonObject): string | undefined {
  const sku = obj(body, 'sku');
  return sku ? str(sku, 'name') : undefined;
}

export interface DiskPut {
  location: string;
  sku?: DiskSku;
  zones?: string[];
  tags?: Record<string, string>;
  sizeGb?: number;
  maxShares?: number;
  creationData: CreationData;
  properties: Record<string, unknown>;
}

/** PUT body of a disk. */
export function parseDiskPut(raw: unknown): DiskPut {
  const body = parseObject(raw, DISK, '', 'a disk');
  refuseEdgeZone(body);
  const props = obj(body, 'properties') ?? {};
  const creationData = parseCreationData(obj(props, 'creationData'));
  const gb = sizeGb(props);
  if (creationData.createOption === 'Empty' && gb === undefined) {
    throw invalid('diskSizeGB is required when createOption is Empty.', 'properties.diskSizeGB');
  }
  const sku = skuName(body);
  const shares = maxShares(props);
  const zones = body.zones as string[] | undefined;
  const tags = body.tags as Record<string, string> | undefined;
  return {
    location: requireLocation(body),
    ...(sku !== undefined ? { sku: parseDiskSku(sku) } : {}),
    ...(zones !== undefined ? { zones } : {}),
    ...(tags !== undefined ? { tags } : {}),
    ...(gb !== undefined ? { sizeGb: gb } : {}),
    ...(shares !== undefined ? { maxShares: shares } : {}),
    creationData,
    properties: opaque(props, OPAQUE_DISK),
  };
}

/** PATCH body of a disk (DiskUpdate). */
export function parseDiskPatch(raw: unknown): DiskPatch {
  const body = parseObject(raw ?? {}, DISK_UPDATE, '', 'a disk update');
  const props = obj(body, 'properties') ?? {};
  const sku = skuName(body);
  const gb = sizeGb(props);
  const shares = maxShares(props);
  const properties = opaque(props, OPAQUE_DISK);
  return {
    ...(body.tags !== undefined ? { tags: body.tags as Record<string, string> } : {}),
    ...(sku !== undefined ? { sku: parseDiskSku(sku) } : {}),
    ...(gb !== undefined ? { sizeGb: gb } : {}),
    ...(shares !== undefined ? { maxShares: shares } : {}),
    ...(Object.keys(properties).length > 0 ? { properties } : {}),
  };
}

export interface SnapshotPut {
  location: string;
  sku?: SnapshotSku;
  incremental?: boolean;
  tags?: Record<string, string>;
  sizeGb?: number;
  creationData: CreationData;
  properties: Record<string, unknown>;
}

/**
 * `az snapshot create --for-upload` (az 2.45) has no `--upload-size-bytes`: it sends createOption
 * Upload with `diskSizeGB` only. Without `uploadSizeBytes` the upload is then that size plus the
 * 512-byte footer (an inference: Azure had no `uploadSizeBytes` before api-version 2019-03-01).
 */
function uploadSizeFromGb(cd: JsonObject | undefined, gb: number | undefined): JsonObject | undefined {
  if (cd === undefined || gb === undefined || str(cd, 'createOption')?.toLowerCase() !== 'upload' || int(cd, 'uploadSizeBytes') !== undefined) return cd;
  const bytes = gb * GiB + 512;
  if (bytes > MAX_UPLOAD_BYTES) {
    throw invalid(`diskSizeGB ${gb} is too large for an upload: at most ${(MAX_UPLOAD_BYTES - 512) / GiB} GiB.`, 'properties.diskSizeGB', 'Give uploadSizeBytes (the VHD file size, footer included) instead.');
  }
  return { ...cd, uploadSizeBytes: bytes };
}

/** PUT body of a snapshot. */
export function parseSnapshotPut(raw: unknown): SnapshotPut {
  const body = parseObject(raw, SNAPSHOT, '', 'a snapshot');
  refuseEdgeZone(body);
  const props = obj(body, 'properties') ?? {};
  const gb = sizeGb(props);
  const creationData = parseCreationData(uploadSizeFromGb(obj(props, 'creationData'), gb));
  const sku = skuName(body);
  const incremental = bool(props, 'incremental');
  return {
    location: requireLocation(body),
    ...(sku !== undefined ? { sku: parseSnapshotSku(sku) } : {}),
    ...(incremental !== undefined ? { incremental } : {}),
    ...(body.tags !== undefined ? { tags: body.tags as Record<string, string> } : {}),
    ...(gb !== undefined ? { sizeGb: gb } : {}),
    creationData,
    properties: opaque(props, OPAQUE_COMMON),
  };
}

/** PATCH body of a snapshot (SnapshotUpdate). `diskSizeGB` other than the current size is refused by the engine. */
export function parseSnapshotPatch(raw: unknown): SnapshotPatch {
  const body = parseObject(raw ?? {}, SNAPSHOT_UPDATE, '', 'a snapshot update');
  const props = obj(body, 'properties') ?? {};
  const gb = sizeGb(props);
  const sku = skuName(body);
  const properties = opaque(props, OPAQUE_COMMON);
  return {
    ...(body.tags !== undefined ? { tags: body.tags as Record<string, string> } : {}),
    ...(sku !== undefined ? { sku: parseSnapshotSku(sku) } : {}),
    ...(gb !== undefined ? { sizeGb: gb } : {}),
    ...(Object.keys(properties).length > 0 ? { properties } : {}),
  };
}

const GRANT: Schema = {
  access: enumOf('None', 'Read', 'Write'),
  durationInSeconds: 'integer',
  getSecureVMGuestStateSAS: 'boolean',
  fileFormat: enumOf('VHD', 'VHDX'),
};

/** beginGetAccess body (GrantAccessData). */
export function parseGrant(raw: unknown): GrantRequest {
  const body = parseObject(raw, GRANT, '', 'a GrantAccessData');
  const access = str(body, 'access');
  if (access === undefined) throw invalid("The property 'access' is required.", 'access', 'Use Read, or Write for an upload disk.');
  if (access === 'None') throw invalid("access 'None' grants nothing.", 'access', 'Use Read, or Write for an upload disk.');
  const duration = int(body, 'durationInSeconds');
  if (duration === undefined) throw invalid("The property 'durationInSeconds' is required.", 'durationInSeconds');
  if (bool(body, 'getSecureVMGuestStateSAS') === true) {
    throw invalid('Secure VM guest state SAS URLs are not available on this server.', 'getSecureVMGuestStateSAS');
  }
  const fileFormat = str(body, 'fileFormat');
  return { access, durationInSeconds: duration, ...(fileFormat !== undefined ? { fileFormat } : {}) };
}

const GROUP: Schema = { id: RO, name: RO, type: RO, location: 'string', tags: 'tags', managedBy: 'string', properties: 'object' };

/** Resource group PUT body. */
export function parseGroupPut(raw: unknown): { location: string; tags?: Record<string, string> } {
  const body = parseObject(raw, GROUP, '', 'a resource group');
  const tags = body.tags as Record<string, string> | undefined;
  return { location: requireLocation(body), ...(tags !== undefined ? { tags } : {}) };
}

const MOVE: Schema = { resources: 'strings', targetResourceGroup: 'string' };

/** moveResources / validateMoveResources body. */
export function parseMove(raw: unknown): { resources: string[]; targetResourceGroup: string } {
  const body = parseObject(raw, MOVE, '', 'a move request');
  const resources = body.resources as string[] | undefined;
  if (resources === undefined || resources.length === 0) {
    throw invalid("The property 'resources' must list at least one resource id.", 'resources');
  }
  const target = str(body, 'targetResourceGroup');
  if (target === undefined) {
    throw invalid("The property 'targetResourceGroup' is required.", 'targetResourceGroup', 'Give /subscriptions/{id}/resourceGroups/{name}.');
  }
  return { resources, targetResourceGroup: target };
}

export { isObject };
