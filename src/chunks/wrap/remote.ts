/**
 * @module chunks/wrap/remote
 * What the remote BlobStores (S3, Azure Blob) share: key checks, body collection, and the one
 * classification of HTTP and socket failures into project codes that the retry decorator relies
 * on:
 *
 *   408, 429, 5xx, throttling codes, socket errors, timeouts   → Unavailable (retryable)
 *   anything else (403 credentials, 400 a bug, 404 bucket)      → InternalError (permanent)
 *
 * Object-level 404 / 412 / 416 are decided by each backend before it gets here.
 */

import { SnapdiskError } from '../../core/errors.js';

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'TimeoutError',
  'AbortError',
  'RequestTimeout',
  'RequestTimeoutException',
  'SlowDown',
  'ServiceUnavailable',
  'ServerBusy',
  'OperationTimedOut',
  'InternalError',
  'ThrottlingException',
  'ConditionalRequestConflict', // S3: a concurrent conditional write is in flight; retry resolves it
  'REQUEST_SEND_ERROR',
]);

export function isTransientRemoteError(status: number | undefined, code: string, err: unknown): boolean {
  if (status !== undefined && (status === 408 || status === 429 || status >= 500)) return true;
  if (status === 409 && code === 'ConditionalRequestConflict') return true;
  if (TRANSIENT_CODES.has(code)) return true;
  const nodeCode = (err as { code?: unknown } | null)?.code;
  if (typeof nodeCode === 'string' && TRANSIENT_CODES.has(nodeCode)) return true;
  const name = (err as { name?: unknown } | null)?.name;
  if (typeof name === 'string' && TRANSIENT_CODES.has(name)) return true;
  // no HTTP status at all: the request never got an answer (socket, DNS, abort)
  return status === undefined && err instanceof Error && !(err instanceof SnapdiskError);
}

/** Wraps a failed request into a SnapdiskError naming the operation and the store. */
export function describeFailure(err: unknown, what: string, status: number | undefined, code: string, hint?: string): SnapdiskError {
  if (err instanceof SnapdiskError) return err;
  const detail = [status ? `HTTP ${status}` : '', code, err instanceof Error ? err.message : String(err)]
    .filter((s, i, all) => s && all.indexOf(s) === i)
    .join(' ');
  if (isTransientRemoteError(status, code, err)) {
    return new SnapdiskError('Unavailable', `${what} failed: ${detail}`, {
      cause: err,
      hint: hint ?? 'The object store did not answer in time or is overloaded; the request may succeed when tried again.',
    });
  }
  const authHint = status === 401 || status === 403 ? 'Check the access key and secret (or SAS) of this zone in config.json.' : undefined;
  const h = hint ?? authHint;
  return new SnapdiskError('InternalError', `${what} failed: ${detail}`, { cause: err, ...(h ? { hint: h } : {}) });
}

/** Object keys: `/`-separated, no leading slash, no `..` segment, no empty segment. */
export function checkKey(key: string): string {
  if (key === '' || key.startsWith('/') || key.split('/').some((s) => s === '..' || s === '')) {
    throw new SnapdiskError('InvalidParameter', `invalid object key ${JSON.stringify(key)}`);
  }
  return key;
}

/** A zone's folder inside a bucket or container: empty or ending in `/`. */
export function checkPrefix(prefix: string): string {
  if (prefix === '') return '';
  if (prefix.startsWith('/') || !prefix.endsWith('/') || prefix.split('/').slice(0, -1).some((s) => s === '' || s === '..')) {
    throw new SnapdiskError('InvalidParameter', `invalid key prefix ${JSON.stringify(prefix)}: use "folder/" or "a/b/"`);
  }
  return prefix;
}

/**
 * Reads a response body stream to the end. With `into`, the bytes are copied into it while they
 * fit and a view of it is returned (no allocation per read); a longer body falls back to a new
 * buffer, so the caller's length check still sees the true size.
 */
export async function collect(body: AsyncIterable<Uint8Array> | NodeJS.ReadableStream | undefined, into?: Buffer): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  let size = 0;
  let fits = into !== undefined;
  for await (const part of body as AsyncIterable<Uint8Array | string>) {
    const b = typeof part === 'string' ? Buffer.from(part) : Buffer.from(part.buffer, part.byteOffset, part.byteLength);
    if (fits && into && size + b.length <= into.length) b.copy(into, size);
    else fits = false;
    parts.push(b);
    size += b.length;
  }
  if (fits && into) return into.subarray(0, size);
  return parts.length === 1 && parts[0] ? parts[0] : Buffer.concat(parts);
}
