/**
 * @module api/blob/headers
 * Response headers every blob operation shares: `x-ms-version` (the client's, echoed, or ours),
 * and the property headers of a blob (`ETag`, `Last-Modified`, blob type, sequence number...).
 * `x-ms-request-id` is set by the HTTP context and `Date` by node:http on every response.
 */

import type { OutgoingHttpHeaders } from 'node:http';
import type { HttpContext } from '../http/context.js';

/** The service version we answer with when the client names none. */
export const DEFAULT_SERVICE_VERSION = '2021-08-06';

const VERSION_RE = /^\d{4}-\d{2}-\d{2}$/;

/** `x-ms-version`: echoes a well-formed client version, else the default. */
export function versionHeaders(ctx: Pick<HttpContext, 'header'>): { 'x-ms-version': string } {
  const asked = ctx.header('x-ms-version');
  return { 'x-ms-version': asked !== undefined && VERSION_RE.test(asked) ? asked : DEFAULT_SERVICE_VERSION };
}

/** What a blob's property headers are made of. */
export interface BlobProperties {
  /** Blob length in bytes. */
  length: number;
  /** Quoted strong ETag, e.g. `"0x8D9A1B2C3D4E5F6"`. */
  etag: string;
  lastModified: Date;
  createdAt: Date;
}

/** Headers of Get Blob Properties and Get Blob (Content-Length is set by the caller). */
export function propertyHeaders(p: BlobProperties): OutgoingHttpHeaders {
  return {
    'content-type': 'application/octet-stream',
    etag: p.etag,
    'last-modified': p.lastModified.toUTCString(),
    'accept-ranges': 'bytes',
    'x-ms-blob-type': 'PageBlob',
    'x-ms-blob-sequence-number': '0',
    'x-ms-creation-time': p.createdAt.toUTCString(),
    'x-ms-lease-status': 'unlocked',
    'x-ms-lease-state': 'available',
    'x-ms-server-encrypted': 'true',
  };
}
