/**
 * @module api/http/errors
 * The error hook of the router. Handlers throw `SnapdiskError`; each route group names an
 * `ErrorMapper` that turns it into the wire form of its surface (CloudError JSON for ARM, storage
 * XML for the blob data plane, AAD-style JSON for the token endpoints). This file holds the hook
 * type, the generic code → status table a surface may reuse, and the default JSON mapper
 * `{"error":{"code","message"}}` used where no surface-specific mapper is given.
 *
 * Anything thrown that is not a `SnapdiskError` is converted by `toSnapdiskError` into a 500
 * `InternalError` whose message names only the request id: stack traces and messages of unknown
 * exceptions never reach the client (they go to the request log instead).
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { SnapdiskError } from '../../core/errors.js';
import type { ErrorCode } from '../../core/errors.js';
import type { HttpContext } from './context.js';

/** What an error mapper answers: the router writes it (unless the response already started). */
export interface ErrorReply {
  status: number;
  /** Extra headers; `content-type` and `content-length` are set by the router from the body. */
  headers?: OutgoingHttpHeaders;
  body: string;
  contentType: string;
}

/** Turns a domain error into the wire reply of one surface. Must not throw. */
export type ErrorMapper = (err: SnapdiskError, ctx: HttpContext) => ErrorReply;

/** The generic status of each error code (surfaces with their own table may ignore it). */
export const DEFAULT_STATUS: Readonly<Record<ErrorCode, number>> = {
  InvalidParameter: 400,
  BadRequest: 400,
  OutOfRange: 416,
  ResourceNotFound: 404,
  ResourceGroupNotFound: 404,
  SubscriptionNotFound: 404,
  NotFound: 404,
  OperationNotAllowed: 409,
  Conflict: 409,
  TooManyRequests: 429,
  PreviousSnapshotNotFound: 404,
  PreviousSnapshotCannotBeNewer: 400,
  PreviousSnapshotOperationNotSupported: 409,
  AuthenticationFailed: 401,
  AuthorizationFailed: 403,
  ChunkNotFound: 500,
  IntegrityError: 500,
  Unavailable: 503,
  InternalError: 500,
};

/** `Retry-After` for errors that carry one; an empty object otherwise. */
export function retryAfterHeaders(err: SnapdiskError): OutgoingHttpHeaders {
  return err.retryAfterSeconds === undefined ? {} : { 'retry-after': String(err.retryAfterSeconds) };
}

/** The default mapper: generic status table, body `{"error":{"code","message"[,"target"]}}`. */
export const jsonErrorMapper: ErrorMapper = (err) => {
  const error: Record<string, string> = { code: err.code, message: err.fullMessage };
  if (err.target !== undefined) error.target = err.target;
  return {
    status: DEFAULT_STATUS[err.code],
    headers: retryAfterHeaders(err),
    body: JSON.stringify({ error }),
    contentType: 'application/json; charset=utf-8',
  };
};

/** Normalises anything a handler threw; unknown exceptions become an opaque `InternalError`. */
export function toSnapdiskError(thrown: unknown, requestId: string): SnapdiskError {
  if (thrown instanceof SnapdiskError) return thrown;
  return new SnapdiskError('InternalError', `The server encountered an internal error. Request id: ${requestId}.`, {
    cause: thrown,
  });
}

/**
 * Several nodes: an error that names the node serving the resource (`owner.url`) becomes a
 * `307 Temporary Redirect` to the same path and query on that node (SAS signatures cover the
 * path and query, not the host, so they stay valid); the body stays the surface's error.
 */
export function redirectToOwner(mapper: ErrorMapper): ErrorMapper {
  return (err, ctx) => {
    const reply = mapper(err, ctx);
    const base = err.owner?.url;
    if (!base) return reply;
    return { ...reply, status: 307, headers: { ...(reply.headers ?? {}), location: `${base.replace(/\/+$/, '')}${ctx.req.url ?? ctx.path}` } };
  };
}
