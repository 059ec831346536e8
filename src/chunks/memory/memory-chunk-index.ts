/**
 * @module chunks/memory/memory-chunk-index
 * ChunkIndex in memory, for chunk-store tests that do not need a catalog.
 */

import type { ChunkLocation } from '../../core/model.js';
import type { ChunkIndex, NewChunk, PackRecord } from '../../core/ports.js';

export class MemoryChunkIndex implements ChunkIndex {
  private readonly chunks = new Map<string, ChunkLocation>();
  private readonly packs = new Map<string, PackRecord>();
  private nextId = 1;

  async lookupChunks(region: string, hashes: ReadonlyArray<Buffer>): Promise<Map<string, ChunkLocation>> {
    const out = new Map<string, ChunkLocation>();
    for (const h of hashes) {
      const loc = this.chunks.get(`${region}/${h.toString('hex')}`);
      if (loc) out.set(h.toString('hex'), loc);
    }
    return out;
  }

  async addPack(region: string, pack: PackRecord, chunks: ReadonlyArray<NewChunk>): Promise<Map<string, ChunkLocation>> {
    this.packs.set(`${region}/${pack.key}`, pack);
    for (const c of chunks) {
      const k = `${region}/${c.hash.toString('hex')}`;
      if (this.chunks.has(k)) continue;
      this.chunks.set(k, {
        id: this.nextId++,
        hash: c.hash,
        pack: pack.key,
        offset: c.offset,
        storedLength: c.storedLength,
        rawLength: c.rawLength,
        codec: c.codec,
      });
    }
    return this.lookupChunks(
      region,
      chunks.map((c) => c.hash),
    );
  }

  async packZones(region: string, key: string): Promise<string[]> {
    return [...(this.packs.get(`${region}/${key}`)?.zones ?? [])];
  }

  async setPackZones(region: string, key: string, zones: ReadonlyArray<string>): Promise<void> {
    const p = this.packs.get(`${region}/${key}`);
    if (p) this.packs.set(`${region}/${key}`, { ...p, zones: [...zones] });
  }

  async packSize(region: string, key: string): Promise<number | null> {
    return this.packs.get(`${region}/${key}`)?.sizeBytes ?? null;
  }

  async chunksOfPack(region: string, key: string): Promise<ChunkLocation[]> {
    const out: ChunkLocation[] = [];
    for (const [k, c] of this.chunks) if (k.startsWith(`${region}/`) && c.pack === key) out.push(c);
    return out.sort((a, b) => a.offset - b.offset);
  }

  async packBytes(region: string): Promise<number> {
    let n = 0;
    for (const [k, p] of this.packs) if (k.startsWith(`${region}/`)) n += p.sizeBytes;
    return n;
  }
}
