/**
 * @module chunks/packed-chunk-store
 * The ChunkStore of one region: content-addressed blocks packed into immutable pack objects,
 * written to every zone of the region, indexed in the catalog.
 *
 *   put(blocks) ─ sha256 each ─ lookup index ─ new ones ─ encode (deflate if it pays)
 *                                                   └─ one pack: [chunk bytes...][trailer]
 *                                                        └─ BlobStore.put in every zone (durable)
 *                                                             └─ index.addPack (one transaction)
 *
 * Design notes:
 * - Visibility: a chunk is usable only once its row is in the index, and the row is written only
 *   after the pack is durable in every zone. A crash in between leaves an unindexed pack that GC
 *   removes after its grace period.
 * - The pack trailer repeats the index (hash, offset, lengths, codec per chunk) so that the index
 *   can be rebuilt from the objects alone (`verify` uses it).
 * - Reads are verified: decompress, SHA-256, compare with the indexed hash. A mismatch or a missing
 *   object in one zone falls over to the next zone; when no zone has good bytes the read fails
 *   with IntegrityError naming the chunk. Verified chunks are kept in a small LRU cache.
 * - Compression: the byte entropy of a 4 KiB sample decides first (above 7.2 bits per byte the
 *   block is random-looking and stored raw: a histogram costs microseconds, a deflate call
 *   tens); otherwise deflate level 1, kept only when it saves more than 1/8.
 */

