/**
 * Test harness of the page-blob data plane: a real engine (test/helpers/engine.ts) with the blob
 * routes on a plain-HTTP router listening on 127.0.0.1:0, and helpers to grant access and build
 * SAS URLs the way the ARM layer does (`SasSigner.url`).
 */

import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { registerBlobRoutes } from '../../src/api/blob/routes.js';
import { SasSigner } from '../../src/api/blob/sas.js';
import { Router } from '../../src/api/http/router.js';
import type { Clock } from '../../src/core/ports.js';
import type { DiskRecord, Grant, SnapshotRecord } from '../../src/core/model.js';
import { MiB } from '../../src/core/units.js';
import { vhdFooter } from '../../src/core/vhd.js';
import { RG, startEngine, SUB } from '../helpers/engine.js';
import type { TestEngine } from '../helpers/engine.js';

/** A clock tests can move forward (SAS expiry). */
export class TestClock implements Clock {
  offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
}

export interface BlobServer {
  t: TestEngine;
  sas: SasSigner;
  clock: TestClock;
  baseUrl: string;
  server: Server;
  /** Grants access to a disk or snapshot and returns the grant and its SAS URL. */
  grant(target: DiskRecord | SnapshotRecord, access?: 'Read' | 'Write', fileFormat?: 'VHD' | 'VHDX'): Promise<{ grant: Grant; url: string }>;
  /** endGetAccess. */
  revoke(target: DiskRecord | SnapshotRecord): Promise<void>;
  /** Stops the server and the engine, then opens both again on the same data and port (SAS URLs stay valid). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

function isSnapshot(r: DiskRecord | SnapshotRecord): r is SnapshotRecord {
  return 'point' in r;
}

export async function startBlobServer(): Promise<BlobServer> {
  const clock = new TestClock();
  const t = await startEngine({ clock });
  const sas = SasSigner.open(join(t.dir, 'identity', 'sas.key'));
  const listen = async (engine: TestEngine['engine'], port: number): Promise<Server> => {
    const router = new Router();
    registerBlobRoutes(router, { engine, sas });
    const server = createServer({ keepAliveTimeout: 5000 }, router.handle);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return server;
  };
  const stop = async (server: Server): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  const server = await listen(t.engine, 0);
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const self: BlobServer = {
    t,
    sas,
    clock,
    baseUrl,
    server,
    async grant(target, access = 'Read', fileFormat) {
      const e = self.t.engine;
      const req = { access, durationInSeconds: 3600, ...(fileFormat ? { fileFormat } : {}) };
      const g = isSnapshot(target)
        ? await e.grants.begin({ kind: 'snapshot', snapshot: await e.snapshots.getById(target.uniqueId) }, req)
        : await e.grants.begin({ kind: 'disk', disk: await e.disks.getById(target.uniqueId) }, req);
      return { grant: g, url: sas.url(baseUrl, g) };
    },
    async revoke(target) {
      const e = self.t.engine;
      if (isSnapshot(target)) await e.grants.end({ kind: 'snapshot', snapshot: await e.snapshots.getById(target.uniqueId) });
      else await e.grants.end({ kind: 'disk', disk: await e.disks.getById(target.uniqueId) });
    },
    async restart() {
      await stop(self.server);
      self.t = await self.t.reopen();
      self.server = await listen(self.t.engine, port);
    },
    async close() {
      await stop(self.server);
      await self.t.dispose();
    },
  };
  return self;
}

/** Creates an upload disk of `sizeMiB` MiB (upload size = that + 512). */
export async function createUploadDisk(t: TestEngine, name: string, sizeMiB: number): Promise<DiskRecord> {
  const { disk } = await t.engine.disks.createOrUpdate({
    subscriptionId: SUB,
    resourceGroup: RG,
    name,
    creationData: { createOption: 'Upload', uploadSizeBytes: sizeMiB * MiB + 512 },
  });
  return disk;
}

/** Creates a disk of exactly `sizeMiB` MiB holding `image` at offset 0, via an upload. */
export async function diskWithImage(b: BlobServer, name: string, image: Buffer): Promise<DiskRecord> {
  const disk = await createUploadDisk(b.t, name, image.length / MiB);
  await b.grant(disk, 'Write');
  const h = await b.t.engine.disks.open(disk.uniqueId);
  await h.write(0, image);
  await h.write(image.length, vhdFooter(image.length));
  await b.t.engine.grants.end({ kind: 'disk', disk: await b.t.engine.disks.getById(disk.uniqueId) });
  return b.t.engine.disks.getById(disk.uniqueId);
}

/** Raw HTTP request helper (fetch), returning status, headers and body bytes. */
export async function http(url: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(url, init);
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body };
}

/** Appends query parameters to a SAS URL. */
export function withQuery(url: string, extra: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v);
  return u.toString();
}
