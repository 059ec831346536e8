/**
 * @module core/rules
 * The limits and rules of the requirement document as pure functions: defaults (Azure's), sku
 * classes, names and sizes. The engine calls these; the config file may raise the limits.
 */

import { invalid, notAllowed, SnapdiskError } from './errors.js';
import { tryParseResourceId } from './ids.js';
import type { CreationData, DiskSku, SectorSize, SnapshotSku } from './model.js';
import { DISK_SKUS, SNAPSHOT_SKUS } from './model.js';
import { GiB, MAX_DISK_SIZE_GB } from './units.js';

export interface Limits {
  incrementalSnapshotsPerDiskPer5Minutes: number;
  incrementalSnapshotsPerDisk: number;
  activeSasPerSnapshotFamily: number;
  pendingSnapshotsPerDiskDuringBackgroundCopy: number;
  concurrentDiskCreationsPerSnapshot: number;
  maxSasDurationSeconds: number;
  /** Cross-region copies (CopyStart) running at once per subscription and target region. */
  copyStartPerSubscriptionPerRegion: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  incrementalSnapshotsPerDiskPer5Minutes: 7,
  incrementalSnapshotsPerDisk: 500,
  activeSasPerSnapshotFamily: 5,
  pendingSnapshotsPerDiskDuringBackgroundCopy: 3,
  concurrentDiskCreationsPerSnapshot: 5,
  maxSasDurationSeconds: 5_184_000,
  copyStartPerSubscriptionPerRegion: 100,
});

export const RATE_WINDOW_MS = 5 * 60 * 1000;

export interface RegionConfig {
  zones: string[];
}

export const DEFAULT_REGIONS: Readonly<Record<string, RegionConfig>> = Object.freeze({
  eastus: { zones: ['1', '2', '3'] },
  westus: { zones: [] },
});

/** Ultra Disks and Premium SSD v2 have the extra restrictions of the requirement document. */
export function isUltraClass(sku: DiskSku | null | undefined): boolean {
  return sku === 'UltraSSD_LRS' || sku === 'PremiumV2_LRS';
}

export function parseDiskSku(value: unknown, target = 'sku.name'): DiskSku {
  const found = DISK_SKUS.find((s) => typeof value === 'string' && s.toLowerCase() === value.toLowerCase());
  if (!found) {
    throw invalid(`The value '${String(value)}' of ${target} is not a disk sku.`, target, `Use one of ${DISK_SKUS.join(', ')}.`);
  }
  return found;
}

export function parseSnapshotSku(value: unknown, target = 'sku.name'): SnapshotSku {
  const found = SNAPSHOT_SKUS.find((s) => typeof value === 'string' && s.toLowerCase() === value.toLowerCase());
  if (!found) {
    throw invalid(
      `The value '${String(value)}' of ${target} is not a snapshot sku.`,
      target,
      `Use one of ${SNAPSHOT_SKUS.join(', ')}.`,
    );
  }
  return found;
}

/** `sku.tier` as Azure reports it. */
export function skuTier(sku: DiskSku | SnapshotSku): string {
  if (sku.startsWith('PremiumV2')) return 'Premium';
  if (sku.startsWith('Premium')) return 'Premium';
  if (sku.startsWith('UltraSSD')) return 'Ultra';
  return 'Standard';
}

/**
 * The sku of a new incremental snapshot: an explicit one wins (it must be a standard one);
 * otherwise ZRS where the region has zones, LRS where it has none.
 */
export function incrementalSnapshotSku(requested: SnapshotSku | undefined, region: RegionConfig): SnapshotSku {
  if (requested === 'Premium_LRS') {
    throw new SnapdiskError(
      'InvalidParameter',
      'Incremental snapshots are always stored on standard storage: sku Premium_LRS is not allowed for an incremental snapshot.',
      { target: 'sku.name', hint: 'Use Standard_LRS or Standard_ZRS, or omit the sku, or create a full snapshot (incremental: false).' },
    );
  }
  if (requested === 'Standard_ZRS' && region.zones.length === 0) {
    throw invalid(
      'Zone-redundant storage (Standard_ZRS) is not available in this region.',
      'sku.name',
      'Use Standard_LRS or omit the sku.',
    );
  }
  if (requested) return requested;
  return region.zones.length > 0 ? 'Standard_ZRS' : 'Standard_LRS';
}

/** Disk names (azure-api.md §1): letters, digits, `_` and `-`; 1–80 characters; no trailing `-`. */
const DISK_NAME_RE = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,78}[A-Za-z0-9_])?$/;
/** Snapshot names may also hold periods (Azure's naming rules), not at either end. */
const SNAPSHOT_NAME_RE = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/;

