/**
 * @module api/identity/errors
 * Identity-specific error details and the OAuth-style wire form of the token endpoints.
 *
 * `AuthenticationError` is a `SnapdiskError` with code `AuthenticationFailed` (so every surface
 * maps it to 401) that also says which ARM error code the ARM mapper should print and the
 * `WWW-Authenticate` challenge to send, following what Azure Resource Manager answers:
 *
 * | situation                     | ARM code                              |
 * |-------------------------------|---------------------------------------|
 * | no / non-Bearer Authorization | `AuthenticationFailed`                |
 * | malformed, bad signature      | `InvalidAuthenticationToken`          |
 * | expired or not yet valid      | `ExpiredAuthenticationToken`          |
 * | audience not ARM              | `InvalidAuthenticationTokenAudience`  |
 *
 * `oauthErrorMapper` renders errors of the token endpoints the way Azure AD does
 * (`{"error":"invalid_client","error_description":...}`), which MSAL and az understand.
 */
import { randomUUID } from 'node:crypto';
import { SnapdiskError } from '../../core/errors.js';
import type { ErrorMapper } from '../http/errors.js';

export type ArmAuthenticationCode =
  | 'AuthenticationFailed'
  | 'InvalidAuthenticationToken'
  | 'ExpiredAuthenticationToken'
  | 'InvalidAuthenticationTokenAudience';

export class AuthenticationError extends SnapdiskError {
  /** The code ARM prints for this failure (the SnapdiskError code stays `AuthenticationFailed`). */
  readonly armCode: ArmAuthenticationCode;
  /** Value for a `WWW-Authenticate` response header (set by `authenticate(ctx)`). */
  wwwAuthenticate?: string;

  constructor(armCode: ArmAuthenticationCode, message: string, cause?: unknown) {
    super('AuthenticationFailed', message, cause === undefined ? {} : { cause });
    this.name = 'AuthenticationError';
    this.armCode = armCode;
  }
}

/** The ARM error code for any error: `armCode` for authentication errors, else `err.code`. */
export function armErrorCode(err: SnapdiskError): string {
  return err instanceof AuthenticationError ? err.armCode : err.code;
}

/** OAuth 2 error codes of the token endpoints (RFC 6749 §5.2, plus what AAD adds). */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_tenant'
  | 'access_denied'
  | 'server_error';

/** A token-endpoint failure with an explicit OAuth code (and optional AADSTS number). */
export class OAuthError extends SnapdiskError {
  constructor(
    readonly oauthCode: OAuthErrorCode,
    message: string,
    readonly aadsts?: number,
  ) {
    super(oauthCode === 'invalid_client' ? 'AuthenticationFailed' : 'BadRequest', message);
    this.name = 'OAuthError';
  }
}

function oauthShape(err: SnapdiskError): { status: number; code: OAuthErrorCode; aadsts?: number } {
  if (err instanceof OAuthError) {
    const status = err.oauthCode === 'invalid_client' ? 401 : err.oauthCode === 'server_error' ? 500 : 400;
    return { status, code: err.oauthCode, ...(err.aadsts === undefined ? {} : { aadsts: err.aadsts }) };
  }
  switch (err.code) {
    case 'AuthenticationFailed':
      return { status: 401, code: 'invalid_client' };
    case 'AuthorizationFailed':
      return { status: 403, code: 'access_denied' };
    case 'NotFound':
      return { status: 404, code: 'invalid_request' };
    case 'BadRequest':
    case 'InvalidParameter':
      return { status: 400, code: 'invalid_request' };
    default:
      return { status: 500, code: 'server_error' };
  }
}

/** Azure AD style error JSON for the token, OpenID and managed-identity endpoints. */
export const oauthErrorMapper: ErrorMapper = (err, ctx) => {
  const shape = oauthShape(err);
  const prefix = shape.aadsts === undefined ? '' : `AADSTS${shape.aadsts}: `;
  const body = {
    error: shape.code,
    error_description: `${prefix}${err.fullMessage} Trace ID: ${ctx.requestId} Timestamp: ${new Date().toISOString()}`,
    error_codes: shape.aadsts === undefined ? [] : [shape.aadsts],
    timestamp: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    trace_id: ctx.requestId,
    correlation_id: ctx.header('client-request-id') ?? randomUUID(),
  };
  return {
    status: shape.status,
    headers: { 'cache-control': 'no-store', pragma: 'no-cache' },
    body: JSON.stringify(body),
    contentType: 'application/json; charset=utf-8',
  };
};
