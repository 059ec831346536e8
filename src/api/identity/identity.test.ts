/**
 * @module api/identity/identity.test
 * `Identity.authenticate`/`authorize` as ARM routes use them, end to end: a stub ARM route on a
 * real HTTPS server, called by @azure/arm-compute with a ClientSecretCredential and by raw
 * requests. The stub's error mapper shows how the ARM mapper reads `armErrorCode` and
 * `wwwAuthenticate` (the real one lives in api/arm, written separately).
 */
import { ClientSecretCredential } from '@azure/identity';
import { ComputeManagementClient } from '@azure/arm-compute';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_STATUS } from '../http/errors.js';
import type { ErrorMapper } from '../http/errors.js';
import { AuthenticationError, armErrorCode } from './errors.js';
import { simpleRequest, startIdentityTestServer } from './testing.js';
import type { IdentityTestServer } from './testing.js';

let srv: IdentityTestServer;
const DISK = '/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/{name}';

const stubArmMapper: ErrorMapper = (err) => ({
  status: DEFAULT_STATUS[err.code],
  headers: err instanceof AuthenticationError && err.wwwAuthenticate ? { 'www-authenticate': err.wwwAuthenticate } : {},
  body: JSON.stringify({ error: { code: armErrorCode(err), message: err.fullMessage } }),
  contentType: 'application/json; charset=utf-8',
});

beforeAll(async () => {
  srv = await startIdentityTestServer();
  srv.router.group(stubArmMapper).add('GET', DISK, (ctx) => {
    const caller = srv.identity.authenticate(ctx);
    srv.identity.authorize(caller, ctx.param('sub'), 'Microsoft.Compute/disks/read');
    const id = `/subscriptions/${ctx.param('sub')}/resourceGroups/${ctx.param('rg')}/providers/Microsoft.Compute/disks/${ctx.param('name')}`;
    ctx.json(200, {
      id,
      name: ctx.param('name'),
      type: 'Microsoft.Compute/disks',
      location: 'eastus',
      tags: { caller: caller.kind },
      properties: { diskSizeGB: 1, provisioningState: 'Succeeded' },
    });
  });
});
afterAll(async () => {
  await srv.close();
});

function compute(clientId: string, secret: string, subscriptionId: string): ComputeManagementClient {
  const tlsOptions = { ca: srv.tls.cert };
  const credential = new ClientSecretCredential(srv.identity.tenantId, clientId, secret, {
    authorityHost: srv.httpsBase,
    disableInstanceDiscovery: true,
    tlsOptions,
  });
  return new ComputeManagementClient(credential, subscriptionId, {
    endpoint: srv.httpsBase,
    tlsOptions,
    retryOptions: { maxRetries: 0 },
  });
}

describe('authenticate + authorize behind @azure/arm-compute', () => {
  it('development principal reads a disk in both subscriptions', async () => {
    const c = srv.identity.credentials;
    for (const sub of [c.subscriptionId, c.secondarySubscriptionId]) {
      const disk = await compute(c.clientId, c.clientSecret, sub).disks.get('rg1', 'd1');
      expect(disk.name).toBe('d1');
      expect(disk.tags).toEqual({ caller: 'development' });
    }
  });

  it('restricted principal: secondary subscription only (403 AuthorizationFailed)', async () => {
    const c = srv.identity.credentials;
    const ok = await compute(c.restrictedClientId, c.restrictedClientSecret, c.secondarySubscriptionId).disks.get('rg', 'd');
    expect(ok.tags).toEqual({ caller: 'restricted' });
    await expect(
      compute(c.restrictedClientId, c.restrictedClientSecret, c.subscriptionId).disks.get('rg', 'd'),
    ).rejects.toMatchObject({ statusCode: 403, code: 'AuthorizationFailed' });
  });
});

describe('authenticate: failures', () => {
  const url = (): string =>
    `${srv.httpsBase}/subscriptions/${srv.identity.credentials.subscriptionId}/resourceGroups/rg/providers/Microsoft.Compute/disks/d`;
  const get = (headers: Record<string, string>) => simpleRequest(url(), { headers, ca: srv.tls.cert });

  it('no Authorization header: 401 AuthenticationFailed with a challenge', async () => {
    const res = await get({});
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ error: { code: 'AuthenticationFailed' } });
    expect(res.headers['www-authenticate']).toMatch(/^Bearer authorization_uri="https:\/\/127\.0\.0\.1:\d+\//);
  });

  it('garbage or tampered token: 401 InvalidAuthenticationToken', async () => {
    expect((await get({ authorization: 'Bearer abc.def.ghi' })).json()).toMatchObject({
      error: { code: 'InvalidAuthenticationToken' },
    });
    const { token } = srv.identity.tokens.issue(srv.identity.principals.restricted, 'https://management.azure.com/', 'x');
    const [h, p, s] = token.split('.');
    const payload = JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...payload, oid: srv.identity.principals.development.objectId })).toString('base64url');
    const res = await get({ authorization: `Bearer ${h}.${forged}.${s}` });
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ error: { code: 'InvalidAuthenticationToken' } });
  });

  it('token for another audience: 401 InvalidAuthenticationTokenAudience', async () => {
    const { token } = srv.identity.tokens.issue(srv.identity.principals.development, 'https://storage.azure.com/', 'x');
    const res = await get({ authorization: `Bearer ${token}` });
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ error: { code: 'InvalidAuthenticationTokenAudience' } });
  });

  it('both ARM audiences, with and without trailing slash, are accepted', async () => {
    const dev = srv.identity.principals.development;
    for (const aud of [
      'https://management.azure.com/',
      'https://management.azure.com',
      'https://management.core.windows.net/',
      'https://management.core.windows.net',
    ]) {
      const { token } = srv.identity.tokens.issue(dev, aud, 'x');
      expect((await get({ authorization: `Bearer ${token}` })).status).toBe(200);
    }
  });

  it('a token whose principal is unknown is refused even with a valid signature', async () => {
    const ghost = { ...srv.identity.principals.development, objectId: '00000000-0000-0000-0000-000000000000' };
    const { token } = srv.identity.tokens.issue(ghost, 'https://management.azure.com/', 'x');
    expect(() => srv.identity.verifyToken(token)).toThrow(/unknown principal/);
  });

  it('unknown subscription: 404 SubscriptionNotFound', async () => {
    const { token } = srv.identity.tokens.issue(srv.identity.principals.development, 'https://management.azure.com/', 'x');
    const res = await simpleRequest(
      `${srv.httpsBase}/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Compute/disks/d`,
      { headers: { authorization: `Bearer ${token}` }, ca: srv.tls.cert },
    );
    expect(res.status).toBe(404);
    expect(res.json()).toMatchObject({ error: { code: 'SubscriptionNotFound' } });
  });
});
