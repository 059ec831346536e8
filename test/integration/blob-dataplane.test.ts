/**
 * The page-blob data plane under load and over time, against models built from what the test
 * wrote (never from the server's own answers):
 *
 * - a page list without maxresults is streamed in parts (chunked, no Content-Length) and equals
 *   the one-piece list of the written blocks, for a disk, a snapshot and a diff of > 4096 ranges;
 * - a long GET stops once endGetAccess revoked its grant;
 * - Get Page Ranges honours the conditional headers as GET does;
 * - the hot GET path reads the grant once and the disk not at all (loaded runtime);
 * - a 16 TiB disk's page list and VHDX layout cost its few runs, not its size;
 * - `prevsnapshot=<time>` finds an older snapshot of the family wherever it lives now.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiskRecord, SnapshotRecord } from '../../src/core/model.js';
import { BLOCK_SIZE, GiB, MiB } from '../../src/core/units.js';
import { createDisk, diskId, prng, RG, snapshot, SUB, SUB2 } from '../helpers/engine.js';
import { http, startBlobServer, withQuery } from './blob-harness.js';
import type { BlobServer } from './blob-harness.js';

let b: BlobServer;
beforeAll(async () => {
  b = await startBlobServer();
});
afterAll(async () => {
  await b.close();
});

type Range = { start: number; end: number; clear?: boolean };

/** Merged runs of a set of block indexes, as byte ranges. */
function blockRuns(blocks: Iterable<number>, clear = false): Range[] {
  const out: Range[] = [];
  for (const blk of [...blocks].sort((x, y) => x - y)) {
    const last = out[out.length - 1];
    if (last && last.end === blk * BLOCK_SIZE) last.end += BLOCK_SIZE;
    else out.push({ start: blk * BLOCK_SIZE, end: (blk + 1) * BLOCK_SIZE, clear });
  }
  return out;
}

/** The page-list XML of `ranges` (in order), adjacent ones of the same kind merged. */
function xml(ranges: Range[]): string {
  const merged: Range[] = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && last.end === r.start && (last.clear === true) === (r.clear === true)) last.end = r.end;
    else merged.push({ ...r });
  }
  const items = merged.map((r) => {
    const tag = r.clear === true ? 'ClearRange' : 'PageRange';
    return `<${tag}><Start>${r.start}</Start><End>${r.end - 1}</End></${tag}>`;
  });
  return `<?xml version="1.0" encoding="utf-8"?><PageList>${items.join('')}<NextMarker></NextMarker></PageList>`;
}

/** A page list read raw: its body and how it was framed. */
async function pageList(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; length: string | null; chunked: boolean }> {
  const r = await http(withQuery(url, { comp: 'pagelist' }), { headers });
  return { status: r.status, body: r.body.toString(), length: r.headers.get('content-length'), chunked: /chunked/i.test(r.headers.get('transfer-encoding') ?? '') };
}

/** Every range of a list read page by page with maxresults (the paged API, for comparison). */
async function pagedRanges(url: string, headers: Record<string, string> = {}): Promise<string> {
  const items: string[] = [];
  let marker = '';
  do {
    const r = await http(withQuery(url, { comp: 'pagelist', maxresults: '1000', ...(marker ? { marker } : {}) }), { headers });
    const text = r.body.toString();
    items.push(/<PageList>(.*)<NextMarker>/.exec(text)?.[1] ?? '');
    marker = /<NextMarker>([^<]*)<\/NextMarker>/.exec(text)?.[1] ?? '';
  } while (marker !== '');
  return `<?xml version="1.0" encoding="utf-8"?><PageList>${items.join('')}<NextMarker></NextMarker></PageList>`;
}

