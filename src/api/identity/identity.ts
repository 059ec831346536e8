/**
 * @module api/identity/identity
 * The identity service as the rest of the API sees it: development credentials, principals,
 * token issuing and the two checks every ARM route makes.
 *
 *   const identity = await Identity.open({ dataDir, resourceManager: servers.httpsUrl,
 *                                          caCertPath: servers.tls.certPath });
 *   registerIdentityRoutes(router, identity);
 *   // in an ARM handler:
 *   const principal = identity.authenticate(ctx);            // 401 AuthenticationError
 *   identity.authorize(principal, ctx.param('sub'));         // 403 / 404
 *
 * `authenticate` reads `Authorization: Bearer <jwt>`, verifies signature, expiry and the ARM
 * audience, and maps the token's `oid` to a known principal. It never logs or echoes the token.
 */
import { join } from 'node:path';
import type { HttpContext } from '../http/context.js';
import { loadOrCreateDevCredentials } from './dev-credentials.js';
import type { DevCredentials } from './dev-credentials.js';
import { AuthenticationError } from './errors.js';
import { ARM_AUDIENCES, verifyJwt } from './jwt.js';
import type { AccessTokenClaims } from './jwt.js';
import { Principals } from './principals.js';
import type { Principal } from './principals.js';
import { loadOrCreateSigningKey } from './signing-key.js';
import type { SigningKey } from './signing-key.js';
import { TOKEN_LIFETIME_SECONDS, TokenIssuer } from './tokens.js';

export interface IdentityOptions {
  /** Token lifetime in seconds (default 3600). */
  tokenLifetimeSeconds?: number;
  /** Clock skew tolerated when checking `exp`/`nbf` (default 60 s). */
  clockSkewSeconds?: number;
  /** Seconds since epoch; tests move it. */
  nowSeconds?: () => number;
}

export interface OpenIdentityOptions extends IdentityOptions {
  /** DATA: `dev-credentials.json` and `identity/signing-key.pem` live here. */
  dataDir: string;
  /** The HTTPS URL actually bound, e.g. `https://127.0.0.1:7443/`. */
  resourceManager: string;
  /** Absolute path of the TLS certificate clients must trust. */
  caCertPath: string;
}

/** A verified caller: the principal and the claims of the token it presented. */
export interface Caller extends Principal {
  readonly claims: AccessTokenClaims;
}

export class Identity {
  readonly principals: Principals;
  readonly tokens: TokenIssuer;
  private readonly nowSeconds: () => number;
  private readonly clockSkewSeconds: number;

  constructor(
    readonly credentials: DevCredentials,
    readonly signingKey: SigningKey,
    options: IdentityOptions = {},
  ) {
    this.nowSeconds = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
    this.clockSkewSeconds = options.clockSkewSeconds ?? 60;
    this.principals = new Principals(credentials);
    this.tokens = new TokenIssuer(signingKey, options.tokenLifetimeSeconds ?? TOKEN_LIFETIME_SECONDS, this.nowSeconds);
  }

  /** Loads (or creates on first start) the credentials file and the signing key under `dataDir`. */
  static async open(options: OpenIdentityOptions): Promise<Identity> {
    const credentials = await loadOrCreateDevCredentials(options.dataDir, {
      resourceManager: options.resourceManager,
      caCertPath: options.caCertPath,
    });
    const key = await loadOrCreateSigningKey(join(options.dataDir, 'identity'));
    return new Identity(credentials, key, options);
  }

  get tenantId(): string {
    return this.credentials.tenantId;
  }

  /** Verifies an ARM access token and returns its caller; throws `AuthenticationError`. */
  verifyToken(token: string): Caller {
    const claims = verifyJwt(token, this.signingKey, {
      audiences: ARM_AUDIENCES,
      now: this.nowSeconds(),
      clockSkewSeconds: this.clockSkewSeconds,
    });
    const principal = this.principals.byObjectId(claims.oid);
    if (!principal || principal.clientId !== claims.appid || principal.tenantId !== claims.tid) {
      throw new AuthenticationError('InvalidAuthenticationToken', 'The access token is for an unknown principal.');
    }
    return { ...principal, claims };
  }

  /**
   * The caller of an ARM request (`Authorization: Bearer <jwt>`). Failures are
   * `AuthenticationError`s carrying the ARM code and a `WWW-Authenticate` challenge.
   */
  authenticate(ctx: HttpContext): Caller {
    try {
      return this.verifyToken(bearerToken(ctx.header('authorization')));
    } catch (err) {
      if (err instanceof AuthenticationError) {
        const description = err.message.replace(/["\\]/g, "'");
        err.wwwAuthenticate = `Bearer authorization_uri="${ctx.baseUrl}/${this.tenantId}", error="invalid_token", error_description="${description}"`;
      }
      throw err;
    }
  }

  /** Throws `AuthorizationFailed` (403) or `SubscriptionNotFound` (404); see `Principals.authorize`. */
  authorize(principal: Principal, subscriptionId: string, action?: string): void {
    this.principals.authorize(principal, subscriptionId, action);
  }
}

/** The token of an `Authorization: Bearer` header; `AuthenticationError` when absent or malformed. */
export function bearerToken(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw new AuthenticationError('AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m?.[1]) {
    throw new AuthenticationError(
      'AuthenticationFailed',
      "Authentication failed. The 'Authorization' header is provided in an invalid format.",
    );
  }
  return m[1];
}
