/**
 * @module api/blob/formats
 * How a resource maps to the bytes of its page blob, for each format a grant can ask for:
 *
 *   VHD  (read grants, 512-byte sectors)   [ resource bytes ........ ][ 512-byte fixed-VHD footer ]
 *   raw  (upload grants)                   [ upload area, footer included, exactly as written ]
 *   VHDX (fileFormat VHDX / 4096 sectors)  [ headers | log | metadata | BAT | present blocks ... ]
 *
 * A `BlobView` gives the blob's length and properties, streams any byte range as pieces of at
 * most `PIECE_SIZE` bytes (`pieces`), and lists the blob ranges that hold data (`dataRanges`).
 *
 * Design notes:
 * - Everything a client may fetch in several requests is deterministic: the VHD footer's unique
 *   id and timestamp come from the resource's uniqueId and timeCreated; the VHDX GUIDs likewise,
 *   and its layout (which blocks are present) is computed once per grant and cached, so ranged
 *   reads of one grant always agree (a read grant's content cannot change while it is active).
 * - VHDX present blocks are the layout blocks (32 MiB) holding any allocated 64 KiB block; the
 *   others are PAYLOAD_BLOCK_ZERO and take no file space. VHDX data ranges are the generated
 *   structures (file identifier, headers, region tables, metadata, BAT) plus the allocated
 *   ranges of the resource mapped to their file offsets; the zero log and slot padding are not data.
 * - Reads are aligned to `PIECE_SIZE` boundaries of the resource, so each engine read covers
 *   whole 64 KiB blocks; zeros come from one shared buffer (no allocation per piece). Pieces are
 *   tasks, so a streamer can keep several reads in flight (snapshot reads are latency-bound).
 * - ETags: a snapshot's is derived from its uniqueId (immutable content); a read-granted disk's
 *   from the grant (the disk cannot change while the grant is active); an upload disk's from its
 *   write version (`Disks.uploadVersion`: a generation persisted in the disk record, bumped before
 *   the first Put Page after each load, and the Put Pages since), so an ETag never names two
 *   contents, across restarts and nodes.
 * - Read grants' footers and properties are computed once per grant and cached (their content
 *   cannot change while the grant lives), so a ranged GET hashes nothing.
 */

import { createHash } from 'node:crypto';
import type { DiffRange } from '../../core/ranges.js';
import { MiB, PAGE_SIZE, VHD_FOOTER_SIZE } from '../../core/units.js';
import { vhdFooter } from '../../core/vhd.js';
import { VhdxLayout } from '../../core/vhdx.js';
import type { Engine } from '../../engine/engine.js';
import type { RangePage, RangeQuery } from '../../engine/snapshots.js';
import type { BlobAccess, BlobResource } from './auth.js';
import type { BlobProperties } from './headers.js';
import { openResourceData, RangeCollector } from './resource.js';
import type { ResourceData } from './resource.js';

/** Largest piece `pieces` yields: big enough for throughput, small enough to bound memory. */
export const PIECE_SIZE = 4 * MiB;
const ZEROS = Buffer.alloc(PIECE_SIZE);
/** VHDX block size of served files (Hyper-V's and Azure's default). */
export const VHDX_BLOCK_SIZE = 32 * MiB;
const VHDX_CACHE_LIMIT = 64;
/** Read grants whose footer and properties are kept (a few hundred bytes each). */
const FIXED_CACHE_LIMIT = 4096;

export type BlobFormat = 'VHD' | 'VHDX' | 'raw';

/** Produces one piece of a blob range (a read, or bytes at hand). */
export type PieceTask = () => Promise<Buffer>;

const ready = (data: Buffer): PieceTask => () => Promise.resolve(data);

export interface BlobView {
  readonly format: BlobFormat;
  readonly access: BlobAccess;
  readonly data: ResourceData;
  readonly length: number;
  readonly properties: BlobProperties;
  /**
   * The bytes of blob range [start, end) in order, as tasks each producing a piece of at most
   * `PIECE_SIZE` bytes. Tasks may be started ahead of consumption (several reads in flight).
   */
  pieces(start: number, end: number): Generator<PieceTask>;
  /** Blob ranges holding data inside [start, end), merged, at most `maxRanges`. */
  dataRanges(q: RangeQuery): Promise<RangePage<DiffRange>>;
}

interface VhdxEntry {
  layout: VhdxLayout;
  present: number[];
  properties: BlobProperties;
}

/** What a read grant's blob always is: its footer (VHD) and properties. */
interface FixedEntry {
  footer: Buffer;
  properties: BlobProperties;
}

/** Builds views; holds the per-grant VHDX layouts, footers and properties. */
export class BlobViews {
  private readonly vhdx = new Map<string, Promise<VhdxEntry>>();
  private readonly fixed = new Map<string, FixedEntry>();

  constructor(private readonly engine: Engine) {}

