/**
 * @module api/blob/bench-blob
 * Client side of the data-plane throughput check (issue 4: ranged GET from cache ≥ 1 GB/s): reads
 * a SAS URL in ranges of `rangeBytes` with `x-ms-range` over keep-alive connections, `parallel`
 * connections each with one request in flight, and reports bytes per second.
 *
 * The client runs in a child Node process and reads raw sockets into one reusable buffer
 * (`net` `onread`), parsing just the status line and Content-Length: on this 2-core machine
 * node:http's client in the server's own process costs more CPU than the server (it measured
 * 0.17 GB/s against a server writing one static buffer), and curl tops out near 0.75 GB/s
 * on loopback. The body is counted and dropped, so this measures the server.
 *
 * `benchBlobServer` is the whole check for a bench runner: given an engine (with a subscription
 * and resource group) it writes 1 GiB of random data to a new disk, snapshots it, serves both
 * through the blob routes on 127.0.0.1:0 and reads each twice. `benchDiffLatency` times a diff
 * request (`x-ms-previous-snapshot-url`) between snapshots of disks of several sizes with the
 * same number of changed blocks. test/e2e/blob-bench.test.ts runs both.
 */

import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DiskRecord, SnapshotRecord } from '../../core/model.js';
import type { Engine } from '../../engine/engine.js';
import { Router } from '../http/router.js';
import { registerBlobRoutes } from './routes.js';
import type { SasSigner } from './sas.js';

export interface RangedGetOptions {
  /** SAS URL (http) of the blob. */
  url: string;
  /** Bytes to read from offset 0 (at most the blob length). */
  totalBytes: number;
  /** Bytes per request; default 4 MiB. */
  rangeBytes?: number;
  /** Keep-alive connections, each with one request in flight; default 1. */
  parallel?: number;
}

export interface RangedGetResult {
  bytes: number;
  seconds: number;
  requests: number;
  /** Decimal gigabytes per second. */
  gbPerSecond: number;
}

/** The child's program: argv = url, total, range, parallel; prints one JSON line. */
const CLIENT = String.raw`
const net = require('node:net');
const [url, total, range, parallel] = [new URL(process.argv[1]), Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
let next = 0, bytes = 0, requests = 0;
const t0 = process.hrtime.bigint();
function conn() {
  return new Promise((resolve, reject) => {
    let head = '', want = -1, got = 0, first = 0, last = 0;
    const send = () => {
      if (next >= total) { s.end(); return resolve(); }
      first = next; last = Math.min(total, first + range) - 1; next = last + 1;
      head = ''; want = -1; got = 0;
      s.write('GET ' + url.pathname + url.search + ' HTTP/1.1\r\nHost: ' + url.host + '\r\nx-ms-version: 2021-08-06\r\nx-ms-range: bytes=' + first + '-' + last + '\r\n\r\n');
    };
    const body = (n) => {
      got += n;
      if (got > want) return reject(new Error('body longer than Content-Length'));
      if (got === want) { bytes += want; requests++; send(); }
    };
    const s = net.connect({ host: url.hostname, port: Number(url.port), onread: { buffer: Buffer.allocUnsafe(64 << 10), callback: (n, buf) => {
      if (want >= 0) return body(n);
      head += buf.latin1Slice(0, n);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = Number(head.slice(9, 12));
      const m = /content-length: *(\d+)/i.exec(head.slice(0, end));
      if (status !== 206 || !m || Number(m[1]) !== last - first + 1) return reject(new Error('bad response: ' + head.slice(0, end)));
      want = Number(m[1]);
      const extra = head.length - end - 4;
      if (extra > 0) body(extra);
    } } });
    s.on('connect', send);
    s.on('error', reject);
  });
}
Promise.all(Array.from({ length: parallel }, conn)).then(() => {
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ bytes, seconds, requests, gbPerSecond: bytes / seconds / 1e9 }));
}, (err) => { console.error(String(err)); process.exit(1); });
`;

