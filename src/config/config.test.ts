import { describe, expect, it } from 'vitest';
import { SnapdiskError } from '../core/errors.js';
import { hostname } from 'node:os';
import { defaultConfig, parseConfig, resolveNodeId } from './config.js';

const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof SnapdiskError) return err.message;
    throw err;
  }
  return '';
};

describe('config', () => {
  it('defaults follow Azure: eastus with three zones, westus without, the documented limits', () => {
    const c = parseConfig({});
    expect(c.regions).toEqual({ eastus: { zones: ['1', '2', '3'] }, westus: { zones: [] } });
    expect(c.limits.incrementalSnapshotsPerDiskPer5Minutes).toBe(7);
    expect(c.limits.incrementalSnapshotsPerDisk).toBe(500);
    expect(c.catalog).toEqual({ kind: 'sqlite' });
    expect(defaultConfig().scrubIntervalHours).toBe(24);
  });

  it('unknown keys and wrong types are errors that name the key', () => {
    expect(message(() => parseConfig({ limit: {} }))).toContain('unknown key "limit"');
    expect(message(() => parseConfig({ limits: { incrementalSnapshotsPerDisk: '500' } }))).toContain('limits.incrementalSnapshotsPerDisk');
    expect(message(() => parseConfig({ limits: { nope: 1 } }))).toContain('limits.nope');
    expect(message(() => parseConfig({ regions: { EastUS: { zones: [] } } }))).toContain('EastUS');
    expect(message(() => parseConfig({ regions: { eastus: { zones: 3 } } }))).toContain('regions.eastus.zones');
    expect(message(() => parseConfig({ catalog: { kind: 'mysql' } }))).toContain('catalog.kind');
    expect(message(() => parseConfig({ catalog: { kind: 'postgres' } }))).toContain('catalog.url');
    expect(message(() => parseConfig({ catalog: { kind: 'postgres', url: 'x', poolSize: '4' } }))).toContain('catalog.poolSize');
  });

  it('scale-out backends: a postgres catalog and per-zone chunk stores', () => {
    const c = parseConfig({
      catalog: { kind: 'postgres', url: 'postgres://h/db', passwordEnv: 'PW', poolSize: 4 },
      regions: {
        eastus: { zones: ['1', '2'], chunkStores: { '1': { kind: 's3', bucket: 'b1', endpoint: 'http://rgw:7480' }, '2': { kind: 'azure', url: 'https://a.blob.core.windows.net', container: 'c' } } },
        westus: { zones: [], chunkStores: { default: { kind: 'fs', path: '/srv/westus' } } },
      },
      chunkStoreRetry: { attempts: 3 },
    });
    expect(c.catalog).toMatchObject({ kind: 'postgres', poolSize: 4 });
    expect(c.chunkStores.eastus?.['1']).toMatchObject({ kind: 's3', bucket: 'b1' });
    expect(c.chunkStores.westus?.default).toEqual({ kind: 'fs', path: '/srv/westus' });
    expect(c.chunkStoreRetry).toEqual({ attempts: 3, baseDelayMs: 100, maxDelayMs: 5000 });
    expect(message(() => parseConfig({ regions: { eastus: { zones: ['1'], chunkStores: { '9': { kind: 'fs', path: '/x' } } } } }))).toContain('names no zone');
    expect(message(() => parseConfig({ regions: { eastus: { zones: ['1'], chunkStores: { '1': { kind: 's3' } } } } }))).toContain('bucket');
  });

  it('node identity: an explicit id wins; "local" on SQLite; host name and port on PostgreSQL', () => {
    expect(resolveNodeId(parseConfig({}))).toBe('local');
    expect(resolveNodeId(parseConfig({ node: { id: 'n1' }, catalog: { kind: 'postgres', url: 'postgres://h/db' } }), 8443)).toBe('n1');
    const pg = parseConfig({ catalog: { kind: 'postgres', url: 'postgres://h/db' } });
    const id = resolveNodeId(pg, 8443);
    expect(id).toMatch(/^[a-z0-9_.-]+-8443$/);
    expect(id.startsWith(hostname().toLowerCase().slice(0, 5).replace(/[^a-z0-9_.-]/g, '-'))).toBe(true);
    expect(resolveNodeId(pg, 0)).not.toContain('-0');
    expect(parseConfig({ node: { leaseSeconds: 10, lostAfterSeconds: 120 } }).node).toEqual({ id: null, url: null, leaseSeconds: 10, lostAfterSeconds: 120 });
    expect(message(() => parseConfig({ node: { id: 'a b' } }))).toContain('node.id');
    expect(message(() => parseConfig({ node: { leaseSeconds: 30, lostAfterSeconds: 5 } }))).toContain('lostAfterSeconds');
  });
});