  async open(access: BlobAccess): Promise<BlobView> {
    const data = await openResourceData(this.engine, access.resource);
    if (access.grant.access === 'Write') {
      return new FlatView('raw', access, data, Buffer.alloc(0), this.uploadProperties(access, data.size));
    }
    if (access.grant.fileFormat === 'VHDX') {
      const entry = await this.vhdxEntry(access, data);
      return new VhdxView(access, data, entry, entry.properties);
    }
    const fixed = this.fixedEntry(access, data);
    return new FlatView('VHD', access, data, fixed.footer, fixed.properties);
  }

  /** The properties of an upload disk's blob (`length` bytes), `version` as after a write. */
  uploadProperties(access: BlobAccess, length: number, version = this.engine.disks.uploadVersion(access.grant.resourceUniqueId)): BlobProperties {
    const record = resourceRecord(access.resource);
    const createdAt = new Date(record.timeCreated);
    if (!version) return { length, etag: etag(record.uniqueId, 'upload', 'unloaded'), lastModified: new Date(access.grant.createdAt), createdAt };
    const writes = version.writes === null ? 'at-rest' : String(version.writes);
    return { length, etag: etag(record.uniqueId, 'upload', String(version.generation), writes), lastModified: version.at, createdAt };
  }

  private fixedEntry(access: BlobAccess, data: ResourceData): FixedEntry {
    const key = access.grant.id;
    let entry = this.fixed.get(key);
    if (!entry) {
      const record = resourceRecord(access.resource);
      const footer = vhdFooter(data.size, { uniqueId: stableBytes(record.uniqueId, 'vhd'), timestamp: new Date(record.timeCreated) });
      entry = { footer, properties: readProperties(access, data.size + VHD_FOOTER_SIZE) };
      remember(this.fixed, key, entry, FIXED_CACHE_LIMIT);
    }
    return entry;
  }

  private vhdxEntry(access: BlobAccess, data: ResourceData): Promise<VhdxEntry> {
    const key = access.grant.id;
    let entry = this.vhdx.get(key);
    if (!entry) {
      entry = buildVhdx(access, data);
      entry.catch(() => this.vhdx.delete(key));
      remember(this.vhdx, key, entry, VHDX_CACHE_LIMIT);
    }
    return entry;
  }
}

/** Adds to an insertion-ordered cache, dropping the oldest entries past `limit`. */
function remember<V>(cache: Map<string, V>, key: string, value: V, limit: number): void {
  cache.set(key, value);
  while (cache.size > limit) {
    const oldest = cache.keys().next().value;
    if (oldest === undefined) break;
    cache.delete(oldest);
  }
}

/** The properties of a read grant's blob (`length` bytes long): fixed while the grant lives. */
function readProperties(access: BlobAccess, length: number): BlobProperties {
  const record = resourceRecord(access.resource);
  const createdAt = new Date(record.timeCreated);
  const g = access.grant;
  if (access.resource.kind === 'snapshot') {
    return { length, etag: etag(record.uniqueId, g.fileFormat), lastModified: createdAt, createdAt };
  }
  return { length, etag: etag(record.uniqueId, g.id, g.fileFormat, ''), lastModified: new Date(g.createdAt), createdAt };
}

function resourceRecord(r: BlobResource): { uniqueId: string; timeCreated: string; logicalSectorSize: 512 | 4096 } {
  return r.kind === 'disk' ? r.disk : r.snapshot;
}

/** Quoted, Azure-looking ETag derived from `parts`. */
function etag(...parts: string[]): string {
  return `"0x8D${createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 13).toUpperCase()}"`;
}

/** 16 bytes derived from a resource id and a purpose (stable across requests and restarts). */
export function stableBytes(uniqueId: string, purpose: string): Buffer {
  return createHash('sha256').update(`${purpose}\n${uniqueId}`).digest().subarray(0, 16);
}

/** Disk and footer (VHD) or just the upload area (raw). */
class FlatView implements BlobView {
  readonly length: number;

  constructor(
    readonly format: 'VHD' | 'raw',
    readonly access: BlobAccess,
    readonly data: ResourceData,
    private readonly trailer: Buffer,
    readonly properties: BlobProperties,
  ) {
    this.length = data.size + trailer.length;
  }

  *pieces(start: number, end: number): Generator<PieceTask> {
    const dataEnd = Math.min(end, this.data.size);
    for (let pos = start; pos < dataEnd; ) {
      const stop = Math.min(dataEnd, (Math.floor(pos / PIECE_SIZE) + 1) * PIECE_SIZE);
      const at = pos;
      yield () => this.data.read(at, stop - at);
      pos = stop;
    }
    if (end > this.data.size) yield ready(this.trailer.subarray(Math.max(0, start - this.data.size), end - this.data.size));
  }

  async dataRanges(q: RangeQuery): Promise<RangePage<DiffRange>> {
    const start = q.start ?? 0;
    const end = Math.min(this.length, q.end ?? this.length);
    const out = new RangeCollector(q.maxRanges ?? Infinity);
    const dataEnd = Math.min(end, this.data.size);
    if (start < dataEnd) {
      const page = await this.data.allocated({ start, end: dataEnd, ...(q.maxRanges ? { maxRanges: q.maxRanges } : {}) });
      for (const r of page.ranges) out.add({ start: r.start, end: r.end, clear: false });
      if (page.next !== undefined) out.stopAt(page.next);
    }
    // the footer is part of the blob: Azure lists its page too
    if (this.trailer.length > 0 && end > this.data.size) {
      out.add({ start: Math.max(start, this.data.size), end, clear: false });
    }
    return out.page();
  }
}

