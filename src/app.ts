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
import { openPostgresCatalog } from './catalog/postgres/postgres-catalog.js';
import type { SqlCatalog } from './catalog/sql-catalog.js';
import { AzureBlobStore } from './chunks/azure/azure-blob-store.js';
import { S3BlobStore } from './chunks/s3/s3-blob-store.js';
import { retry } from './chunks/wrap/retry.js';
import type { CatalogConfig, ChunkStoreConfig, RetryConfig } from './config/backends.js';
import { secretFromEnv } from './config/backends.js';
import type { BlobStore } from './core/ports.js';
import { join, resolve } from 'node:path';
import { openSqliteCatalog } from './catalog/sqlite/sqlite-catalog.js';
import { FsBlobStore } from './chunks/fs/fs-blob-store.js';
import { PackedChunkStore } from './chunks/packed-chunk-store.js';
import type { SnapdiskConfig } from './config/config.js';
import { defaultConfig, resolveNodeId } from './config/config.js';
import type { ChunkStore, Clock } from './core/ports.js';
import { systemClock } from './core/ports.js';
import type { Logger } from './engine/context.js';
import { Engine } from './engine/engine.js';
import type { NodeIdentity } from './engine/leases.js';
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
  /** Overrides `config.node` (tests run several nodes in one process). */
  node?: NodeIdentity;
}

export interface OpenedEngine {
  engine: Engine;
  chunkStores: Map<string, PackedChunkStore>;
  volumes: FileVolumeStore;
}

export async function openEngine(opts: OpenEngineOptions): Promise<OpenedEngine> {
  const config = opts.config ?? defaultConfig();
  mkdirSync(opts.dataDir, { recursive: true });
  const catalog = await openCatalog(config.catalog, opts);
  const chunkStores = new Map<string, PackedChunkStore>();
  for (const [region, rc] of Object.entries(config.regions)) {
    const zoneIds = rc.zones.length > 0 ? rc.zones : ['default'];
    const zones = [];
    for (const z of zoneIds) {
      const name = rc.zones.length > 0 ? `zone-${z}` : 'default';
      const configured = config.chunkStores[region]?.[z];
      const store = configured
        ? await openBlobStore(configured, `${region}/${name}`, config.chunkStoreRetry)
        : await new FsBlobStore(join(opts.dataDir, 'chunks', region, name), `${region}/${name}`).init();
      zones.push({ name, store });
    }
    chunkStores.set(region, new PackedChunkStore({ region, zones, index: catalog }));
  }
  const volumes = new FileVolumeStore(config.volumesPath ? resolve(opts.dataDir, config.volumesPath) : join(opts.dataDir, 'volumes'));
  const engine = await Engine.open({
    catalog,
    chunkStores: chunkStores as Map<string, ChunkStore>,
    volumes,
    config: { ...config, ...(opts.gcGraceMs !== undefined ? { gcGraceMs: opts.gcGraceMs } : {}) },
    clock: opts.clock ?? systemClock,
    node: opts.node ?? {
      id: resolveNodeId(config),
      url: config.node.url,
      nbd: null,
      leaseMs: config.node.leaseSeconds * 1000,
      ...(config.node.lostAfterSeconds !== null ? { lostAfterMs: config.node.lostAfterSeconds * 1000 } : {}),
    },
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  return { engine, chunkStores, volumes };
}

async function openCatalog(c: CatalogConfig, opts: OpenEngineOptions): Promise<SqlCatalog> {
  if (c.kind === 'sqlite') return openSqliteCatalog(join(opts.dataDir, 'catalog.db'), { durable: opts.durableCatalog ?? true });
  let url = c.url;
  const password = secretFromEnv(c.passwordEnv, 'catalog.passwordEnv');
  if (password !== undefined) {
    const u = new URL(url);
    u.password = password;
    url = u.toString();
  }
  return openPostgresCatalog(url, {
    ...(c.schema !== undefined ? { schema: c.schema } : {}),
    ...(c.poolSize !== undefined ? { poolSize: c.poolSize } : {}),
    ...(c.connectTimeoutMs !== undefined ? { connectTimeoutMs: c.connectTimeoutMs } : {}),
    ...(c.statementTimeoutMs !== undefined ? { statementTimeoutMs: c.statementTimeoutMs } : {}),
    ...(c.preparedStatements !== undefined ? { preparedStatements: c.preparedStatements } : {}),
  });
}

/** A configured zone store; remote ones get the retry decorator (backends never retry themselves). */
async function openBlobStore(c: ChunkStoreConfig, name: string, r: RetryConfig): Promise<BlobStore> {
  if (c.kind === 'fs') return new FsBlobStore(c.path, name).init();
  const policy = { attempts: r.attempts, baseDelayMs: r.baseDelayMs, maxDelayMs: r.maxDelayMs };
  if (c.kind === 's3') {
    const { secretAccessKeyEnv, kind: _kind, ...rest } = c;
    const secret = secretFromEnv(secretAccessKeyEnv, `${name}.secretAccessKeyEnv`) ?? c.secretAccessKey;
    return retry(await new S3BlobStore({ ...rest, ...(secret !== undefined ? { secretAccessKey: secret } : {}), name }).init(), policy);
  }
  const { accountKeyEnv, kind: _kind, ...rest } = c;
  const key = secretFromEnv(accountKeyEnv, `${name}.accountKeyEnv`) ?? c.accountKey;
  return retry(await new AzureBlobStore({ ...rest, ...(key !== undefined ? { accountKey: key } : {}), name }).init(), policy);
}
