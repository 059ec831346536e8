/**
 * @module core/vhdx
 * A VHDX file computed on the fly: `VhdxLayout` describes the file that would hold a disk, and
 * `segments(offset, length)` says, for any byte range of that file, which parts are generated
 * metadata (`bytes`), which are disk contents the caller reads (`payload`) and which are zeros.
 * Nothing is ever materialised, so a 32 TiB disk is served as a VHDX with ranged reads in O(range).
 *
 * Design notes (see docs/FORMATS.md for the reasons):
 *
 * ```
 *  0        64K      128K     192K     256K     320K      1M       2M       3M          P
 *  | file id | head 1 | head 2 | regi 1 | regi 2 | (zero)  |  log   |metadata|  BAT ...  | payload
 *                                                            (zero)  1 MiB    MiB-padded  slot 0, 1, ...
 * ```
 * - Structures sit where Hyper-V puts them: headers and region tables in the first MiB, a 1 MiB
 *   log of zeros (LogGuid is zero: nothing to replay), metadata at 2 MiB, BAT at 3 MiB, payload
 *   from the first MiB boundary after the BAT. All little-endian; GUIDs in Microsoft byte order.
 * - Payload slots are `blockSize` long and packed in block order. Without `presentBlocks` every
 *   block has a slot (a fixed VHDX, LeaveBlocksAllocated set); with it, only listed blocks have
 *   one and the others are PAYLOAD_BLOCK_ZERO with file offset 0. The last block's slot is padded
 *   with zeros to a whole block, so every FULLY_PRESENT entry lies entirely inside the file.
 * - Sector-bitmap entries (always SB_BLOCK_NOT_PRESENT, 0) follow every `chunkRatio` payload
 *   entries: BAT index of block b = b + ⌊b / chunkRatio⌋.
 * - Invariant: the output depends only on the options, so ranged reads of one layout agree with
 *   each other; GUIDs are inputs, never random.
 * - Rejected: building the BAT once (16 MiB for 32 TiB at 1 MiB blocks, per request); a payload
 *   offset aligned to the block size (wastes up to a block, nothing reads it faster).
 */

import { crc32c } from './crc32c.js';
import { SnapdiskError, invalid } from './errors.js';
import { KiB, MiB, TiB } from './units.js';

/** One piece of a file range, in file order. `payload` is disk bytes the caller reads. */
export type VhdxSegment =
  | { kind: 'bytes'; data: Buffer }
  | { kind: 'payload'; virtualOffset: number; length: number }
  | { kind: 'zero'; length: number };

/** BAT entry states (low 3 bits of an entry). */
export const VhdxBatState = {
  notPresent: 0,
  undefined: 1,
  zero: 2,
  unmapped: 3,
  fullyPresent: 6,
  partiallyPresent: 7,
} as const;

/** Fixed offsets of the structures this layout writes. */
export const VHDX_OFFSETS = {
  fileIdentifier: 0,
  header1: 64 * KiB,
  header2: 128 * KiB,
  regionTable1: 192 * KiB,
  regionTable2: 256 * KiB,
  log: 1 * MiB,
  metadata: 2 * MiB,
  bat: 3 * MiB,
} as const;

export const VHDX_LOG_LENGTH = 1 * MiB;
export const VHDX_METADATA_LENGTH = 1 * MiB;
/** Metadata items start this far into the metadata region (the spec's minimum). */
export const VHDX_METADATA_ITEMS_OFFSET = 64 * KiB;
export const VHDX_DEFAULT_BLOCK_SIZE = 32 * MiB;
export const VHDX_MAX_VIRTUAL_SIZE = 64 * TiB;
export const VHDX_DEFAULT_CREATOR = 'snapdisk';

export const VHDX_GUIDS = {
  batRegion: '2DC27766-F623-4200-9D64-115E9BFD4A08',
  metadataRegion: '8B7CA206-4790-4B9A-B8FE-575F050F886E',
  fileParameters: 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B',
  virtualDiskSize: '2FA54224-CD1B-4876-B211-5DBED83BF4B8',
  page83Data: 'BECA12AB-B2E6-4523-93EF-C309E000C746',
  logicalSectorSize: '8141BF1D-A96F-4709-BA47-F233A8FAAB5F',
  physicalSectorSize: 'CDA348C7-445D-4471-9CC9-E9885251C556',
} as const;

