/**
 * @module engine/context
 * What every engine service shares: the ports, the configuration, the clock, a logger and the
 * registry of live disk runtimes. Built once by `Engine`; services receive it, never a backend.
 */

import { randomUUID } from 'node:crypto';
import { SnapdiskError } from '../core/errors.js';
import type { Limits, RegionConfig } from '../core/rules.js';
import type { Catalog, ChunkStore, Clock, VolumeStore } from '../core/ports.js';
import type { NodeIdentity } from './leases.js';

export interface EngineConfig {
  regions: Record<string, RegionConfig>;
  limits: Limits;
  /** How long an unreferenced chunk or pack survives before GC may remove it (ms). */
  gcGraceMs?: number;
  /** Interval of background garbage collection in ms (default 10 minutes; 0 = never). */
  gcIntervalMs?: number;
  /** Hours between background scrubs (verify every chunk, repair from other zones); 0 = never. */
  scrubIntervalHours?: number;
}

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface EngineDeps {
  catalog: Catalog;
  chunkStores: ReadonlyMap<string, ChunkStore>;
  volumes: VolumeStore;
  config: EngineConfig;
  clock: Clock;
  logger?: Logger;
  /** This node when several share the catalog (default: one node called "local"). */
  node?: NodeIdentity;
}

export class EngineContext {
  readonly catalog: Catalog;
  readonly volumes: VolumeStore;
  readonly config: EngineConfig;
  readonly clock: Clock;
  readonly log: Logger;
  private readonly chunkStores: ReadonlyMap<string, ChunkStore>;

  constructor(deps: EngineDeps) {
    this.catalog = deps.catalog;
    this.volumes = deps.volumes;
    this.config = deps.config;
    this.clock = deps.clock;
    this.log = deps.logger ?? silentLogger;
    this.chunkStores = deps.chunkStores;
  }

  get limits(): Limits {
    return this.config.limits;
  }

  now(): Date {
    return this.clock.now();
  }

  nowIso(): string {
    return this.clock.now().toISOString();
  }

  newId(): string {
    return randomUUID();
  }

  region(location: string): RegionConfig {
    const r = this.config.regions[location.toLowerCase()];
    if (!r) {
      throw new SnapdiskError('InvalidParameter', `The location '${location}' is not available.`, {
        target: 'location',
        hint: `Use one of: ${Object.keys(this.config.regions).join(', ')} (regions come from config.json).`,
      });
    }
    return r;
  }

  chunks(region: string): ChunkStore {
    const s = this.chunkStores.get(region.toLowerCase());
    if (!s) throw new SnapdiskError('InternalError', `no chunk store is configured for region ${region}`);
    return s;
  }

  allChunkStores(): ChunkStore[] {
    return [...this.chunkStores.values()];
  }

  regions(): string[] {
    return Object.keys(this.config.regions);
  }
}
