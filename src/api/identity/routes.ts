/**
 * @module api/identity/routes
 * The identity endpoints (operational-contract.md "Identity endpoints"), on the same router,
 * host and ports as ARM:
 *
 * | route                                              | who calls it                                  |
 * |----------------------------------------------------|-----------------------------------------------|
 * | `GET|POST /msi/token?resource=R` + `Metadata: true`| `MSI_ENDPOINT=… az login --identity`, MSAL    |
 * | `GET /metadata/identity/oauth2/token?resource=R`   | IMDS style (`AZURE_POD_IDENTITY_AUTHORITY_HOST`)|
 * | `GET /{tenant}/v2.0/.well-known/openid-configuration` | MSAL / @azure/identity (AAD v2 authority)  |
 * | `POST /{tenant}/oauth2/v2.0/token` (+ v1 `/oauth2/token`) | client-credentials grant              |
 * | `GET /{tenant}/discovery/v2.0/keys` (+ v1 `/discovery/keys`) | JWKS                               |
 * | `GET /adfs/.well-known/openid-configuration`, `POST /adfs/oauth2/token`, `GET /adfs/discovery/keys` | az with a custom cloud |
 * | `GET /metadata/endpoints` (also `//metadata/endpoints`) | `az cloud register --endpoint-resource-manager` |
 *
 * Managed-identity routes answer loopback callers only (403 otherwise, and for requests that
 * came through a proxy, i.e. carry `X-Forwarded-For`), as IMDS does. Token-endpoint errors use
 * the Azure AD JSON form (`oauthErrorMapper`). Bodies are read with a small limit; secrets from
 * them are never logged (the request log records only the path and a redacted query).
 */
import { SnapdiskError } from '../../core/errors.js';
import { isLoopback } from '../http/context.js';
import type { HttpContext } from '../http/context.js';
import type { Router } from '../http/router.js';
import { adfsConfiguration, adfsIssuer, cloudMetadata, openidConfiguration, tenantIssuer } from './documents.js';
import { OAuthError, oauthErrorMapper } from './errors.js';
import type { Identity } from './identity.js';
import { jwksOf } from './signing-key.js';
import { resourceFromScope } from './tokens.js';

const FORM_LIMIT = 64 * 1024;
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };
const TENANT_ALIASES = new Set(['common', 'organizations']);

function checkTenant(identity: Identity, tenant: string): void {
  if (TENANT_ALIASES.has(tenant.toLowerCase()) || tenant.toLowerCase() === identity.tenantId.toLowerCase()) return;
  throw new OAuthError(
    'invalid_tenant',
    `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID.`,
    90002,
  );
}

/** Client id and secret from `Authorization: Basic` (client_secret_basic), if present. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const unescape = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));
  try {
    return { id: unescape(decoded.slice(0, colon)), secret: unescape(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

type Flavour = 'v2' | 'v1' | 'adfs';

/** The client-credentials grant shared by the AAD v2, AAD v1 and ADFS token endpoints. */
async function clientCredentialsGrant(ctx: HttpContext, identity: Identity, flavour: Flavour): Promise<void> {
  const form = await ctx.readForm(FORM_LIMIT);
  const grant = form.get('grant_type');
  if (grant !== 'client_credentials') {
    throw new OAuthError('unsupported_grant_type', `The grant type '${grant ?? ''}' is not supported; use client_credentials.`, 70003);
  }
  const basic = basicCredentials(ctx.header('authorization'));
  const clientId = form.get('client_id') ?? basic?.id;
  const secret = form.get('client_secret') ?? basic?.secret;
  if (!clientId) throw new OAuthError('invalid_request', "The request body must contain the parameter 'client_id'.", 900144);
  if (!secret) throw new OAuthError('invalid_client', "The request body must contain 'client_secret'.", 7000218);
  const principal = identity.principals.authenticate(clientId, secret);
  if (!principal) {
    throw new OAuthError('invalid_client', `Invalid client secret provided for application '${clientId}'.`, 7000215);
  }
  const scope = form.get('scope');
  const resource = scope !== null ? resourceFromScope(scope) : (form.get('resource') ?? undefined);
  if (!resource) {
    const param = flavour === 'v2' ? 'scope' : 'resource';
    throw new OAuthError('invalid_request', `The request body must contain the parameter '${param}'.`, 900144);
  }
  const issuer = flavour === 'adfs' ? adfsIssuer(ctx.baseUrl) : tenantIssuer(ctx.baseUrl, identity.tenantId);
  ctx.json(200, identity.tokens.respond(principal, resource, issuer, flavour === 'v2'), NO_STORE);
}

