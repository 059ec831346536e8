/**
 * @module api/identity/jwt.test
 * RS256 sign/verify: round trip, expiry and clock skew, audiences, tampering, algorithm
 * confusion, foreign keys, malformed tokens; plus scope → resource mapping.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuthenticationError } from './errors.js';
import { ARM_AUDIENCES, decodeJwt, signJwt, verifyJwt } from './jwt.js';
import type { AccessTokenClaims } from './jwt.js';
import { generateSigningKey } from './signing-key.js';
import { resourceFromScope } from './tokens.js';

const key = generateSigningKey();
const other = generateSigningKey();
const NOW = 1_800_000_000;

function claims(over: Partial<AccessTokenClaims> = {}): AccessTokenClaims {
  return {
    aud: 'https://management.azure.com/',
    iss: 'https://127.0.0.1:7443/t/v2.0',
    iat: NOW,
    nbf: NOW,
    exp: NOW + 3600,
    tid: 't',
    oid: 'o',
    sub: 'o',
    appid: 'a',
    ...over,
  };
}

function armCodeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof AuthenticationError) return err.armCode;
    throw err;
  }
  return 'no error';
}

const verifyAt = (token: string, now = NOW) => verifyJwt(token, key, { audiences: ARM_AUDIENCES, now });

describe('jwt', () => {
  it('sign/verify: round trip with kid header', () => {
    const token = signJwt(key, claims());
    expect(decodeJwt(token).header).toEqual({ typ: 'JWT', alg: 'RS256', kid: key.kid });
    expect(verifyAt(token)).toMatchObject({ tid: 't', oid: 'o', appid: 'a' });
  });

  it('expiry: expired beyond the skew fails, within the skew passes', () => {
    const token = signJwt(key, claims());
    expect(verifyAt(token, NOW + 3600 + 30).oid).toBe('o');
    expect(armCodeOf(() => verifyAt(token, NOW + 3600 + 61))).toBe('ExpiredAuthenticationToken');
    expect(armCodeOf(() => verifyAt(signJwt(key, claims({ nbf: NOW + 600 }))))).toBe('ExpiredAuthenticationToken');
  });

  it('audience: both ARM audiences with or without slash; others refused', () => {
    for (const aud of ['https://management.azure.com', 'https://management.core.windows.net/', 'https://MANAGEMENT.core.windows.net']) {
      expect(verifyAt(signJwt(key, claims({ aud }))).aud).toBe(aud);
    }
    const wrong = signJwt(key, claims({ aud: 'https://storage.azure.com/' }));
    expect(armCodeOf(() => verifyAt(wrong))).toBe('InvalidAuthenticationTokenAudience');
  });

  it('tamper: a changed payload or signature fails', () => {
    const [h, , s] = signJwt(key, claims()).split('.');
    const forgedPayload = Buffer.from(JSON.stringify(claims({ oid: 'admin' }))).toString('base64url');
    expect(armCodeOf(() => verifyAt(`${h}.${forgedPayload}.${s}`))).toBe('InvalidAuthenticationToken');
    const token = signJwt(key, claims());
    const flipped = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    expect(armCodeOf(() => verifyAt(flipped))).toBe('InvalidAuthenticationToken');
  });

  it('a token signed by another key fails', () => {
    expect(armCodeOf(() => verifyAt(signJwt(other, claims())))).toBe('InvalidAuthenticationToken');
    // same kid spoofed in the header still fails on the signature
    expect(() => verifyJwt(signJwt(other, claims()), key.publicKey, { audiences: ARM_AUDIENCES, now: NOW })).toThrow(
      /signature/,
    );
  });

  it('algorithm confusion: alg none and HS256 are refused', () => {
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
    const body = b64(claims());
    expect(armCodeOf(() => verifyAt(`${b64({ alg: 'none', typ: 'JWT' })}.${body}.`))).toBe('InvalidAuthenticationToken');
    const pem = key.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const head = b64({ alg: 'HS256', typ: 'JWT' });
    const mac = createHmac('sha256', pem).update(`${head}.${body}`).digest('base64url');
    expect(armCodeOf(() => verifyAt(`${head}.${body}.${mac}`))).toBe('InvalidAuthenticationToken');
  });

  it('malformed tokens fail cleanly', () => {
    for (const bad of ['', 'abc', 'a.b', 'a.b.c.d', '!!.??.**', `${Buffer.from('[1]').toString('base64url')}.e30.x`]) {
      expect(armCodeOf(() => verifyAt(bad))).toBe('InvalidAuthenticationToken');
    }
    const noTid = signJwt(key, { ...claims(), tid: undefined } as unknown as AccessTokenClaims);
    expect(armCodeOf(() => verifyAt(noTid))).toBe('InvalidAuthenticationToken');
  });
});

describe('resourceFromScope', () => {
  it('maps <resource>/.default to the resource and ignores OpenID scopes', () => {
    expect(resourceFromScope('https://management.azure.com/.default')).toBe('https://management.azure.com');
    expect(resourceFromScope('https://management.core.windows.net//.default')).toBe('https://management.core.windows.net/');
    expect(resourceFromScope('openid profile offline_access https://management.azure.com//.default')).toBe(
      'https://management.azure.com/',
    );
    expect(resourceFromScope('https://management.azure.com/user_impersonation')).toBe('https://management.azure.com');
    expect(resourceFromScope('openid offline_access')).toBeUndefined();
  });
});
