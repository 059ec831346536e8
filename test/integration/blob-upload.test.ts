/**
 * Uploads through a Write SAS, where they meet endGetAccess, restarts and checksums:
 *
 * - a Put Page whose body is still arriving when endGetAccess finalises the disk is refused (409)
 *   and writes nothing into the finished disk; Put Pages racing a revoke either land before the
 *   footer check (their bytes are in the disk) or are refused (their bytes are not);
 * - upload ETags come from persisted state: after a restart, new content never gets an ETag the
 *   old content had, so an old If-Match never matches it;
 * - `x-ms-content-crc64` is verified (CRC-64/NVME, as the SDK computes it), a structured body is
 *   refused, and a refused page writes nothing.
 */

import { request } from 'node:http';
import { StorageCRC64Calculator } from '@azure/storage-common';
import { AnonymousCredential, PageBlobClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiskRecord } from '../../src/core/model.js';
import { MiB } from '../../src/core/units.js';
import { vhdFooter } from '../../src/core/vhd.js';
import { prng } from '../helpers/engine.js';
import { createUploadDisk, http, startBlobServer, withQuery } from './blob-harness.js';
import type { BlobServer } from './blob-harness.js';

let b: BlobServer;
beforeAll(async () => {
  b = await startBlobServer();
  await StorageCRC64Calculator.init();
});
afterAll(async () => {
  await b.close();
});

/** The SDK's CRC-64 of `data` (an independent implementation of what the server checks). */
function sdkCrc64(data: Buffer): string {
  return Buffer.from(new StorageCRC64Calculator().final(data, data.length)).toString('base64');
}

async function diskBytes(disk: DiskRecord, offset: number, length: number): Promise<Buffer> {
  const h = await b.t.engine.disks.open(disk.uniqueId);
  return h.read(offset, length);
}

/** A Put Page whose body is sent in two parts, `between` running after the first one arrived. */
function slowPut(url: string, start: number, body: Buffer, between: () => Promise<void>): Promise<{ status: number; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      withQuery(url, { comp: 'page' }),
      {
        method: 'PUT',
        headers: { 'x-ms-page-write': 'update', 'x-ms-range': `bytes=${start}-${start + body.length - 1}`, 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers['x-ms-error-code'] as string | undefined }));
      },
    );
    req.on('error', reject);
    req.write(body.subarray(0, body.length / 2));
    // the server has authorised the request and waits for the rest of the body
    setTimeout(() => {
      between().then(
        () => req.end(body.subarray(body.length / 2)),
        (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
      );
    }, 300);
  });
}

