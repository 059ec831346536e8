/**
 * @module api/identity/jwt
 * RS256 JSON Web Tokens with `node:crypto` only (compact serialisation, RFC 7515/7519).
 *
 * Access tokens carry the Azure AD claims clients look at: `tid` (az reads it, unverified, to
 * learn the tenant), `oid`, `appid`, `aud`, `iss`, `iat`, `nbf`, `exp`, `sub`, plus `ver` and
 * `idtyp`. Verification checks, in order: shape, header (`alg` RS256 only — never `none` or
 * HS256), `kid` if present, signature, `exp`/`nbf` with a small clock skew, audience. Every
 * failure is an `AuthenticationError` whose `armCode` tells the ARM mapper what to print.
 */
import { sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AuthenticationError } from './errors.js';
import type { SigningKey } from './signing-key.js';

export interface AccessTokenClaims {
  aud: string;
  iss: string;
  iat: number;
  nbf: number;
  exp: number;
  tid: string;
  oid: string;
  sub: string;
  appid: string;
  ver?: string;
  idtyp?: string;
  [claim: string]: unknown;
}

export interface VerifyOptions {
  /** Accepted audiences, compared without a trailing slash and case-insensitively. */
  audiences: readonly string[];
  /** Seconds since epoch (default: now). */
  now?: number;
  /** Tolerated clock difference in seconds for `exp` and `nbf` (default 60). */
  clockSkewSeconds?: number;
}

/** The audiences ARM accepts (each also without its trailing slash). */
export const ARM_AUDIENCES: readonly string[] = ['https://management.azure.com/', 'https://management.core.windows.net/'];

const b64json = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

export function signJwt(key: SigningKey, claims: AccessTokenClaims): string {
  const header = { typ: 'JWT', alg: 'RS256', kid: key.kid };
  const input = `${b64json(header)}.${b64json(claims)}`;
  const signature = sign('sha256', Buffer.from(input), key.privateKey).toString('base64url');
  return `${input}.${signature}`;
}

const invalid = (message: string): AuthenticationError => new AuthenticationError('InvalidAuthenticationToken', message);

function parseSegment(segment: string, what: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]+$/.test(segment)) throw invalid(`The access token ${what} is not base64url.`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw invalid(`The access token ${what} is not JSON.`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`The access token ${what} is not a JSON object.`);
  }
  return value as Record<string, unknown>;
}

/** Header and payload without any check of the signature (for diagnostics and tests only). */
export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const parts = token.split('.');
  if (parts.length !== 3) throw invalid('The access token is not a JWT (expected three segments).');
  return { header: parseSegment(parts[0] ?? '', 'header'), payload: parseSegment(parts[1] ?? '', 'payload') };
}

const normAudience = (aud: string): string => aud.replace(/\/+$/, '').toLowerCase();

function checkClaims(payload: Record<string, unknown>): AccessTokenClaims {
  for (const name of ['aud', 'iss', 'tid', 'oid', 'sub', 'appid'] as const) {
    if (typeof payload[name] !== 'string') throw invalid(`The access token has no '${name}' claim.`);
  }
  for (const name of ['iat', 'nbf', 'exp'] as const) {
    if (typeof payload[name] !== 'number') throw invalid(`The access token has no numeric '${name}' claim.`);
  }
  return payload as AccessTokenClaims;
}

function checkTimes(claims: AccessTokenClaims, now: number, skew: number): void {
  if (claims.exp + skew <= now) {
    const fmt = (s: number): string => new Date(s * 1000).toISOString();
    throw new AuthenticationError(
      'ExpiredAuthenticationToken',
      `The access token expiry UTC time '${fmt(claims.exp)}' is earlier than current UTC time '${fmt(now)}'.`,
    );
  }
  if (claims.nbf - skew > now) {
    throw new AuthenticationError('ExpiredAuthenticationToken', 'The access token is not yet valid (nbf is in the future).');
  }
}

/** Verifies an RS256 token against `key` and returns its claims; throws `AuthenticationError`. */
export function verifyJwt(token: string, key: SigningKey | KeyObject, options: VerifyOptions): AccessTokenClaims {
  const { header, payload } = decodeJwt(token);
  if (header.alg !== 'RS256') throw invalid(`The access token algorithm '${String(header.alg)}' is not supported.`);
  const publicKey = 'kid' in key ? key.publicKey : key;
  if ('kid' in key && header.kid !== undefined && header.kid !== key.kid) {
    throw invalid('The access token was signed by an unknown key.');
  }
  const [h, p, s] = token.split('.');
  const signature = Buffer.from(s ?? '', 'base64url');
  let valid = false;
  try {
    valid = verify('sha256', Buffer.from(`${h}.${p}`), publicKey, signature);
  } catch {
    valid = false;
  }
  if (!valid) throw invalid('The access token signature is invalid.');
  const claims = checkClaims(payload);
  checkTimes(claims, options.now ?? Math.floor(Date.now() / 1000), options.clockSkewSeconds ?? 60);
  const accepted = new Set(options.audiences.map(normAudience));
  if (!accepted.has(normAudience(claims.aud))) {
    const list = options.audiences.flatMap((a) => [a, a.replace(/\/+$/, '')]);
    throw new AuthenticationError(
      'InvalidAuthenticationTokenAudience',
      `The access token has been obtained for wrong audience or resource '${claims.aud}'. It should exactly match with one of the allowed audiences '${[...new Set(list)].join("','")}'.`,
    );
  }
  return claims;
}
