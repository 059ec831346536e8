/**
 * @module core/errors
 * One error type for the whole project. Every failure the engine reports carries a `code` from the
 * closed list below, a message that names the resource or the limit involved, and an optional hint
 * that tells the caller what to do. Each surface (ARM JSON, storage XML, NBD errno, CLI exit code)
 * maps codes to its wire form in exactly one table (`api/arm/errors.ts`, `api/blob/errors.ts`, ...).
 */

export const ERROR_CODES = [
  // caller mistakes
  'InvalidParameter',
  'BadRequest',
  'OutOfRange',
  // missing things
  'ResourceNotFound',
  'ResourceGroupNotFound',
  'SubscriptionNotFound',
  'NotFound',
  // state and limits
  'OperationNotAllowed',
  'Conflict',
  'TooManyRequests',
  // diff-specific (page-blob wire names)
  'PreviousSnapshotNotFound',
  'PreviousSnapshotCannotBeNewer',
  'PreviousSnapshotOperationNotSupported',
  // access
  'AuthenticationFailed',
  'AuthorizationFailed',
  // storage-level failures
  'ChunkNotFound',
  'IntegrityError',
  'Unavailable',
  'InternalError',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ErrorOptions {
  /** What the caller can do about it, shown after the message by every surface. */
  hint?: string;
  /** The request field or resource the error is about (ARM `target`). */
  target?: string;
  /** For rate limits: seconds after which a retry may succeed (`Retry-After`). */
  retryAfterSeconds?: number;
  /** The node that serves the resource instead (several nodes): surfaces redirect there. */
  owner?: ResourceOwner;
  cause?: unknown;
}

export interface ResourceOwner {
  node: string;
  /** Base URL of that node's HTTPS endpoint. */
  url: string | null;
  /** host:port of its NBD server. */
  nbd: string | null;
}

export class SnapdiskError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly target?: string;
  readonly retryAfterSeconds?: number;
  readonly owner?: ResourceOwner;

  constructor(code: ErrorCode, message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SnapdiskError';
    this.code = code;
    if (options.hint !== undefined) this.hint = options.hint;
    if (options.target !== undefined) this.target = options.target;
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
    if (options.owner !== undefined) this.owner = options.owner;
  }

  /** The message with its hint, for surfaces that show one line. */
  get fullMessage(): string {
    return this.hint ? `${this.message} ${this.hint}` : this.message;
  }
}

export function isSnapdiskError(err: unknown, code?: ErrorCode): err is SnapdiskError {
  return err instanceof SnapdiskError && (code === undefined || err.code === code);
}

export function isNotFound(err: unknown): boolean {
  return (
    err instanceof SnapdiskError &&
    (err.code === 'ResourceNotFound' ||
      err.code === 'ResourceGroupNotFound' ||
      err.code === 'SubscriptionNotFound' ||
      err.code === 'NotFound' ||
      err.code === 'ChunkNotFound')
  );
}

/** Failures that may succeed when tried again (a retry decorator uses this). */
export function isRetryable(err: unknown): boolean {
  return err instanceof SnapdiskError && (err.code === 'Unavailable' || err.code === 'TooManyRequests');
}

export const invalid = (message: string, target?: string, hint?: string): SnapdiskError =>
  new SnapdiskError('InvalidParameter', message, { ...(target ? { target } : {}), ...(hint ? { hint } : {}) });

export const notAllowed = (message: string, hint?: string): SnapdiskError =>
  new SnapdiskError('OperationNotAllowed', message, hint ? { hint } : {});
