/**
 * @module api/identity/routes.test
 * The identity endpoints over a real HTTPS/HTTP server on port 0, driven by the real clients:
 * @azure/identity `ClientSecretCredential` (AAD v2 and ADFS authorities) and
 * `ManagedIdentityCredential` (MSI_ENDPOINT), plus raw requests for the exact wire shapes.
 */
import { ClientSecretCredential, ManagedIdentityCredential } from '@azure/identity';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from './jwt.js';
import { simpleRequest, startIdentityTestServer } from './testing.js';
import type { IdentityTestServer } from './testing.js';

let srv: IdentityTestServer;
const ARM = 'https://management.azure.com/.default';

beforeAll(async () => {
  srv = await startIdentityTestServer();
});
afterAll(async () => {
  await srv.close();
});

const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();
const FORM_HEADERS = { 'content-type': 'application/x-www-form-urlencoded' };

function credential(tenant: string, clientId: string, secret: string): ClientSecretCredential {
  return new ClientSecretCredential(tenant, clientId, secret, {
    authorityHost: srv.httpsBase,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: srv.tls.cert },
    retryOptions: { maxRetries: 0 },
  });
}

describe('AAD v2 client credentials with @azure/identity', () => {
  it('ClientSecretCredential: issues a verifiable ARM token for the development principal', async () => {
    const c = srv.identity.credentials;
    const token = await credential(c.tenantId, c.clientId, c.clientSecret).getToken(ARM);
    const caller = srv.identity.verifyToken(token.token);
    expect(caller.kind).toBe('development');
    expect(caller.claims.aud).toBe('https://management.azure.com');
    expect(caller.claims.tid).toBe(c.tenantId);
    expect(caller.claims.appid).toBe(c.clientId);
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 50 * 60_000);
  });

  it('ClientSecretCredential: restricted principal gets its own identity', async () => {
    const c = srv.identity.credentials;
    const token = await credential(c.tenantId, c.restrictedClientId, c.restrictedClientSecret).getToken(ARM);
    expect(srv.identity.verifyToken(token.token).kind).toBe('restricted');
  });

  it('ClientSecretCredential: a wrong secret is rejected with invalid_client', async () => {
    const c = srv.identity.credentials;
    await expect(credential(c.tenantId, c.clientId, 'wrong').getToken(ARM)).rejects.toThrow(/invalid_client|AADSTS7000215/);
  });

  it('token endpoint: wire shape, scope mapping, extra query ignored, 401 invalid_client', async () => {
    const c = srv.identity.credentials;
    const url = `${srv.httpsBase}/${c.tenantId}/oauth2/v2.0/token?client-request-id=abc`;
    const body = form({
      grant_type: 'client_credentials',
      client_id: c.clientId,
      client_secret: c.clientSecret,
      scope: 'https://management.core.windows.net//.default',
    });
    const ok = await simpleRequest(url, { method: 'POST', headers: FORM_HEADERS, body, ca: srv.tls.cert });
    expect(ok.status).toBe(200);
    const json = ok.json() as Record<string, unknown>;
    expect(Object.keys(json).sort()).toEqual(['access_token', 'expires_in', 'expires_on', 'ext_expires_in', 'resource', 'token_type']);
    expect(json).toMatchObject({ token_type: 'Bearer', expires_in: 3600, resource: 'https://management.core.windows.net/' });
    expect(typeof json.expires_on).toBe('string');
    expect(decodeJwt(String(json.access_token)).payload.aud).toBe('https://management.core.windows.net/');

    const bad = await simpleRequest(url, {
      method: 'POST',
      headers: FORM_HEADERS,
      body: form({ grant_type: 'client_credentials', client_id: c.clientId, client_secret: 'nope', scope: ARM }),
      ca: srv.tls.cert,
    });
    expect(bad.status).toBe(401);
    expect(bad.json()).toMatchObject({ error: 'invalid_client' });
    expect(bad.text).not.toContain(c.clientSecret);
  });

  it('token endpoint: unsupported grant and unknown tenant are 400', async () => {
    const c = srv.identity.credentials;
    const grant = await simpleRequest(`${srv.httpsBase}/${c.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: FORM_HEADERS,
      body: form({ grant_type: 'password', client_id: c.clientId }),
      ca: srv.tls.cert,
    });
    expect(grant.status).toBe(400);
    expect(grant.json()).toMatchObject({ error: 'unsupported_grant_type' });
    const tenant = await simpleRequest(`${srv.httpsBase}/not-a-tenant/v2.0/.well-known/openid-configuration`, {
      ca: srv.tls.cert,
    });
    expect(tenant.status).toBe(400);
    expect(tenant.json()).toMatchObject({ error: 'invalid_tenant' });
  });

  it('openid-configuration: absolute URLs on the request host; jwks_uri serves the signing key', async () => {
    const c = srv.identity.credentials;
    const base = `https://localhost:${srv.servers.httpsPort}`;
    const doc = (await simpleRequest(`${base}/${c.tenantId}/v2.0/.well-known/openid-configuration`, { ca: srv.tls.cert })).json() as Record<string, string>;
    expect(doc.issuer).toBe(`${base}/${c.tenantId}/v2.0`);
    expect(doc.token_endpoint).toBe(`${base}/${c.tenantId}/oauth2/v2.0/token`);
    expect(doc.authorization_endpoint).toMatch(new RegExp(`^${base}/`));
    expect(doc).toHaveProperty('tenant_region_scope');
    expect(doc).toHaveProperty('response_types_supported');
    const jwks = (await simpleRequest(String(doc.jwks_uri), { ca: srv.tls.cert })).json() as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([srv.identity.signingKey.kid]);
  });
});