/** Disk and snapshot names: 1–80 characters, starting and ending with a letter, digit or `_`. */
export function validateResourceName(name: string, kind: string): void {
  const snapshot = kind === 'snapshot';
  if (!(snapshot ? SNAPSHOT_NAME_RE : DISK_NAME_RE).test(name)) {
    const chars = snapshot ? 'letters, digits, underscores, periods or hyphens' : 'letters, digits, underscores or hyphens';
    throw invalid(
      `The ${kind} name '${name}' is invalid: use 1 to 80 ${chars}, starting with a letter, digit or underscore and ending with a letter, digit or underscore.`,
      'name',
    );
  }
}

const RG_RE = /^[-\w._()]{1,90}$/u;

export function validateResourceGroupName(name: string): void {
  if (!RG_RE.test(name) || name.endsWith('.')) {
    throw invalid(
      `The resource group name '${name}' is invalid: use up to 90 letters, digits, underscores, parentheses, hyphens and periods, not ending in a period.`,
      'resourceGroupName',
    );
  }
}

export function validateDiskSizeGb(sizeGb: unknown, target = 'properties.diskSizeGB'): number {
  if (typeof sizeGb !== 'number' || !Number.isInteger(sizeGb) || sizeGb < 1 || sizeGb > MAX_DISK_SIZE_GB) {
    throw invalid(
      `The value '${String(sizeGb)}' of ${target} is invalid: a disk size is a whole number of GiB from 1 to ${MAX_DISK_SIZE_GB}.`,
      target,
    );
  }
  return sizeGb * GiB;
}

export const MIN_UPLOAD_BYTES = 20_972_032;
export const MAX_UPLOAD_BYTES = 35_183_298_347_520;

/** `uploadSizeBytes`: the VHD file length, a whole number of MiB plus the 512-byte footer. */
export function validateUploadSize(bytes: unknown): number {
  const target = 'properties.creationData.uploadSizeBytes';
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < MIN_UPLOAD_BYTES || bytes > MAX_UPLOAD_BYTES) {
    throw invalid(
      `The value '${String(bytes)}' of ${target} is invalid: it must be between ${MIN_UPLOAD_BYTES} and ${MAX_UPLOAD_BYTES}.`,
      target,
    );
  }
  if ((bytes - 512) % (1024 * 1024) !== 0) {
    throw invalid(
      `The value '${bytes}' of ${target} is invalid: the size of a fixed VHD is a whole number of MiB plus the 512-byte footer.`,
      target,
      `The nearest valid sizes are ${Math.floor((bytes - 512) / 1048576) * 1048576 + 512} and ${Math.ceil((bytes - 512) / 1048576) * 1048576 + 512}.`,
    );
  }
  return bytes;
}

export function validateSectorSize(value: unknown, sku: DiskSku): SectorSize {
  const target = 'properties.creationData.logicalSectorSize';
  if (value === undefined || value === null) return isUltraClass(sku) ? 4096 : 512;
  if (value !== 512 && value !== 4096) throw invalid(`The value '${String(value)}' of ${target} must be 512 or 4096.`, target);
  if (value === 4096 && !isUltraClass(sku)) {
    throw invalid(
      `A logical sector size of 4096 is only available for UltraSSD_LRS and PremiumV2_LRS disks, not ${sku}.`,
      target,
    );
  }
  return value;
}

/** Premium SSD performance tiers by provisioned size (GiB): the `tier` Azure reports by default. */
const PREMIUM_TIERS: ReadonlyArray<[number, string]> = [
  [4, 'P1'], [8, 'P2'], [16, 'P3'], [32, 'P4'], [64, 'P6'], [128, 'P10'], [256, 'P15'], [512, 'P20'],
  [1024, 'P30'], [2048, 'P40'], [4096, 'P50'], [8192, 'P60'], [16384, 'P70'], [32767, 'P80'],
];

/** The baseline performance tier of a disk (Premium SSD only; undefined for other skus). */
export function defaultTier(sku: DiskSku, sizeBytes: number): string | undefined {
  if (!sku.startsWith('Premium_')) return undefined;
  const sizeGb = Math.ceil(sizeBytes / GiB);
  return PREMIUM_TIERS.find(([max]) => sizeGb <= max)?.[1];
}

/**
 * Stored disk properties without a `tier` that only repeats the computed default (az sends the
 * GET output back on update): a tier is kept only when it is a choice, so it follows resizes.
 */
export function withoutDefaultTier(properties: Record<string, unknown>, sku: DiskSku, sizeBytes: number): Record<string, unknown> {
  const tier = properties.tier;
  if (typeof tier !== 'string' || tier.toUpperCase() !== defaultTier(sku, sizeBytes)) return properties;
  const { tier: _dropped, ...rest } = properties;
  return rest;
}