/** Reads [0, totalBytes) of `url` in ranges from a child process and times it. */
export function benchRangedGet(opts: RangedGetOptions): Promise<RangedGetResult> {
  const args = ['-e', CLIENT, opts.url, String(opts.totalBytes), String(opts.rangeBytes ?? 4 * 1024 * 1024), String(opts.parallel ?? 1)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench client failed (${code ?? 'signal'}): ${err.trim()}`));
      else resolve(JSON.parse(out) as RangedGetResult);
    });
  });
}

export interface BlobBenchOptions {
  engine: Engine;
  sas: SasSigner;
  subscriptionId: string;
  resourceGroup: string;
  /** Disk size in GiB (default 1); all of it is written with random data and read back. */
  sizeGb?: number;
  /** Connections per measurement (default [1, 2]). */
  parallel?: number[];
}

export interface BlobBenchLine extends RangedGetResult {
  source: 'snapshot' | 'disk';
  pass: number;
  parallel: number;
}

/** Serves a snapshot and a disk of random data and measures 4 MiB ranged GETs of each. */
export async function benchBlobServer(o: BlobBenchOptions): Promise<BlobBenchLine[]> {
  const { disk, snapshot } = await prepareData(o);
  const srv = await startBenchServer(o.engine, o.sas);
  const lines: BlobBenchLine[] = [];
  try {
    const targets = [
      { source: 'snapshot' as const, target: { kind: 'snapshot' as const, snapshot } },
      { source: 'disk' as const, target: { kind: 'disk' as const, disk } },
    ];
    for (const { source, target } of targets) {
      const grant = await o.engine.grants.begin(target, { access: 'Read', durationInSeconds: 3600 });
      const url = o.sas.url(srv.base, grant);
      for (const pass of [1, 2]) {
        for (const parallel of o.parallel ?? [1, 2]) {
          const r = await benchRangedGet({ url, totalBytes: disk.sizeBytes, parallel });
          lines.push({ ...r, source, pass, parallel });
        }
      }
      await o.engine.grants.end(target);
    }
  } finally {
    await srv.close();
  }
  return lines;
}

export interface DiffLatency {
  sizeGb: number;
  changedBlocks: number;
  ranges: number;
  /** Median milliseconds of one `comp=pagelist` request with `x-ms-previous-snapshot-url`. */
  medianMs: number;
}

/**
 * Diff latency over HTTP for disks of several sizes with the same number of changed blocks
 * (scattered over the whole disk): it should not depend on the disk size.
 */
export async function benchDiffLatency(o: BlobBenchOptions & { sizesGb?: number[]; changedBlocks?: number }): Promise<DiffLatency[]> {
  const srv = await startBenchServer(o.engine, o.sas);
  const out: DiffLatency[] = [];
  try {
    for (const sizeGb of o.sizesGb ?? [1, 1024]) {
      const changed = o.changedBlocks ?? 1000;
      const [older, newer] = await twoSnapshots(o, sizeGb, changed);
      const g1 = await o.engine.grants.begin({ kind: 'snapshot', snapshot: older }, { access: 'Read', durationInSeconds: 3600 });
      const g2 = await o.engine.grants.begin({ kind: 'snapshot', snapshot: newer }, { access: 'Read', durationInSeconds: 3600 });
      const times: number[] = [];
      let ranges = 0;
      for (let i = 0; i < 7; i++) {
        const t0 = process.hrtime.bigint();
        const res = await fetch(`${o.sas.url(srv.base, g2)}&comp=pagelist`, { headers: { 'x-ms-previous-snapshot-url': o.sas.url(srv.base, g1) } });
        const text = await res.text();
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        ranges = (text.match(/<PageRange>/g) ?? []).length;
      }
      times.sort((a, b) => a - b);
      out.push({ sizeGb, changedBlocks: changed, ranges, medianMs: times[3] ?? 0 });
      await o.engine.grants.end({ kind: 'snapshot', snapshot: older });
      await o.engine.grants.end({ kind: 'snapshot', snapshot: newer });
    }
  } finally {
    await srv.close();
  }
  return out;
}

async function twoSnapshots(o: BlobBenchOptions, sizeGb: number, changed: number): Promise<[SnapshotRecord, SnapshotRecord]> {
  const name = `blob-diff-${sizeGb}-${Date.now()}`;
  const key = { subscriptionId: o.subscriptionId, resourceGroup: o.resourceGroup };
  const { disk } = await o.engine.disks.createOrUpdate({ ...key, name, sizeGb, creationData: { createOption: 'Empty' } });
  const h = await o.engine.disks.open(disk.uniqueId);
  const sourceResourceId = `/subscriptions/${o.subscriptionId}/resourceGroups/${o.resourceGroup}/providers/Microsoft.Compute/disks/${name}`;
  const block = 64 * 1024;
  const stride = Math.floor(disk.sizeBytes / block / changed);
  const snaps: SnapshotRecord[] = [];
  for (const round of [0, 1]) {
    for (let i = 0; i < changed; i++) await h.write((i * stride + round) * block, randomFillSync(Buffer.allocUnsafe(block)));
    const { snapshot } = await o.engine.snapshots.createOrUpdate({ ...key, name: `${name}-${round}`, incremental: true, creationData: { createOption: 'Copy', sourceResourceId } });
    snaps.push(snapshot);
  }
  await o.engine.idle();
  const [a, b] = snaps;
  if (!a || !b) throw new Error('snapshots missing');
  return [a, b];
}

async function startBenchServer(engine: Engine, sas: SasSigner): Promise<{ base: string; close(): Promise<void> }> {
  const router = new Router();
  registerBlobRoutes(router, { engine, sas });
  const server = createServer(router.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function prepareData(o: BlobBenchOptions): Promise<{ disk: DiskRecord; snapshot: SnapshotRecord }> {
  const name = `blob-bench-${Date.now()}`;
  const key = { subscriptionId: o.subscriptionId, resourceGroup: o.resourceGroup };
  const { disk } = await o.engine.disks.createOrUpdate({ ...key, name, sizeGb: o.sizeGb ?? 1, creationData: { createOption: 'Empty' } });
  const h = await o.engine.disks.open(disk.uniqueId);
  const buf = Buffer.allocUnsafe(64 * 1024 * 1024);
  for (let off = 0; off < disk.sizeBytes; off += buf.length) await h.write(off, randomFillSync(buf).subarray(0, Math.min(buf.length, disk.sizeBytes - off)));
  const sourceResourceId = `/subscriptions/${o.subscriptionId}/resourceGroups/${o.resourceGroup}/providers/Microsoft.Compute/disks/${name}`;
  const { snapshot } = await o.engine.snapshots.createOrUpdate({ ...key, name: `${name}-s`, incremental: true, creationData: { createOption: 'Copy', sourceResourceId } });
  await o.engine.idle();
  return { disk: await o.engine.disks.getById(disk.uniqueId), snapshot };
}

/** One line of text per measurement. */
export function formatBlobBench(lines: BlobBenchLine[]): string {
  return lines
    .map((l) => `blob GET ${l.source} pass ${l.pass}, ${l.parallel} conn: ${l.gbPerSecond.toFixed(2)} GB/s (${l.seconds.toFixed(2)} s, ${l.requests} x 4 MiB)`)
    .join('\n');
}