const HEADER_SIZE = 4 * KiB;
const REGION_TABLE_SIZE = 64 * KiB;
const MD_IS_VIRTUAL_DISK = 2;
const MD_IS_REQUIRED = 4;

export interface VhdxLayoutOptions {
  /** Disk size in bytes: a multiple of the logical sector size, at most 64 TiB. */
  virtualSize: number;
  logicalSectorSize: 512 | 4096;
  /** Default 4096. */
  physicalSectorSize?: 512 | 4096;
  /** Power of two from 1 MiB to 256 MiB; default 32 MiB (what Hyper-V and Azure use). */
  blockSize?: number;
  /**
   * Strictly ascending indexes of the payload blocks that hold data. Absent: every block (a
   * fixed VHDX). Blocks not listed must read as zeros on the disk; they cost no file space.
   */
  presentBlocks?: readonly number[];
  /** 16 raw bytes each (see `guidBytes`); default all zero. Pass stable per-disk values. */
  fileWriteGuid?: Uint8Array;
  dataWriteGuid?: Uint8Array;
  /** SCSI page 83 identity the guest sees; default all zero. */
  page83?: Uint8Array;
  /** Creator string in the file identifier (diagnostic only); default `snapdisk`. */
  creator?: string;
}

/** A generated structure: `data` at `offset`, then zeros up to `offset + length`. */
export interface VhdxStructure {
  name: string;
  offset: number;
  length: number;
  data: Buffer;
}

/** Decoded BAT entry. `fileOffset` is 0 unless the state is FULLY_PRESENT. */
export interface VhdxBatEntry {
  state: number;
  fileOffset: number;
}