/** A SAS URL with its signature (`sig`) replaced: what is stored and shown of an Import source. */
export function redactSasSignature(uri: string): string {
  const q = uri.indexOf('?');
  if (q < 0) return uri;
  const query = uri
    .slice(q + 1)
    .split('&')
    .map((part) => (/^sig=/i.test(part) ? 'sig=REDACTED' : part))
    .join('&');
  return `${uri.slice(0, q)}?${query}`;
}

/** sourceUri (without its SAS signature) and storageAccountId of an Import, as given: what a disk or snapshot keeps of its source. */
export function provenance(cd: CreationData): { sourceUri?: string; storageAccountId?: string } {
  return {
    ...(cd.sourceUri ? { sourceUri: redactSasSignature(cd.sourceUri) } : {}),
    ...(cd.storageAccountId ? { storageAccountId: cd.storageAccountId } : {}),
  };
}

/** A PUT on an existing resource that changes what cannot change (ARM code PropertyChangeNotAllowed, 409). */
export class PropertyChangeNotAllowed extends SnapdiskError {
  readonly armCode = 'PropertyChangeNotAllowed';

  constructor(property: string, target: string, hint?: string) {
    super('Conflict', `Changing property '${property}' is not allowed.`, { target, ...(hint ? { hint } : {}) });
  }
}

/** One resource in two spellings (ARM ids are case-insensitive; spec examples omit the leading `/`). */
function sameResourceId(a: string, b: string): boolean {
  const pa = tryParseResourceId(a);
  const pb = tryParseResourceId(b);
  if (!pa || !pb) return a.trim().toLowerCase() === b.trim().toLowerCase();
  return pa.kind === pb.kind && pa.subscriptionId === pb.subscriptionId && pa.resourceGroup.toLowerCase() === pb.resourceGroup.toLowerCase() && pa.name.toLowerCase() === pb.name.toLowerCase();
}

/**
 * Refuses a PUT body whose creationData (immutable after creation) or zones differ from the
 * existing resource's. Fields the body leaves out are not changes; read-only ones are ignored.
 */
export function assertUnchangedCreation(
  existing: { creationData: CreationData; logicalSectorSize: SectorSize; zones?: string[] },
  requested: { creationData: CreationData; zones?: string[] },
): void {
  const was = existing.creationData;
  const cd = requested.creationData;
  const hint = 'creationData is fixed when a resource is created: create a new resource with the other source instead.';
  const refuse = (field: string): never => {
    throw new PropertyChangeNotAllowed(`creationData.${field}`, `properties.creationData.${field}`, hint);
  };
  if (cd.createOption.toLowerCase() !== was.createOption.toLowerCase()) refuse('createOption');
  if (cd.sourceResourceId !== undefined && (was.sourceResourceId === undefined || !sameResourceId(cd.sourceResourceId, was.sourceResourceId))) {
    refuse('sourceResourceId');
  }
  if (cd.sourceUri !== undefined && redactSasSignature(cd.sourceUri) !== (was.sourceUri === undefined ? undefined : redactSasSignature(was.sourceUri))) {
    refuse('sourceUri');
  }
  if (cd.uploadSizeBytes !== undefined && cd.uploadSizeBytes !== was.uploadSizeBytes) refuse('uploadSizeBytes');
  if (cd.logicalSectorSize !== undefined && cd.logicalSectorSize !== existing.logicalSectorSize) refuse('logicalSectorSize');
  if (requested.zones !== undefined && existing.zones !== undefined) {
    const a = [...new Set(requested.zones)].sort().join(',');
    const b = [...new Set(existing.zones)].sort().join(',');
    if (a !== b) throw new PropertyChangeNotAllowed('zones', 'zones', 'The zone of a disk is fixed when it is created: snapshot it and create a disk in the other zone.');
  }
}

/** Days in the month of `date` (UTC), for the usage quantity (used GiB / days in month). */
export function daysInMonth(date: Date): number {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
}

/** Daily usage quantity of a snapshot: used GiB divided by the days of the month. */
export function dailyUsageQuantity(usedBytes: number, day: Date): number {
  return usedBytes / GiB / daysInMonth(day);
}

export function checkSasDuration(seconds: unknown, limits: Limits): number {
  if (typeof seconds !== 'number' || !Number.isInteger(seconds) || seconds < 1) {
    throw invalid(`durationInSeconds must be a positive whole number of seconds.`, 'durationInSeconds');
  }
  if (seconds > limits.maxSasDurationSeconds) {
    throw notAllowed(
      `durationInSeconds ${seconds} exceeds the limit of ${limits.maxSasDurationSeconds} seconds (maxSasDurationSeconds).`,
      'Ask for a shorter access or raise limits.maxSasDurationSeconds in config.json.',
    );
  }
  return seconds;
}
