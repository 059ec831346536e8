/**
 * @module chunks/packed-chunk-store
 * The ChunkStore of one region: content-addressed blocks packed into immutable pack objects,
 * written to the zones of the region, indexed in the catalog.
 *
 *   put(blocks) ─ sha256 each ─ lookup index ─ new ones ─ encode (deflate if it pays)
 *                                                   └─ one pack: [chunk bytes...][trailer]
 *                                                        └─ BlobStore.put in the healthy zones (durable)
 *                                                             └─ index.addPack (one transaction)
 *
 * Design notes:
 * - Visibility: a chunk is usable only once its row is in the index, and the row is written only
 *   after the pack is durable in enough zones (below). A crash in between leaves an unindexed
 *   pack that GC removes after its grace period.
 * - Zones and health: a zone whose call failed is unhealthy for `zoneRecoveryMs` (30 s); it is
 *   not written to and is read last meanwhile, then tried again. A zone-redundant pack is
 *   acknowledged once every healthy zone holds it and at least a majority of the region's zones
 *   do (2 of 3: one zone may be down; a two-zone region needs both), else the write fails
 *   `Unavailable`. A locally-redundant pack needs one zone (the next healthy one in turn). The
 *   pack's record lists the zones holding it and, prefixed with `?`, the zones that should and
 *   do not (missed the write, or a read found the copy missing or damaged): `scrubPack` (verify,
 *   the background scrub) rewrites those, and a read that had to fail over queues that repair
 *   at once in the background.
 * - The pack trailer repeats the index (hash, offset, lengths, codec per chunk) so that the index
 *   can be rebuilt from the objects alone (`verify` uses it).
 * - Reads are verified: decompress, SHA-256, compare with the indexed hash (invariant 5). Any
 *   failure of one zone (missing object, damage, a zone that keeps failing) falls over to the
 *   next zone; when no zone has good bytes the read fails with IntegrityError naming the chunk, or
 *   Unavailable when a zone that might hold them could not be reached. Verified chunks are kept
 *   in a small LRU cache (bounded by bytes).
 * - Throughput: adjacent chunks of one pack are read with one request, into the caller's buffers
 *   when they are raw and back to back there, else into a pooled buffer; runs in shared memory
 *   are hashed on a worker thread (`hash-threads`), so the event loop writes heads and answers
 *   requests meanwhile.
 * - Compression: the byte entropy of a 4 KiB sample decides first (above 7.2 bits per byte the
 *   block is random-looking and stored raw: a histogram costs microseconds, a deflate call
 *   tens); otherwise deflate level 1, kept only when it saves more than 1/8. Measured (32 MiB
 *   of 64 KiB blocks per row, one core, CPU time, `compression` 'none' → 'auto'; put = hash,
 *   encode, pack; read = readMany: inflate and verify):
 *
 *     data                                  stored ÷ raw   put MB/s      read MB/s
 *     random                                1.00 (raw)     560 → 460     600 → 600-800
 *     source code and docs (ts, py, md)     0.175          615 → 190     715 → 350
 *     ELF executable (/usr/bin/node)        0.44           615 → 80      640 → 230
 *     each 4 KiB: 2 KiB random + 2 KiB 0    0.51           715 → 120     715 → 265
 *
 *   It pays where it applies: half or more of the bytes saved on binaries and partly filled
 *   sectors (a sixth left of text), for 5-8× the CPU of a raw put (the background copy) and
 *   about 2.5× on reads (inflate, on the hash workers for shared-memory runs); random data pays
 *   only the entropy sample. Deflate level 1 is zlib's fastest; RLE or Huffman-only strategies
 *   were 1.3× faster but kept 0.78 of a binary (vs 0.44).
 */

