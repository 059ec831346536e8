/**
 * @module api/arm/errors
 * The ONE table that turns a `SnapdiskError` into what Azure Resource Manager answers: an HTTP
 * status and a CloudError body
 *
 *   {"error":{"code":"…","message":"…","target":"…","details":[{"code","target","message"}]}}
 *
 * | SnapdiskError code                         | status | ARM code                                  |
 * |--------------------------------------------|--------|-------------------------------------------|
 * | InvalidParameter, OutOfRange               | 400    | InvalidParameter                          |
 * | BadRequest                                 | 400    | BadRequest                                |
 * | ResourceNotFound (+ x-ms-failure-cause)    | 404    | ResourceNotFound                          |
 * | ResourceGroupNotFound, SubscriptionNotFound| 404    | the same                                  |
 * | NotFound                                   | 404    | NotFound                                  |
 * | OperationNotAllowed                        | 409    | OperationNotAllowed (message names limit) |
 * | Conflict                                   | 409    | Conflict (PropertyChangeNotAllowed for a  |
 * |                                            |        | PUT that changes creationData or zones)   |
 * | TooManyRequests (+ Retry-After)            | 429    | OperationNotAllowed, details TooManyRequests |
 * | AuthenticationFailed (+ WWW-Authenticate)  | 401    | identity's armErrorCode (4 variants)      |
 * | AuthorizationFailed                        | 403    | AuthorizationFailed                       |
 * | Unavailable                                | 503    | ServiceUnavailable                        |
 * | ChunkNotFound, IntegrityError, InternalError | 500  | InternalExecutionError                    |
 *
 * ARM codes that have no SnapdiskError code of their own (`InvalidRequestContent`,
 * `ResourceGroupBeingDeleted`, ...) are raised as `ArmError`, which keeps the status of its
 * SnapdiskError code and overrides only the printed code. The message is the error's message
 * followed by its hint, so every error says what to do.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { SnapdiskError } from '../../core/errors.js';
import type { ErrorCode, ErrorOptions } from '../../core/errors.js';
import { PropertyChangeNotAllowed } from '../../core/rules.js';
import type { ErrorMapper } from '../http/errors.js';
import { AuthenticationError, armErrorCode } from '../identity/errors.js';

interface ArmShape {
  status: number;
  /** The ARM code printed; absent: the SnapdiskError code itself. */
  code?: string;
}

const TABLE: Readonly<Record<ErrorCode, ArmShape>> = {
  InvalidParameter: { status: 400 },
  BadRequest: { status: 400 },
  OutOfRange: { status: 400, code: 'InvalidParameter' },
  ResourceNotFound: { status: 404 },
  ResourceGroupNotFound: { status: 404 },
  SubscriptionNotFound: { status: 404 },
  NotFound: { status: 404 },
  OperationNotAllowed: { status: 409 },
  Conflict: { status: 409 },
  TooManyRequests: { status: 429, code: 'OperationNotAllowed' },
  PreviousSnapshotNotFound: { status: 404 },
  PreviousSnapshotCannotBeNewer: { status: 400 },
  PreviousSnapshotOperationNotSupported: { status: 409 },
  AuthenticationFailed: { status: 401 },
  AuthorizationFailed: { status: 403 },
  ChunkNotFound: { status: 500, code: 'InternalExecutionError' },
  IntegrityError: { status: 500, code: 'InternalExecutionError' },
  Unavailable: { status: 503, code: 'ServiceUnavailable' },
  InternalError: { status: 500, code: 'InternalExecutionError' },
};

/** A SnapdiskError whose ARM code differs from its SnapdiskError code (status comes from the latter). */
export class ArmError extends SnapdiskError {
  readonly armCode: string;

  constructor(code: ErrorCode, armCode: string, message: string, options: ErrorOptions = {}) {
    super(code, message, options);
    this.name = 'ArmError';
    this.armCode = armCode;
  }
}

export interface CloudErrorDetail {
  code: string;
  message: string;
  target?: string;
}

export interface CloudErrorBody {
  error: CloudErrorDetail & { details?: CloudErrorDetail[] };
}

/** HTTP status of an error on the ARM surface. */
export function armStatus(err: SnapdiskError): number {
  return TABLE[err.code].status;
}

/** The code ARM prints for an error. */
export function armCode(err: SnapdiskError): string {
  if (err instanceof ArmError || err instanceof PropertyChangeNotAllowed) return err.armCode;
  if (err instanceof AuthenticationError) return armErrorCode(err);
  return TABLE[err.code].code ?? err.code;
}

/** The CloudError body of an error. */
export function cloudError(err: SnapdiskError): CloudErrorBody {
  const error: CloudErrorBody['error'] = { code: armCode(err), message: err.fullMessage };
  if (err.target !== undefined) error.target = err.target;
  if (err.code === 'TooManyRequests') {
    error.details = [{ code: 'TooManyRequests', message: err.message, ...(err.target ? { target: err.target } : {}) }];
  }
  return { error };
}

/** Headers ARM adds to an error reply. */
export function armErrorHeaders(err: SnapdiskError): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = String(err.retryAfterSeconds);
  if (err.code === 'ResourceNotFound') headers['x-ms-failure-cause'] = 'gateway';
  if (err instanceof AuthenticationError && err.wwwAuthenticate) headers['www-authenticate'] = err.wwwAuthenticate;
  return headers;
}

/** The router hook for every ARM route (and the router's default, so unknown paths answer ARM-style). */
export const armErrorMapper: ErrorMapper = (err) => ({
  status: armStatus(err),
  headers: armErrorHeaders(err),
  body: JSON.stringify(cloudError(err)),
  contentType: 'application/json; charset=utf-8',
});