describe('blob data plane: streamed page lists', () => {
  const DISK = 2 * GiB;
  // every other block of the first 9000: 4500 separate ranges, more than one internal page (4096)
  const first = Array.from({ length: 4500 }, (_, i) => 2 * i);
  // then 4200 single blocks after them: the disk holds 8700 separate ranges, the diff 4200
  const second = Array.from({ length: 4200 }, (_, i) => 2 * (4500 + i) + 1);
  let disk: DiskRecord;
  let s1: SnapshotRecord;
  let s2: SnapshotRecord;

  beforeAll(async () => {
    const e = b.t.engine;
    disk = await createDisk(e, 'frag', DISK / GiB);
    const h = await e.disks.open(disk.uniqueId);
    const rnd = prng(61);
    for (const blk of first) await h.write(blk * BLOCK_SIZE + 512, rnd(4096));
    s1 = await snapshot(e, disk, 'frag-s1');
    for (const blk of second) await h.write(blk * BLOCK_SIZE, rnd(4096));
    s2 = await snapshot(e, disk, 'frag-s2');
    await e.idle();
  });

  it('a disk grant: the whole list streamed in parts equals the written blocks plus the footer page', async () => {
    const { url } = await b.grant(disk);
    try {
      const r = await pageList(url);
      expect(r.status).toBe(200);
      expect(r.length).toBeNull();
      expect(r.chunked).toBe(true);
      const want = [...blockRuns([...first, ...second]), { start: DISK, end: DISK + 512 }];
      expect(want.length).toBe(8701);
      expect(r.body).toBe(xml(want));
      expect(await pagedRanges(url)).toBe(r.body);
    } finally {
      await b.revoke(disk);
    }
  });

  it('a snapshot grant and a diff of > 4096 ranges: streamed, equal to the model and to the paged list', async () => {
    const { url: u1 } = await b.grant(s1);
    const { url: u2 } = await b.grant(s2);
    try {
      const full = await pageList(u2);
      expect(full.chunked).toBe(true);
      expect(full.body).toBe(xml([...blockRuns([...first, ...second]), { start: DISK, end: DISK + 512 }]));
      expect((await pageList(u1)).body).toBe(xml([...blockRuns(first), { start: DISK, end: DISK + 512 }]));
      const prev = { 'x-ms-previous-snapshot-url': u1 };
      const diff = await pageList(u2, prev);
      expect(diff.status).toBe(200);
      expect(diff.length).toBeNull();
      expect(diff.body).toBe(xml(blockRuns(second)));
      expect(await pagedRanges(u2, prev)).toBe(diff.body);
      // with maxresults the answer is one bounded page with a Content-Length (Azure's shape)
      const one = await http(withQuery(u2, { comp: 'pagelist', maxresults: '10' }), { headers: prev });
      expect(Number(one.headers.get('content-length'))).toBe(one.body.length);
      expect((one.body.toString().match(/<PageRange>/g) ?? []).length).toBe(10);
      expect(one.body.toString()).toMatch(/<NextMarker>[^<]+<\/NextMarker>/);
    } finally {
      await b.revoke(s1);
      await b.revoke(s2);
    }
  });
});

describe('blob data plane: revocation and conditions', () => {
  let disk: DiskRecord;
  beforeAll(async () => {
    const e = b.t.engine;
    disk = await createDisk(e, 'long', 1);
    const h = await e.disks.open(disk.uniqueId);
    await h.write(0, prng(62)(8 * MiB));
  });

  it('a long GET is cut within a few pieces once endGetAccess revoked its grant', async () => {
    const { url } = await b.grant(disk);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const total = Number(res.headers.get('content-length'));
    expect(total).toBe(GiB + 512);
    const reader = res.body?.getReader();
    if (!reader) throw new Error('no body');
    let got = 0;
    while (got < 8 * MiB) {
      const { value, done } = await reader.read();
      if (done) break;
      got += value.length;
    }
    await b.revoke(disk);
    let failed = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        got += value.length;
      }
    } catch {
      failed = true;
    }
    expect(failed).toBe(true);
    // what was in flight (read-ahead, socket buffers, the recheck interval) at most
    expect(got).toBeLessThan(256 * MiB);
    // a new request on the revoked SAS is refused
    expect((await http(url, { method: 'HEAD' })).status).toBe(403);
  });

  it('Get Page Ranges honours If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since', async () => {
    const { url } = await b.grant(disk);
    try {
      const head = await http(url, { method: 'HEAD' });
      const etag = head.headers.get('etag') ?? '';
      const modified = new Date(head.headers.get('last-modified') ?? '');
      const later = new Date(modified.getTime() + 3600_000).toUTCString();
      const earlier = new Date(modified.getTime() - 3600_000).toUTCString();
      expect((await pageList(url, { 'if-match': etag })).status).toBe(200);
      const bad = await pageList(url, { 'if-match': '"0x8D0000000000000"' });
      expect(bad.status).toBe(412);
      expect(bad.body).toContain('<Code>ConditionNotMet</Code>');
      expect((await pageList(url, { 'if-unmodified-since': earlier })).status).toBe(412);
      expect((await pageList(url, { 'if-unmodified-since': later })).status).toBe(200);
      const none = await pageList(url, { 'if-none-match': etag });
      expect(none.status).toBe(304);
      expect(none.body).toBe('');
      expect((await pageList(url, { 'if-modified-since': later })).status).toBe(304);
      const changed = await pageList(url, { 'if-modified-since': earlier });
      expect(changed.status).toBe(200);
      expect(changed.body).toBe(xml([{ start: 0, end: 8 * MiB }, { start: GiB, end: GiB + 512 }]));
    } finally {
      await b.revoke(disk);
    }
  });
});

