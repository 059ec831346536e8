/**
 * @module api/blob/put-page
 * Writes to an upload disk through its Write SAS: Put Page (`PUT ?comp=page`, `x-ms-page-write:
 * update|clear`), Put Page From URL (`x-ms-copy-source` naming a SAS URL of this server), and the
 * Put Blob that creates the page blob (accepted as a no-op when its length is the upload size,
 * since the blob already exists).
 *
 * Every check happens before the first byte is written: the disk is in ActiveUpload, the range is
 * 512-aligned, inside the blob and at most 4 MiB, `Content-Length` matches (or, for a chunked
 * body, the body read matches), `Content-MD5` or `x-ms-content-crc64` matches. The body (≤ 4 MiB)
 * is read whole first, so a short, long or corrupt body writes nothing.
 *
 * The write itself runs under the disk's lock with the state checked again there
 * (`Disks.writeUpload`): endGetAccess validates the footer under the same lock, so a Put Page
 * either lands before that check or is refused (409 `OperationNotAllowed`) after it — never
 * written into a disk that was already finalised.
 */

import { createHash } from 'node:crypto';
import { SnapdiskError } from '../../core/errors.js';
import { MiB } from '../../core/units.js';
import type { HttpContext } from '../http/context.js';
import type { AuthDeps, BlobAccess } from './auth.js';
import { authorizeUrl } from './auth.js';
import { checkConditions, checkSequenceNumber } from './conditions.js';
import { crc64 } from './crc64.js';
import { blobError } from './errors.js';
import type { BlobViews, BlobView } from './formats.js';
import { collectRange } from './get-blob.js';
import { versionHeaders } from './headers.js';
import { pageRange, parseRange, requestedRange } from './ranges.js';
import type { Span } from './ranges.js';

/** Largest range one Put Page may write. */
export const MAX_PUT_PAGE_BYTES = 4 * MiB;

export interface WriteDeps extends AuthDeps {
  views: BlobViews;
}

/** `PUT ?comp=page`. */
export async function putPage(ctx: HttpContext, deps: WriteDeps, access: BlobAccess): Promise<void> {
  const view = await uploadView(deps, access);
  checkSequenceNumber(ctx);
  checkConditions(ctx, view.properties);
  const mode = pageWriteMode(ctx);
  rejectStructuredBody(ctx);
  const requested = requestedRange(ctx);
  if (!requested) throw blobError('MissingRequiredHeader', 'An HTTP header that is mandatory for this request is not specified: x-ms-range.');
  const span = pageRange(requested, view.length, { closed: true, inside: true, maxLength: MAX_PUT_PAGE_BYTES });
  let digests: Digests = {};
  let body: Buffer | null = null;
  if (mode === 'clear') {
    await readEmptyBody(ctx, 'a clear');
  } else {
    const source = ctx.header('x-ms-copy-source');
    body = source !== undefined ? await readFromSource(ctx, deps, source, span) : await readPageBody(ctx, span);
    digests = checkDigests(ctx, body, source !== undefined ? 'x-ms-source-content' : 'content');
  }
  // under the disk's lock, in ActiveUpload: before endGetAccess checks the footer, or refused after
  const data = body;
  const version = await deps.engine.disks.writeUpload(view.access.grant.resourceUniqueId, (rt) =>
    data === null ? rt.zero(span.start, span.end - span.start) : rt.write(span.start, data),
  );
  const props = deps.views.uploadProperties(access, view.length, version);
  ctx.res.writeHead(201, {
    ...versionHeaders(ctx),
    'content-length': 0,
    etag: props.etag,
    'last-modified': props.lastModified.toUTCString(),
    'x-ms-blob-sequence-number': '0',
    'x-ms-request-server-encrypted': 'true',
    ...(digests.md5 !== undefined ? { 'content-md5': digests.md5 } : {}),
    ...(digests.crc64 !== undefined ? { 'x-ms-content-crc64': digests.crc64 } : {}),
  });
  ctx.res.end();
}

