/**
 * @module api/blob/ranges
 * Byte ranges of blob requests: `x-ms-range` (wins when both are present) or `Range`, in the
 * forms `bytes=a-b` and `bytes=a-` (inclusive, as HTTP). Results are half-open `[start, end)`.
 *
 * - Reads (`readRange`): an end past the blob is clamped (nbdkit-curl asks one byte past the end);
 *   a start at or past the end is 416 `InvalidRange` with `Content-Range: bytes *\/N`.
 * - Page operations (`pageRange`): start and end+1 must be multiples of 512, and the range must
 *   start inside the blob (Put Page: lie inside it) — else 416 `InvalidPageRange`, the status
 *   and code Azure answers for both (its error table; uploadPages past the size fails with
 *   InvalidPageRange). Put Page also needs a closed range of at most 4 MiB.
 * - Malformed values, suffix ranges (`bytes=-n`) and multiple ranges are 400 `InvalidHeaderValue`:
 *   serving a whole multi-GiB blob in answer to a range we could not read would be worse.
 */

import { PAGE_SIZE } from '../../core/units.js';
import type { HttpContext } from '../http/context.js';
import { blobError } from './errors.js';

/** A range as the client wrote it: inclusive `last`, absent for `bytes=a-`. */
export interface RequestedRange {
  header: string;
  first: number;
  last?: number;
}

/** Half-open byte range. */
export interface Span {
  start: number;
  end: number;
}

const RANGE_RE = /^\s*bytes\s*=\s*(\d{1,16})\s*-\s*(\d{1,16})?\s*$/i;

/** The requested range of a request, or undefined when it names none. */
export function requestedRange(ctx: Pick<HttpContext, 'header'>): RequestedRange | undefined {
  for (const header of ['x-ms-range', 'range']) {
    const value = ctx.header(header);
    if (value !== undefined && value.trim() !== '') return parseRange(header, value);
  }
  return undefined;
}

/** Parses one `bytes=a-b` / `bytes=a-` value of header `header`. */
export function parseRange(header: string, value: string): RequestedRange {
  const m = RANGE_RE.exec(value);
  const first = m?.[1] === undefined ? NaN : Number(m[1]);
  const last = m?.[2] === undefined ? undefined : Number(m[2]);
  if (!m || !Number.isSafeInteger(first) || (last !== undefined && (!Number.isSafeInteger(last) || last < first))) {
    throw blobError(
      'InvalidHeaderValue',
      `The value '${value}' of the ${header} header is not a valid byte range: use bytes=<first>-<last> or bytes=<first>-.`,
    );
  }
  return last === undefined ? { header, first } : { header, first, last };
}

/** The span a read serves out of a blob of `total` bytes (the whole blob without a range). */
export function readRange(r: RequestedRange | undefined, total: number): Span {
  if (r === undefined) return { start: 0, end: total };
  if (r.first >= total) {
    throw blobError('InvalidRange', `The range specified is invalid for the current size of the resource: it starts at ${r.first} but the blob is ${total} bytes long.`, {
      headers: { 'content-range': `bytes */${total}` },
    });
  }
  const end = r.last === undefined ? total : Math.min(total, r.last + 1);
  return { start: r.first, end };
}

export interface PageRangeRules {
  /** Put Page: the range must be closed (`bytes=a-b`). */
  closed?: boolean;
  /** Put Page: the range must lie inside the blob (else it is clamped). */
  inside?: boolean;
  /** Largest allowed length. */
  maxLength?: number;
}

/** The span of a page operation (Get Page Ranges, Put Page) on a blob of `total` bytes. */
export function pageRange(r: RequestedRange, total: number, rules: PageRangeRules = {}): Span {
  if (r.last === undefined && rules.closed) {
    throw blobError('InvalidHeaderValue', `The ${r.header} header must name a closed range (bytes=<first>-<last>) for this operation.`);
  }
  const end = r.last === undefined ? total : r.last + 1;
  if (r.first % PAGE_SIZE !== 0 || end % PAGE_SIZE !== 0) {
    throw blobError(
      'InvalidPageRange',
      `The page range specified is invalid: ${r.first}-${r.last ?? ''}: the start offset must be a multiple of ${PAGE_SIZE} and the end offset a multiple of ${PAGE_SIZE} minus 1 (pages are aligned to a 512-byte boundary).`,
    );
  }
  if (r.first >= total || (rules.inside && end > total)) {
    throw blobError('InvalidPageRange', `The page range specified is invalid: ${r.first}-${end - 1} is outside the ${total}-byte blob.`, {
      headers: { 'content-range': `bytes */${total}` },
    });
  }
  if (rules.maxLength !== undefined && end - r.first > rules.maxLength) {
    throw blobError(
      'RequestBodyTooLarge',
      `The page range ${r.first}-${end - 1} is ${end - r.first} bytes long: one request may write at most ${rules.maxLength} bytes.`,
    );
  }
  return { start: r.first, end: Math.min(end, total) };
}
