/**
 * @module config/config
 * `DATA/config.json` (or `--config FILE`): regions with their zones and the limits of the
 * requirement document. Missing keys take Azure's defaults; unknown keys and values of the wrong
 * type are a start-up error naming the key, so a typo never silently changes a limit.
 */

import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { SnapdiskError } from '../core/errors.js';
import { DEFAULT_LIMITS, DEFAULT_REGIONS, type Limits, type RegionConfig } from '../core/rules.js';
import { NODE_ID_RE, parseCatalog, parseChunkStore, parseNode, parseRetry } from './backends.js';
import type { CatalogConfig, ChunkStoreConfig, NodeConfig, RetryConfig } from './backends.js';

export interface SnapdiskConfig {
  regions: Record<string, RegionConfig>;
  limits: Limits;
  /** Hours between background scrubs of every chunk (0: never). */
  scrubIntervalHours: number;
  catalog: CatalogConfig;
  /** Per region, per zone (or "default" in a zoneless region): where its packs live (default: DATA). */
  chunkStores: Record<string, Record<string, ChunkStoreConfig>>;
  chunkStoreRetry: RetryConfig;
  /** Where disk heads live (default DATA/volumes): a node's local disk, or storage nodes share. */
  volumesPath: string | null;
  /** This node, when several share the catalog: id, advertised HTTPS URL, lease time. */
  node: NodeConfig;
}

export function defaultConfig(): SnapdiskConfig {
  return {
    regions: Object.fromEntries(Object.entries(DEFAULT_REGIONS).map(([k, v]) => [k, { zones: [...v.zones] }])),
    limits: { ...DEFAULT_LIMITS },
    scrubIntervalHours: 24,
    catalog: { kind: 'sqlite' },
    chunkStores: {},
    chunkStoreRetry: { attempts: 5, baseDelayMs: 100, maxDelayMs: 5000 },
    node: { id: null, url: null, leaseSeconds: 30, lostAfterSeconds: null },
    volumesPath: null,
  };
}

function fail(message: string): never {
  throw new SnapdiskError('InvalidParameter', `config: ${message}`);
}

/** Validates a parsed config document and fills in defaults. */
export function parseConfig(doc: unknown, source = 'config.json'): SnapdiskConfig {
  const out = defaultConfig();
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) fail(`${source} must hold a JSON object`);
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    if (key === 'regions') {
      const parsed = parseRegions(value, source);
      out.regions = parsed.regions;
      out.chunkStores = parsed.chunkStores;
    } else if (key === 'catalog') out.catalog = parseCatalog(value);
    else if (key === 'chunkStoreRetry') out.chunkStoreRetry = parseRetry(value);
    else if (key === 'node') out.node = parseNode(value);
    else if (key === 'volumesPath') {
      if (typeof value !== 'string' || value === '') fail(`"volumesPath" in ${source} must be a directory path`);
      out.volumesPath = value;
    }
    else if (key === 'limits') out.limits = parseLimits(value, source);
    else if (key === 'scrubIntervalHours') {
      if (typeof value !== 'number' || !(value >= 0)) fail(`"scrubIntervalHours" in ${source} must be a number of hours ≥ 0 (0 disables the scrub)`);
      out.scrubIntervalHours = value;
    } else fail(`unknown key "${key}" in ${source} (known keys: regions, limits, scrubIntervalHours, catalog, chunkStoreRetry, node, volumesPath)`);
  }
  return out;
}

function parseRegions(
  value: unknown,
  source: string,
): { regions: Record<string, RegionConfig>; chunkStores: Record<string, Record<string, ChunkStoreConfig>> } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`"regions" in ${source} must be an object`);
  const regions: Record<string, RegionConfig> = {};
  const chunkStores: Record<string, Record<string, ChunkStoreConfig>> = {};
  for (const [name, r] of Object.entries(value as Record<string, unknown>)) {
    if (!/^[a-z0-9]+$/.test(name)) fail(`region name "${name}" in ${source} must be lowercase letters and digits (like eastus)`);
    if (r === null || typeof r !== 'object' || Array.isArray(r)) fail(`"regions.${name}" in ${source} must be an object`);
    let zones: string[] = [];
    let stores: Record<string, ChunkStoreConfig> = {};
    for (const [k, v] of Object.entries(r as Record<string, unknown>)) {
      if (k === 'zones') {
        if (!Array.isArray(v) || !v.every((z) => typeof z === 'string' && /^[A-Za-z0-9-]+$/.test(z))) {
          fail(`"regions.${name}.zones" in ${source} must be an array of zone names like ["1", "2", "3"]`);
        }
        zones = v as string[];
      } else if (k === 'chunkStores') {
        if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(`"regions.${name}.chunkStores" in ${source} must be an object`);
        stores = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([z, c]) => [z, parseChunkStore(`regions.${name}.chunkStores.${z}`, c)]));
      } else fail(`unknown key "regions.${name}.${k}" in ${source} (known: zones, chunkStores)`);
    }
    const zoneNames = zones.length > 0 ? zones : ['default'];
    for (const z of Object.keys(stores)) {
      if (!zoneNames.includes(z)) fail(`"regions.${name}.chunkStores.${z}" names no zone of ${name} (zones: ${zoneNames.join(', ')})`);
    }
    regions[name] = { zones };
    chunkStores[name] = stores;
  }
  if (Object.keys(regions).length === 0) fail(`"regions" in ${source} must name at least one region`);
  return { regions, chunkStores };
}

function parseLimits(value: unknown, source: string): Limits {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`"limits" in ${source} must be an object`);
  const limits: Limits = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (!(k in DEFAULT_LIMITS)) fail(`unknown key "limits.${k}" in ${source} (known: ${Object.keys(DEFAULT_LIMITS).join(', ')})`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(`"limits.${k}" in ${source} must be a positive integer, not ${JSON.stringify(v)}`);
    limits[k as keyof Limits] = v;
  }
  return limits;
}

/**
 * This node's id: `node.id` when set; otherwise "local" on the embedded SQLite catalog (one node)
 * and, on a shared PostgreSQL catalog, the host name and HTTPS port ("db-7-8443"), so that two
 * nodes never share an id by default (a duplicate live id is refused at start-up anyway).
 */
export function resolveNodeId(config: Pick<SnapdiskConfig, 'node' | 'catalog'>, httpsPort?: number): string {
  if (config.node.id) return config.node.id;
  if (config.catalog.kind === 'sqlite') return 'local';
  const host = hostname().toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').slice(0, 50) || 'node';
  const id = httpsPort ? `${host}-${httpsPort}` : host; // (port 0: an ephemeral port, not known yet)
  return NODE_ID_RE.test(id) ? id : 'node';
}

/** Reads the config file if it exists; defaults otherwise. */
export function loadConfig(path: string, required = false): SnapdiskConfig {
  if (!existsSync(path)) {
    if (required) fail(`${path} does not exist`);
    return defaultConfig();
  }
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    fail(`${path} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseConfig(doc, path);
}