/** `PUT` without `comp`: creating the page blob of an upload disk is a no-op at the right length. */
export async function putBlob(ctx: HttpContext, deps: WriteDeps, access: BlobAccess): Promise<void> {
  const view = await uploadView(deps, access);
  const type = ctx.header('x-ms-blob-type');
  if (type?.toLowerCase() !== 'pageblob') {
    throw blobError('InvalidHeaderValue', `The blob of a managed disk is a page blob: x-ms-blob-type '${type ?? ''}' cannot be created here.`);
  }
  const length = Number(ctx.header('x-ms-blob-content-length'));
  if (length !== view.length) {
    throw blobError(
      'InvalidHeaderValue',
      `x-ms-blob-content-length must be the upload size ${view.length} of this disk (got '${ctx.header('x-ms-blob-content-length') ?? ''}').`,
    );
  }
  await readEmptyBody(ctx, 'a page blob creation');
  ctx.res.writeHead(201, {
    ...versionHeaders(ctx),
    'content-length': 0,
    etag: view.properties.etag,
    'last-modified': view.properties.lastModified.toUTCString(),
    'x-ms-request-server-encrypted': 'true',
  });
  ctx.res.end();
}

/** The raw view of an upload disk in ActiveUpload (else 409). */
async function uploadView(deps: WriteDeps, access: BlobAccess): Promise<BlobView> {
  const r = access.resource;
  if (r.kind !== 'disk' || r.disk.diskState !== 'ActiveUpload') {
    const state = r.kind === 'disk' ? r.disk.diskState : 'a snapshot';
    throw blobError('OperationNotAllowed', `Pages can only be written to a disk awaiting its upload (ActiveUpload); this resource is ${state}.`);
  }
  return deps.views.open(access);
}

function pageWriteMode(ctx: HttpContext): 'update' | 'clear' {
  const value = ctx.header('x-ms-page-write');
  if (value === undefined) {
    throw blobError('MissingRequiredHeader', 'An HTTP header that is mandatory for this request is not specified: x-ms-page-write.');
  }
  const mode = value.trim().toLowerCase();
  if (mode !== 'update' && mode !== 'clear') {
    throw blobError('InvalidHeaderValue', `The value '${value}' of x-ms-page-write is not valid: use update or clear.`);
  }
  return mode;
}

/** The body of an update: exactly the range's length, read whole before anything is written. */
async function readPageBody(ctx: HttpContext, span: Span): Promise<Buffer> {
  const want = span.end - span.start;
  const declared = ctx.header('content-length');
  const chunked = /chunked/i.test(ctx.header('transfer-encoding') ?? '');
  if (declared === undefined && !chunked) {
    throw blobError('MissingContentLengthHeader', 'Content-Length is required for a page update.');
  }
  if (declared !== undefined && Number(declared) !== want) {
    throw blobError('InvalidHeaderValue', `Content-Length ${declared} does not match the ${want}-byte page range ${span.start}-${span.end - 1}.`);
  }
  const body = await readBodyAtMost(ctx, want);
  if (body.length !== want) {
    throw blobError('InvalidInput', `The request body is ${body.length} bytes but the page range ${span.start}-${span.end - 1} is ${want} bytes: nothing was written.`);
  }
  return body;
}

async function readEmptyBody(ctx: HttpContext, what: string): Promise<void> {
  const declared = ctx.header('content-length');
  if (declared !== undefined && Number(declared) !== 0) {
    throw blobError('InvalidHeaderValue', `Content-Length must be 0 for ${what} (got ${declared}).`);
  }
  await readBodyAtMost(ctx, 0);
}

async function readBodyAtMost(ctx: HttpContext, max: number): Promise<Buffer> {
  try {
    return await ctx.readBody(max);
  } catch (err) {
    if (err instanceof SnapdiskError && err.code === 'BadRequest') {
      throw blobError('InvalidInput', `The request body is longer than the ${max} bytes this request takes, or was cut short: nothing was written.`);
    }
    throw err;
  }
}