describe('ADFS authority (what az uses with a custom cloud)', () => {
  it('ClientSecretCredential with tenant "adfs" goes through /adfs/.well-known and /adfs/oauth2/token', async () => {
    const c = srv.identity.credentials;
    const token = await credential('adfs', c.clientId, c.clientSecret).getToken(
      'https://management.core.windows.net//.default',
    );
    const caller = srv.identity.verifyToken(token.token);
    expect(caller.kind).toBe('development');
    expect(caller.claims.iss).toBe(`${srv.httpsBase}/adfs`);
  });

  it('the exact body az 2.45 sends is accepted', async () => {
    const c = srv.identity.credentials;
    const doc = (await simpleRequest(`${srv.httpsBase}/adfs/.well-known/openid-configuration`, { ca: srv.tls.cert })).json() as Record<string, string>;
    expect(doc.token_endpoint).toBe(`${srv.httpsBase}/adfs/oauth2/token`);
    const body =
      `client_id=${c.clientId}&grant_type=client_credentials&client_info=1&client_secret=${encodeURIComponent(c.clientSecret)}` +
      `&claims=${encodeURIComponent('{"access_token":{"xms_cc":{"values":["CP1"]}}}')}` +
      `&scope=${encodeURIComponent('https://management.core.windows.net//.default')}`;
    const res = await simpleRequest(String(doc.token_endpoint), { method: 'POST', headers: FORM_HEADERS, body, ca: srv.tls.cert });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ token_type: 'Bearer', resource: 'https://management.core.windows.net/' });
    expect(res.json()).not.toHaveProperty('ext_expires_in');
  });
});

describe('managed identity (/msi/token)', () => {
  it('ManagedIdentityCredential via MSI_ENDPOINT gets a development token', async () => {
    const saved = process.env.MSI_ENDPOINT;
    process.env.MSI_ENDPOINT = `${srv.httpBase}/msi/token`;
    try {
      const token = await new ManagedIdentityCredential().getToken(ARM);
      const caller = srv.identity.verifyToken(token.token);
      expect(caller.kind).toBe('development');
    } finally {
      if (saved === undefined) delete process.env.MSI_ENDPOINT;
      else process.env.MSI_ENDPOINT = saved;
    }
  });

  it('answers POST with a form body and GET with a query, exactly the five keys', async () => {
    const resource = 'https://management.core.windows.net/';
    const post = await simpleRequest(`${srv.httpBase}/msi/token`, {
      method: 'POST',
      headers: { ...FORM_HEADERS, metadata: 'true' },
      body: form({ resource }),
    });
    expect(post.status).toBe(200);
    const json = post.json() as Record<string, unknown>;
    expect(Object.keys(json).sort()).toEqual(['access_token', 'expires_in', 'expires_on', 'resource', 'token_type']);
    expect(json.resource).toBe(resource);
    expect(decodeJwt(String(json.access_token)).payload).toMatchObject({ tid: srv.identity.tenantId, aud: resource });
    const get = await simpleRequest(`${srv.httpsBase}/msi/token?resource=${encodeURIComponent(resource)}`, {
      headers: { Metadata: 'true' },
      ca: srv.tls.cert,
    });
    expect(get.status).toBe(200);
  });

  it('requires the Metadata header', async () => {
    const res = await simpleRequest(`${srv.httpBase}/msi/token?resource=x`);
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('refuses requests that came through a proxy', async () => {
    const res = await simpleRequest(`${srv.httpBase}/msi/token?resource=x`, {
      headers: { metadata: 'true', 'x-forwarded-for': '10.1.2.3' },
    });
    expect(res.status).toBe(403);
  });

  const external = Object.values(networkInterfaces())
    .flat()
    .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal);
  it.skipIf(external === undefined)('refuses callers that are not on the loopback interface', async () => {
    const wide = await startIdentityTestServer({ host: '0.0.0.0' });
    try {
      const url = `http://${external?.address ?? ''}:${wide.servers.httpPort}/msi/token?resource=x`;
      const res = await simpleRequest(url, { headers: { metadata: 'true' } });
      expect(res.status).toBe(403);
      const local = await simpleRequest(`${wide.httpBase}/msi/token?resource=x`, { headers: { metadata: 'true' } });
      expect(local.status).toBe(200);
    } finally {
      await wide.close();
    }
  });
});

describe('cloud metadata (/metadata/endpoints)', () => {
  it('answers //metadata/endpoints with the old and new keys on the request base', async () => {
    const res = await simpleRequest(`${srv.httpsBase}//metadata/endpoints?api-version=2015-01-01`, { ca: srv.tls.cert });
    expect(res.status).toBe(200);
    const doc = res.json() as Record<string, unknown>;
    expect(doc).toMatchObject({
      galleryEndpoint: expect.any(String),
      graphEndpoint: expect.any(String),
      portalEndpoint: expect.any(String),
      authentication: {
        loginEndpoint: `${srv.httpsBase}/adfs`,
        audiences: ['https://management.core.windows.net/', 'https://management.azure.com/'],
      },
      resourceManager: `${srv.httpsBase}/`,
      gallery: expect.any(String),
      graph: expect.any(String),
      microsoftGraphResourceId: expect.any(String),
      suffixes: { storage: expect.any(String), keyVaultDns: expect.any(String) },
      name: expect.any(String),
    });
    const plain = (await simpleRequest(`${srv.httpBase}/metadata/endpoints?api-version=2022-09-01`)).json();
    expect(plain).toMatchObject({ resourceManager: `${srv.httpBase}/` });
  });
});