import { createHash, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { SnapdiskError } from '../core/errors.js';
import type { ChunkLocation } from '../core/model.js';
import type { BlobInfo, BlobStore, ChunkIndex, ChunkStore, NewChunk, Redundancy, StoredChunk } from '../core/ports.js';
import { PACK_PREFIX, packKey } from './layout.js';
import { sharedMemoryPool, sharedPool } from '../core/buffer-pool.js';
import { OFFLOAD_MIN_BYTES, hashThreads } from './hash-threads.js';
import type { HashPart, HashThreads } from './hash-threads.js';

export const CODEC_RAW = 0;
export const CODEC_DEFLATE = 1;

const TRAILER_MAGIC = Buffer.from('SDPACK01', 'ascii');
const TRAILER_ENTRY = 32 + 8 + 4 + 4 + 1;
/** Prefix of a zone in a pack's record that should hold a copy and does not (repair pending). */
const MISSING = '?';

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
  /** How long a zone that failed is left out of writes and read last (default 30 s). */
  zoneRecoveryMs?: number;
  /** Threads that verify runs (default: the process's). */
  hashThreads?: HashThreads;
  now?: () => number;
}

export interface ChunkStoreStats {
  chunksWritten: number;
  chunksDeduplicated: number;
  bytesWritten: number;
  packsWritten: number;
  reads: number;
  cacheHits: number;
  failovers: number;
  /** Packs acknowledged while a zone that should hold them did not (repair recorded). */
  degradedWrites: number;
  repairsQueued: number;
  /** Zone copies rewritten by scrubs (queued repairs and verify). */
  zonesRepaired: number;
}

/** A chunk of a run once checked: its verified bytes, 'placed' (already in its target), or null. */
type Checked = Buffer | 'placed' | null;

/**
 * A pooled buffer handed to blob store requests. A request that failed may still be running (a
 * deadline rejected its promise, and nothing in the port cancels the call) and reading or
 * writing the buffer: then the buffer is `abandoned`, left to the GC instead of going back to its
 * pool where the next user would share it with that request.
 */
interface BufferUse {
  abandoned: boolean;
}

