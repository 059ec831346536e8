/**
 * @module api/blob/get-blob
 * Get Blob Properties (HEAD) and Get Blob (GET): the whole blob (200) or one range (206 with
 * `Content-Range`), streamed.
 *
 * Streaming: the view yields pieces of at most 4 MiB; up to `READ_AHEAD` pieces are being read
 * while the current one is written, and a write that fills the socket buffer waits for `drain`.
 * Memory per request is therefore a few pieces whatever the range. If the client
 * goes away the loop stops; if a read fails after the headers went out, the router destroys the
 * socket so the client sees a short transfer, never wrong bytes.
 *
 * Revocation: every `RECHECK_PIECES` pieces (32 MiB) the grant is read again; once endGetAccess
 * revoked it the response is destroyed (the client sees a short transfer), so a long download
 * stops within a few pieces of the revoke instead of running to its end.
 *
 * `x-ms-range-get-content-md5: true` (ranges of at most 4 MiB) adds the range's `Content-MD5`;
 * `x-ms-range-get-content-crc64: true` its `x-ms-content-crc64` (CRC-64/NVME, see crc64.ts).
 */

import { createHash } from 'node:crypto';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { MiB } from '../../core/units.js';
import type { HttpContext } from '../http/context.js';
import { stillGranted } from './auth.js';
import type { AuthDeps } from './auth.js';
import { checkConditions } from './conditions.js';
import { crc64 } from './crc64.js';
import { blobError } from './errors.js';
import type { BlobView, PieceTask } from './formats.js';
import { propertyHeaders, versionHeaders } from './headers.js';
import { readRange, requestedRange } from './ranges.js';
import { releasePiece } from './resource.js';
import type { Span } from './ranges.js';

const MD5_RANGE_LIMIT = 4 * MiB;

/** HEAD: the blob's properties, no body. */
export function headBlob(ctx: HttpContext, view: BlobView): void {
  const headers = { ...versionHeaders(ctx), ...propertyHeaders(view.properties) };
  if (checkConditions(ctx, view.properties) === 'not-modified') {
    ctx.res.writeHead(304, headers);
    ctx.res.end();
    return;
  }
  ctx.res.writeHead(200, { ...headers, 'content-length': view.length });
  ctx.res.end();
}

/** GET: the blob or a range of it. */
export async function getBlob(ctx: HttpContext, deps: AuthDeps, view: BlobView): Promise<void> {
  const requested = requestedRange(ctx);
  const headers: OutgoingHttpHeaders = { ...versionHeaders(ctx), ...propertyHeaders(view.properties) };
  if (checkConditions(ctx, view.properties) === 'not-modified') {
    ctx.res.writeHead(304, headers);
    ctx.res.end();
    return;
  }
  const span = readRange(requested, view.length);
  const status = requested ? 206 : 200;
  headers['content-length'] = span.end - span.start;
  if (requested) headers['content-range'] = `bytes ${span.start}-${span.end - 1}/${view.length}`;
  const md5 = ctx.header('x-ms-range-get-content-md5')?.toLowerCase() === 'true';
  const crc = ctx.header('x-ms-range-get-content-crc64')?.toLowerCase() === 'true';
  if (md5 && crc) {
    throw blobError('InvalidHeaderValue', 'x-ms-range-get-content-md5 and x-ms-range-get-content-crc64 cannot both be true: ask for one checksum.');
  }
  if (md5 || crc) {
    await sendWithDigest(ctx, view, span, status, headers, requested !== undefined, md5 ? 'md5' : 'crc64');
    return;
  }
  ctx.res.writeHead(status, headers);
  const grantId = view.access.grant.id;
  await streamPieces(ctx.res, view.pieces(span.start, span.end), READ_AHEAD, () => stillGranted(deps.engine, grantId));
}

async function sendWithDigest(ctx: HttpContext, view: BlobView, span: Span, status: number, headers: OutgoingHttpHeaders, ranged: boolean, kind: 'md5' | 'crc64'): Promise<void> {
  if (!ranged || span.end - span.start > MD5_RANGE_LIMIT) {
    throw blobError('InvalidHeaderValue', `x-ms-range-get-content-${kind} needs a range of at most ${MD5_RANGE_LIMIT} bytes.`);
  }
  const body = await collectRange(view, span.start, span.end);
  const digest = kind === 'md5' ? { 'content-md5': createHash('md5').update(body).digest('base64') } : { 'x-ms-content-crc64': crc64(body).toString('base64') };
  ctx.res.writeHead(status, { ...headers, ...digest });
  ctx.res.end(body);
}

/** Pieces read ahead of the socket: snapshot reads are latency-bound, so several stay in flight. */
export const READ_AHEAD = 3;

/** Pieces between two checks that the grant of a streaming response still holds (8 × 4 MiB). */
export const RECHECK_PIECES = 8;

/**
 * Writes the pieces to `res` with `depth` reads in flight and back-pressure, then ends it.
 * Resolves early (without ending) when the client went away. With `granted`, asked after every
 * `RECHECK_PIECES` pieces: false destroys the response (the grant was revoked meanwhile).
 */
export async function streamPieces(res: ServerResponse, pieces: Iterable<PieceTask>, depth = READ_AHEAD, granted?: () => Promise<boolean>): Promise<void> {
  const it = pieces[Symbol.iterator]();
  const queue: Promise<Buffer>[] = [];
  const fill = (): void => {
    while (queue.length < depth) {
      const n = it.next();
      if (n.done === true) return;
      const p = n.value();
      // a read abandoned because the client left must not become an unhandled rejection
      p.catch(() => undefined);
      queue.push(p);
    }
  };
  fill();
  let sent = 0;
  for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
    const piece = await p;
    if (granted && ++sent % RECHECK_PIECES === 0 && !(await granted())) {
      releasePiece(piece);
      res.destroy();
      return;
    }
    fill();
    if (res.destroyed) return;
    if (!res.write(piece, () => releasePiece(piece))) await drained(res);
  }
  res.end();
}

/** All the bytes of [start, end) of a view in one buffer (small ranges only). */
export async function collectRange(view: BlobView, start: number, end: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const task of view.pieces(start, end)) parts.push(await task());
  return Buffer.concat(parts);
}

/** Resolves on `drain`, or when the response is closed or fails (the caller then checks `destroyed`). */
export function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      res.off('error', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
    res.on('error', done);
  });
}
