/**
 * @module api/blob/conditions
 * Conditional headers of blob requests. The SDK's download retries a broken stream with
 * `If-Match: <etag of the first response>`, so honouring it keeps a resumed download consistent.
 *
 * - `If-Match` / `If-Unmodified-Since` not met → 412 `ConditionNotMet`.
 * - `If-None-Match` / `If-Modified-Since` met on GET or HEAD → 304 (no body); on a write → 412.
 * - `x-ms-if-sequence-number-le|lt|eq` (Put Page): the sequence number is always 0; not met → 412
 *   `SequenceNumberConditionNotMet`. A value that is not a number is 400 `InvalidHeaderValue`.
 */

import type { HttpContext } from '../http/context.js';
import { blobError } from './errors.js';
import type { BlobProperties } from './headers.js';

export type ConditionResult = 'ok' | 'not-modified';

function etagList(value: string): string[] {
  return value.split(',').map((s) => s.trim().replace(/^W\//, ''));
}

function httpDate(ctx: Pick<HttpContext, 'header'>, name: string): number | undefined {
  const value = ctx.header(name);
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  // an unparseable date is ignored, as HTTP asks
  return Number.isFinite(t) ? t : undefined;
}

/** Evaluates the conditional headers of a request against a blob's properties. */
export function checkConditions(ctx: Pick<HttpContext, 'header' | 'method'>, p: BlobProperties): ConditionResult {
  const read = ctx.method === 'GET' || ctx.method === 'HEAD';
  const modified = Math.floor(p.lastModified.getTime() / 1000) * 1000;
  const ifMatch = ctx.header('if-match');
  if (ifMatch !== undefined && ifMatch.trim() !== '*' && !etagList(ifMatch).includes(p.etag)) {
    throw blobError('ConditionNotMet', 'The condition specified using HTTP conditional header(s) is not met: If-Match does not match the ETag.');
  }
  const unmodifiedSince = httpDate(ctx, 'if-unmodified-since');
  if (unmodifiedSince !== undefined && modified > unmodifiedSince) {
    throw blobError('ConditionNotMet', 'The condition specified using HTTP conditional header(s) is not met: the blob was modified since If-Unmodified-Since.');
  }
  const ifNoneMatch = ctx.header('if-none-match');
  const noneMatchHit = ifNoneMatch !== undefined && (ifNoneMatch.trim() === '*' || etagList(ifNoneMatch).includes(p.etag));
  const modifiedSince = httpDate(ctx, 'if-modified-since');
  const notModified = noneMatchHit || (ifNoneMatch === undefined && modifiedSince !== undefined && modified <= modifiedSince);
  if (!notModified) return 'ok';
  if (read) return 'not-modified';
  throw blobError('ConditionNotMet', 'The condition specified using HTTP conditional header(s) is not met.');
}

/** Put Page's sequence-number conditions (the sequence number of these blobs is always 0). */
export function checkSequenceNumber(ctx: Pick<HttpContext, 'header'>): void {
  const tests: Array<[string, (n: number) => boolean]> = [
    ['x-ms-if-sequence-number-le', (n) => 0 <= n],
    ['x-ms-if-sequence-number-lt', (n) => 0 < n],
    ['x-ms-if-sequence-number-eq', (n) => 0 === n],
  ];
  for (const [name, ok] of tests) {
    const value = ctx.header(name);
    if (value === undefined) continue;
    const n = Number(value);
    if (value.trim() === '' || !Number.isSafeInteger(n)) throw blobError('InvalidHeaderValue', `The value '${value}' of ${name} is not a number.`);
    if (!ok(n)) {
      throw blobError('SequenceNumberConditionNotMet', `The sequence number condition specified was not met: the blob's sequence number is 0 (${name}: ${value}).`);
    }
  }
}