/** A GUID in text form (`2DC27766-F623-...`) as the 16 bytes VHDX stores (data1-3 little-endian). */
export function guidBytes(text: string): Buffer {
  const hex = text.replace(/[{}-]/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw invalid(`Not a GUID: ${text}.`, 'guid');
  const raw = Buffer.from(hex, 'hex');
  const out = Buffer.from(raw);
  out.writeUInt32LE(raw.readUInt32BE(0), 0);
  out.writeUInt16LE(raw.readUInt16BE(4), 4);
  out.writeUInt16LE(raw.readUInt16BE(6), 6);
  return out;
}

/** Inverse of `guidBytes`: upper-case text form. */
export function guidString(bytes: Uint8Array): string {
  const b = Buffer.from(bytes);
  const data4 = b.toString('hex', 8, 16);
  const parts = [
    b.readUInt32LE(0).toString(16).padStart(8, '0'),
    b.readUInt16LE(4).toString(16).padStart(4, '0'),
    b.readUInt16LE(6).toString(16).padStart(4, '0'),
    data4.slice(0, 4),
    data4.slice(4),
  ];
  return parts.join('-').toUpperCase();
}

export class VhdxLayout {
  readonly virtualSize: number;
  readonly logicalSectorSize: 512 | 4096;
  readonly physicalSectorSize: 512 | 4096;
  readonly blockSize: number;
  /** Payload blocks per sector-bitmap block: 2^23 · logicalSectorSize / blockSize. */
  readonly chunkRatio: number;
  /** Number of payload blocks of the virtual disk, ⌈virtualSize / blockSize⌉. */
  readonly blockCount: number;
  /** Payload + sector-bitmap entries. */
  readonly batEntryCount: number;
  readonly batOffset: number = VHDX_OFFSETS.bat;
  /** BAT region length, a whole number of MiB. */
  readonly batLength: number;
  /** File offset of payload slot 0. */
  readonly payloadOffset: number;
  /** True when every block is present (written as a fixed VHDX). */
  readonly fixed: boolean;
  readonly fileSize: number;
  private readonly present: readonly number[] | undefined;
  private readonly structureList: readonly VhdxStructure[];

  constructor(opts: VhdxLayoutOptions) {
    this.logicalSectorSize = checkSectorSize(opts.logicalSectorSize, 'logicalSectorSize');
    this.physicalSectorSize = checkSectorSize(opts.physicalSectorSize ?? 4096, 'physicalSectorSize');
    this.virtualSize = checkVirtualSize(opts.virtualSize, this.logicalSectorSize);
    this.blockSize = checkBlockSize(opts.blockSize ?? VHDX_DEFAULT_BLOCK_SIZE);
    this.chunkRatio = (2 ** 23 * this.logicalSectorSize) / this.blockSize;
    this.blockCount = Math.ceil(this.virtualSize / this.blockSize);
    this.batEntryCount = this.blockCount + Math.floor((this.blockCount - 1) / this.chunkRatio);
    this.batLength = Math.ceil((this.batEntryCount * 8) / MiB) * MiB;
    this.payloadOffset = this.batOffset + this.batLength;
    this.present = opts.presentBlocks && checkPresentBlocks(opts.presentBlocks, this.blockCount);
    const slots = this.present ? this.present.length : this.blockCount;
    this.fixed = slots === this.blockCount;
    this.fileSize = this.payloadOffset + slots * this.blockSize;
    this.structureList = buildStructures(this, opts);
  }

  /** The generated structures before the BAT, in file order (the BAT is generated per range). */
  structures(): readonly VhdxStructure[] {
    return this.structureList;
  }

  /** File offset of payload block `block`, or undefined when it has no slot (reads as zeros). */
  blockFileOffset(block: number): number | undefined {
    if (!Number.isInteger(block) || block < 0 || block >= this.blockCount) return undefined;
    if (!this.present) return this.payloadOffset + block * this.blockSize;
    const rank = lowerBound(this.present, block);
    return this.present[rank] === block ? this.payloadOffset + rank * this.blockSize : undefined;
  }

  /** BAT entry `index` (payload and sector-bitmap entries interleaved). */
  batEntry(index: number): VhdxBatEntry {
    if (this.isBitmapEntry(index)) return { state: VhdxBatState.notPresent, fileOffset: 0 };
    const fileOffset = this.blockFileOffset(this.blockOfEntry(index));
    return fileOffset === undefined
      ? { state: VhdxBatState.zero, fileOffset: 0 }
      : { state: VhdxBatState.fullyPresent, fileOffset };
  }

  /** BAT index of payload block `block`. */
  batIndexOfBlock(block: number): number {
    return block + Math.floor(block / this.chunkRatio);
  }

  /**
   * The pieces of file range [offset, offset + length), in order, covering it exactly; adjacent
   * zero pieces and contiguous payload pieces are merged. `bytes` buffers are fresh copies.
   * A range outside [0, fileSize] is an `OutOfRange` error.
   *
   * Cost is proportional to the range: metadata and BAT bytes inside it are allocated, and for a
   * sparse layout payload is walked slot by slot. Stream a big file in windows (a few MiB to a
   * few tens of MiB); one call for a whole sparse 64 TiB file would build its 513 MiB BAT.
   */
  segments(offset: number, length: number): VhdxSegment[] {
    this.checkRange(offset, length);
    const out = new SegmentList();
    const end = offset + length;
    for (const s of this.structureList) emitStructure(out, s, offset, end);
    this.emitBat(out, Math.max(offset, this.batOffset), Math.min(end, this.payloadOffset));
    this.emitPayload(out, Math.max(offset, this.payloadOffset), end);
    return out.items;
  }

  /** Bytes of BAT entries [first, first + count), little-endian u64 each. */
  batBytes(first: number, count: number): Buffer {
    const buf = Buffer.alloc(count * 8);
    const stride = this.chunkRatio + 1;
    let block = first - Math.floor(first / stride);
    let rank = this.present ? lowerBound(this.present, block) : block;
    for (let i = first; i < first + count; i++) {
      if (this.isBitmapEntry(i)) continue;
      const present = this.present ? this.present[rank] === block : true;
      if (present) {
        const fileOffset = this.payloadOffset + rank * this.blockSize;
        buf.writeUInt32LE((fileOffset % 2 ** 32) + VhdxBatState.fullyPresent, (i - first) * 8);
        buf.writeUInt32LE(Math.floor(fileOffset / 2 ** 32), (i - first) * 8 + 4);
        rank++;
      } else {
        buf.writeUInt32LE(VhdxBatState.zero, (i - first) * 8);
      }
      block++;
    }
    return buf;
  }

  private isBitmapEntry(index: number): boolean {
    return (index + 1) % (this.chunkRatio + 1) === 0;
  }

  private blockOfEntry(index: number): number {
    return index - Math.floor(index / (this.chunkRatio + 1));
  }

  private checkRange(offset: number, length: number): void {
    const ok = Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0;
    if (!ok || offset + length > this.fileSize) {
      throw new SnapdiskError(
        'OutOfRange',
        `Range ${offset}+${length} is outside the ${this.fileSize}-byte VHDX file.`,
      );
    }
  }

  private emitBat(out: SegmentList, start: number, end: number): void {
    if (start >= end) return;
    const entriesEnd = this.batOffset + this.batEntryCount * 8;
    if (start < entriesEnd) {
      const stop = Math.min(end, entriesEnd);
      const first = Math.floor((start - this.batOffset) / 8);
      const last = Math.ceil((stop - this.batOffset) / 8);
      const bytes = this.batBytes(first, last - first);
      const skip = start - (this.batOffset + first * 8);
      out.bytes(bytes.subarray(skip, skip + (stop - start)));
    }
    if (end > entriesEnd) out.zero(end - Math.max(start, entriesEnd));
  }

  private emitPayload(out: SegmentList, start: number, end: number): void {
    if (!this.present) {
      // fixed: slot k holds block k, so the payload area is the disk followed by padding
      const dataEnd = this.payloadOffset + this.virtualSize;
      if (start < Math.min(end, dataEnd))
        {out.payload(start - this.payloadOffset, Math.min(end, dataEnd) - start);}
      if (end > Math.max(start, dataEnd)) out.zero(end - Math.max(start, dataEnd));
      return;
    }
    let pos = start;
    while (pos < end) {
      const slot = Math.floor((pos - this.payloadOffset) / this.blockSize);
      const slotStart = this.payloadOffset + slot * this.blockSize;
      const slotEnd = Math.min(end, slotStart + this.blockSize);
      const block = this.present[slot] ?? 0;
      const blockStart = block * this.blockSize;
      const dataLength = Math.min(this.blockSize, this.virtualSize - blockStart);
      const within = pos - slotStart;
      if (within < dataLength) {
        const n = Math.min(dataLength - within, slotEnd - pos);
        out.payload(blockStart + within, n);
        pos += n;
      }
      if (pos < slotEnd) {
        out.zero(slotEnd - pos);
        pos = slotEnd;
      }
    }
  }
}

/**
 * The whole file in memory, built structure by structure (not through `segments`, so tests can
 * check one against the other). For tests and small disks only: `disk` is the virtual disk.
 */
export function materializeVhdx(layout: VhdxLayout, disk: Uint8Array): Buffer {
  if (disk.length !== layout.virtualSize) {
    throw invalid(`Disk is ${disk.length} bytes, layout expects ${layout.virtualSize}.`, 'disk');
  }
  const file = Buffer.alloc(layout.fileSize);
  for (const s of layout.structures()) file.set(s.data, s.offset);
  for (let i = 0; i < layout.batEntryCount; i++) {
    const e = layout.batEntry(i);
    file.writeBigUInt64LE(BigInt(e.fileOffset) | BigInt(e.state), layout.batOffset + i * 8);
  }
  for (let b = 0; b < layout.blockCount; b++) {
    const at = layout.blockFileOffset(b);
    const from = b * layout.blockSize;
    if (at !== undefined) file.set(disk.subarray(from, from + layout.blockSize), at);
  }
  return file;
}

/** Accumulates segments, merging zero runs and contiguous payload runs. */
class SegmentList {
  readonly items: VhdxSegment[] = [];

  bytes(data: Buffer): void {
    if (data.length > 0) this.items.push({ kind: 'bytes', data: Buffer.from(data) });
  }

  zero(length: number): void {
    if (length <= 0) return;
    const last = this.items[this.items.length - 1];
    if (last?.kind === 'zero') last.length += length;
    else this.items.push({ kind: 'zero', length });
  }

  payload(virtualOffset: number, length: number): void {
    if (length <= 0) return;
    const last = this.items[this.items.length - 1];
    if (last?.kind === 'payload' && last.virtualOffset + last.length === virtualOffset) {
      last.length += length;
    } else {
      this.items.push({ kind: 'payload', virtualOffset, length });
    }
  }
}

function emitStructure(out: SegmentList, s: VhdxStructure, start: number, end: number): void {
  const from = Math.max(start, s.offset);
  const to = Math.min(end, s.offset + s.length);
  if (from >= to) return;
  const dataEnd = s.offset + s.data.length;
  if (from < dataEnd) out.bytes(s.data.subarray(from - s.offset, Math.min(to, dataEnd) - s.offset));
  out.zero(to - Math.max(from, dataEnd));
}

/** Index of the first element ≥ value in an ascending array. */
function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] ?? Infinity) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkSectorSize(size: number, name: string): 512 | 4096 {
  if (size !== 512 && size !== 4096) throw invalid(`${name} must be 512 or 4096, got ${size}.`, name);
  return size;
}