import { createHash, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { SnapdiskError } from '../core/errors.js';
import type { ChunkLocation } from '../core/model.js';
import type { BlobInfo, BlobStore, ChunkIndex, ChunkStore, NewChunk, Redundancy, StoredChunk } from '../core/ports.js';
import { PACK_PREFIX, packKey } from './layout.js';
import { sharedPool } from '../core/buffer-pool.js';

export const CODEC_RAW = 0;
export const CODEC_DEFLATE = 1;

const TRAILER_MAGIC = Buffer.from('SDPACK01', 'ascii');
const TRAILER_ENTRY = 32 + 8 + 4 + 4 + 1;

export interface Zone {
  name: string;
  store: BlobStore;
}

export interface PackedChunkStoreOptions {
  region: string;
  zones: Zone[];
  index: ChunkIndex;
  compression?: 'auto' | 'none';
  cacheBytes?: number;
}

export interface ChunkStoreStats {
  chunksWritten: number;
  chunksDeduplicated: number;
  bytesWritten: number;
  packsWritten: number;
  reads: number;
  cacheHits: number;
  failovers: number;
}

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

export class PackedChunkStore implements ChunkStore {
  readonly region: string;
  readonly stats: ChunkStoreStats = {
    chunksWritten: 0,
    chunksDeduplicated: 0,
    bytesWritten: 0,
    packsWritten: 0,
    reads: 0,
    cacheHits: 0,
    failovers: 0,
  };
  private readonly zones: Zone[];
  private readonly index: ChunkIndex;
  private readonly compression: 'auto' | 'none';
  private readonly cache: LruCache;

  constructor(options: PackedChunkStoreOptions) {
    if (options.zones.length === 0) throw new Error(`region ${options.region} has no zone to store chunks in`);
    this.region = options.region;
    this.zones = options.zones;
    this.index = options.index;
    this.compression = options.compression ?? 'auto';
    this.cache = new LruCache(options.cacheBytes ?? 64 * 1024 * 1024);
  }

  get zoneNames(): string[] {
    return this.zones.map((z) => z.name);
  }

  async put(blocks: ReadonlyArray<Uint8Array>, redundancy: Redundancy = 'zone'): Promise<StoredChunk[]> {
    const hashes = blocks.map((b) => sha256(b));
    const known = await this.index.lookupChunks(this.region, uniqueBuffers(hashes));
    if (redundancy === 'zone' && this.zones.length > 1) await this.replicatePacks([...known.values()].map((c) => c.pack));
    const fresh = new Map<string, { hash: Buffer; data: Uint8Array }>();
    hashes.forEach((h, i) => {
      const hex = h.toString('hex');
      const data = blocks[i];
      if (!known.has(hex) && !fresh.has(hex) && data) fresh.set(hex, { hash: h, data });
    });
    let written = new Map<string, ChunkLocation>();
    if (fresh.size > 0) written = await this.writePack([...fresh.values()], this.placement(redundancy));
    const freshKeys = new Set(fresh.keys());
    const out: StoredChunk[] = [];
    const seen = new Set<string>();
    for (const h of hashes) {
      const hex = h.toString('hex');
      const loc = known.get(hex) ?? written.get(hex);
      if (!loc) throw new SnapdiskError('InternalError', `chunk ${hex} was stored but is not in the index`);
      const isNew = freshKeys.has(hex) && !seen.has(hex);
      seen.add(hex);
      out.push({ id: loc.id, deduplicated: !isNew, storedLength: isNew ? loc.storedLength : 0 });
      if (isNew) this.stats.chunksWritten++;
      else this.stats.chunksDeduplicated++;
    }
    return out;
  }

  async read(chunk: ChunkLocation): Promise<Buffer> {
    this.stats.reads++;
    const cached = this.cache.get(chunk.id);
    if (cached) {
      this.stats.cacheHits++;
      return cached;
    }
    const problems: string[] = [];
    for (const zone of await this.readOrder(chunk.pack)) {
      try {
        const stored = await zone.store.read(chunk.pack, chunk.offset, chunk.storedLength);
        const data = decode(stored, chunk.codec, chunk.rawLength);
        if (data.length !== chunk.rawLength || !sha256(data).equals(chunk.hash)) {
          problems.push(`zone ${zone.name}: content does not match its SHA-256`);
          this.stats.failovers++;
          continue;
        }
        this.cache.set(chunk.id, data);
        return data;
      } catch (err) {
        if (err instanceof SnapdiskError && (err.code === 'ChunkNotFound' || err.code === 'IntegrityError')) {
          problems.push(`zone ${zone.name}: ${err.message}`);
          this.stats.failovers++;
          continue;
        }
        if (isDecodeError(err)) {
          problems.push(`zone ${zone.name}: stored bytes do not decompress`);
          this.stats.failovers++;
          continue;
        }
        throw err;
      }
    }
    throw new SnapdiskError(
      'IntegrityError',
      `chunk ${chunk.hash.toString('hex')} (pack ${chunk.pack}) of region ${this.region} cannot be read intact: ${problems.join('; ')}`,
      { hint: 'Run `snapdisk verify` to find the snapshots affected; restore them from another copy.' },
    );
  }

  async readMany(chunks: ReadonlyArray<ChunkLocation>): Promise<Buffer[]> {
    const targets = chunks.map((c) => Buffer.allocUnsafe(c.rawLength));
    await this.readInto(chunks, targets);
    return targets;
  }

  async readInto(chunks: ReadonlyArray<ChunkLocation>, targets: ReadonlyArray<Buffer>): Promise<void> {
    const todo: number[] = [];
    chunks.forEach((c, i) => {
      const hit = this.cache.get(c.id);
      const target = targets[i];
      if (hit && target) {
        this.stats.reads++;
        this.stats.cacheHits++;
        hit.copy(target, 0, 0, Math.min(target.length, hit.length));
      } else todo.push(i);
    });
    // runs of chunks stored back to back in one pack become one read of the first healthy zone
    todo.sort((a, b) => {
      const x = chunks[a];
      const y = chunks[b];
      if (!x || !y) return 0;
      return x.pack === y.pack ? x.offset - y.offset : x.pack < y.pack ? -1 : 1;
    });
    const runs: number[][] = [];
    let runBytes = 0;
    for (const i of todo) {
      const c = chunks[i];
      const run = runs[runs.length - 1];
      const prev = run ? chunks[run[run.length - 1] ?? -1] : undefined;
      if (run && c && prev && prev.pack === c.pack && prev.offset + prev.storedLength === c.offset && runBytes + c.storedLength <= 8 * 1024 * 1024) {
        run.push(i);
        runBytes += c.storedLength;
      } else {
        runs.push([i]);
        runBytes = c?.storedLength ?? 0;
      }
    }
    await Promise.all(runs.map((run) => this.readRunInto(run.map((i) => chunks[i]), run.map((i) => targets[i]))));
  }

  /** One request for adjacent chunks into a pooled buffer; any problem falls back to single reads. */
  private async readRunInto(run: Array<ChunkLocation | undefined>, targets: Array<Buffer | undefined>): Promise<void> {
    const first = run[0];
    const last = run[run.length - 1];
    if (!first || !last) return;
    const length = last.offset + last.storedLength - first.offset;
    const zone = (await this.readOrder(first.pack))[0];
    const direct = contiguousRawTargets(run, targets, length);
    if (direct && zone) {
      // raw chunks stored back to back land in targets back to back: read once, in place
      let ok = true;
      try {
        await zone.store.read(first.pack, first.offset, length, direct);
      } catch {
        ok = false;
      }
      for (let k = 0; k < run.length; k++) {
        const c = run[k];
        const target = targets[k];
        if (!c || !target) continue;
        this.stats.reads++;
        if (ok && sha256(target.subarray(0, c.rawLength)).equals(c.hash)) continue;
        this.stats.reads--;
        (await this.read(c)).copy(target); // verified read with zone failover
      }
      return;
    }
    const scratch = sharedPool.acquire(length);
    try {
      let bytes: Buffer | null = null;
      try {
        bytes = zone ? await zone.store.read(first.pack, first.offset, length, scratch) : null;
      } catch {
        bytes = null;
      }
      for (let k = 0; k < run.length; k++) {
        const c = run[k];
        const target = targets[k];
        if (!c || !target) continue;
        this.stats.reads++;
        const at = c.offset - first.offset;
        const data = bytes ? verifiedView(bytes.subarray(at, at + c.storedLength), c) : null;
        if (data) {
          data.copy(target, 0, 0, Math.min(target.length, data.length));
        } else {
          this.stats.reads--;
          const good = await this.read(c); // verified read with zone failover
          good.copy(target, 0, 0, Math.min(target.length, good.length));
        }
      }
    } finally {
      sharedPool.release(scratch);
    }
  }

  async storedBytes(): Promise<number> {
    return this.index.packBytes(this.region);
  }

  async deletePack(key: string): Promise<void> {
    await Promise.all(this.zones.map((z) => z.store.delete(key)));
    this.packZones.delete(key);
  }

  async *listPacks(): AsyncIterable<BlobInfo> {
    const seen = new Set<string>();
    for (const z of this.zones) {
      for await (const info of z.store.list(PACK_PREFIX)) {
        if (seen.has(info.key)) continue;
        seen.add(info.key);
        yield info;
      }
    }
  }

  async scrubPack(key: string, chunks: ReadonlyArray<ChunkLocation>): Promise<{ repairedZones: string[]; lost: ChunkLocation[] }> {
    const copies: Array<{ zone: Zone; bytes: Buffer | null }> = [];
    const holders = await this.zonesOf(key);
    for (const zone of this.zones.filter((z) => holders.includes(z.name))) {
      const info = await zone.store.stat(key);
      const bytes = info ? await zone.store.read(key, 0, info.size).catch(() => null) : null;
      copies.push({ zone, bytes });
    }
    const size = Math.max(0, ...copies.map((c) => c.bytes?.length ?? 0));
    const good = Buffer.alloc(size);
    const lost: ChunkLocation[] = [];
    const badZones = new Set<string>();
    for (const c of copies) if (!c.bytes || c.bytes.length !== size) badZones.add(c.zone.name);
    for (const chunk of chunks) {
      let found = false;
      for (const c of copies) {
        const ok = c.bytes !== null && chunkIntact(c.bytes, chunk);
        if (!ok) badZones.add(c.zone.name);
        if (ok && !found && c.bytes) {
          c.bytes.copy(good, chunk.offset, chunk.offset, chunk.offset + chunk.storedLength);
          found = true;
        }
      }
      if (!found) lost.push(chunk);
    }
    // the trailer (index copy) comes from any zone whose bytes are complete
    const end = Math.max(0, ...chunks.map((c) => c.offset + c.storedLength));
    const donor = copies.find((c) => c.bytes && c.bytes.length === size && trailerOk(c.bytes));
    if (donor?.bytes) donor.bytes.copy(good, end, end, size);
    const repaired: string[] = [];
    if (lost.length === 0 && donor) {
      for (const c of copies) {
        if (!badZones.has(c.zone.name) && c.bytes && c.bytes.equals(good)) continue;
        await c.zone.store.delete(key);
        await c.zone.store.put(key, good);
        repaired.push(c.zone.name);
      }
    }
    this.cache.clear();
    return { repairedZones: repaired, lost };
  }

  async close(): Promise<void> {
    await Promise.all(this.zones.map((z) => z.store.close()));
    this.cache.clear();
  }

  /** Drops cached chunk bytes (tests use it to force reads from the zones). */
  clearCache(): void {
    this.cache.clear();
  }

  /** The zones a new pack goes to: all of them, or one in turn for locally-redundant data. */
  private placement(redundancy: Redundancy): Zone[] {
    if (redundancy === 'zone' || this.zones.length === 1) return this.zones;
    const zone = this.zones[this.nextZone++ % this.zones.length];
    return zone ? [zone] : this.zones;
  }

  private nextZone = 0;
  /** pack key → zones holding it (from the index; filled lazily). */
  private readonly packZones = new Map<string, string[]>();

  private async zonesOf(pack: string): Promise<string[]> {
    let z = this.packZones.get(pack);
    if (!z) {
      z = await this.index.packZones(this.region, pack);
      if (z.length === 0) z = this.zoneNames;
      this.packZones.set(pack, z);
    }
    return z;
  }

  replicate(packs: ReadonlyArray<string>): Promise<void> {
    return this.replicatePacks([...packs]);
  }

  /** Copies packs that live in fewer zones than the region has to the missing zones. */
  private async replicatePacks(packs: string[]): Promise<void> {
    if (this.zones.length === 1) return;
    for (const pack of new Set(packs)) {
      const have = await this.zonesOf(pack);
      const missing = this.zones.filter((z) => !have.includes(z.name));
      if (missing.length === 0) continue;
      const donor = this.zones.find((z) => have.includes(z.name));
      const info = donor ? await donor.store.stat(pack) : null;
      if (!donor || !info) continue; // unreadable: verify reports it; the chunk is still indexed
      const bytes = await donor.store.read(pack, 0, info.size);
      await Promise.all(missing.map((z) => z.store.put(pack, bytes)));
      const zones = this.zones.map((z) => z.name);
      await this.index.setPackZones(this.region, pack, zones);
      this.packZones.set(pack, zones);
    }
  }

  /** Zones to read a pack from: the ones holding it first. */
  private async readOrder(pack: string): Promise<Zone[]> {
    const have = await this.zonesOf(pack);
    return [...this.zones.filter((z) => have.includes(z.name)), ...this.zones.filter((z) => !have.includes(z.name))];
  }

  private async writePack(chunks: { hash: Buffer; data: Uint8Array }[], zones: Zone[] = this.zones): Promise<Map<string, ChunkLocation>> {
    const parts: Uint8Array[] = [];
    const entries: NewChunk[] = [];
    let offset = 0;
    for (const c of chunks) {
      const { codec, bytes } = this.encode(c.data);
      entries.push({ hash: c.hash, offset, storedLength: bytes.length, rawLength: c.data.length, codec });
      parts.push(bytes);
      offset += bytes.length;
    }
    parts.push(trailer(entries));
    const size = parts.reduce((n, p) => n + p.length, 0);
    const pooled = sharedPool.acquire(size);
    const pack = pooled.subarray(0, size);
    let at = 0;
    for (const p of parts) {
      pack.set(p, at);
      at += p.length;
    }
    const key = packKey(randomBytes(16).toString('hex'));
    try {
      await Promise.all(zones.map((z) => z.store.put(key, pack)));
    } finally {
      sharedPool.release(pooled);
    }
    this.stats.packsWritten++;
    this.stats.bytesWritten += pack.length;
    this.packZones.set(key, zones.map((z) => z.name));
    return this.index.addPack(this.region, { key, sizeBytes: pack.length, zones: zones.map((z) => z.name) }, entries);
  }

  private encode(data: Uint8Array): { codec: number; bytes: Uint8Array } {
    if (this.compression === 'none' || data.length < 8192) return { codec: CODEC_RAW, bytes: data };
    if (sampleEntropy(data) > 7.2) return { codec: CODEC_RAW, bytes: data };
    const packed = deflateRawSync(data, { level: 1 });
    if (packed.length > data.length * 0.875) return { codec: CODEC_RAW, bytes: data };
    return { codec: CODEC_DEFLATE, bytes: packed };
  }
}

const LOG2 = new Float64Array(4097).map((_, i) => (i === 0 ? 0 : Math.log2(i)));

/** Shannon entropy in bits per byte of 4 KiB sampled from the middle of `data`. */
export function sampleEntropy(data: Uint8Array): number {
  const n = Math.min(4096, data.length);
  const from = Math.max(0, Math.floor((data.length - n) / 2));
  const counts = new Uint32Array(256);
  for (let i = from; i < from + n; i++) {
    const v = data[i] ?? 0;
    counts[v] = (counts[v] ?? 0) + 1;
  }
  let h = 0;
  for (let b = 0; b < 256; b++) {
    const c = counts[b] ?? 0;
    if (c > 0) h -= (c / n) * ((LOG2[c] ?? 0) - (LOG2[n] ?? 0));
  }
  return h;
}

function decode(stored: Buffer, codec: number, rawLength: number): Buffer {
  if (codec === CODEC_RAW) return stored;
  if (codec === CODEC_DEFLATE) return inflateRawSync(stored, { maxOutputLength: Math.max(rawLength, 1) });
  throw new SnapdiskError('IntegrityError', `unknown chunk codec ${codec}`);
}

function trailer(entries: NewChunk[]): Buffer {
  const buf = Buffer.alloc(entries.length * TRAILER_ENTRY + 4 + TRAILER_MAGIC.length);
  let at = 0;
  for (const e of entries) {
    e.hash.copy(buf, at);
    buf.writeBigUInt64BE(BigInt(e.offset), at + 32);
    buf.writeUInt32BE(e.storedLength, at + 40);
    buf.writeUInt32BE(e.rawLength, at + 44);
    buf.writeUInt8(e.codec, at + 48);
    at += TRAILER_ENTRY;
  }
  buf.writeUInt32BE(entries.length, at);
  TRAILER_MAGIC.copy(buf, at + 4);
  return buf;
}

/** Parses a pack's trailer (the chunk list), for verification and index rebuilds. */
export function parsePackTrailer(pack: Buffer): NewChunk[] {
  const magicAt = pack.length - TRAILER_MAGIC.length;
  if (magicAt < 4 || !pack.subarray(magicAt).equals(TRAILER_MAGIC)) {
    throw new SnapdiskError('IntegrityError', 'pack has no valid trailer');
  }
  const count = pack.readUInt32BE(magicAt - 4);
  const start = magicAt - 4 - count * TRAILER_ENTRY;
  if (start < 0) throw new SnapdiskError('IntegrityError', 'pack trailer is longer than the pack');
  const out: NewChunk[] = [];
  for (let i = 0; i < count; i++) {
    const at = start + i * TRAILER_ENTRY;
    out.push({
      hash: Buffer.from(pack.subarray(at, at + 32)),
      offset: Number(pack.readBigUInt64BE(at + 32)),
      storedLength: pack.readUInt32BE(at + 40),
      rawLength: pack.readUInt32BE(at + 44),
      codec: pack.readUInt8(at + 48),
    });
  }
  return out;
}

/**
 * When every chunk of a run is stored raw, fills its target exactly, and the targets follow each
 * other in one buffer, the one view covering them all (so the run is read straight into place).
 */
function contiguousRawTargets(run: Array<ChunkLocation | undefined>, targets: Array<Buffer | undefined>, length: number): Buffer | null {
  const t0 = targets[0];
  if (!t0) return null;
  let expected = t0.byteOffset;
  for (let k = 0; k < run.length; k++) {
    const c = run[k];
    const t = targets[k];
    if (!c || !t || c.codec !== CODEC_RAW || t.buffer !== t0.buffer || t.byteOffset !== expected || t.length !== c.rawLength) return null;
    expected += t.length;
  }
  return Buffer.from(t0.buffer, t0.byteOffset, length);
}

/** Decoded and verified bytes of a chunk (a view when stored raw), or null when not intact. */
function verifiedView(stored: Buffer, chunk: ChunkLocation): Buffer | null {
  try {
    const data = decode(stored, chunk.codec, chunk.rawLength);
    return data.length === chunk.rawLength && sha256(data).equals(chunk.hash) ? data : null;
  } catch {
    return null;
  }
}

function chunkIntact(pack: Buffer, chunk: ChunkLocation): boolean {
  if (chunk.offset + chunk.storedLength > pack.length) return false;
  try {
    const data = decode(pack.subarray(chunk.offset, chunk.offset + chunk.storedLength), chunk.codec, chunk.rawLength);
    return data.length === chunk.rawLength && sha256(data).equals(chunk.hash);
  } catch {
    return false;
  }
}

function trailerOk(pack: Buffer): boolean {
  try {
    parsePackTrailer(pack);
    return true;
  } catch {
    return false;
  }
}

function uniqueBuffers(list: Buffer[]): Buffer[] {
  const seen = new Map<string, Buffer>();
  for (const b of list) seen.set(b.toString('hex'), b);
  return [...seen.values()];
}

function isDecodeError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/** Least-recently-used map of chunk id → verified bytes, bounded by total bytes. */
class LruCache {
  private readonly map = new Map<number, Buffer>();
  private bytes = 0;

  constructor(private readonly capacity: number) {}

  get(id: number): Buffer | undefined {
    const v = this.map.get(id);
    if (v) {
      this.map.delete(id);
      this.map.set(id, v);
    }
    return v;
  }

  set(id: number, data: Buffer): void {
    if (data.length > this.capacity) return;
    const old = this.map.get(id);
    if (old) {
      this.bytes -= old.length;
      this.map.delete(id);
    }
    this.map.set(id, data);
    this.bytes += data.length;
    while (this.bytes > this.capacity) {
      const oldest = this.map.entries().next().value;
      if (!oldest) break;
      this.map.delete(oldest[0]);
      this.bytes -= oldest[1].length;
    }
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }
}
