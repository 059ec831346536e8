/**
 * Test helpers: a real engine (SQLite catalog, filesystem chunk stores, file volumes) in a
 * temporary directory, with one subscription and resource group ready.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEngine, type OpenedEngine, type OpenEngineOptions } from '../../src/app.js';
import type { SnapdiskConfig } from '../../src/config/config.js';
import type { DiskRecord, SnapshotRecord } from '../../src/core/model.js';
import type { Engine } from '../../src/engine/engine.js';
import { GiB } from '../../src/core/units.js';
import { SnapdiskError } from '../../src/core/errors.js';

export const SUB = '00000000-0000-4000-8000-000000000001';
export const SUB2 = '00000000-0000-4000-8000-000000000002';
export const RG = 'rg1';

export interface TestEngine extends OpenedEngine {
  dir: string;
  reopen(): Promise<TestEngine>;
  dispose(): Promise<void>;
}

export function tempDir(prefix = 'snapdisk-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startEngine(
  opts: Partial<OpenEngineOptions> & { dir?: string; config?: SnapdiskConfig } = {},
): Promise<TestEngine> {
  const dir = opts.dir ?? tempDir();
  const opened = await openEngine({ dataDir: dir, durableCatalog: false, ...opts });
  const e = opened.engine;
  await e.resources.ensureSubscription({ subscriptionId: SUB, displayName: 'dev', tenantId: 't', state: 'Enabled' });
  await e.resources.ensureSubscription({ subscriptionId: SUB2, displayName: 'second', tenantId: 't', state: 'Enabled' });
  if (!(await e.resources.findGroup(SUB, RG))) await e.resources.putGroup(SUB, RG, 'eastus');
  if (!(await e.resources.findGroup(SUB, 'rgwest'))) await e.resources.putGroup(SUB, 'rgwest', 'westus');
  const self: TestEngine = {
    ...opened,
    dir,
    reopen: async () => {
      await e.close();
      return startEngine({ ...opts, dir });
    },
    dispose: async () => {
      await e.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return self;
}

export async function createDisk(e: Engine, name: string, sizeGb = 1, extra: { sku?: DiskRecord['sku']; rg?: string } = {}): Promise<DiskRecord> {
  const { disk } = await e.disks.createOrUpdate({
    subscriptionId: SUB,
    resourceGroup: extra.rg ?? RG,
    name,
    sizeGb,
    ...(extra.sku ? { sku: extra.sku } : {}),
    creationData: { createOption: 'Empty' },
  });
  return disk;
}

export async function snapshot(e: Engine, disk: DiskRecord, name: string, incremental = true): Promise<SnapshotRecord> {
  const { snapshot } = await e.snapshots.createOrUpdate({
    subscriptionId: SUB,
    resourceGroup: disk.resourceGroup,
    name,
    incremental,
    creationData: { createOption: 'Copy', sourceResourceId: diskId(disk) },
  });
  return snapshot;
}

export function diskId(d: { subscriptionId: string; resourceGroup: string; name: string }): string {
  return `/subscriptions/${d.subscriptionId}/resourceGroups/${d.resourceGroup}/providers/Microsoft.Compute/disks/${d.name}`;
}

export function snapshotId(s: { subscriptionId: string; resourceGroup: string; name: string }): string {
  return `/subscriptions/${s.subscriptionId}/resourceGroups/${s.resourceGroup}/providers/Microsoft.Compute/snapshots/${s.name}`;
}

/** Deterministic pseudo-random bytes (xorshift), so failures replay. */
export function prng(seed: number): (n: number) => Buffer {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      out[i] = x & 0xff;
    }
    return out;
  };
}

export const ONE_GIB = GiB;

/** The coded error `p` rejects with (a test fails when it resolves or rejects with anything else). */
export const err = async (p: Promise<unknown>): Promise<SnapdiskError> => {
  try {
    await p;
  } catch (e) {
    if (e instanceof SnapdiskError) return e;
    throw e;
  }
  throw new Error('expected an error');
};
