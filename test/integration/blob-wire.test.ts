/**
 * The page-blob wire contract at the HTTP level: common headers, ranges (clamping, 416,
 * malformed), page-list XML and paging, errors for bad input with storage XML, conditional
 * requests, and Put Page's checks — after every refused write the disk is unchanged.
 */

import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiskRecord, SnapshotRecord } from '../../src/core/model.js';
import { BLOCK_SIZE, MiB } from '../../src/core/units.js';
import { createDisk, prng, snapshot } from '../helpers/engine.js';
import { createUploadDisk, http, startBlobServer, withQuery } from './blob-harness.js';
import type { BlobServer } from './blob-harness.js';

type Reply = { status: number; headers: Headers; body: Buffer };

let b: BlobServer;
let s1: SnapshotRecord;
let url: string;
const SIZE = 1024 * MiB;
const data = prng(41)(3 * MiB);

beforeAll(async () => {
  b = await startBlobServer();
  const e = b.t.engine;
  const disk = await createDisk(e, 'wire');
  const h = await e.disks.open(disk.uniqueId);
  await h.write(MiB, data);
  for (let i = 0; i < 5; i++) await h.write(100 * MiB + i * 2 * BLOCK_SIZE, prng(42 + i)(BLOCK_SIZE));
  s1 = await snapshot(e, disk, 'wire-s1');
  await e.idle();
  url = (await b.grant(s1)).url;
});
afterAll(async () => {
  await b.close();
});

async function expectError(res: Promise<Reply>, status: number, code: string): Promise<Reply> {
  const r = await res;
  expect(r.status).toBe(status);
  expect(r.headers.get('x-ms-error-code')).toBe(code);
  expect(r.body.toString()).toMatch(new RegExp(`^<\\?xml version="1.0" encoding="utf-8"\\?><Error><Code>${code}</Code><Message>`));
  return r;
}

/** A request with full control over framing (chunked bodies, odd headers). */
function raw(target: string, opts: { method?: string; headers?: Record<string, string>; chunks?: Buffer[] }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(target, { method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
        resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(parts) });
      });
    });
    req.on('error', reject);
    for (const c of opts.chunks ?? []) req.write(c);
    req.end();
  });
}

/** A request written byte by byte on a socket (no Content-Length, no chunking); the raw reply. */
function socketRequest(target: string, method: string, headerLines: string[]): Promise<string> {
  const u = new URL(target);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => {
      s.write(`${method} ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n${headerLines.map((l) => `${l}\r\n`).join('')}\r\n`);
    });
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(c));
    s.on('end', () => resolve(Buffer.concat(parts).toString('latin1')));
    s.on('error', reject);
  });
}