/** Zones of one pack: those holding a copy, and those that should but do not (yet). */
interface PackZones {
  have: string[];
  missing: string[];
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
    degradedWrites: 0,
    repairsQueued: 0,
    zonesRepaired: 0,
  };
  private readonly zones: Zone[];
  private readonly index: ChunkIndex;
  private readonly compression: 'auto' | 'none';
  private readonly cache: LruCache;
  private readonly hashes: HashThreads;
  private readonly recoveryMs: number;
  private readonly now: () => number;
  /** zone name → time of its last failure (absent: healthy). */
  private readonly failedAt = new Map<string, number>();
  /** Packs with a missing or damaged zone copy, waiting for the background repair. */
  private readonly repairQueue = new Set<string>();
  private repairing: Promise<void> | null = null;
  /** Writes of the records of packs queued for repair, in order. */
  private marking: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(options: PackedChunkStoreOptions) {
    if (options.zones.length === 0) throw new Error(`region ${options.region} has no zone to store chunks in`);
    this.region = options.region;
    this.zones = options.zones;
    this.index = options.index;
    this.compression = options.compression ?? 'auto';
    this.cache = new LruCache(options.cacheBytes ?? 64 * 1024 * 1024);
    this.hashes = options.hashThreads ?? hashThreads;
    this.recoveryMs = options.zoneRecoveryMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  get zoneNames(): string[] {
    return this.zones.map((z) => z.name);
  }

  /**
   * SHA-256 of each block. Blocks that are views of one buffer in shared memory (a background
   * copy's batch) are hashed on the worker threads, so the event loop meanwhile writes the
   * previous pack; others here.
   */
  private async hashBlocks(blocks: ReadonlyArray<Uint8Array>): Promise<Buffer[]> {
    const first = blocks[0];
    if (first && first.buffer instanceof SharedArrayBuffer && blocks.every((b) => b.buffer === first.buffer)) {
      let base = Infinity;
      let end = 0;
      for (const b of blocks) {
        base = Math.min(base, b.byteOffset);
        end = Math.max(end, b.byteOffset + b.length);
      }
      const span = Buffer.from(first.buffer, base, end - base);
      return this.hashes.digest(span, blocks.map((b) => ({ at: b.byteOffset - base, length: b.length })));
    }
    return blocks.map((b) => sha256(b));
  }

  /** Zones that failed within the recovery period (writes skip them, reads try them last). */
  get unhealthyZones(): string[] {
    return this.zones.filter((z) => !this.healthy(z)).map((z) => z.name);
  }

  async put(blocks: ReadonlyArray<Uint8Array>, redundancy: Redundancy = 'zone'): Promise<StoredChunk[]> {
    const hashes = await this.hashBlocks(blocks);
    const known = await this.index.lookupChunks(this.region, uniqueBuffers(hashes));
    if (redundancy === 'zone' && this.zones.length > 1) await this.replicatePacks([...known.values()].map((c) => c.pack));
    const fresh = new Map<string, { hash: Buffer; data: Uint8Array }>();
    hashes.forEach((h, i) => {
      const hex = h.toString('hex');
      const data = blocks[i];
      if (!known.has(hex) && !fresh.has(hex) && data) fresh.set(hex, { hash: h, data });
    });
    let written = new Map<string, ChunkLocation>();
    if (fresh.size > 0) written = await this.writePack([...fresh.values()], redundancy);
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
    const badCopies: Zone[] = [];
    let unreachable: unknown = null;
    const { have } = await this.zonesOf(chunk.pack);
    for (const zone of await this.readOrder(chunk.pack)) {
      let problem: string;
      try {
        const stored = await zone.store.read(chunk.pack, chunk.offset, chunk.storedLength);
        const data = decode(stored, chunk.codec, chunk.rawLength);
        if (data.length === chunk.rawLength && sha256(data).equals(chunk.hash)) {
          this.zoneOk(zone);
          this.cache.set(chunk.id, data);
          if (badCopies.length > 0) this.queueRepair(chunk.pack, badCopies);
          return data;
        }
        problem = 'content does not match its SHA-256';
        if (have.includes(zone.name)) badCopies.push(zone);
      } catch (err) {
        if (isCopyError(err)) {
          problem = isDecodeError(err) ? 'stored bytes do not decompress' : errorText(err);
          if (have.includes(zone.name)) badCopies.push(zone);
        } else {
          // the zone itself failed (after the blob store's retries): try the others meanwhile
          this.zoneFailed(zone);
          problem = errorText(err);
          unreachable ??= err;
        }
      }
      problems.push(`zone ${zone.name}: ${problem}`);
      this.stats.failovers++;
    }
    const what = `chunk ${chunk.hash.toString('hex')} (pack ${chunk.pack}) of region ${this.region}`;
    if (unreachable !== null) {
      throw new SnapdiskError('Unavailable', `${what} cannot be read now: ${problems.join('; ')}`, {
        hint: 'A zone holding it is failing; retry once it is back.',
        cause: unreachable,
      });
    }
    throw new SnapdiskError('IntegrityError', `${what} cannot be read intact: ${problems.join('; ')}`, {
      hint: 'Run `snapdisk verify` to find the snapshots affected; restore them from another copy.',
    });
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
    await Promise.all(
      runs.map((run) => {
        const locs: ChunkLocation[] = [];
        const into: Buffer[] = [];
        for (const i of run) {
          const c = chunks[i];
          const t = targets[i];
          if (c && t) {
            locs.push(c);
            into.push(t);
          }
        }
        return this.readRunInto(locs, into);
      }),
    );
  }

  /**
   * One request for adjacent chunks of a pack, verified (on a worker when the bytes are in shared
   * memory and the run is large); any chunk not intact is read again alone, with zone failover.
   */
  private async readRunInto(run: ChunkLocation[], targets: Buffer[]): Promise<void> {
    const first = run[0];
    const last = run[run.length - 1];
    if (!first || !last || run.length !== targets.length) return;
    const length = last.offset + last.storedLength - first.offset;
    const zone = (await this.readOrder(first.pack))[0];
    // raw chunks stored back to back that land back to back in the targets are read in place,
    // unless the targets are ordinary memory and the run is worth hashing on a worker: then a
    // shared scratch buffer and one copy cost the event loop less than the hashes would
    const direct = contiguousRawTargets(run, targets, length);
    const inPlace = direct !== null && (direct.buffer instanceof SharedArrayBuffer || length < OFFLOAD_MIN_BYTES) ? direct : null;
    const scratch = inPlace ? null : sharedMemoryPool.acquire(length);
    const into = inPlace ?? (scratch as Buffer).subarray(0, length);
    const use: BufferUse = { abandoned: false };
    try {
      let checked: Checked[] = run.map(() => null);
      if (zone) {
        let answered = false;
        try {
          const got = await zone.store.read(first.pack, first.offset, length, into);
          answered = true;
          if (got.buffer !== into.buffer || got.byteOffset !== into.byteOffset) got.copy(into);
          checked = await this.verifyRun(into, run, targets, first.offset);
        } catch (err) {
          if (!answered) use.abandoned = true;
          if (!isCopyError(err)) this.zoneFailed(zone);
        }
      }
      for (let k = 0; k < run.length; k++) {
        const c = run[k];
        const target = targets[k];
        const data = checked[k];
        if (!c || !target) continue;
        if (data) {
          this.stats.reads++;
          if (data !== 'placed' && !inPlace) data.copy(target, 0, 0, Math.min(target.length, data.length));
          continue;
        }
        // verified read with zone failover; it queues the repair of a zone whose copy is damaged
        const good = await this.read(c);
        good.copy(target, 0, 0, Math.min(target.length, good.length));
      }
    } finally {
      if (scratch && !use.abandoned) sharedMemoryPool.release(scratch);
    }
  }

  /**
   * Checks each chunk of a run read into `bytes` (from pack offset `base`): a raw one gives the
   * view of its verified bytes, a deflated one is inflated straight into its target ('placed');
   * null when not intact. On a worker when `bytes` is shared memory and the run is large.
   */
  private async verifyRun(bytes: Buffer, run: ChunkLocation[], targets: Buffer[], base: number): Promise<Checked[]> {
    const parts: HashPart[] = [];
    const index: number[] = [];
    run.forEach((c, k) => {
      const at = c.offset - base;
      if (c.codec === CODEC_RAW && c.storedLength === c.rawLength) parts.push({ at, length: c.storedLength, hash: c.hash });
      else if (c.codec === CODEC_DEFLATE) parts.push({ at, length: c.storedLength, hash: c.hash, rawLength: c.rawLength, into: (targets[k] ?? Buffer.alloc(0)).subarray(0, c.rawLength) });
      else return; // unknown codec or inconsistent lengths: not intact
      index.push(k);
    });
    const out: Checked[] = run.map(() => null);
    const ok = await this.hashes.verify(bytes, parts);
    ok.forEach((v, j) => {
      const k = index[j];
      const part = parts[j];
      if (!v || k === undefined || !part) return;
      out[k] = part.rawLength === undefined ? bytes.subarray(part.at, part.at + part.length) : 'placed';
    });
    return out;
  }

  async storedBytes(): Promise<number> {
    return this.index.packBytes(this.region);
  }

  async deletePack(key: string): Promise<void> {
    const results = await Promise.allSettled(this.zones.map((z) => z.store.delete(key)));
    this.packZones.delete(key);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
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

  /**
   * Checks the copies of a pack in every zone that should hold one (those holding it and those
   * recorded as missing) against the indexed chunks, and rewrites damaged, short, long or missing
   * copies from intact bytes. The size is the one recorded in the index, so a copy with bytes
   * appended is repaired too.
   */
  async scrubPack(key: string, chunks: ReadonlyArray<ChunkLocation>): Promise<{ repairedZones: string[]; lost: ChunkLocation[] }> {
    const record = await this.zonesOf(key, true);
    const wanted = this.zones.filter((z) => record.have.includes(z.name) || record.missing.includes(z.name));
    const indexedSize = await this.index.packSize(this.region, key);
    const copies: ZoneCopy[] = [];
    for (const zone of wanted) {
      try {
        const info = await zone.store.stat(key);
        const length = info ? (indexedSize === null ? info.size : Math.min(info.size, indexedSize)) : 0;
        copies.push({ zone, bytes: info ? await zone.store.read(key, 0, length) : null, length: info?.size ?? -1, unreachable: false });
      } catch (err) {
        const unreachable = !isCopyError(err);
        if (unreachable) this.zoneFailed(zone);
        copies.push({ zone, bytes: null, length: -1, unreachable });
      }
    }
    const size = indexedSize ?? consistentSize(copies, chunks);
    // start from a copy whose trailer lists the indexed chunks, then take every indexed chunk
    // from a zone where it is intact
    const donor = copies.find((c) => c.bytes !== null && c.bytes.length === size && trailerMatches(c.bytes, chunks));
    const good = donor?.bytes ? Buffer.from(donor.bytes) : null;
    const lost: ChunkLocation[] = [];
    for (const chunk of chunks) {
      const from = copies.find((c) => c.bytes !== null && chunkIntact(c.bytes, chunk));
      if (!from?.bytes) lost.push(chunk);
      else if (good) from.bytes.copy(good, chunk.offset, chunk.offset, chunk.offset + chunk.storedLength);
    }
    const down = copies.filter((c) => c.unreachable).map((c) => c.zone.name);
    if (lost.length > 0 && down.length > 0) {
      throw new SnapdiskError('Unavailable', `pack ${key} of region ${this.region}: ${lost.length} chunk(s) are intact in no zone that answered (${down.join(', ')} failed)`, {
        hint: 'Retry the check once the zone is back.',
      });
    }
    const repaired: string[] = [];
    if (lost.length === 0 && good) {
      const have = new Set<string>();
      for (const c of copies) {
        if (c.bytes && c.length === good.length && c.bytes.equals(good)) {
          have.add(c.zone.name);
          continue;
        }
        try {
          await c.zone.store.delete(key);
          await c.zone.store.put(key, good);
          this.zoneOk(c.zone);
          have.add(c.zone.name);
          repaired.push(c.zone.name);
          this.stats.zonesRepaired++;
        } catch (err) {
          if (!isCopyError(err)) this.zoneFailed(c.zone); // stays recorded as missing: the next scrub retries
        }
      }
      const next: PackZones = {
        have: wanted.filter((z) => have.has(z.name)).map((z) => z.name),
        missing: wanted.filter((z) => !have.has(z.name)).map((z) => z.name),
      };
      if (!sameZones(next, record)) await this.recordZones(key, next);
    }
    this.cache.clear();
    return { repairedZones: repaired, lost };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.repairQueue.clear();
    await this.repairing;
    await Promise.all(this.zones.map((z) => z.store.close()));
    this.cache.clear();
  }

  /** Drops cached chunk bytes (tests use it to force reads from the zones). */
  clearCache(): void {
    this.cache.clear();
  }

  /** Resolves once the queued background repairs are done (tests). */
  async repairsSettled(): Promise<void> {
    while (this.repairing) await this.repairing;
  }

  replicate(packs: ReadonlyArray<string>): Promise<void> {
    return this.replicatePacks([...packs]);
  }

  // -- zones ----------------------------------------------------------------------------------------

  private healthy(zone: Zone): boolean {
    const t = this.failedAt.get(zone.name);
    return t === undefined || this.now() - t >= this.recoveryMs;
  }

  private zoneFailed(zone: Zone): void {
    this.failedAt.set(zone.name, this.now());
  }

  private zoneOk(zone: Zone): void {
    this.failedAt.delete(zone.name);
  }

  /** Copies needed before a pack is acknowledged: one, or a majority of the zones for ZRS. */
  private quorum(redundancy: Redundancy): number {
    return redundancy === 'zone' ? Math.floor(this.zones.length / 2) + 1 : 1;
  }

  private nextZone = 0;
  /** pack key → its zones record (from the index; filled lazily). */
  private readonly packZones = new Map<string, PackZones>();

  private async zonesOf(pack: string, fresh = false): Promise<PackZones> {
    let z = fresh ? undefined : this.packZones.get(pack);
    if (!z) {
      z = parseZones(await this.index.packZones(this.region, pack));
      if (z.have.length === 0 && z.missing.length === 0) z = { have: this.zoneNames, missing: [] };
      this.packZones.set(pack, z);
    }
    return z;
  }

  private async recordZones(pack: string, zones: PackZones): Promise<void> {
    this.packZones.set(pack, zones);
    await this.index.setPackZones(this.region, pack, formatZones(zones));
  }

  /** Zones to read a pack from: the healthy ones holding it first, zones without a copy last. */
  private async readOrder(pack: string): Promise<Zone[]> {
    const { have } = await this.zonesOf(pack);
    const holders = this.zones.filter((z) => have.includes(z.name));
    const others = this.zones.filter((z) => !have.includes(z.name));
    const byHealth = (list: Zone[]): Zone[] => [...list.filter((z) => this.healthy(z)), ...list.filter((z) => !this.healthy(z))];
    return [...byHealth(holders), ...byHealth(others)];
  }

  /**
   * Writes one pack object to `zones` in parallel: the healthy ones, and the others too when the
   * healthy ones are fewer than `quorum`. Returns the zones that hold it; fails when fewer than
   * `quorum` do. A put that failed marks `use` abandoned: it may still be reading `data`.
   */
  private async putInZones(key: string, data: Uint8Array, zones: Zone[], quorum: number, replace: ReadonlySet<string> = new Set(), use?: BufferUse): Promise<Zone[]> {
    const holders = new Set<Zone>();
    const errors: Array<{ zone: Zone; err: unknown }> = [];
    const attempt = async (list: Zone[]): Promise<void> => {
      const results = await Promise.allSettled(
        list.map(async (z) => {
          if (replace.has(z.name)) await z.store.delete(key); // a damaged copy: put never overwrites
          await z.store.put(key, data);
        }),
      );
      results.forEach((r, i) => {
        const z = list[i];
        if (!z) return;
        if (r.status === 'fulfilled') {
          holders.add(z);
          this.zoneOk(z);
        } else {
          if (use) use.abandoned = true;
          errors.push({ zone: z, err: r.reason });
          this.zoneFailed(z);
        }
      });
    };
    const resting = zones.filter((z) => !this.healthy(z));
    await attempt(zones.filter((z) => this.healthy(z)));
    if (holders.size < quorum && resting.length > 0) await attempt(resting);
    if (holders.size < quorum) {
      const first = errors[0];
      if (holders.size === 0 && errors.length === 1 && first) throw first.err;
      throw new SnapdiskError(
        'Unavailable',
        `pack ${key} of region ${this.region} is stored in ${holders.size} zone(s), ${quorum} needed: ${errors.map((e) => `zone ${e.zone.name}: ${errorText(e.err)}`).join('; ')}`,
        { hint: 'A zone of the region is failing; retry once it is back.', ...(first ? { cause: first.err } : {}) },
      );
    }
    return this.zones.filter((z) => holders.has(z));
  }

  /** Makes deduplicated packs as redundant as a zone-redundant write asks (see putInZones). */
  private async replicatePacks(packs: string[]): Promise<void> {
    if (this.zones.length === 1) return;
    const quorum = this.quorum('zone');
    for (const pack of new Set(packs)) {
      const record = await this.zonesOf(pack);
      const need = this.zones.filter((z) => !record.have.includes(z.name));
      if (need.length === 0) continue;
      if (record.have.length >= quorum && need.every((z) => !this.healthy(z))) {
        await this.noteMissing(pack, record, need); // nothing reachable to copy to: the scrub does it later
        continue;
      }
      const bytes = await this.readWholePack(pack, record.have);
      if (!bytes) continue; // unreadable: verify reports it; the chunk is still indexed
      const targets = record.have.length >= quorum ? need.filter((z) => this.healthy(z)) : need;
      const added = await this.putInZones(pack, bytes, targets, quorum - record.have.length, new Set(record.missing));
      const have = new Set([...record.have, ...added.map((z) => z.name)]);
      await this.recordZones(pack, {
        have: this.zoneNames.filter((n) => have.has(n)),
        missing: this.zoneNames.filter((n) => !have.has(n)),
      });
    }
  }

  private async noteMissing(pack: string, record: PackZones, zones: Zone[]): Promise<void> {
    const missing = new Set([...record.missing, ...zones.map((z) => z.name)]);
    if (missing.size === record.missing.length) return;
    await this.recordZones(pack, { have: record.have, missing: this.zoneNames.filter((n) => missing.has(n)) });
  }

  /** The whole pack object from the first holder that can serve it (null when none can). */
  private async readWholePack(pack: string, holders: string[]): Promise<Buffer | null> {
    const size = await this.index.packSize(this.region, pack);
    for (const zone of (await this.readOrder(pack)).filter((z) => holders.includes(z.name))) {
      try {
        const info = size === null ? await zone.store.stat(pack) : null;
        const length = size ?? info?.size;
        if (length === undefined) continue;
        return await zone.store.read(pack, 0, length);
      } catch (err) {
        if (!isCopyError(err)) this.zoneFailed(zone);
      }
    }
    return null;
  }

  /**
   * Records that `zones` hold a missing or damaged copy of `pack` (durably: a later scrub repairs
   * it even after a restart) and repairs it in the background now.
   */
  private queueRepair(pack: string, zones: Zone[]): void {
    if (this.closed) return;
    this.stats.repairsQueued++;
    const bad = new Set(zones.map((z) => z.name));
    this.marking = this.marking
      .then(async () => {
        const record = await this.zonesOf(pack);
        await this.recordZones(pack, {
          have: record.have.filter((n) => !bad.has(n)),
          missing: this.zoneNames.filter((n) => bad.has(n) || record.missing.includes(n)),
        });
      })
      .catch(() => undefined); // the next read that fails over records it again
    this.repairQueue.add(pack);
    this.startRepairs();
  }

  private startRepairs(): void {
    if (this.repairing || this.closed) return;
    this.repairing = this.drainRepairs().finally(() => {
      this.repairing = null;
      if (this.repairQueue.size > 0) this.startRepairs(); // queued after the loop had ended
    });
  }

  private async drainRepairs(): Promise<void> {
    for (const pack of this.repairQueue) {
      await this.marking;
      this.repairQueue.delete(pack);
      if (this.closed) return;
      try {
        const chunks = await this.index.chunksOfPack(this.region, pack);
        if (chunks.length > 0) await this.scrubPack(pack, chunks);
      } catch {
        // still recorded as missing in the pack's zones: verify and the scrub retry it
      }
    }
  }

  private async writePack(chunks: { hash: Buffer; data: Uint8Array }[], redundancy: Redundancy): Promise<Map<string, ChunkLocation>> {
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
    let holders: Zone[];
    const use: BufferUse = { abandoned: false };
    try {
      holders = redundancy === 'zone' || this.zones.length === 1 ? await this.putInZones(key, pack, this.zones, this.quorum('zone'), new Set(), use) : await this.putLocal(key, pack, use);
    } finally {
      if (!use.abandoned) sharedPool.release(pooled);
    }
    const record: PackZones =
      redundancy === 'zone' || this.zones.length === 1
        ? { have: holders.map((z) => z.name), missing: this.zones.filter((z) => !holders.includes(z)).map((z) => z.name) }
        : { have: holders.map((z) => z.name), missing: [] };
    if (record.missing.length > 0) this.stats.degradedWrites++;
    this.stats.packsWritten++;
    this.stats.bytesWritten += pack.length;
    this.packZones.set(key, record);
    return this.index.addPack(this.region, { key, sizeBytes: size, zones: formatZones(record) }, entries);
  }

  /** A locally-redundant pack: the next healthy zone in turn, the others when it fails. */
  private async putLocal(key: string, pack: Uint8Array, use: BufferUse): Promise<Zone[]> {
    const start = this.nextZone++ % this.zones.length;
    const turn = [...this.zones.slice(start), ...this.zones.slice(0, start)];
    const order = [...turn.filter((z) => this.healthy(z)), ...turn.filter((z) => !this.healthy(z))];
    let firstErr: unknown = null;
    for (const zone of order) {
      try {
        await zone.store.put(key, pack);
        this.zoneOk(zone);
        return [zone];
      } catch (err) {
        use.abandoned = true;
        this.zoneFailed(zone);
        firstErr ??= err;
      }
    }
    throw firstErr;
  }

  private encode(data: Uint8Array): { codec: number; bytes: Uint8Array } {
    if (this.compression === 'none' || data.length < 8192) return { codec: CODEC_RAW, bytes: data };
    if (sampleEntropy(data) > 7.2) return { codec: CODEC_RAW, bytes: data };
    const packed = deflateRawSync(data, { level: 1 });
    if (packed.length > data.length * 0.875) return { codec: CODEC_RAW, bytes: data };
    return { codec: CODEC_DEFLATE, bytes: packed };
  }
}

function parseZones(list: ReadonlyArray<string>): PackZones {
  const out: PackZones = { have: [], missing: [] };
  for (const z of list) {
    if (z.startsWith(MISSING)) out.missing.push(z.slice(MISSING.length));
    else if (z !== '') out.have.push(z);
  }
  return out;
}

function formatZones(z: PackZones): string[] {
  return [...z.have, ...z.missing.map((n) => MISSING + n)];
}

function sameZones(a: PackZones, b: PackZones): boolean {
  return formatZones(a).join(',') === formatZones(b).join(',');
}

/** Errors that say this zone's copy is missing or damaged (the zone itself answered). */
function isCopyError(err: unknown): boolean {
  return (err instanceof SnapdiskError && (err.code === 'ChunkNotFound' || err.code === 'IntegrityError')) || isDecodeError(err);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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
function contiguousRawTargets(run: ReadonlyArray<ChunkLocation>, targets: ReadonlyArray<Buffer>, length: number): Buffer | null {
  const t0 = targets[0];
  const c0 = run[0];
  if (!t0 || !c0) return null;
  let expected = t0.byteOffset;
  let at = c0.offset;
  for (let k = 0; k < run.length; k++) {
    const c = run[k];
    const t = targets[k];
    if (!c || !t || c.codec !== CODEC_RAW || c.offset !== at || c.storedLength !== c.rawLength) return null;
    if (t.buffer !== t0.buffer || t.byteOffset !== expected || t.length !== c.rawLength) return null;
    expected += t.length;
    at += c.storedLength;
  }
  return at - c0.offset === length ? Buffer.from(t0.buffer, t0.byteOffset, length) : null;
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

/** True when the pack's trailer parses and lists every indexed chunk as the index has it. */
function trailerMatches(pack: Buffer, chunks: ReadonlyArray<ChunkLocation>): boolean {
  let entries: NewChunk[];
  try {
    entries = parsePackTrailer(pack);
  } catch {
    return false;
  }
  const byOffset = new Map(entries.map((e) => [e.offset, e]));
  return chunks.every((c) => {
    const e = byOffset.get(c.offset);
    return e !== undefined && e.hash.equals(c.hash) && e.storedLength === c.storedLength && e.rawLength === c.rawLength && e.codec === c.codec;
  });
}

interface ZoneCopy {
  zone: Zone;
  /** Its bytes (up to the indexed size), or null when missing or unreadable. */
  bytes: Buffer | null;
  /** Its length in the zone (-1: missing or unreadable). */
  length: number;
  /** The zone failed (not the copy). */
  unreachable: boolean;
}

/** Without an index record: the most common length among copies whose trailer matches. */
function consistentSize(copies: ReadonlyArray<ZoneCopy>, chunks: ReadonlyArray<ChunkLocation>): number | null {
  const votes = new Map<number, number>();
  for (const c of copies) if (c.bytes && trailerMatches(c.bytes, chunks)) votes.set(c.bytes.length, (votes.get(c.bytes.length) ?? 0) + 1);
  let best: number | null = null;
  for (const [size, n] of votes) if (best === null || n > (votes.get(best) ?? 0)) best = size;
  return best;
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
