/**
 * @module core/units
 * Sizes and the fixed geometry of the storage model.
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

/** Tracking and chunking granularity: a disk is an array of 64 KiB blocks. */
export const BLOCK_SIZE = 64 * KiB;
export const BLOCK_SHIFT = 16;

/** Page-blob granularity (VHD sectors, Put Page alignment). */
export const PAGE_SIZE = 512;

/** Size of the fixed VHD footer appended to every page blob. */
export const VHD_FOOTER_SIZE = 512;

/** Largest managed disk Azure offers (32 TiB for standard, 64 TiB for Ultra/PremiumV2). */
export const MAX_DISK_SIZE_GB = 65_536;

/** The boundary a diff must not cross (requirement document: "across 4-TB boundary"). */
export const DIFF_RESIZE_BOUNDARY_BYTES = 4 * TiB;

export function blockCount(sizeBytes: number): number {
  return Math.ceil(sizeBytes / BLOCK_SIZE);
}

export function isSafeNonNegativeInteger(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}