describe('blob upload: Put Page against endGetAccess', () => {
  it('a Put Page still receiving its body when endGetAccess finalises the disk is refused, nothing written', async () => {
    const size = 20 * MiB;
    const disk = await createUploadDisk(b.t, 'up-late', size / MiB);
    const { url } = await b.grant(disk, 'Write');
    const c = new PageBlobClient(url, new AnonymousCredential());
    const image = prng(71)(MiB);
    await c.uploadPages(image, 0, image.length);
    await c.uploadPages(vhdFooter(size), size, 512);
    const late = prng(72)(MiB);
    const r = await slowPut(url, 2 * MiB, late, () => b.revoke(disk));
    expect(r.status).toBe(409);
    expect(r.code).toBe('OperationNotAllowed');
    const done = await b.t.engine.disks.getById(disk.uniqueId);
    expect(done.diskState).toBe('Unattached');
    expect(done.sizeBytes).toBe(size);
    expect((await diskBytes(disk, 0, MiB)).equals(image)).toBe(true);
    expect((await diskBytes(disk, 2 * MiB, MiB)).every((x) => x === 0)).toBe(true);
  });

  it('Put Pages racing a revoke: each one lands before the footer check or is refused, never half of both', async () => {
    const size = 20 * MiB;
    const disk = await createUploadDisk(b.t, 'up-race', size / MiB);
    const { url } = await b.grant(disk, 'Write');
    await http(withQuery(url, { comp: 'page' }), { method: 'PUT', headers: { 'x-ms-page-write': 'update', 'x-ms-range': `bytes=${size}-${size + 511}` }, body: vhdFooter(size) });
    const page = 64 * 1024;
    const pieces = Array.from({ length: 40 }, (_, i) => prng(100 + i)(page));
    const puts = pieces.map((body, i) =>
      http(withQuery(url, { comp: 'page' }), { method: 'PUT', headers: { 'x-ms-page-write': 'update', 'x-ms-range': `bytes=${i * page}-${(i + 1) * page - 1}` }, body }).then((r) => ({
        status: r.status,
        code: r.headers.get('x-ms-error-code'),
      })),
    );
    // a garbage footer racing too: if it landed after the check, the disk would be "valid" with a bad footer
    const badFooter = http(withQuery(url, { comp: 'page' }), { method: 'PUT', headers: { 'x-ms-page-write': 'update', 'x-ms-range': `bytes=${size}-${size + 511}` }, body: Buffer.alloc(512, 0xee) });
    await new Promise((r) => setTimeout(r, 5));
    const revoked = b.revoke(disk).then(
      () => 'done',
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    const results = await Promise.all(puts);
    const footerStatus = (await badFooter).status;
    const outcome = await revoked;
    const d = await b.t.engine.disks.getById(disk.uniqueId);
    if (outcome === 'done') {
      expect(d.diskState).toBe('Unattached');
      // the garbage footer did not land after the check
      expect(footerStatus).not.toBe(201);
    } else {
      // the garbage footer landed first: the check saw it and the disk waits for another try
      expect(footerStatus).toBe(201);
      expect(outcome).toMatch(/not a valid fixed VHD/);
      expect(d.diskState).toBe('ActiveUpload');
    }
    for (const [i, r] of results.entries()) {
      const bytes = await diskBytes(disk, i * page, page);
      if (r.status === 201) expect(bytes.equals(pieces[i] ?? Buffer.alloc(0)), `page ${i} acknowledged`).toBe(true);
      else {
        expect([403, 409], `page ${i}: ${r.status} ${r.code ?? ''}`).toContain(r.status);
        expect(bytes.every((x) => x === 0), `page ${i} refused`).toBe(true);
      }
    }
  });
});

describe('blob upload: ETags from persisted state', () => {
  it('after a restart, new content never gets an ETag the old content had; an old If-Match fails', async () => {
    const disk = await createUploadDisk(b.t, 'up-etag', 20);
    const { url } = await b.grant(disk, 'Write');
    const put = (start: number, body: Buffer, headers: Record<string, string> = {}): ReturnType<typeof http> =>
      http(withQuery(url, { comp: 'page' }), { method: 'PUT', headers: { 'x-ms-page-write': 'update', 'x-ms-range': `bytes=${start}-${start + body.length - 1}`, ...headers }, body });
    const seen = new Set<string>();
    const first = await put(0, Buffer.alloc(512, 1));
    expect(first.status).toBe(201);
    const e1 = first.headers.get('etag') ?? '';
    seen.add(e1);
    expect((await http(url, { method: 'HEAD' })).headers.get('etag')).toBe(e1);
    await b.restart();
    // same content, new process: any ETag but one naming other content
    const atRest = (await http(url, { method: 'HEAD' })).headers.get('etag') ?? '';
    expect(atRest).not.toBe('');
    // new content after the restart
    const second = await put(0, Buffer.alloc(512, 2));
    expect(second.status).toBe(201);
    const e2 = second.headers.get('etag') ?? '';
    expect(seen.has(e2)).toBe(false);
    expect(e2).not.toBe(atRest);
    // a writer that still holds the first ETag is refused
    const stale = await put(512, Buffer.alloc(512, 3), { 'if-match': e1 });
    expect(stale.status).toBe(412);
    expect(stale.headers.get('x-ms-error-code')).toBe('ConditionNotMet');
    const rd = await http(url, { headers: { 'x-ms-range': 'bytes=0-1023', 'if-match': e1 } });
    expect(rd.status).toBe(412);
    // the current ETag works, and every write changes it
    const ok = await put(512, Buffer.alloc(512, 4), { 'if-match': e2 });
    expect(ok.status).toBe(201);
    expect(ok.headers.get('etag')).not.toBe(e2);
    const bytes = await diskBytes(disk, 0, 1024);
    expect(bytes.subarray(0, 512).every((x) => x === 2)).toBe(true);
    expect(bytes.subarray(512).every((x) => x === 4)).toBe(true);
  });
});

describe('blob upload: x-ms-content-crc64', () => {
  let disk: DiskRecord;
  let url: string;
  const put = (start: number, body: Buffer, headers: Record<string, string>): ReturnType<typeof http> =>
    http(withQuery(url, { comp: 'page' }), { method: 'PUT', headers: { 'x-ms-page-write': 'update', 'x-ms-range': `bytes=${start}-${start + body.length - 1}`, ...headers }, body });
  beforeAll(async () => {
    disk = await createUploadDisk(b.t, 'up-crc', 20);
    url = (await b.grant(disk, 'Write')).url;
  });

  it('a matching CRC-64 is accepted and echoed; the SDK sending transactionalContentCrc64 uploads', async () => {
    const body = prng(81)(4 * MiB);
    const crc = sdkCrc64(body);
    const r = await put(0, body, { 'x-ms-content-crc64': crc });
    expect(r.status).toBe(201);
    expect(r.headers.get('x-ms-content-crc64')).toBe(crc);
    expect((await diskBytes(disk, 0, body.length)).equals(body)).toBe(true);
    const c = new PageBlobClient(url, new AnonymousCredential());
    const more = prng(82)(MiB);
    const res = await c.uploadPages(more, 4 * MiB, more.length, { transactionalContentCrc64: Buffer.from(sdkCrc64(more), 'base64') });
    expect(Buffer.from(res.xMsContentCrc64 ?? new Uint8Array()).toString('base64')).toBe(sdkCrc64(more));
    expect((await diskBytes(disk, 4 * MiB, more.length)).equals(more)).toBe(true);
  });

  it('a wrong, malformed or doubled checksum → 400, nothing written', async () => {
    const body = prng(83)(MiB);
    const at = 6 * MiB;
    const wrong = Buffer.from(sdkCrc64(body), 'base64');
    wrong[0] = (wrong[0] ?? 0) ^ 1;
    const r = await put(at, body, { 'x-ms-content-crc64': wrong.toString('base64') });
    expect(r.status).toBe(400);
    expect(r.headers.get('x-ms-error-code')).toBe('Crc64Mismatch');
    for (const bad of ['AAAA', 'not base64!', Buffer.alloc(16).toString('base64')]) {
      const m = await put(at, body, { 'x-ms-content-crc64': bad });
      expect(m.status).toBe(400);
      expect(m.headers.get('x-ms-error-code')).toBe('InvalidHeaderValue');
    }
    const both = await put(at, body, { 'x-ms-content-crc64': sdkCrc64(body), 'content-md5': Buffer.alloc(16).toString('base64') });
    expect(both.status).toBe(400);
    expect((await diskBytes(disk, at, MiB)).every((x) => x === 0)).toBe(true);
  });

  it('a ranged GET with x-ms-range-get-content-crc64 carries the CRC-64 of the range; the SDK checks it', async () => {
    const body = prng(85)(MiB);
    expect((await put(5 * MiB, body, {})).status).toBe(201);
    const r = await http(url, { headers: { 'x-ms-range': `bytes=${5 * MiB}-${6 * MiB - 1}`, 'x-ms-range-get-content-crc64': 'true' } });
    expect(r.status).toBe(206);
    expect(r.body.equals(body)).toBe(true);
    expect(r.headers.get('x-ms-content-crc64')).toBe(sdkCrc64(body));
    const c = new PageBlobClient(url, new AnonymousCredential());
    const dl = await c.download(5 * MiB, MiB, { rangeGetContentCrc64: true });
    expect(Buffer.from(dl.contentCrc64 ?? new Uint8Array()).toString('base64')).toBe(sdkCrc64(body));
    const both = await http(url, { headers: { 'x-ms-range': 'bytes=0-511', 'x-ms-range-get-content-crc64': 'true', 'x-ms-range-get-content-md5': 'true' } });
    expect(both.status).toBe(400);
    const big = await http(url, { headers: { 'x-ms-range': `bytes=0-${4 * MiB}`, 'x-ms-range-get-content-crc64': 'true' } });
    expect(big.status).toBe(400);
  });

  it("the SDK's structured-message body (StorageCrc64 checksum) is refused, not written as data", async () => {
    const c = new PageBlobClient(url, new AnonymousCredential());
    const body = prng(84)(MiB);
    const err = await c.uploadPages(body, 7 * MiB, body.length, { contentChecksumAlgorithm: 'StorageCrc64' }).then(
      () => null,
      (e: unknown) => e as { statusCode?: number; code?: string },
    );
    expect(err?.statusCode).toBe(400);
    expect(err?.code).toBe('UnsupportedHeader');
    expect((await diskBytes(disk, 7 * MiB, MiB)).every((x) => x === 0)).toBe(true);
  });
});
