/**
 * @module config/backends
 * The scale-out part of config.json: which catalog and which chunk store per zone. Secrets may be
 * given by name of an environment variable (`...Env`), so the file itself can stay free of them.
 *
 *   "catalog": { "kind": "sqlite" } | { "kind": "postgres", "url": "...", "passwordEnv": "...", ... }
 *   "regions": { "eastus": { "zones": ["1"], "chunkStores": { "1": { "kind": "s3", ... } } } }
 *   "chunkStoreRetry": { "attempts": 5, "baseDelayMs": 100, "maxDelayMs": 5000 }
 */

import { SnapdiskError } from '../core/errors.js';

export type CatalogConfig =
  | { kind: 'sqlite' }
  | {
      kind: 'postgres';
      url: string;
      passwordEnv?: string;
      schema?: string;
      poolSize?: number;
      connectTimeoutMs?: number;
      statementTimeoutMs?: number;
      preparedStatements?: boolean;
    };

export type ChunkStoreConfig =
  | { kind: 'fs'; path: string }
  | {
      kind: 's3';
      bucket: string;
      endpoint?: string;
      region?: string;
      prefix?: string;
      accessKeyId?: string;
      secretAccessKey?: string;
      secretAccessKeyEnv?: string;
      forcePathStyle?: boolean;
      requestTimeoutMs?: number;
      connectTimeoutMs?: number;
      minBytesPerSecond?: number;
      maxSockets?: number;
      createBucket?: boolean;
    }
  | {
      kind: 'azure';
      url: string;
      container: string;
      prefix?: string;
      accountName?: string;
      accountKey?: string;
      accountKeyEnv?: string;
      requestTimeoutMs?: number;
      minBytesPerSecond?: number;
      createContainer?: boolean;
    };

export interface RetryConfig {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

const fail = (message: string): never => {
  throw new SnapdiskError('InvalidParameter', `config: ${message}`);
};

type Field = 'string' | 'number' | 'boolean';

/** Checks an object against a field table: unknown keys and wrong types name the key. */
function checkFields(where: string, value: unknown, fields: Record<string, Field>, required: string[]): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(`"${where}" must be an object`);
  const obj = value as Record<string, unknown>;
  for (const [k, v] of Object.entries(obj)) {
    const type = fields[k];
    if (!type) fail(`unknown key "${where}.${k}" (known: ${Object.keys(fields).join(', ')})`);
    if (typeof v !== type) fail(`"${where}.${k}" must be a ${type}, not ${JSON.stringify(v)}`);
  }
  for (const k of required) if (obj[k] === undefined) fail(`"${where}.${k}" is required`);
  return obj;
}

export function parseCatalog(value: unknown): CatalogConfig {
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (kind === 'sqlite') {
    checkFields('catalog', value, { kind: 'string' }, []);
    return { kind: 'sqlite' };
  }
  if (kind === 'postgres') {
    const fields: Record<string, Field> = {
      kind: 'string', url: 'string', passwordEnv: 'string', schema: 'string', poolSize: 'number',
      connectTimeoutMs: 'number', statementTimeoutMs: 'number', preparedStatements: 'boolean',
    };
    return checkFields('catalog', value, fields, ['url']) as CatalogConfig;
  }
  return fail(`"catalog.kind" must be "sqlite" or "postgres", not ${JSON.stringify(kind)}`);
}

export function parseChunkStore(where: string, value: unknown): ChunkStoreConfig {
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (kind === 'fs') return checkFields(where, value, { kind: 'string', path: 'string' }, ['path']) as ChunkStoreConfig;
  if (kind === 's3') {
    const fields: Record<string, Field> = {
      kind: 'string', bucket: 'string', endpoint: 'string', region: 'string', prefix: 'string', accessKeyId: 'string',
      secretAccessKey: 'string', secretAccessKeyEnv: 'string', forcePathStyle: 'boolean', requestTimeoutMs: 'number',
      connectTimeoutMs: 'number', minBytesPerSecond: 'number', maxSockets: 'number', createBucket: 'boolean',
    };
    return checkFields(where, value, fields, ['bucket']) as ChunkStoreConfig;
  }
  if (kind === 'azure') {
    const fields: Record<string, Field> = {
      kind: 'string', url: 'string', container: 'string', prefix: 'string', accountName: 'string', accountKey: 'string',
      accountKeyEnv: 'string', requestTimeoutMs: 'number', minBytesPerSecond: 'number', createContainer: 'boolean',
    };
    return checkFields(where, value, fields, ['url', 'container']) as ChunkStoreConfig;
  }
  return fail(`"${where}.kind" must be "fs", "s3" or "azure", not ${JSON.stringify(kind)}`);
}

export function parseRetry(value: unknown): RetryConfig {
  const obj = checkFields('chunkStoreRetry', value, { attempts: 'number', baseDelayMs: 'number', maxDelayMs: 'number' }, []);
  return {
    attempts: (obj.attempts as number | undefined) ?? 5,
    baseDelayMs: (obj.baseDelayMs as number | undefined) ?? 100,
    maxDelayMs: (obj.maxDelayMs as number | undefined) ?? 5000,
  };
}

/** Reads a secret from the named environment variable, with an error that says which. */
export function secretFromEnv(name: string | undefined, what: string): string | undefined {
  if (!name) return undefined;
  const v = process.env[name];
  if (v === undefined || v === '') fail(`${what}: the environment variable ${name} is not set`);
  return v;
}

export interface NodeConfig {
  /** Null: `resolveNodeId` picks one ("local" on SQLite, the host name and port on PostgreSQL). */
  id: string | null;
  url: string | null;
  leaseSeconds: number;
  /** A node silent this long is lost: the heads only it had are reported lost (default 10 leases). */
  lostAfterSeconds: number | null;
}

export const NODE_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;

export function parseNode(value: unknown): NodeConfig {
  const obj = checkFields('node', value, { id: 'string', url: 'string', leaseSeconds: 'number', lostAfterSeconds: 'number' }, []);
  const id = (obj.id as string | undefined) ?? null;
  if (id !== null && !NODE_ID_RE.test(id)) fail(`"node.id" must be 1-64 letters, digits, '.', '_' or '-', not ${JSON.stringify(id)}`);
  const lease = (obj.leaseSeconds as number | undefined) ?? 30;
  if (!(lease >= 1)) fail('"node.leaseSeconds" must be at least 1');
  const lost = (obj.lostAfterSeconds as number | undefined) ?? null;
  if (lost !== null && !(lost >= lease)) fail(`"node.lostAfterSeconds" must be at least the lease time (${lease} s)`);
  return { id, url: (obj.url as string | undefined) ?? null, leaseSeconds: lease, lostAfterSeconds: lost };
}
