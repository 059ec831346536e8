import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapdiskError } from '../../core/errors.js';
import { migrate, SCHEMA_VERSION } from '../migrations.js';
import { describeCatalog } from '../testing/catalog-suite.js';
import { openPostgresCatalog, type PostgresCatalog } from './postgres-catalog.js';
import { createTestDatabase, POSTGRES_URL_ENV, postgresSkipReason, type TestDatabase } from './test-database.js';

const skip = postgresSkipReason();
const adminUrl = process.env[POSTGRES_URL_ENV] ?? '';
if (skip) console.warn(`PostgreSQL catalog contract: ${skip}`);

describe.skipIf(skip !== null)(`PostgreSQL catalog ${skip ?? ''}`, () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(adminUrl, 'catalog');
  });
  afterAll(async () => {
    await db?.drop();
  });

  const open = async (): Promise<{ catalog: PostgresCatalog; dispose(): Promise<void> }> => {
    const schema = db.schema();
    const catalog = await openPostgresCatalog(db.url, { schema, poolSize: 4 });
    return {
      catalog,
      dispose: async () => {
        await catalog.close();
        await dropSchema(db.url, schema);
      },
    };
  };

  describeCatalog('postgres 15', open);

  describeCatalog('postgres 15, unnamed statements (for transaction-mode poolers)', async () => {
    const schema = db.schema();
    const catalog = await openPostgresCatalog(db.url, { schema, poolSize: 2, preparedStatements: false });
    return {
      catalog,
      dispose: async () => {
        await catalog.close();
        await dropSchema(db.url, schema);
      },
    };
  });

  it('migrations: versioned, idempotent, and safe when several nodes open at once', async () => {
    const schema = db.schema();
    const nodes = await Promise.all([1, 2, 3].map(() => openPostgresCatalog(db.url, { schema, poolSize: 2 })));
    const first = nodes[0];
    if (!first) throw new Error('no catalog');
    expect(await migrate(first.client)).toBe(SCHEMA_VERSION);
    const rows = await first.client.all<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    for (const n of nodes) await n.close();
    await dropSchema(db.url, schema);
  });

  it('BIGINT, COUNT and SUM come back as numbers; BYTEA as Buffer; `?` inside literals untouched', async () => {
    const { catalog, dispose } = await open();
    try {
      const c = catalog.client;
      await c.exec('CREATE TABLE t (a BIGINT, b BYTEA, s TEXT)');
      await c.runMany('INSERT INTO t (a, b, s) VALUES (?, ?, ?)', [
        [2 ** 40, Buffer.from([1, 2, 3]), 'x'],
        [5, Buffer.alloc(0), 'y?'],
      ]);
      const r = await c.get<{ n: number; total: number; mx: number }>("SELECT COUNT(*) AS n, SUM(a) AS total, MAX(a) AS mx FROM t WHERE s <> 'why?'");
      expect(r).toEqual({ n: 2, total: 2 ** 40 + 5, mx: 2 ** 40 });
      const b = await c.get<{ b: Buffer; s: string }>('SELECT b, s FROM t WHERE a = ?', [5]);
      expect(Buffer.isBuffer(b?.b)).toBe(true);
      expect(b?.s).toBe('y?');
      await c.run('INSERT INTO t (a) VALUES (?)', ['9007199254740993']);
      await expect(c.all('SELECT a FROM t WHERE a > ?', [2 ** 50])).rejects.toThrow(/does not fit/);
    } finally {
      await dispose();
    }
  });

  it('runMany: one statement per 500 rows; an upsert batch with a repeated key keeps the last row', async () => {
    const { catalog, dispose } = await open();
    try {
      await catalog.insertFamily({ id: 'f', region: 'r', diskId: null, baseFamilyId: null, basePoint: 0, createdAt: 'x' });
      const entries = Array.from({ length: 1234 }, (_, i) => ({ block: i, chunkId: null }));
      await catalog.insertEntries('f', 1, entries);
      await catalog.insertEntries('f', 2, [
        { block: 1, chunkId: 7 },
        { block: 1, chunkId: 8 },
      ]);
      const n = await catalog.client.get<{ n: number }>('SELECT COUNT(*) AS n FROM entries');
      expect(n?.n).toBe(1235);
      const last = await catalog.client.get<{ chunk_id: number }>('SELECT chunk_id FROM entries WHERE point = 2');
      expect(last?.chunk_id).toBe(8);
    } finally {
      await dispose();
    }
  });

  it('job claims: two nodes claim disjoint jobs with SKIP LOCKED; a stale claim is taken over and fenced', async () => {
    const schema = db.schema();
    const a = await openPostgresCatalog(db.url, { schema, poolSize: 4 });
    const b = await openPostgresCatalog(db.url, { schema, poolSize: 4 });
    try {
      const t0 = new Date('2026-01-01T00:00:00Z');
      for (let i = 0; i < 40; i++) await a.enqueueJob('hydrate', `d${i}`, { i }, t0);
      // two copies of one family: one lane, only its oldest job is claimable
      const f1 = await a.enqueueJob('region-copy', 'fam:1', {}, t0);
      const f2 = await a.enqueueJob('region-copy', 'fam:2', {}, t0);
      const claims = await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).claimJobs({ nodeId: i % 2 ? 'a' : 'b', limit: 6, staleBefore: t0, at: t0 })),
      );
      const ids = claims.flat().map((j) => j.id);
      expect(ids.length).toBe(41);
      expect(new Set(ids).size).toBe(41);
      expect(ids).toContain(f1.id);
      expect(ids).not.toContain(f2.id);
      expect(await a.claimJobs({ nodeId: 'a', limit: 5, staleBefore: t0, at: t0 })).toEqual([]);
      const holder = claims.findIndex((c) => c.some((j) => j.id === f1.id)) % 2 ? a : b;
      const f1Claim = claims.flat().find((j) => j.id === f1.id);
      expect(await holder.finishClaimedJob(f1.id, f1Claim?.attempts ?? -1, 'done', null, t0)).toBe(true);
      expect((await a.claimJobs({ nodeId: 'a', limit: 5, staleBefore: t0, at: t0 })).map((j) => j.id)).toEqual([f2.id]);
      const job = claims[0]?.[0];
      if (!job) throw new Error('no job');
      const fence = job.attempts;
      expect(await b.touchClaimedJob(job.id, fence, { i: 'half' }, new Date(t0.getTime() + 1000))).toBe(true);
      // node b stalls; after the stale interval node a takes the job over
      const later = new Date(t0.getTime() + 120_000);
      const taken = await a.claimJobs({ nodeId: 'a', limit: 100, staleBefore: new Date(later.getTime() - 60_000), at: later });
      const again = taken.find((j) => j.id === job.id);
      expect(again?.payload).toEqual({ i: 'half' });
      expect(again?.attempts).toBe(fence + 1);
      expect(again?.nodeId).toBe('a');
      expect(await b.touchClaimedJob(job.id, fence, { i: 'stale' }, later)).toBe(false);
      expect((await b.renewJobClaims('b', [{ id: job.id, fence }], later)).size).toBe(0);
      expect(await b.finishClaimedJob(job.id, fence, 'done', null, later)).toBe(false);
      expect(await a.finishClaimedJob(job.id, again?.attempts ?? -1, 'done', null, later)).toBe(true);
      expect((await a.openJobs()).some((j) => j.id === job.id)).toBe(false);
    } finally {
      await a.close();
      await b.close();
      await dropSchema(db.url, schema);
    }
  });

  it('lease fencing locks the lease row: a takeover waits for the commit of the holder', async () => {
    const schema = db.schema();
    const a = await openPostgresCatalog(db.url, { schema, poolSize: 3 });
    const b = await openPostgresCatalog(db.url, { schema, poolSize: 3 });
    try {
      const t0 = new Date();
      const lease = await a.acquireLease('d', 'node-a', new Date(t0.getTime() + 50), t0);
      expect(lease?.epoch).toBe(1);
      const events: string[] = [];
      let release: () => void = () => undefined;
      const gate = new Promise<void>((r) => (release = r));
      const commit = a.transaction(async (tx) => {
        expect(await tx.holdsLease('d', 'node-a', 1)).toBe(true);
        await gate;
        events.push('a commits');
      });
      await new Promise((r) => setTimeout(r, 100)); // the lease expired meanwhile
      const takeover = b.acquireLease('d', 'node-b', new Date(Date.now() + 30_000), new Date()).then((l) => {
        events.push('b takes over');
        return l;
      });
      await new Promise((r) => setTimeout(r, 200));
      expect(events).toEqual([]);
      release();
      await commit;
      expect((await takeover)?.epoch).toBe(2);
      expect(events).toEqual(['a commits', 'b takes over']);
      expect(await a.holdsLease('d', 'node-a', 1)).toBe(false);
    } finally {
      await a.close();
      await b.close();
      await dropSchema(db.url, schema);
    }
  });

  it('the CopyStart count is serialised per subscription and region across nodes', async () => {
    const schema = db.schema();
    const a = await openPostgresCatalog(db.url, { schema, poolSize: 3 });
    const b = await openPostgresCatalog(db.url, { schema, poolSize: 3 });
    try {
      const events: string[] = [];
      let release: () => void = () => undefined;
      const gate = new Promise<void>((r) => (release = r));
      const first = a.transaction(async (tx) => {
        expect(await tx.countRegionCopies('SUB', 'westus')).toBe(0);
        await gate;
        events.push('a done');
      });
      await new Promise((r) => setTimeout(r, 100));
      const second = b.transaction(async (tx) => {
        await tx.countRegionCopies('sub', 'westus');
        events.push('b counted');
      });
      await new Promise((r) => setTimeout(r, 200));
      release();
      await Promise.all([first, second]);
      expect(events.indexOf('a done')).toBeLessThan(events.indexOf('b counted'));
    } finally {
      await a.close();
      await b.close();
      await dropSchema(db.url, schema);
    }
  });

  it('GC on one node never deletes a chunk a writer on another node is committing, in either order', async () => {
    const schema = db.schema();
    const writer = await openPostgresCatalog(db.url, { schema, poolSize: 3 });
    const gc = await openPostgresCatalog(db.url, { schema, poolSize: 3 });
    try {
      await writer.insertFamily({ id: 'f', region: 'r', diskId: null, baseFamilyId: null, basePoint: 0, createdAt: 'x' });
      const locs = await writer.addPack('r', { key: 'p', sizeBytes: 1, zones: [] }, [1, 2].map((n) => ({ hash: Buffer.alloc(32, n), offset: 0, storedLength: 1, rawLength: 1, codec: 0 })));
      const [x, y] = [...locs.values()].map((l) => l.id);
      if (x === undefined || y === undefined) throw new Error('no chunks');
      // writer first: GC waits for its commit, then sees the new entry and keeps the chunk
      let release: () => void = () => undefined;
      const gate = new Promise<void>((r) => (release = r));
      let locked: () => void = () => undefined;
      const haveLock = new Promise<void>((r) => (locked = r));
      const commit = writer.transaction(async (tx) => {
        expect([...(await tx.existingChunks([x]))]).toEqual([x]);
        locked();
        await gate;
        await tx.insertEntries('f', 1, [{ block: 0, chunkId: x }]);
      });
      await haveLock;
      const sweep = gc.deleteChunksIfUnreferenced([x]);
      await new Promise((r) => setTimeout(r, 200));
      release();
      await commit;
      expect(await sweep).toEqual([]);
      // GC first: the writer's check finds the chunk gone and must retry
      let gcRelease: () => void = () => undefined;
      const gcGate = new Promise<void>((r) => (gcRelease = r));
      let gcLocked: () => void = () => undefined;
      const gcHasLock = new Promise<void>((r) => (gcLocked = r));
      const sweep2 = gc.client.transaction(async (tx) => {
        await tx.all('SELECT id FROM chunks WHERE id = ? FOR UPDATE', [y]);
        gcLocked();
        await gcGate;
        await tx.run('DELETE FROM chunks WHERE id = ? AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.chunk_id = chunks.id)', [y]);
      });
      await gcHasLock;
      const check = writer.transaction((tx) => tx.existingChunks([y]));
      await new Promise((r) => setTimeout(r, 200));
      gcRelease();
      await sweep2;
      expect([...(await check)]).toEqual([]);
    } finally {
      await writer.close();
      await gc.close();
      await dropSchema(db.url, schema);
    }
  });

  it('a transaction that fails rolls back on its own connection; the pool stays usable', async () => {
    const { catalog, dispose } = await open();
    try {
      await expect(
        catalog.transaction(async (tx) => {
          await tx.insertFamily({ id: 'g', region: 'r', diskId: null, baseFamilyId: null, basePoint: 0, createdAt: 'x' });
          await tx.insertFamily({ id: 'g', region: 'r', diskId: null, baseFamilyId: null, basePoint: 0, createdAt: 'x' });
        }),
      ).rejects.toSatisfy((e) => e instanceof SnapdiskError && e.code === 'Conflict');
      expect(await catalog.getFamily('g')).toBeNull();
      await catalog.insertFamily({ id: 'g', region: 'r', diskId: null, baseFamilyId: null, basePoint: 0, createdAt: 'x' });
      expect((await catalog.getFamily('g'))?.region).toBe('r');
    } finally {
      await dispose();
    }
  });
});

describe('PostgreSQL catalog start-up errors (no server needed)', () => {
  it('an unreachable server is a clear Unavailable error naming it, without the password', async () => {
    const err = await openPostgresCatalog('postgres://snap:secret@127.0.0.1:1/snapdisk', { connectTimeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapdiskError);
    const e = err as SnapdiskError;
    expect(e.code).toBe('Unavailable');
    expect(e.message).toContain('postgres://snap@127.0.0.1:1/snapdisk');
    expect(e.message).toMatch(/unreachable/);
    expect(e.message).not.toContain('secret');
    expect(e.hint).toMatch(/catalog\.url/);
  });
});

async function dropSchema(url: string, schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await c.end();
  }
}
