/**
 * @module cli/data/vhdx-reader
 * Reads where a disk's blocks are in a VHDX file (the blob of a 4096-byte-sector resource, or of
 * a VHDX grant), so a download can write them to a raw image: region table → metadata (block
 * size, virtual size, logical sector size) → BAT (file offset of each present block). Layout
 * facts in docs/FORMATS.md; GUIDs and the BAT index rule from `core/vhdx.ts`.
 */

import { guidBytes, VHDX_GUIDS, VHDX_OFFSETS, VhdxBatState } from '../../core/vhdx.js';
import { CliError } from '../errors.js';

export interface VhdxMap {
  virtualSize: number;
  logicalSectorSize: number;
  blockSize: number;
  /** Present blocks: virtual offset, file offset, length (the last block may be short). */
  blocks: Array<{ virtualOffset: number; fileOffset: number; length: number }>;
}

type Read = (offset: number, length: number) => Promise<Buffer>;

function bad(what: string): CliError {
  return new CliError(`Not a VHDX file this client can read: ${what}.`, { code: 'BadVhdx' });
}

export async function readVhdxMap(read: Read): Promise<VhdxMap> {
  const region = await read(VHDX_OFFSETS.regionTable1, 64 * 1024);
  if (region.toString('latin1', 0, 4) !== 'regi') throw bad('no region table');
  const count = region.readUInt32LE(8);
  const bat = guidBytes(VHDX_GUIDS.batRegion);
  const meta = guidBytes(VHDX_GUIDS.metadataRegion);
  let batOffset = -1;
  let batLength = 0;
  let metaOffset = -1;
  for (let i = 0; i < count && 16 + (i + 1) * 32 <= region.length; i++) {
    const e = region.subarray(16 + i * 32, 16 + (i + 1) * 32);
    const id = e.subarray(0, 16);
    if (id.equals(bat)) {
      batOffset = Number(e.readBigUInt64LE(16));
      batLength = e.readUInt32LE(24);
    } else if (id.equals(meta)) metaOffset = Number(e.readBigUInt64LE(16));
  }
  if (batOffset < 0 || metaOffset < 0) throw bad('no BAT or metadata region');
  const table = await read(metaOffset, 64 * 1024);
  if (table.toString('latin1', 0, 8) !== 'metadata') throw bad('no metadata table');
  const entries = table.readUInt16LE(10);
  const items = new Map<string, { offset: number; length: number }>();
  for (let i = 0; i < entries; i++) {
    const e = table.subarray(32 + i * 32, 64 + i * 32);
    items.set(e.subarray(0, 16).toString('hex'), { offset: e.readUInt32LE(16), length: e.readUInt32LE(20) });
  }
  const item = async (guid: string, length: number): Promise<Buffer> => {
    const it = items.get(guidBytes(guid).toString('hex'));
    if (!it) throw bad(`metadata item ${guid} missing`);
    return read(metaOffset + it.offset, length);
  };
  const blockSize = (await item(VHDX_GUIDS.fileParameters, 8)).readUInt32LE(0);
  const virtualSize = Number((await item(VHDX_GUIDS.virtualDiskSize, 8)).readBigUInt64LE(0));
  const logicalSectorSize = (await item(VHDX_GUIDS.logicalSectorSize, 4)).readUInt32LE(0);
  if (blockSize <= 0 || virtualSize <= 0 || (logicalSectorSize !== 512 && logicalSectorSize !== 4096)) throw bad('bad metadata values');
  const chunkRatio = (2 ** 23 * logicalSectorSize) / blockSize;
  const blockCount = Math.ceil(virtualSize / blockSize);
  const batBytes = await read(batOffset, batLength);
  const blocks: VhdxMap['blocks'] = [];
  for (let b = 0; b < blockCount; b++) {
    const index = b + Math.floor(b / chunkRatio);
    if ((index + 1) * 8 > batBytes.length) throw bad('BAT too short');
    const entry = batBytes.readBigUInt64LE(index * 8);
    const state = Number(entry & 7n);
    if (state !== VhdxBatState.fullyPresent && state !== VhdxBatState.partiallyPresent) continue;
    const fileOffset = Number(entry >> 20n) * 1024 * 1024;
    const virtualOffset = b * blockSize;
    blocks.push({ virtualOffset, fileOffset, length: Math.min(blockSize, virtualSize - virtualOffset) });
  }
  return { virtualSize, logicalSectorSize, blockSize, blocks };
}