describe('blob data plane: hot path and size-independent costs', () => {
  it('a ranged GET reads the grant once, and the disk record not at all while its runtime is loaded', async () => {
    const e = b.t.engine;
    const disk = await createDisk(e, 'hot', 1);
    const h = await e.disks.open(disk.uniqueId);
    const bytes = prng(63)(MiB);
    await h.write(0, bytes);
    const s = await snapshot(e, disk, 'hot-s');
    await e.idle();
    const catalog = e.ctx.catalog;
    const counts = { getGrant: 0, getDiskById: 0, getSnapshotById: 0 };
    const originals = { getGrant: catalog.getGrant, getDiskById: catalog.getDiskById, getSnapshotById: catalog.getSnapshotById };
    const { url: durl } = await b.grant(disk);
    const { url: surl } = await b.grant(s);
    try {
      for (const k of Object.keys(counts) as Array<keyof typeof counts>) {
        const original = originals[k] as (...args: unknown[]) => Promise<unknown>;
        (catalog as unknown as Record<string, unknown>)[k] = (...args: unknown[]) => {
          counts[k]++;
          return original.apply(catalog, args);
        };
      }
      const r = await http(durl, { headers: { 'x-ms-range': `bytes=4096-${4096 + 65535}` } });
      expect(r.body.equals(bytes.subarray(4096, 4096 + 65536))).toBe(true);
      expect(counts).toEqual({ getGrant: 1, getDiskById: 0, getSnapshotById: 0 });
      counts.getGrant = 0;
      const rs = await http(surl, { headers: { 'x-ms-range': `bytes=4096-${4096 + 65535}` } });
      expect(rs.body.equals(bytes.subarray(4096, 4096 + 65536))).toBe(true);
      expect(counts).toEqual({ getGrant: 1, getDiskById: 0, getSnapshotById: 1 });
    } finally {
      Object.assign(catalog, originals);
      await b.revoke(disk);
      await b.revoke(s);
    }
  });

  it('a 16 TiB disk: its page list and its VHDX layout cost its runs, not its size', async () => {
    const e = b.t.engine;
    const size = 16 * 1024 * GiB;
    const disk = await createDisk(e, 'huge', 16 * 1024);
    const h = await e.disks.open(disk.uniqueId);
    const written = [3, 4, 5, 1_000_000, 100_000_000, size / BLOCK_SIZE - 1];
    for (const blk of written) await h.write(blk * BLOCK_SIZE, prng(blk)(BLOCK_SIZE));
    const { url } = await b.grant(disk);
    try {
      const t0 = performance.now();
      const r = await pageList(url);
      const ms = performance.now() - t0;
      expect(r.body).toBe(xml([...blockRuns(written), { start: size, end: size + 512 }]));
      // the extent scan took ~3.6 s here (226 ms per TiB); the bitmap walk a few ms
      expect(ms).toBeLessThan(1000);
    } finally {
      await b.revoke(disk);
    }
    const { url: vurl } = await b.grant(disk, 'Read', 'VHDX');
    try {
      const t0 = performance.now();
      const head = await http(vurl, { method: 'HEAD' });
      const ms = performance.now() - t0;
      expect(head.status).toBe(200);
      // 4 present 32 MiB blocks: the file is the metadata (a 4 MiB BAT for 16 TiB) plus 4 slots
      expect(Number(head.headers.get('content-length'))).toBeLessThan(16 * MiB + 4 * 32 * MiB);
      expect(ms).toBeLessThan(1500);
    } finally {
      await b.revoke(disk);
    }
  });

  it('prevsnapshot=<timeCreated> names a snapshot of the family kept in another subscription', async () => {
    const e = b.t.engine;
    if (!(await e.resources.findGroup(SUB2, 'rg2'))) await e.resources.putGroup(SUB2, 'rg2', 'eastus');
    const disk = await createDisk(e, 'mover', 1);
    const h = await e.disks.open(disk.uniqueId);
    await h.write(0, prng(64)(MiB));
    const s0 = await snapshot(e, disk, 'mover-s0');
    await e.idle();
    // the disk moves to another subscription; its later snapshots are taken there
    await e.mover.move([{ kind: 'disk', record: await e.disks.getById(disk.uniqueId) }], { subscriptionId: SUB2, resourceGroup: 'rg2' });
    const moved = await e.disks.getById(disk.uniqueId);
    expect(moved.subscriptionId).toBe(SUB2);
    await h.write(4 * MiB, prng(65)(BLOCK_SIZE));
    const { snapshot: s1 } = await e.snapshots.createOrUpdate({
      subscriptionId: SUB2,
      resourceGroup: 'rg2',
      name: 'mover-s1',
      incremental: true,
      creationData: { createOption: 'Copy', sourceResourceId: diskId(moved) },
    });
    await e.idle();
    expect(s1.familyId).toBe(s0.familyId);
    expect(s0.subscriptionId).toBe(SUB);
    expect(s0.resourceGroup).toBe(RG);
    const { url } = await b.grant(s1);
    try {
      const r = await http(withQuery(url, { comp: 'pagelist', prevsnapshot: s0.timeCreated }));
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe(xml([{ start: 4 * MiB, end: 4 * MiB + BLOCK_SIZE }]));
    } finally {
      await b.revoke(s1);
    }
  });
});
