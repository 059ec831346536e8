/**
 * @module api/blob/errors
 * The one table of the page-blob surface: every error a blob route can answer, by storage error
 * code, with its HTTP status. Handlers throw either a `SnapdiskError` from the engine (mapped to a
 * storage code by `ENGINE_CODES`) or a `BlobError` naming a storage code directly (wire-level
 * problems the engine never sees: a malformed range, a wrong MD5, an unknown `comp`). The router
 * calls `blobErrorMapper`, which writes Azure Storage's XML body and `x-ms-error-code`:
 *
 *   <?xml version="1.0" encoding="utf-8"?><Error><Code>InvalidRange</Code><Message>…</Message></Error>
 */

import type { OutgoingHttpHeaders } from 'node:http';
import { SnapdiskError } from '../../core/errors.js';
import type { ErrorCode, ErrorOptions } from '../../core/errors.js';
import type { ErrorMapper } from '../http/errors.js';
import { retryAfterHeaders } from '../http/errors.js';
import { versionHeaders } from './headers.js';

/** Storage error codes this surface answers, with their status (Azure's documented ones). */
export const STORAGE_ERRORS = {
  // 400
  InvalidInput: 400,
  InvalidHeaderValue: 400,
  InvalidQueryParameterValue: 400,
  UnsupportedQueryParameter: 400,
  UnsupportedHeader: 400,
  MissingRequiredHeader: 400,
  MissingRequiredQueryParameter: 400,
  Md5Mismatch: 400,
  Crc64Mismatch: 400,
  CannotVerifyCopySource: 400,
  PreviousSnapshotCannotBeNewer: 400,
  // 403
  AuthenticationFailed: 403,
  AuthorizationPermissionMismatch: 403,
  // 404
  BlobNotFound: 404,
  ResourceNotFound: 404,
  // 405
  UnsupportedHttpVerb: 405,
  // 409
  OperationNotAllowed: 409,
  BlobConflict: 409,
  PreviousSnapshotNotFound: 409,
  PreviousSnapshotOperationNotSupported: 409,
  // 411, 412, 413, 416
  MissingContentLengthHeader: 411,
  ConditionNotMet: 412,
  SequenceNumberConditionNotMet: 412,
  RequestBodyTooLarge: 413,
  InvalidRange: 416,
  // Azure's table: "InvalidPageRange — Requested Range Not Satisfiable (416)"
  InvalidPageRange: 416,
  // 5xx
  InternalError: 500,
  ServerBusy: 503,
} as const;

export type StorageErrorCode = keyof typeof STORAGE_ERRORS;

/** Engine error code → storage error code. */
const ENGINE_CODES: Readonly<Record<ErrorCode, StorageErrorCode>> = {
  InvalidParameter: 'InvalidInput',
  BadRequest: 'InvalidInput',
  OutOfRange: 'InvalidRange',
  ResourceNotFound: 'BlobNotFound',
  ResourceGroupNotFound: 'BlobNotFound',
  SubscriptionNotFound: 'BlobNotFound',
  NotFound: 'ResourceNotFound',
  OperationNotAllowed: 'OperationNotAllowed',
  Conflict: 'BlobConflict',
  TooManyRequests: 'ServerBusy',
  PreviousSnapshotNotFound: 'PreviousSnapshotNotFound',
  PreviousSnapshotCannotBeNewer: 'PreviousSnapshotCannotBeNewer',
  PreviousSnapshotOperationNotSupported: 'PreviousSnapshotOperationNotSupported',
  AuthenticationFailed: 'AuthenticationFailed',
  AuthorizationFailed: 'AuthorizationPermissionMismatch',
  ChunkNotFound: 'InternalError',
  IntegrityError: 'InternalError',
  Unavailable: 'ServerBusy',
  InternalError: 'InternalError',
};

/** The engine code a storage code travels under (for logs and generic code paths). */
function engineCodeOf(code: StorageErrorCode): ErrorCode {
  const status = STORAGE_ERRORS[code];
  if (code === 'AuthenticationFailed') return 'AuthenticationFailed';
  if (code === 'AuthorizationPermissionMismatch') return 'AuthorizationFailed';
  if (code === 'PreviousSnapshotNotFound' || code === 'PreviousSnapshotCannotBeNewer' || code === 'PreviousSnapshotOperationNotSupported') {
    return code;
  }
  if (status === 404) return 'NotFound';
  if (status === 409) return 'Conflict';
  if (status === 416) return 'OutOfRange';
  if (status >= 500) return status === 503 ? 'Unavailable' : 'InternalError';
  return 'BadRequest';
}

/** A wire-level error of the blob surface, named by its storage code. */
export class BlobError extends SnapdiskError {
  readonly storageCode: StorageErrorCode;
  /** Extra response headers (e.g. `Content-Range: bytes *\/N` on a 416). */
  readonly headers: OutgoingHttpHeaders;

  constructor(code: StorageErrorCode, message: string, options: ErrorOptions & { headers?: OutgoingHttpHeaders } = {}) {
    const { headers, ...rest } = options;
    super(engineCodeOf(code), message, rest);
    this.storageCode = code;
    this.headers = headers ?? {};
  }
}

/** Shorthand: `throw blobError('InvalidHeaderValue', '…')`. */
export function blobError(code: StorageErrorCode, message: string, options: ErrorOptions & { headers?: OutgoingHttpHeaders } = {}): BlobError {
  return new BlobError(code, message, options);
}

/** The storage code and status of any error a blob route threw. */
export function storageCodeOf(err: SnapdiskError): { code: StorageErrorCode; status: number } {
  const code = err instanceof BlobError ? err.storageCode : ENGINE_CODES[err.code];
  return { code, status: STORAGE_ERRORS[code] };
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The storage XML error body. */
export function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="utf-8"?><Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error>`;
}

/**
 * The router's error mapper for blob routes. A 405 from the router (it sets `Allow` first) is
 * reported as `UnsupportedHttpVerb`. Azure ends messages with the request id and time; so do we.
 */
export const blobErrorMapper: ErrorMapper = (err, ctx) => {
  let { code, status } = storageCodeOf(err);
  if (ctx.res.hasHeader('allow') && err.code === 'BadRequest' && !(err instanceof BlobError)) {
    code = 'UnsupportedHttpVerb';
    status = 405;
  }
  const message = `${err.fullMessage}\nRequestId:${ctx.requestId}\nTime:${new Date().toISOString()}`;
  return {
    status,
    headers: {
      ...versionHeaders(ctx),
      ...retryAfterHeaders(err),
      ...(err instanceof BlobError ? err.headers : {}),
      'x-ms-error-code': code,
    },
    body: errorXml(code, message),
    contentType: 'application/xml',
  };
};
