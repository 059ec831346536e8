/**
 * @module app
 * The composition root: the only place that reads configuration and chooses concrete backends
 * (SQLite catalog, filesystem chunk stores, file volumes) for the engine. Surfaces are wired to
 * the engine in `server.ts`.
 *
 *   DATA/catalog.db                         SQLite catalog (WAL)
 *   DATA/chunks/<region>/<zone>/packs/...   one pack store per zone ("default" in a zoneless region)
 *   DATA/volumes/<disk id>/...              disk heads
 */

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openSqliteCatalog } from './catalog/sqlite/sqlite-catalog.js';
import { FsBlobStore } from './chunks/fs/fs-blob-store.js';
import { PackedChunkStore } from './chunks/packed-chunk-store.js';
import type { SnapdiskConfig } from './config/config.js';
import { defaultConfig } from './config/config.js';
import type { ChunkStore, Clock } from './core/ports.js';
import { systemClock } from './core/ports.js';
import type { Logger } from './engine/context.js';
import { Engine } from './engine/engine.js';
import { FileVolumeStore } from './volumes/file/file-volume-store.js';

export interface OpenEngineOptions {
  dataDir: string;
  config?: SnapdiskConfig;
  clock?: Clock;
  logger?: Logger;
  /** fsync on every catalog commit (default true). */
  durableCatalog?: boolean;
  /** Grace period of garbage collection in ms. */
  gcGraceMs?: number;
}

export interface OpenedEngine {
  engine: Engine;
  chunkStores: Map<string, PackedChunkStore>;
  volumes: FileVolumeStore;
}

export async function openEngine(opts: OpenEngineOptions): Promise<OpenedEngine> {
  const config = opts.config ?? defaultConfig();
  mkdirSync(opts.dataDir, { recursive: true });
  const catalog = await openSqliteCatalog(join(opts.dataDir, 'catalog.db'), { durable: opts.durableCatalog ?? true });
  const chunkStores = new Map<string, PackedChunkStore>();
  for (const [region, rc] of Object.entries(config.regions)) {
    const zoneNames = rc.zones.length > 0 ? rc.zones.map((z) => `zone-${z}`) : ['default'];
    const zones = [];
    for (const z of zoneNames) {
      const store = await new FsBlobStore(join(opts.dataDir, 'chunks', region, z), `${region}/${z}`).init();
      zones.push({ name: z, store });
    }
    chunkStores.set(region, new PackedChunkStore({ region, zones, index: catalog }));
  }
  const volumes = new FileVolumeStore(join(opts.dataDir, 'volumes'));
  const engine = await Engine.open({
    catalog,
    chunkStores: chunkStores as Map<string, ChunkStore>,
    volumes,
    config: { ...config, ...(opts.gcGraceMs !== undefined ? { gcGraceMs: opts.gcGraceMs } : {}) },
    clock: opts.clock ?? systemClock,
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  return { engine, chunkStores, volumes };
}
