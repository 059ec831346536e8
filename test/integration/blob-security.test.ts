/**
 * Every way a SAS can be wrong gets a 403 with a storage XML error and `x-ms-error-code`, and
 * never reads or writes a byte: forged, tampered, foreign, expired, revoked, incomplete, used on a
 * blob snapshot, or a read SAS used to write. Also the SAS inside a request
 * (`x-ms-previous-snapshot-url`, `x-ms-copy-source`).
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiskRecord, SnapshotRecord } from '../../src/core/model.js';
import { MiB } from '../../src/core/units.js';
import { createDisk, prng, snapshot } from '../helpers/engine.js';
import { createUploadDisk, http, startBlobServer, withQuery } from './blob-harness.js';
import type { BlobServer } from './blob-harness.js';

let b: BlobServer;
let disk: DiskRecord;
let s1: SnapshotRecord;
let s2: SnapshotRecord;
let url1: string;
let url2: string;

beforeAll(async () => {
  b = await startBlobServer();
  const e = b.t.engine;
  disk = await createDisk(e, 'sec');
  const h = await e.disks.open(disk.uniqueId);
  await h.write(0, prng(31)(MiB));
  s1 = await snapshot(e, disk, 'sec-s1');
  await h.write(2 * MiB, prng(32)(MiB));
  s2 = await snapshot(e, disk, 'sec-s2');
  await e.idle();
  url1 = (await b.grant(s1)).url;
  url2 = (await b.grant(s2)).url;
});
afterAll(async () => {
  await b.close();
});

async function expectError(res: Promise<{ status: number; headers: Headers; body: Buffer }>, status: number, code: string): Promise<string> {
  const r = await res;
  expect(r.status).toBe(status);
  expect(r.headers.get('x-ms-error-code')).toBe(code);
  expect(r.headers.get('x-ms-request-id')).toBeTruthy();
  expect(r.headers.get('content-type')).toBe('application/xml');
  const text = r.body.toString();
  expect(text).toMatch(new RegExp(`^<\\?xml version="1.0" encoding="utf-8"\\?><Error><Code>${code}</Code><Message>[^<]+</Message></Error>$`));
  return text;
}

function setParam(url: string, name: string, value: string | null): string {
  const u = new URL(url);
  if (value === null) u.searchParams.delete(name);
  else u.searchParams.set(name, value);
  return u.toString();
}

describe('blob security: the SAS of the request', () => {
  it('a valid SAS reads (control)', async () => {
    expect((await http(url1, { method: 'HEAD' })).status).toBe(200);
  });

  it('tampered signature → 403 AuthenticationFailed', async () => {
    const sig = new URL(url1).searchParams.get('sig') ?? '';
    const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    await expectError(http(setParam(url1, 'sig', flipped)), 403, 'AuthenticationFailed');
    await expectError(http(setParam(url1, 'sig', 'not base64 at all')), 403, 'AuthenticationFailed');
  });

  it('tampered fields (permissions, expiry, start, grant) → 403', async () => {
    await expectError(http(setParam(url1, 'sp', 'rw')), 403, 'AuthenticationFailed');
    await expectError(http(setParam(url1, 'se', '2099-01-01T00:00:00Z')), 403, 'AuthenticationFailed');
    await expectError(http(setParam(url1, 'st', '2000-01-01T00:00:00Z')), 403, 'AuthenticationFailed');
    await expectError(http(setParam(url1, 'si', crypto.randomUUID())), 403, 'AuthenticationFailed');
    await expectError(http(setParam(url1, 'sp', 'racwd')), 403, 'AuthenticationFailed');
  });

  it("another grant's signature, or another grant's URL on this container → 403", async () => {
    const other = new URL(url2);
    // this container and grant with the other grant's signature
    await expectError(http(setParam(url1, 'sig', other.searchParams.get('sig') ?? '')), 403, 'AuthenticationFailed');
    // the other grant's whole query on this grant's container
    const mixed = new URL(url1);
    mixed.search = other.search;
    await expectError(http(mixed.toString()), 403, 'AuthenticationFailed');
  });

  it('missing fields → 403', async () => {
    for (const name of ['sig', 'si', 'sp', 'se', 'st']) await expectError(http(setParam(url1, name, null)), 403, 'AuthenticationFailed');
    await expectError(http(url1.slice(0, url1.indexOf('?'))), 403, 'AuthenticationFailed');
  });

  it('?snapshot= with a blob SAS, or another signed resource → 403 like Azure', async () => {
    await expectError(http(withQuery(url1, { snapshot: '2026-11-24T17:33:23.2370000Z' })), 403, 'AuthenticationFailed');
    await expectError(http(setParam(url1, 'sr', 'c')), 403, 'AuthenticationFailed');
  });

  it('expired → 403 AuthenticationFailed', async () => {
    const d = await createDisk(b.t.engine, 'sec-exp');
    const s = await snapshot(b.t.engine, d, 'sec-exp-s');
    const { url } = await b.grant(s);
    expect((await http(url, { method: 'HEAD' })).status).toBe(200);
    b.clock.offsetMs = 2 * 3600 * 1000;
    try {
      const text = await expectError(http(url), 403, 'AuthenticationFailed');
      expect(text).toContain('expired');
    } finally {
      b.clock.offsetMs = 0;
    }
  });

  it('revoked (endGetAccess) → 403 at once', async () => {
    const d = await createDisk(b.t.engine, 'sec-rev');
    const s = await snapshot(b.t.engine, d, 'sec-rev-s');
    const { url } = await b.grant(s);
    expect((await http(url, { method: 'HEAD' })).status).toBe(200);
    await b.revoke(s);
    const text = await expectError(http(url), 403, 'AuthenticationFailed');
    expect(text).toContain('revoked');
    await expectError(http(withQuery(url, { comp: 'pagelist' })), 403, 'AuthenticationFailed');
  });

  it('a read SAS cannot write: 403 AuthorizationPermissionMismatch, nothing written', async () => {
    const page = Buffer.alloc(512, 0xab);
    const put = http(withQuery(url1, { comp: 'page' }), {
      method: 'PUT',
      headers: { 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=0-511', 'content-length': '512' },
      body: page,
    });
    await expectError(put, 403, 'AuthorizationPermissionMismatch');
    expect((await b.t.engine.snapshots.read(s1, 0, 512)).equals(page)).toBe(false);
    // a read grant on a disk cannot write either
    const d = await createDisk(b.t.engine, 'sec-ro-disk');
    const { url } = await b.grant(d);
    await expectError(
      http(withQuery(url, { comp: 'page' }), { method: 'PUT', headers: { 'x-ms-page-write': 'clear', 'x-ms-range': 'bytes=0-511' } }),
      403,
      'AuthorizationPermissionMismatch',
    );
  });

  it("a write SAS only writes its own disk: another upload disk's container is refused", async () => {
    const a = await createUploadDisk(b.t, 'sec-up-a', 20);
    const c = await createUploadDisk(b.t, 'sec-up-c', 20);
    const ua = new URL((await b.grant(a, 'Write')).url);
    const uc = new URL((await b.grant(c, 'Write')).url);
    const cross = new URL(uc.toString());
    cross.search = ua.search;
    cross.searchParams.set('comp', 'page');
    await expectError(
      http(cross.toString(), { method: 'PUT', headers: { 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=0-511' }, body: Buffer.alloc(512, 1) }),
      403,
      'AuthenticationFailed',
    );
    const h = await b.t.engine.disks.open(c.uniqueId);
    expect((await h.read(0, 512)).every((x) => x === 0)).toBe(true);
  });
});

describe('blob security: SAS URLs inside requests', () => {
  const diff = (prev: string): Promise<{ status: number; headers: Headers; body: Buffer }> =>
    http(withQuery(url2, { comp: 'pagelist' }), { headers: { 'x-ms-previous-snapshot-url': prev, 'x-ms-version': '2021-08-06' } });

  it('control: a valid previous-snapshot URL diffs', async () => {
    const r = await diff(url1);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toContain(`<PageRange><Start>${2 * MiB}</Start><End>${3 * MiB - 1}</End></PageRange>`);
  });

  it('previous-snapshot URL with a bad SAS → 403, naming the header', async () => {
    const text = await expectError(diff(setParam(url1, 'sig', 'AAAA')), 403, 'AuthenticationFailed');
    expect(text).toContain('x-ms-previous-snapshot-url');
    await expectError(diff(setParam(url1, 'se', '2099-01-01T00:00:00Z')), 403, 'AuthenticationFailed');
    await expectError(diff('not a url'), 403, 'AuthenticationFailed');
    await expectError(diff('http://example.com/c/other?sig=x'), 403, 'AuthenticationFailed');
  });

  it('previous-snapshot URL revoked → 403', async () => {
    const e = b.t.engine;
    const d = await createDisk(e, 'sec-prev-rev');
    const a = await snapshot(e, d, 'sec-prev-rev-a');
    const c = await snapshot(e, d, 'sec-prev-rev-c');
    const ua = (await b.grant(a)).url;
    const uc = (await b.grant(c)).url;
    await b.revoke(a);
    await expectError(http(withQuery(uc, { comp: 'pagelist' }), { headers: { 'x-ms-previous-snapshot-url': ua } }), 403, 'AuthenticationFailed');
  });

  it('previous snapshot of another family → 409; a disk SAS as previous → 409; prevsnapshot unknown → 409', async () => {
    const e = b.t.engine;
    const other = await createDisk(e, 'sec-other');
    const os = await snapshot(e, other, 'sec-other-s');
    await expectError(diff((await b.grant(os)).url), 409, 'PreviousSnapshotNotFound');
    await expectError(diff((await b.grant(other)).url), 409, 'PreviousSnapshotNotFound');
    await expectError(http(withQuery(url2, { comp: 'pagelist', prevsnapshot: os.uniqueId })), 409, 'PreviousSnapshotNotFound');
    await expectError(http(withQuery(url2, { comp: 'pagelist', prevsnapshot: crypto.randomUUID() })), 409, 'PreviousSnapshotNotFound');
    await expectError(http(withQuery(url2, { comp: 'pagelist', prevsnapshot: 'yesterday' })), 400, 'InvalidQueryParameterValue');
  });

  it('Put Page From URL with a source that is not a SAS of this server → 400 CannotVerifyCopySource', async () => {
    const d = await createUploadDisk(b.t, 'sec-copy', 20);
    const { url } = await b.grant(d, 'Write');
    const put = (src: string): Promise<{ status: number; headers: Headers; body: Buffer }> =>
      http(withQuery(url, { comp: 'page' }), {
        method: 'PUT',
        headers: { 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=0-511', 'x-ms-source-range': 'bytes=0-511', 'x-ms-copy-source': src, 'content-length': '0' },
      });
    await expectError(put('http://example.com/c/abcd?sig=x'), 400, 'CannotVerifyCopySource');
    await expectError(put(setParam(url1, 'sig', 'AAAA')), 400, 'CannotVerifyCopySource');
    const h = await b.t.engine.disks.open(d.uniqueId);
    expect((await h.read(0, 512)).every((x) => x === 0)).toBe(true);
    expect((await put(url1)).status).toBe(201);
    expect((await h.read(0, 512)).equals(await b.t.engine.snapshots.read(s1, 0, 512))).toBe(true);
  });
});
