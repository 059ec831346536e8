/**
 * Two `snapdisk serve` processes on one PostgreSQL catalog and Ceph (S3) chunk stores, sharing the
 * directory of disk heads. Node A serves a disk (NBD writes), takes snapshots and starts a
 * cross-region copy, and is killed with SIGKILL once both copies have made progress. Node B takes
 * the lease over once A stops renewing, takes over the very jobs A held (same job rows, newer
 * claims), finishes the snapshot copy and the cross-region copy, and every snapshot restores
 * byte-exactly. Requests for A's disk sent to B while A lives are redirected to A (307).
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../src/catalog/postgres/test-database.js';
import { MiB } from '../../src/core/units.js';
import { Cmd } from '../../src/nbd/protocol.js';
import { RawNbdClient, replyError } from '../../src/nbd/test-client.js';
import { cliBuilt, startServe, type ServeProcess } from '../e2e/snapdisk-process.js';

const pgUrl = process.env.SNAPDISK_TEST_POSTGRES_URL;
const s3 = process.env.SNAPDISK_TEST_S3_ENDPOINT;
const skip = !pgUrl || !s3 || !cliBuilt();
const API = 'api-version=2025-01-02';

interface Creds {
  tenantId: string;
  subscriptionId: string;
  clientId: string;
  clientSecret: string;
}

describe.skipIf(skip)('node loss: SIGKILL of the node serving a disk in the middle of copies', () => {
  let db: TestDatabase;
  let dir: string;
  let a: ServeProcess;
  let b: ServeProcess;
  let token = '';
  let creds: Creds;
  const tag = randomBytes(3).toString('hex');

  beforeAll(async () => {
    db = await createTestDatabase(pgUrl ?? '', 'nodes');
    dir = mkdtempSync(join(tmpdir(), 'snapdisk-nodes-'));
    const s3zone = (bucket: string) => ({
      kind: 's3', endpoint: s3, bucket, createBucket: true,
      accessKeyId: process.env.SNAPDISK_TEST_S3_KEY ?? 'test', secretAccessKey: process.env.SNAPDISK_TEST_S3_SECRET ?? 'test',
    });
    const config = {
      catalog: { kind: 'postgres', url: db.url },
      regions: {
        eastus: { zones: ['1', '2'], chunkStores: { '1': s3zone(`nl-${tag}-1`), '2': s3zone(`nl-${tag}-2`) } },
        westus: { zones: [], chunkStores: { default: s3zone(`nl-${tag}-w`) } },
      },
      node: { id: 'from-env', leaseSeconds: 2 },
      volumesPath: join(dir, 'shared-heads'),
    };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    const data = join(dir, 'data');
    a = await startServe(data, ['--config', join(dir, 'config.json')], { ...process.env, SNAPDISK_NODE_ID: 'node-a' });
    b = await startServe(data, ['--config', join(dir, 'config.json')], { ...process.env, SNAPDISK_NODE_ID: 'node-b' });
    creds = JSON.parse(readFileSync(join(data, 'dev-credentials.json'), 'utf8')) as Creds;
    const res = await fetch(`${b.http}${creds.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: creds.clientId, client_secret: creds.clientSecret, scope: 'https://management.azure.com/.default' }),
    });
    token = ((await res.json()) as { access_token: string }).access_token;
  }, 180_000);

  afterAll(async () => {
    await a?.stop('SIGKILL');
    await b?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const arm = async (base: string, method: string, path: string, body?: unknown, redirect: 'follow' | 'manual' = 'follow') => {
    const res = await fetch(`${base}${path.replace(/^\//, '')}${path.includes('?') ? '&' : '?'}${API}`, {
      method,
      redirect,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: () => JSON.parse(text) as Record<string, unknown>, text };
  };
  /** The final body of a long-running operation (polls its Location URL). */
  const final = async (r: Awaited<ReturnType<typeof arm>>): Promise<Record<string, unknown>> => {
    if (r.status === 200) return r.text ? r.json() : {};
    const location = r.headers.get('location');
    if (r.status !== 202 || !location) throw new Error(`unexpected ${r.status}: ${r.text}`);
    for (let i = 0; i < 600; i++) {
      const p = await fetch(location, { headers: { authorization: `Bearer ${token}` } });
      if (p.status === 200) {
        const text = await p.text();
        return text ? (JSON.parse(text) as Record<string, unknown>) : {};
      }
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`operation ${location} did not finish`);
  };
  const rg = () => `/subscriptions/${creds.subscriptionId}/resourceGroups/rg`;
  const waitFor = async (base: string, path: string, done: (j: Record<string, unknown>) => boolean, ms = 120_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = await arm(base, 'GET', path);
      if (r.status === 200 && done(r.json())) return r.json();
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${path}: ${r.text}`);
      await new Promise((res) => setTimeout(res, 250));
    }
  };
  const pct = (j: Record<string, unknown>) => Number((j.properties as Record<string, unknown>).completionPercent);

  it('B finishes what A left, every snapshot restores byte-exactly, and A\'s disk was redirected to A while A lived', async () => {
    expect((await arm(a.http, 'PUT', `/subscriptions/${creds.subscriptionId}/resourcegroups/rg`, { location: 'eastus' })).status).toBeLessThan(300);
    const disk = await arm(a.http, 'PUT', `${rg()}/providers/Microsoft.Compute/disks/d`, { location: 'eastus', sku: { name: 'Standard_LRS' }, properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 } });
    expect(disk.status).toBeLessThan(300);
    const diskId = `${rg()}/providers/Microsoft.Compute/disks/d`;
    const nbdPort = Number(/nbd:\/\/[^:]+:(\d+)\//.exec(a.stdout())?.[1]);
    const FIRST = 64 * MiB;
    const SECOND = 192 * MiB; // big enough that its copy is still running when the region copy has begun
    const first = randomBytes(FIRST);
    const second = randomBytes(SECOND);
    const write = async (off: number, data: Buffer) => {
      const c = await RawNbdClient.open(nbdPort, diskId, { structured: true });
      for (let at = 0; at < data.length; at += 4 * MiB) {
        c.request(Cmd.WRITE, off + at, 4 * MiB, { payload: data.subarray(at, at + 4 * MiB), cookie: 1 + at });
        expect(replyError(await c.reply())).toBe(0);
      }
      await c.disconnect();
      await new Promise((r) => setTimeout(r, 200));
    };
    await write(0, first);
    const snap = (name: string) => arm(a.http, 'PUT', `${rg()}/providers/Microsoft.Compute/snapshots/${name}`, { location: 'eastus', properties: { creationData: { createOption: 'Copy', sourceResourceId: diskId }, incremental: true } });
    expect((await snap('s0')).status).toBeLessThan(300);
    await waitFor(b.http, `${rg()}/providers/Microsoft.Compute/snapshots/s0`, (j) => pct(j) === 100);
    // B does not serve A's disk: a SAS read of it sent to B is redirected to A
    const grant = await final(await arm(a.http, 'POST', `${diskId}/beginGetAccess`, { access: 'Read', durationInSeconds: 600 }));
    const sasViaB = String(grant.accessSAS).replace(/^https?:\/\/[^/]+\//, b.http);
    const redirected = await fetch(sasViaB, { redirect: 'manual', headers: { 'x-ms-range': 'bytes=0-511', 'x-ms-version': '2021-08-06' } });
    expect(redirected.status).toBe(307);
    expect(redirected.headers.get('location')).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/md-/);
    expect(redirected.headers.get('location')).toContain(a.arm.replace(/\/$/, ''));
    await final(await arm(a.http, 'POST', `${diskId}/endGetAccess`));
    await write(FIRST, second);
    expect((await snap('s1')).status).toBeLessThan(300);
    const copy = await arm(a.http, 'PUT', `${rg()}/providers/Microsoft.Compute/snapshots/c0`, { location: 'westus', properties: { creationData: { createOption: 'CopyStart', sourceResourceId: `${rg()}/providers/Microsoft.Compute/snapshots/s0` }, incremental: true } });
    expect(copy.status).toBeLessThan(300);
    const pg = await import('pg');
    const cl = new pg.default.Client({ connectionString: db.url });
    await cl.connect();
    try {
      const jobsOf = async () =>
        (await cl.query<{ id: string; kind: string; state: string; node_id: string | null; attempts: string }>(
          "SELECT id::text, kind, state, node_id, attempts::text FROM jobs WHERE kind IN ('snapshot-copy', 'region-copy') ORDER BY id",
        )).rows;
      // kill A only once both copies are under way (some blocks committed, not all), A holding their jobs
      let progress: Array<{ region: boolean; copied: number; frozen: number }> = [];
      const started = Date.now();
      for (;;) {
        progress = (await cl.query<{ source_family_id: string | null; copied_blocks: string; frozen_blocks: string }>(
          "SELECT source_family_id, copied_blocks::text, frozen_blocks::text FROM points WHERE state = 'copying'",
        )).rows.map((r) => ({ region: r.source_family_id !== null, copied: Number(r.copied_blocks), frozen: Number(r.frozen_blocks) }));
        if (progress.length === 2 && progress.every((p) => p.copied > 0)) break;
        if (progress.length < 2 || Date.now() - started > 60_000) break; // one finished: the test fails below
        await new Promise((res) => setTimeout(res, 5));
      }
      const heldByA = (await jobsOf()).filter((j) => j.state === 'running' && j.node_id === 'node-a');
      await a.stop('SIGKILL');
      expect(progress.map((p) => p.region).sort()).toEqual([false, true]);
      for (const p of progress) {
        expect(p.copied).toBeGreaterThan(0);
        expect(p.copied).toBeLessThan(p.frozen);
      }
      expect(heldByA.map((j) => j.kind).sort()).toEqual(['region-copy', 'snapshot-copy']);
      // B takes over once A stopped renewing (2 s lease) and finishes both copies
      await waitFor(b.http, `${rg()}/providers/Microsoft.Compute/snapshots/s1`, (j) => pct(j) === 100);
      await waitFor(b.http, `${rg()}/providers/Microsoft.Compute/snapshots/c0`, (j) => pct(j) === 100);
      // the work really moved: the jobs A held are the ones B finished, under newer claims
      // (a job ends just after its point is complete)
      let after = await jobsOf();
      for (let i = 0; i < 100 && heldByA.some((j) => after.find((x) => x.id === j.id)?.state !== 'done'); i++) {
        await new Promise((res) => setTimeout(res, 100));
        after = await jobsOf();
      }
      for (const j of heldByA) {
        const now = after.find((x) => x.id === j.id);
        expect(now).toMatchObject({ state: 'done', node_id: 'node-b' });
        expect(Number(now?.attempts)).toBeGreaterThan(Number(j.attempts));
      }
    } finally {
      await cl.end();
    }
    const zeros = Buffer.alloc(SECOND);
    for (const [name, tail] of [['s0', zeros], ['s1', second], ['c0', zeros]] as const) {
      const body = await final(await arm(b.http, 'POST', `${rg()}/providers/Microsoft.Compute/snapshots/${name}/beginGetAccess`, { access: 'Read', durationInSeconds: 600 }));
      const sas = String(body.accessSAS);
      for (const [from, expected] of [[0, first], [FIRST, tail]] as const) {
        const got = await fetch(sas, { headers: { 'x-ms-range': `bytes=${from}-${from + expected.length - 1}`, 'x-ms-version': '2021-08-06' } });
        expect(got.status).toBe(206);
        expect(Buffer.from(await got.arrayBuffer()).equals(expected), `${name} at ${from}`).toBe(true);
      }
      await final(await arm(b.http, 'POST', `${rg()}/providers/Microsoft.Compute/snapshots/${name}/endGetAccess`));
    }
  }, 300_000);
});
