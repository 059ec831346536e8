/**
 * @module core/rules
 * The limits and rules of the requirement document as pure functions: defaults (Azure's), sku
 * classes, names and sizes. The engine calls these; the config file may raise the limits.
 */

import { invalid, notAllowed, SnapdiskError } from './errors.js';
import type { DiskSku, SectorSize, SnapshotSku } from './model.js';
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

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,78}[A-Za-z0-9_]$|^[A-Za-z0-9_]$/;

/** Disk and snapshot names: letters, digits, `_`, `-`, `.`; 1–80 characters; no trailing `.`/`-`. */
export function validateResourceName(name: string, kind: string): void {
  if (!NAME_RE.test(name)) {
    throw invalid(
      `The ${kind} name '${name}' is invalid: use 1 to 80 letters, digits, underscores, periods or hyphens, starting with a letter, digit or underscore and ending with a letter, digit or underscore.`,
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
