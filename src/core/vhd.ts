/**
 * @module core/vhd
 * The 512-byte footer of a fixed VHD: the page blob behind a disk SAS is the disk's bytes followed
 * by this footer (docs/FORMATS.md, reference/azure-api.md §6). `vhdFooter` writes one,
 * `parseVhdFooter` checks one a client uploaded before an upload disk is finalised.
 *
 * Design notes:
 * - All fields are big-endian. The checksum is the one's complement of the byte sum of the footer
 *   with the checksum field zeroed.
 * - Creator application is `win ` (Hyper-V), not Azure's `wa\0\0`: qemu before late 2024 (Debian 12
 *   ships 7.2) sizes a VHD from its CHS geometry unless the creator is one of a few known tools, and
 *   CHS rounds most sizes down (5 GiB → 10402/16/63 = 5 368 430 592 bytes, 272 KiB short).
 * - The footer must be byte-identical across requests (clients read a blob in ranges), so the
 *   timestamp and unique id are inputs, never `Date.now()` or random bytes.
 */

import { invalid } from './errors.js';
import { VHD_FOOTER_SIZE } from './units.js';

export const VHD_COOKIE = 'conectix';
export const VHD_CREATOR_APP = 'win ';
export const VHD_CREATOR_VERSION = 0x00070000;
export const VHD_CREATOR_HOST = 'Wi2k';

/** Disk type field values. Azure accepts only `fixed`. */
export const VhdDiskType = { fixed: 2, dynamic: 3, differencing: 4 } as const;

/** The VHD epoch (2000-01-01T00:00:00Z) in Unix milliseconds. */
const VHD_EPOCH_MS = Date.UTC(2000, 0, 1);

/** Largest CHS the footer can express: 65535 cylinders × 16 heads × 255 sectors/track. */
const MAX_CHS_SECTORS = 65535 * 16 * 255;

const OFF = {
  cookie: 0,
  features: 8,
  version: 12,
  dataOffset: 16,
  timestamp: 24,
  creatorApp: 28,
  creatorVersion: 32,
  creatorHost: 36,
  originalSize: 40,
  currentSize: 48,
  cylinders: 56,
  heads: 58,
  sectorsPerTrack: 59,
  diskType: 60,
  checksum: 64,
  uniqueId: 68,
  savedState: 84,
} as const;

export interface VhdGeometry {
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
}

export interface VhdFooterOptions {
  /** 16 bytes, stored as is. Default: all zero. Pass a stable per-disk value. */
  uniqueId?: Uint8Array;
  /** Default: 2000-01-01T00:00:00Z (0). Pass a stable per-disk value (e.g. its creation time). */
  timestamp?: Date;
}

/** CHS geometry by the algorithm of the VHD specification (appendix "CHS calculation"). */
export function vhdGeometry(sizeBytes: number): VhdGeometry {
  const totalSectors = Math.min(Math.floor(sizeBytes / 512), MAX_CHS_SECTORS);
  let spt: number;
  let heads: number;
  let cth: number;
  if (totalSectors >= 65535 * 16 * 63) {
    spt = 255;
    heads = 16;
    cth = Math.floor(totalSectors / spt);
  } else {
    spt = 17;
    cth = Math.floor(totalSectors / spt);
    heads = Math.max(4, Math.floor((cth + 1023) / 1024));
    if (cth >= heads * 1024 || heads > 16) {
      spt = 31;
      heads = 16;
      cth = Math.floor(totalSectors / spt);
    }
    if (cth >= heads * 1024) {
      spt = 63;
      heads = 16;
      cth = Math.floor(totalSectors / spt);
    }
  }
  return { cylinders: Math.floor(cth / heads), heads, sectorsPerTrack: spt };
}

/** One's complement of the byte sum of a footer, its checksum field counted as zero. */
export function vhdChecksum(footer: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < VHD_FOOTER_SIZE; i++) {
    if (i >= OFF.checksum && i < OFF.checksum + 4) continue;
    sum += footer[i] ?? 0;
  }
  return ~sum >>> 0;
}

/** The 512-byte footer of a fixed VHD whose data part is `sizeBytes` long. */
export function vhdFooter(sizeBytes: number, opts: VhdFooterOptions = {}): Buffer {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % 512 !== 0) {
    throw invalid(`VHD size must be a positive multiple of 512 bytes, got ${sizeBytes}.`, 'sizeBytes');
  }
  const uniqueId = opts.uniqueId ?? new Uint8Array(16);
  if (uniqueId.length !== 16)
    {throw invalid(`VHD unique id must be 16 bytes, got ${uniqueId.length}.`, 'uniqueId');}
  const b = Buffer.alloc(VHD_FOOTER_SIZE);
  b.write(VHD_COOKIE, OFF.cookie, 'latin1');
  b.writeUInt32BE(0x00000002, OFF.features);
  b.writeUInt32BE(0x00010000, OFF.version);
  b.writeBigUInt64BE(0xffffffffffffffffn, OFF.dataOffset);
  b.writeUInt32BE(vhdTimestamp(opts.timestamp), OFF.timestamp);
  b.write(VHD_CREATOR_APP, OFF.creatorApp, 'latin1');
  b.writeUInt32BE(VHD_CREATOR_VERSION, OFF.creatorVersion);
  b.write(VHD_CREATOR_HOST, OFF.creatorHost, 'latin1');
  b.writeBigUInt64BE(BigInt(sizeBytes), OFF.originalSize);
  b.writeBigUInt64BE(BigInt(sizeBytes), OFF.currentSize);
  const geo = vhdGeometry(sizeBytes);
  b.writeUInt16BE(geo.cylinders, OFF.cylinders);
  b.writeUInt8(geo.heads, OFF.heads);
  b.writeUInt8(geo.sectorsPerTrack, OFF.sectorsPerTrack);
  b.writeUInt32BE(VhdDiskType.fixed, OFF.diskType);
  b.set(uniqueId, OFF.uniqueId);
  b.writeUInt32BE(vhdChecksum(b), OFF.checksum);
  return b;
}