/** `/msi/token` and the IMDS path: a token for the development principal, loopback callers only. */
async function managedIdentityToken(ctx: HttpContext, identity: Identity): Promise<void> {
  if (!isLoopback(ctx.ip) || ctx.header('x-forwarded-for') !== undefined) {
    throw new SnapdiskError('AuthorizationFailed', 'The managed identity endpoint only answers callers on this machine.');
  }
  if ((ctx.header('metadata') ?? '').toLowerCase() !== 'true') {
    throw new OAuthError('invalid_request', 'Required metadata header not specified.');
  }
  let resource = ctx.query.get('resource');
  if (!resource && ctx.method === 'POST') resource = (await ctx.readForm(FORM_LIMIT)).get('resource');
  if (!resource) throw new OAuthError('invalid_request', "Required query variable 'resource' is missing.");
  const principal = identity.principals.development;
  const issuer = tenantIssuer(ctx.baseUrl, identity.tenantId);
  ctx.json(200, identity.tokens.respond(principal, resource, issuer), NO_STORE);
}

/** Registers every identity route on `router` (OAuth-style errors; JSON for cloud metadata). */
export function registerIdentityRoutes(router: Router, identity: Identity): void {
  const oauth = router.group(oauthErrorMapper);
  const jwks = (ctx: HttpContext): void => ctx.json(200, jwksOf(identity.signingKey));
  const openid = (ctx: HttpContext): void => {
    checkTenant(identity, ctx.param('tenant'));
    ctx.json(200, openidConfiguration(ctx.baseUrl, identity.tenantId));
  };
  const tenantToken = (flavour: Flavour) => async (ctx: HttpContext): Promise<void> => {
    checkTenant(identity, ctx.param('tenant'));
    await clientCredentialsGrant(ctx, identity, flavour);
  };

  oauth.add(['GET', 'POST'], '/msi/token', (ctx) => managedIdentityToken(ctx, identity));
  oauth.add('GET', '/metadata/identity/oauth2/token', (ctx) => managedIdentityToken(ctx, identity));

  oauth.add('GET', '/{tenant}/v2.0/.well-known/openid-configuration', openid);
  oauth.add('GET', '/{tenant}/.well-known/openid-configuration', openid);
  oauth.add('POST', '/{tenant}/oauth2/v2.0/token', tenantToken('v2'));
  oauth.add('POST', '/{tenant}/oauth2/token', tenantToken('v1'));
  oauth.add('GET', '/{tenant}/discovery/v2.0/keys', (ctx) => {
    checkTenant(identity, ctx.param('tenant'));
    jwks(ctx);
  });
  oauth.add('GET', '/{tenant}/discovery/keys', (ctx) => {
    checkTenant(identity, ctx.param('tenant'));
    jwks(ctx);
  });

  oauth.add('GET', '/adfs/.well-known/openid-configuration', (ctx) => ctx.json(200, adfsConfiguration(ctx.baseUrl)));
  oauth.add('POST', '/adfs/oauth2/token', (ctx) => clientCredentialsGrant(ctx, identity, 'adfs'));
  oauth.add('GET', '/adfs/discovery/keys', jwks);

  router.add('GET', '/metadata/endpoints', (ctx) => ctx.json(200, cloudMetadata(ctx.baseUrl)));
}