function checkVirtualSize(size: number, sector: number): number {
  if (!Number.isSafeInteger(size) || size <= 0 || size % sector !== 0 || size > VHDX_MAX_VIRTUAL_SIZE) {
    throw invalid(
      `VHDX virtual size must be a positive multiple of ${sector} bytes up to 64 TiB, got ${size}.`,
      'virtualSize',
    );
  }
  return size;
}

function checkBlockSize(size: number): number {
  const powerOfTwo = Number.isSafeInteger(size) && size > 0 && (size & (size - 1)) === 0;
  if (!powerOfTwo || size < 1 * MiB || size > 256 * MiB) {
    throw invalid(`VHDX block size must be a power of two from 1 MiB to 256 MiB, got ${size}.`, 'blockSize');
  }
  return size;
}

/** Validates and copies (the caller's array may change after the layout is built). */
function checkPresentBlocks(blocks: readonly number[], blockCount: number): readonly number[] {
  let previous = -1;
  for (const b of blocks) {
    if (!Number.isInteger(b) || b <= previous || b >= blockCount) {
      throw invalid(
        `presentBlocks must be strictly ascending block indexes below ${blockCount}; found ${b} after ${previous}.`,
        'presentBlocks',
      );
    }
    previous = b;
  }
  return blocks.slice();
}