async function buildVhdx(access: BlobAccess, data: ResourceData): Promise<VhdxEntry> {
  const record = resourceRecord(access.resource);
  const present: number[] = [];
  let from = 0;
  for (;;) {
    const page = await data.allocated({ start: from, maxRanges: 10_000 });
    for (const r of page.ranges) {
      const first = Math.floor(r.start / VHDX_BLOCK_SIZE);
      const last = Math.floor((r.end - 1) / VHDX_BLOCK_SIZE);
      for (let b = Math.max(first, (present[present.length - 1] ?? -1) + 1); b <= last; b++) present.push(b);
    }
    if (page.next === undefined) break;
    from = page.next;
  }
  const layout = new VhdxLayout({
    virtualSize: data.size,
    logicalSectorSize: record.logicalSectorSize,
    physicalSectorSize: 4096,
    blockSize: VHDX_BLOCK_SIZE,
    presentBlocks: present,
    fileWriteGuid: stableBytes(record.uniqueId, 'vhdx-file-write'),
    dataWriteGuid: stableBytes(record.uniqueId, 'vhdx-data-write'),
    page83: stableBytes(record.uniqueId, 'vhdx-page83'),
  });
  return { layout, present, properties: readProperties(access, layout.fileSize) };
}

/** A VHDX generated on the fly over the resource (see `VhdxLayout`). */
class VhdxView implements BlobView {
  readonly format = 'VHDX';
  readonly length: number;
  private readonly layout: VhdxLayout;
  private readonly present: number[];

  constructor(
    readonly access: BlobAccess,
    readonly data: ResourceData,
    entry: VhdxEntry,
    readonly properties: BlobProperties,
  ) {
    this.layout = entry.layout;
    this.present = entry.present;
    this.length = entry.layout.fileSize;
  }

  *pieces(start: number, end: number): Generator<PieceTask> {
    for (let pos = start; pos < end; ) {
      const stop = Math.min(end, (Math.floor(pos / PIECE_SIZE) + 1) * PIECE_SIZE);
      for (const seg of this.layout.segments(pos, stop - pos)) {
        if (seg.kind === 'bytes') yield ready(seg.data);
        else if (seg.kind === 'zero') yield ready(ZEROS.subarray(0, seg.length));
        else yield () => this.data.read(seg.virtualOffset, seg.length);
      }
      pos = stop;
    }
  }

  async dataRanges(q: RangeQuery): Promise<RangePage<DiffRange>> {
    const start = q.start ?? 0;
    const end = Math.min(this.length, q.end ?? this.length);
    const out = new RangeCollector(q.maxRanges ?? Infinity);
    for (const r of this.metadataRanges()) out.add({ start: Math.max(start, r.start), end: Math.min(end, r.end), clear: false });
    const from = Math.max(start, this.layout.payloadOffset);
    if (from >= end || out.full) return out.page();
    const vStart = this.toVirtual(from);
    const vEnd = this.toVirtual(end);
    if (vStart >= vEnd) return out.page();
    const page = await this.data.allocated({ start: vStart, end: vEnd, ...(q.maxRanges ? { maxRanges: q.maxRanges } : {}) });
    for (const r of page.ranges) {
      const fs = this.toFile(r.start);
      out.add({ start: Math.max(fs, start), end: Math.min(fs + (r.end - r.start), end), clear: false });
    }
    if (page.next !== undefined) out.stopAt(this.toFile(page.next));
    return out.page();
  }

  /** Generated structures and the BAT entries, rounded up to whole pages. */
  private metadataRanges(): DiffRange[] {
    const up = (n: number): number => Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
    const out = this.layout.structures().map((s) => ({ start: s.offset, end: s.offset + up(s.data.length), clear: false }));
    out.push({ start: this.layout.batOffset, end: this.layout.batOffset + up(this.layout.batEntryCount * 8), clear: false });
    return out.sort((a, b) => a.start - b.start);
  }

  /** The virtual offset of file offset `f` in the payload area (a slot's padding maps to its block end). */
  private toVirtual(f: number): number {
    const bs = this.layout.blockSize;
    const slot = Math.floor((f - this.layout.payloadOffset) / bs);
    const block = this.present[slot];
    if (block === undefined) return this.data.size;
    return Math.min(this.data.size, block * bs + (f - this.layout.payloadOffset - slot * bs));
  }

  /** The file offset of allocated virtual offset `v` (its block is present). */
  private toFile(v: number): number {
    const bs = this.layout.blockSize;
    const block = Math.floor(v / bs);
    return (this.layout.blockFileOffset(block) ?? this.layout.fileSize) + (v - block * bs);
  }
}
