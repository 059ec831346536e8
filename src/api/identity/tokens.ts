/**
 * @module api/identity/tokens
 * Issuing access tokens and the token-response JSON every token endpoint answers:
 *
 *   {"token_type":"Bearer","access_token":JWT,"expires_in":N,"expires_on":"epoch","resource":R}
 *
 * (`ext_expires_in` is added on the AAD v2 endpoint, as Azure AD does.) Tokens are issued for any
 * requested resource — as Azure AD does for registered ones — and ARM later refuses audiences
 * other than its own. A scope `<resource>/.default` maps to `<resource>`, as in Azure AD:
 * `https://management.azure.com/.default` → `https://management.azure.com`;
 * `https://management.core.windows.net//.default` (az's double slash) →
 * `https://management.core.windows.net/`. OpenID scopes (`openid`, `offline_access`...) are ignored.
 */
import { signJwt } from './jwt.js';
import type { AccessTokenClaims } from './jwt.js';
import type { Principal } from './principals.js';
import type { SigningKey } from './signing-key.js';

export const TOKEN_LIFETIME_SECONDS = 3600;

export interface TokenResponse {
  token_type: 'Bearer';
  access_token: string;
  expires_in: number;
  expires_on: string;
  resource: string;
  ext_expires_in?: number;
}

const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

/** The resource a `scope` parameter asks for, or `undefined` if it names none. */
export function resourceFromScope(scope: string): string | undefined {
  const first = scope.split(/\s+/).find((s) => s !== '' && !OIDC_SCOPES.has(s.toLowerCase()));
  if (first === undefined) return undefined;
  if (first.endsWith('/.default')) return first.slice(0, -'/.default'.length);
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/]+)\/[^/]+$/i.exec(first);
  // `https://host/permission` → `https://host`; a bare resource is used as it is
  return m?.[1] ?? first;
}

export class TokenIssuer {
  constructor(
    private readonly key: SigningKey,
    private readonly lifetimeSeconds = TOKEN_LIFETIME_SECONDS,
    private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  /** Signs an access token for `principal` with audience `resource`, issued by `issuer`. */
  issue(principal: Principal, resource: string, issuer: string): { token: string; claims: AccessTokenClaims } {
    const now = this.nowSeconds();
    const claims: AccessTokenClaims = {
      aud: resource,
      iss: issuer,
      iat: now,
      nbf: now,
      exp: now + this.lifetimeSeconds,
      tid: principal.tenantId,
      oid: principal.objectId,
      sub: principal.objectId,
      appid: principal.clientId,
      appidacr: '1',
      idtyp: 'app',
      ver: '1.0',
    };
    return { token: signJwt(this.key, claims), claims };
  }

  /** The JSON body of a successful token request. */
  respond(principal: Principal, resource: string, issuer: string, extExpiresIn = false): TokenResponse {
    const { token, claims } = this.issue(principal, resource, issuer);
    const expiresIn = claims.exp - claims.iat;
    return {
      token_type: 'Bearer',
      access_token: token,
      expires_in: expiresIn,
      expires_on: String(claims.exp),
      resource,
      ...(extExpiresIn ? { ext_expires_in: expiresIn } : {}),
    };
  }
}