function checkGuid(guid: Uint8Array | undefined, name: string): Buffer {
  if (guid === undefined) return Buffer.alloc(16);
  if (guid.length !== 16) throw invalid(`${name} must be 16 bytes, got ${guid.length}.`, name);
  return Buffer.from(guid);
}

function buildStructures(layout: VhdxLayout, opts: VhdxLayoutOptions): VhdxStructure[] {
  const fileWriteGuid = checkGuid(opts.fileWriteGuid, 'fileWriteGuid');
  const dataWriteGuid = checkGuid(opts.dataWriteGuid, 'dataWriteGuid');
  const page83 = checkGuid(opts.page83, 'page83');
  const regionTable = buildRegionTable(layout);
  const o = VHDX_OFFSETS;
  const list: Array<[string, number, number, Buffer]> = [
    [
      'file identifier',
      o.fileIdentifier,
      64 * KiB,
      buildFileIdentifier(opts.creator ?? VHDX_DEFAULT_CREATOR),
    ],
    ['header 1', o.header1, 64 * KiB, buildHeader(1, fileWriteGuid, dataWriteGuid)],
    ['header 2', o.header2, 64 * KiB, buildHeader(2, fileWriteGuid, dataWriteGuid)],
    ['region table 1', o.regionTable1, 64 * KiB, regionTable],
    ['region table 2', o.regionTable2, 64 * KiB, regionTable],
    ['reserved', o.regionTable2 + 64 * KiB, o.log - (o.regionTable2 + 64 * KiB), Buffer.alloc(0)],
    ['log', o.log, VHDX_LOG_LENGTH, Buffer.alloc(0)],
    ['metadata table', o.metadata, VHDX_METADATA_ITEMS_OFFSET, buildMetadataTable()],
    [
      'metadata items',
      o.metadata + VHDX_METADATA_ITEMS_OFFSET,
      VHDX_METADATA_LENGTH - VHDX_METADATA_ITEMS_OFFSET,
      buildMetadataItems(layout, page83),
    ],
  ];
  return list.map(([name, offset, length, data]) => ({ name, offset, length, data }));
}

/** `vhdxfile` and a UTF-16LE creator string (at most 256 code units). */
function buildFileIdentifier(creator: string): Buffer {
  const buf = Buffer.alloc(8 + 512);
  buf.write('vhdxfile', 0, 'latin1');
  buf.write(creator.slice(0, 255), 8, 'utf16le');
  return buf.subarray(0, 8 + Math.min(creator.length, 255) * 2);
}