function vhdTimestamp(date: Date | undefined): number {
  if (date === undefined) return 0;
  const seconds = Math.floor((date.getTime() - VHD_EPOCH_MS) / 1000);
  if (!Number.isFinite(seconds) || seconds < 0) return 0;
  return seconds % 2 ** 32;
}

export interface VhdFooterInfo {
  /** True when every check passed; otherwise `reason` names the first failed check. */
  valid: boolean;
  reason?: string;
  cookieOk: boolean;
  checksumOk: boolean;
  storedChecksum: number;
  computedChecksum: number;
  /** 2 fixed, 3 dynamic, 4 differencing (or whatever number was stored). */
  diskType: number;
  /** Current size: the virtual disk size in bytes. */
  sizeBytes: number;
  originalSizeBytes: number;
  creatorApp: string;
  geometry: VhdGeometry;
  timestamp: Date;
  uniqueId: Buffer;
}

export interface ParseVhdFooterOptions {
  /** When given, the footer's current size must equal it (upload: `uploadSizeBytes - 512`). */
  expectedSizeBytes?: number;
}

/**
 * Reads and validates a fixed-VHD footer (the last 512 bytes of an uploaded blob). Never throws:
 * checks, in order, length, cookie, checksum, disk type (fixed), size (when expected is given),
 * and reports the first failure in `reason`, worded for an end user.
 */
export function parseVhdFooter(buf: Uint8Array, opts: ParseVhdFooterOptions = {}): VhdFooterInfo {
  const b = Buffer.alloc(VHD_FOOTER_SIZE);
  b.set(buf.subarray(0, VHD_FOOTER_SIZE));
  const info = readFooterFields(b);
  const reason = firstProblem(buf.length, info, opts.expectedSizeBytes);
  return reason === undefined ? { ...info, valid: true } : { ...info, valid: false, reason };
}

function readFooterFields(b: Buffer): Omit<VhdFooterInfo, 'valid' | 'reason'> {
  const storedChecksum = b.readUInt32BE(OFF.checksum);
  const computedChecksum = vhdChecksum(b);
  return {
    cookieOk: b.toString('latin1', OFF.cookie, OFF.cookie + 8) === VHD_COOKIE,
    checksumOk: storedChecksum === computedChecksum,
    storedChecksum,
    computedChecksum,
    diskType: b.readUInt32BE(OFF.diskType),
    sizeBytes: Number(b.readBigUInt64BE(OFF.currentSize)),
    originalSizeBytes: Number(b.readBigUInt64BE(OFF.originalSize)),
    creatorApp: b.toString('latin1', OFF.creatorApp, OFF.creatorApp + 4),
    geometry: {
      cylinders: b.readUInt16BE(OFF.cylinders),
      heads: b.readUInt8(OFF.heads),
      sectorsPerTrack: b.readUInt8(OFF.sectorsPerTrack),
    },
    timestamp: new Date(VHD_EPOCH_MS + b.readUInt32BE(OFF.timestamp) * 1000),
    uniqueId: Buffer.from(b.subarray(OFF.uniqueId, OFF.uniqueId + 16)),
  };
}

function firstProblem(
  length: number,
  info: Omit<VhdFooterInfo, 'valid' | 'reason'>,
  expectedSizeBytes: number | undefined,
): string | undefined {
  const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
  if (length < VHD_FOOTER_SIZE) {
    return `The VHD footer is ${length} bytes long; a VHD footer is ${VHD_FOOTER_SIZE} bytes.`;
  }
  if (!info.cookieOk) {
    return `The last ${VHD_FOOTER_SIZE} bytes are not a VHD footer (no "${VHD_COOKIE}" cookie): upload a fixed VHD, with its footer in the last ${VHD_FOOTER_SIZE} bytes.`;
  }
  if (!info.checksumOk) {
    return `The VHD footer checksum is ${hex(info.storedChecksum)} but the footer sums to ${hex(info.computedChecksum)}: the footer is corrupt.`;
  }
  if (info.diskType !== VhdDiskType.fixed) {
    return `The VHD disk type is ${info.diskType} (${diskTypeName(info.diskType)}); only fixed VHDs (type 2) can be uploaded. Convert it first, e.g. qemu-img convert -O vpc -o subformat=fixed,force_size=on.`;
  }
  if (expectedSizeBytes !== undefined && info.sizeBytes !== expectedSizeBytes) {
    return `The VHD footer says the disk is ${info.sizeBytes} bytes but the upload is ${expectedSizeBytes} bytes plus the ${VHD_FOOTER_SIZE}-byte footer.`;
  }
  return undefined;
}

function diskTypeName(type: number): string {
  for (const [name, value] of Object.entries(VhdDiskType)) if (value === type) return name;
  return 'unknown';
}