interface Digests {
  md5?: string;
  crc64?: string;
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Checks the transactional digests of `body` — `<prefix>-md5` and `x-ms-<prefix>-crc64` (Put Page:
 * `content-md5`, `x-ms-content-crc64`; From URL: the `source-content` pair) — and returns those
 * given, as computed. Both at once is 400 (Azure refuses it too); a value that is not the base64
 * of 16 (MD5) or 8 (CRC-64) bytes is 400 `InvalidHeaderValue`; a mismatch is 400 `Md5Mismatch` /
 * `Crc64Mismatch`. Nothing is written in any of these cases.
 */
function checkDigests(ctx: HttpContext, body: Buffer, prefix: 'content' | 'x-ms-source-content'): Digests {
  const md5Header = prefix === 'content' ? 'content-md5' : 'x-ms-source-content-md5';
  const crcHeader = `x-ms-${prefix.replace(/^x-ms-/, '')}-crc64`;
  const md5 = ctx.header(md5Header)?.trim();
  const crc = ctx.header(crcHeader)?.trim();
  if (md5 !== undefined && crc !== undefined) {
    throw blobError('InvalidHeaderValue', `${md5Header} and ${crcHeader} cannot both be given: send one transactional checksum.`);
  }
  const out: Digests = {};
  if (md5 !== undefined) {
    digestBytes(md5, md5Header, 16);
    const actual = createHash('md5').update(body).digest('base64');
    if (md5 !== actual) {
      throw blobError('Md5Mismatch', `The MD5 value specified in the request did not match with the MD5 value calculated by the server (${md5Header} ${md5}, computed ${actual}): nothing was written.`);
    }
    out.md5 = actual;
  }
  if (crc !== undefined) {
    const given = digestBytes(crc, crcHeader, 8);
    const actual = crc64(body);
    if (!actual.equals(given)) {
      throw blobError(
        'Crc64Mismatch',
        `The CRC64 value specified in the request did not match with the CRC64 value calculated by the server (${crcHeader} ${crc}, computed ${actual.toString('base64')}; CRC-64/NVME, little-endian, base64): nothing was written.`,
      );
    }
    out.crc64 = actual.toString('base64');
  }
  return out;
}

/** The bytes of a base64 digest header, which must decode to exactly `length` bytes. */
function digestBytes(value: string, header: string, length: number): Buffer {
  const bytes = BASE64_RE.test(value) ? Buffer.from(value, 'base64') : Buffer.alloc(0);
  if (bytes.length !== length || bytes.toString('base64') !== value) {
    throw blobError('InvalidHeaderValue', `The value '${value}' of ${header} is not valid: it must be the base64 of ${length} bytes.`);
  }
  return bytes;
}

/**
 * `x-ms-structured-body` (the SDK's "StorageCrc64" upload checksum: the body is framed with CRCs
 * per segment) is not supported: refused rather than written as if the framing were data.
 */
function rejectStructuredBody(ctx: HttpContext): void {
  const value = ctx.header('x-ms-structured-body');
  if (value === undefined) return;
  throw blobError('UnsupportedHeader', `x-ms-structured-body '${value}' is not supported here: send the page as a plain body, with x-ms-content-crc64 or Content-MD5 to check it.`, {
    hint: "With @azure/storage-blob, leave uploadContentChecksumAlgorithm unset (or 'Customized') and pass transactionalContentCrc64 instead.",
  });
}

/** Put Page From URL: the bytes of `x-ms-source-range` of another SAS URL of this server. */
async function readFromSource(ctx: HttpContext, deps: WriteDeps, source: string, span: Span): Promise<Buffer> {
  await readEmptyBody(ctx, 'Put Page From URL');
  let src: BlobAccess;
  try {
    src = await authorizeUrl(deps, source, 'x-ms-copy-source');
  } catch (err) {
    if (err instanceof SnapdiskError && err.code === 'AuthenticationFailed') {
      throw blobError('CannotVerifyCopySource', `${err.message} Only SAS URLs issued by this server can be copied from.`);
    }
    throw err;
  }
  const view = await deps.views.open(src);
  const header = ctx.header('x-ms-source-range');
  const range = header === undefined ? { header: 'x-ms-source-range', first: 0, last: span.end - span.start - 1 } : parseRange('x-ms-source-range', header);
  if (range.last === undefined || range.last - range.first + 1 !== span.end - span.start || range.last >= view.length) {
    throw blobError('InvalidHeaderValue', `x-ms-source-range '${header ?? ''}' must be a closed range inside the source, as long as the destination range (${span.end - span.start} bytes).`);
  }
  return collectRange(view, range.first, range.last + 1);
}