/** A 4 KiB header; LogGuid zero (no log to replay), log at 1 MiB, version 1. */
function buildHeader(sequence: number, fileWriteGuid: Buffer, dataWriteGuid: Buffer): Buffer {
  const buf = Buffer.alloc(HEADER_SIZE);
  buf.write('head', 0, 'latin1');
  buf.writeBigUInt64LE(BigInt(sequence), 8);
  buf.set(fileWriteGuid, 16);
  buf.set(dataWriteGuid, 32);
  // 48: LogGuid, left zero
  buf.writeUInt16LE(0, 64); // LogVersion
  buf.writeUInt16LE(1, 66); // Version
  buf.writeUInt32LE(VHDX_LOG_LENGTH, 68);
  buf.writeBigUInt64LE(BigInt(VHDX_OFFSETS.log), 72);
  buf.writeUInt32LE(crc32c(buf), 4);
  return buf;
}

/** Region table with the BAT and metadata regions, both Required; CRC over the full 64 KiB. */
function buildRegionTable(layout: VhdxLayout): Buffer {
  const buf = Buffer.alloc(REGION_TABLE_SIZE);
  buf.write('regi', 0, 'latin1');
  buf.writeUInt32LE(2, 8);
  const entries: Array<[string, number, number]> = [
    [VHDX_GUIDS.batRegion, layout.batOffset, layout.batLength],
    [VHDX_GUIDS.metadataRegion, VHDX_OFFSETS.metadata, VHDX_METADATA_LENGTH],
  ];
  entries.forEach(([guid, offset, length], i) => {
    const at = 16 + i * 32;
    buf.set(guidBytes(guid), at);
    buf.writeBigUInt64LE(BigInt(offset), at + 16);
    buf.writeUInt32LE(length, at + 24);
    buf.writeUInt32LE(1, at + 28); // Required
  });
  buf.writeUInt32LE(crc32c(buf), 4);
  return buf.subarray(0, 16 + entries.length * 32);
}

/** Offsets (from the region start), lengths and flags of the five required metadata items. */
const METADATA_ITEMS: ReadonlyArray<[string, number, number, number]> = [
  [VHDX_GUIDS.fileParameters, VHDX_METADATA_ITEMS_OFFSET + 0, 8, MD_IS_REQUIRED],
  [VHDX_GUIDS.virtualDiskSize, VHDX_METADATA_ITEMS_OFFSET + 8, 8, MD_IS_REQUIRED | MD_IS_VIRTUAL_DISK],
  [VHDX_GUIDS.page83Data, VHDX_METADATA_ITEMS_OFFSET + 16, 16, MD_IS_REQUIRED | MD_IS_VIRTUAL_DISK],
  [VHDX_GUIDS.logicalSectorSize, VHDX_METADATA_ITEMS_OFFSET + 32, 4, MD_IS_REQUIRED | MD_IS_VIRTUAL_DISK],
  [VHDX_GUIDS.physicalSectorSize, VHDX_METADATA_ITEMS_OFFSET + 36, 4, MD_IS_REQUIRED | MD_IS_VIRTUAL_DISK],
];

function buildMetadataTable(): Buffer {
  const buf = Buffer.alloc(32 + METADATA_ITEMS.length * 32);
  buf.write('metadata', 0, 'latin1');
  buf.writeUInt16LE(METADATA_ITEMS.length, 10);
  METADATA_ITEMS.forEach(([guid, offset, length, flags], i) => {
    const at = 32 + i * 32;
    buf.set(guidBytes(guid), at);
    buf.writeUInt32LE(offset, at + 16);
    buf.writeUInt32LE(length, at + 20);
    buf.writeUInt32LE(flags, at + 24);
  });
  return buf;
}

/** The item payloads, contiguous from `VHDX_METADATA_ITEMS_OFFSET`. */
function buildMetadataItems(layout: VhdxLayout, page83: Buffer): Buffer {
  const buf = Buffer.alloc(40);
  buf.writeUInt32LE(layout.blockSize, 0);
  buf.writeUInt32LE(layout.fixed ? 1 : 0, 4); // bit0 LeaveBlocksAllocated, bit1 HasParent
  buf.writeBigUInt64LE(BigInt(layout.virtualSize), 8);
  buf.set(page83, 16);
  buf.writeUInt32LE(layout.logicalSectorSize, 32);
  buf.writeUInt32LE(layout.physicalSectorSize, 36);
  return buf;
}