describe('blob wire: reads', () => {
  it('every response has x-ms-request-id, Date and x-ms-version (echoed or default)', async () => {
    const a = await http(url, { method: 'HEAD', headers: { 'x-ms-version': '2026-04-06' } });
    expect(a.headers.get('x-ms-version')).toBe('2026-04-06');
    expect(a.headers.get('x-ms-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.headers.get('date')).toBeTruthy();
    const e = await http(withQuery(url, { comp: 'nope' }));
    expect(e.headers.get('x-ms-version')).toBe('2021-08-06');
    expect(e.headers.get('x-ms-request-id')).toBeTruthy();
  });

  it('HEAD: length, type, ETag, Last-Modified, Accept-Ranges, sequence number', async () => {
    const r = await http(url, { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-length')).toBe(String(SIZE + 512));
    expect(r.headers.get('x-ms-blob-type')).toBe('PageBlob');
    expect(r.headers.get('accept-ranges')).toBe('bytes');
    expect(r.headers.get('x-ms-blob-sequence-number')).toBe('0');
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    expect(r.headers.get('etag')).toMatch(/^"0x8D[0-9A-F]{13}"$/);
    expect(new Date(r.headers.get('last-modified') ?? '').getTime()).toBeGreaterThan(0);
  });

  it('ranges: bytes=a-b, bytes=a-, x-ms-range wins, end past the size clamped (nbdkit-curl)', async () => {
    const r1 = await http(url, { headers: { range: `bytes=${MiB}-${MiB + 99}` } });
    expect(r1.status).toBe(206);
    expect(r1.headers.get('content-range')).toBe(`bytes ${MiB}-${MiB + 99}/${SIZE + 512}`);
    expect(r1.body.equals(data.subarray(0, 100))).toBe(true);
    const r2 = await http(url, { headers: { range: 'bytes=0-9', 'x-ms-range': `bytes=${MiB + 10}-${MiB + 19}` } });
    expect(r2.body.equals(data.subarray(10, 20))).toBe(true);
    const r3 = await http(url, { headers: { range: `bytes=${SIZE - 512}-` } });
    expect(r3.status).toBe(206);
    expect(r3.body.length).toBe(1024);
    expect(r3.body.subarray(0, 512).every((x) => x === 0)).toBe(true);
    expect(r3.body.subarray(512, 520).toString('latin1')).toBe('conectix');
    // one byte past the end, as nbdkit-curl asks
    const r4 = await http(url, { headers: { range: `bytes=${SIZE}-${SIZE + 512}` } });
    expect(r4.status).toBe(206);
    expect(r4.headers.get('content-range')).toBe(`bytes ${SIZE}-${SIZE + 511}/${SIZE + 512}`);
    expect(r4.body.length).toBe(512);
  });

  it('a client going away mid-download stops the stream; the server keeps serving', async () => {
    const ac = new AbortController();
    const res = await fetch(url, { signal: ac.signal });
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    await reader?.read();
    ac.abort();
    await reader?.cancel().catch(() => undefined);
    const again = await http(url, { headers: { range: `bytes=${MiB}-${MiB + 9}` } });
    expect(again.body.equals(data.subarray(0, 10))).toBe(true);
  });

  it('unwritten ranges read as zeros', async () => {
    const r = await http(url, { headers: { 'x-ms-range': `bytes=${500 * MiB}-${504 * MiB - 1}` } });
    expect(r.body.length).toBe(4 * MiB);
    expect(r.body.every((x) => x === 0)).toBe(true);
  });

  it('a start past the end is 416 InvalidRange; malformed and multiple ranges are 400', async () => {
    const r = await expectError(http(url, { headers: { range: `bytes=${SIZE + 512}-` } }), 416, 'InvalidRange');
    expect(r.headers.get('content-range')).toBe(`bytes */${SIZE + 512}`);
    for (const bad of ['bytes=10-5', 'bytes=-100', 'bytes=0-1,5-6', 'items=0-1', 'bytes=a-b']) {
      await expectError(http(url, { headers: { 'x-ms-range': bad } }), 400, 'InvalidHeaderValue');
    }
  });

  it('conditional GET: If-None-Match → 304, If-Match mismatch → 412', async () => {
    const etag = (await http(url, { method: 'HEAD' })).headers.get('etag') ?? '';
    expect((await http(url, { headers: { 'if-none-match': etag, range: 'bytes=0-0' } })).status).toBe(304);
    expect((await http(url, { headers: { 'if-match': etag, range: 'bytes=0-0' } })).status).toBe(206);
    await expectError(http(url, { headers: { 'if-match': '"0x8D000"', range: 'bytes=0-0' } }), 412, 'ConditionNotMet');
  });

  it('x-ms-range-get-content-md5 gives the MD5 of the range', async () => {
    const r = await http(url, { headers: { 'x-ms-range': `bytes=${MiB}-${2 * MiB - 1}`, 'x-ms-range-get-content-md5': 'true' } });
    expect(r.headers.get('content-md5')).toBe(createHash('md5').update(data.subarray(0, MiB)).digest('base64'));
  });

  it('unknown comp → 400 InvalidQueryParameterValue; other methods → 405 UnsupportedHttpVerb', async () => {
    await expectError(http(withQuery(url, { comp: 'blocklist' })), 400, 'InvalidQueryParameterValue');
    const head = await http(withQuery(url, { comp: 'metadata' }), { method: 'HEAD' });
    expect([head.status, head.headers.get('x-ms-error-code'), head.body.length]).toEqual([400, 'InvalidQueryParameterValue', 0]);
    await expectError(http(withQuery(url, { restype: 'container' })), 400, 'InvalidQueryParameterValue');
    const del = await expectError(http(url, { method: 'DELETE' }), 405, 'UnsupportedHttpVerb');
    expect(del.headers.get('allow')).toContain('GET');
  });
});

describe('blob wire: page lists', () => {
  const pagelist = (q: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Reply> =>
    http(withQuery(url, { comp: 'pagelist', ...q }), { headers });

  it('XML exactly as the wire contract, with headers', async () => {
    const r = await pagelist({}, { 'x-ms-range': `bytes=0-${4 * MiB - 1}` });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/xml');
    expect(r.headers.get('x-ms-blob-content-length')).toBe(String(SIZE + 512));
    expect(r.headers.get('etag')).toBeTruthy();
    expect(r.headers.get('last-modified')).toBeTruthy();
    expect(r.body.toString()).toBe(
      `<?xml version="1.0" encoding="utf-8"?><PageList><PageRange><Start>${MiB}</Start><End>${4 * MiB - 1}</End></PageRange><NextMarker></NextMarker></PageList>`,
    );
  });

  it('maxresults and marker page through every range once', async () => {
    const starts: number[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const r = await pagelist({ maxresults: '2', ...(marker ? { marker } : {}) });
      const text = r.body.toString();
      starts.push(...[...text.matchAll(/<Start>(\d+)<\/Start>/g)].map((m) => Number(m[1])));
      marker = /<NextMarker>([^<]*)<\/NextMarker>/.exec(text)?.[1] || undefined;
      pages++;
    } while (marker);
    const expected = [MiB, ...[0, 1, 2, 3, 4].map((i) => 100 * MiB + i * 2 * BLOCK_SIZE), SIZE];
    expect(starts).toEqual(expected);
    expect(pages).toBe(4);
  });

  it('bad page-list input → 400; a misaligned or outside page range → 416 InvalidPageRange (as Azure)', async () => {
    await expectError(pagelist({}, { 'x-ms-range': 'bytes=100-1023' }), 416, 'InvalidPageRange');
    await expectError(pagelist({}, { 'x-ms-range': 'bytes=0-1000' }), 416, 'InvalidPageRange');
    for (const v of ['0', '-1', 'abc', '1.5']) await expectError(pagelist({ maxresults: v }), 400, 'InvalidQueryParameterValue');
    await expectError(pagelist({ marker: 'garbage' }), 400, 'InvalidQueryParameterValue');
    await expectError(pagelist({}, { 'x-ms-range': `bytes=${SIZE + 512}-${SIZE + 1023}` }), 416, 'InvalidPageRange');
    expect((await pagelist({ maxresults: '20000' })).status).toBe(200);
  });
});

describe('blob wire: Put Page checks write nothing on bad input', () => {
  let disk: DiskRecord;
  let wurl: string;
  const UP = 20 * MiB;
  beforeAll(async () => {
    disk = await createUploadDisk(b.t, 'wire-up', UP / MiB);
    wurl = withQuery((await b.grant(disk, 'Write')).url, { comp: 'page' });
  });
  const untouched = async (): Promise<void> => {
    const h = await b.t.engine.disks.open(disk.uniqueId);
    expect((await h.read(0, 8 * MiB)).every((x) => x === 0)).toBe(true);
  };
  const put = (headers: Record<string, string>, body?: Buffer): Promise<Reply> => http(wurl, { method: 'PUT', headers, ...(body ? { body } : {}) });
  const page = Buffer.alloc(1024, 0x5a);

  it('range checks: unaligned or past the end 416 InvalidPageRange, > 4 MiB 413, open or missing 400', async () => {
    await expectError(put({ 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=1-1024' }, page), 416, 'InvalidPageRange');
    await expectError(put({ 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=0-1022' }, Buffer.alloc(1023)), 416, 'InvalidPageRange');
    await expectError(put({ 'x-ms-page-write': 'clear', 'x-ms-range': `bytes=0-${4 * MiB + 511}` }), 413, 'RequestBodyTooLarge');
    await expectError(put({ 'x-ms-page-write': 'clear', 'x-ms-range': `bytes=${UP}-${UP + 1023}` }), 416, 'InvalidPageRange');
    await expectError(put({ 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=0-' }, page), 400, 'InvalidHeaderValue');
    await expectError(put({ 'x-ms-page-write': 'update' }, page), 400, 'MissingRequiredHeader');
    await untouched();
  });

  it('header checks: x-ms-page-write missing or bad, Content-Length mismatch, clear with a body', async () => {
    await expectError(put({ 'x-ms-range': 'bytes=0-1023' }, page), 400, 'MissingRequiredHeader');
    await expectError(put({ 'x-ms-page-write': 'append', 'x-ms-range': 'bytes=0-1023' }, page), 400, 'InvalidHeaderValue');
    await expectError(put({ 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=0-511' }, page), 400, 'InvalidHeaderValue');
    await expectError(put({ 'x-ms-page-write': 'clear', 'x-ms-range': 'bytes=0-1023' }, page), 400, 'InvalidHeaderValue');
    await untouched();
  });

  it('chunked bodies shorter or longer than the range → 400, nothing written', async () => {
    const headers = { 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=0-1023', 'transfer-encoding': 'chunked' };
    await expectError(raw(wurl, { method: 'PUT', headers, chunks: [Buffer.alloc(300, 1), Buffer.alloc(212, 1)] }), 400, 'InvalidInput');
    await expectError(raw(wurl, { method: 'PUT', headers, chunks: [Buffer.alloc(1024, 1), Buffer.alloc(10, 1)] }), 400, 'InvalidInput');
    const noLength = await socketRequest(wurl, 'PUT', ['x-ms-page-write: update', 'x-ms-range: bytes=0-1023']);
    expect(noLength).toMatch(/^HTTP\/1.1 411 /);
    expect(noLength).toContain('x-ms-error-code: MissingContentLengthHeader');
    await untouched();
    // the right length chunked is accepted
    const ok = await raw(wurl, { method: 'PUT', headers, chunks: [Buffer.alloc(1000, 2), Buffer.alloc(24, 2)] });
    expect(ok.status).toBe(201);
    const h = await b.t.engine.disks.open(disk.uniqueId);
    expect((await h.read(0, 1024)).every((x) => x === 2)).toBe(true);
    await h.zero(0, 1024);
  });

  it('Content-MD5 mismatch → 400 Md5Mismatch; a good one is echoed', async () => {
    const md5 = createHash('md5').update(page).digest('base64');
    await expectError(put({ 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=0-1023', 'content-md5': 'AAAAAAAAAAAAAAAAAAAAAA==' }, page), 400, 'Md5Mismatch');
    await untouched();
    const r = await put({ 'x-ms-page-write': 'update', 'x-ms-range': `bytes=${10 * MiB}-${10 * MiB + 1023}`, 'content-md5': md5 }, page);
    expect(r.status).toBe(201);
    expect(r.headers.get('content-md5')).toBe(md5);
    expect(r.headers.get('x-ms-request-server-encrypted')).toBe('true');
    expect(r.headers.get('x-ms-blob-sequence-number')).toBe('0');
    expect(r.headers.get('etag')).toBeTruthy();
    expect(r.headers.get('last-modified')).toBeTruthy();
  });

  it('conditions: If-Match mismatch and sequence-number conditions → 412', async () => {
    await expectError(put({ 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=0-1023', 'if-match': '"0x8D000"' }, page), 412, 'ConditionNotMet');
    await expectError(put({ 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=0-1023', 'x-ms-if-sequence-number-lt': '0' }, page), 412, 'SequenceNumberConditionNotMet');
    await expectError(put({ 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=0-1023', 'x-ms-if-sequence-number-eq': 'x' }, page), 400, 'InvalidHeaderValue');
    await untouched();
    expect((await put({ 'x-ms-page-write': 'clear', 'x-ms-range': 'bytes=0-1023', 'x-ms-if-sequence-number-le': '0' })).status).toBe(201);
  });

  it('Put Blob creating the page blob: accepted at the upload size only', async () => {
    const base = wurl.replace(/&comp=page/, '');
    expect((await http(base, { method: 'PUT', headers: { 'x-ms-blob-type': 'PageBlob', 'x-ms-blob-content-length': String(UP + 512) } })).status).toBe(201);
    await expectError(http(base, { method: 'PUT', headers: { 'x-ms-blob-type': 'PageBlob', 'x-ms-blob-content-length': '1048576' } }), 400, 'InvalidHeaderValue');
    await expectError(http(base, { method: 'PUT', headers: { 'x-ms-blob-type': 'BlockBlob' } }), 400, 'InvalidHeaderValue');
    await expectError(http(withQuery(base, { comp: 'snapshot' }), { method: 'PUT' }), 400, 'InvalidQueryParameterValue');
  });

  it('a GET through the write SAS shows the raw upload area (no generated footer)', async () => {
    const r = await http(wurl.replace(/&comp=page/, ''), { method: 'HEAD' });
    expect(r.headers.get('content-length')).toBe(String(UP + 512));
  });
});
