/**
 * @module api/http/router.test
 * Router matching (case-insensitive literals, decoded params, slashes, specificity), error
 * mapping per group, opaque 500s, the context helpers and the request log — through a plain
 * `node:http` server on port 0.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapdiskError } from '../../core/errors.js';
import { simpleRequest } from '../identity/testing.js';
import { isLoopback, splitTarget } from './context.js';
import type { ErrorMapper } from './errors.js';
import type { RequestLogEntry } from './request-log.js';
import { redactTarget } from './request-log.js';
import { Router } from './router.js';

const DISK = '/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/{name}';
const logs: RequestLogEntry[] = [];
const router = new Router({ log: (e) => logs.push(e) });
let server: Server;
let base = '';

const xmlMapper: ErrorMapper = (err) => ({
  status: err.code === 'ResourceNotFound' ? 404 : 400,
  headers: { 'x-ms-error-code': err.code },
  body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${err.code}</Code></Error>`,
  contentType: 'application/xml',
});

beforeAll(async () => {
  router.add('GET', DISK, (ctx) => ctx.json(200, { params: ctx.params, path: ctx.path }));
  router.add('GET', '/{tenant}/oauth2/token', (ctx) => ctx.json(200, { generic: ctx.param('tenant') }));
  router.add('GET', '/adfs/oauth2/token', (ctx) => ctx.json(200, { adfs: true }));
  router.add(['GET', 'POST'], '/metadata/endpoints', (ctx) =>
    ctx.json(200, { baseUrl: ctx.baseUrl, scheme: ctx.scheme, host: ctx.host, q: ctx.query.get('api-version') }),
  );
  router.add('POST', '/echo', async (ctx) => ctx.json(200, { body: await ctx.readJson(100) }));
  router.add('POST', '/raw', async (ctx) => ctx.json(200, { len: (await ctx.readBody(1024)).length }));
  router.add('GET', '/boom', () => {
    throw new Error('secret database password in a stack');
  });
  router.add('GET', '/limit', () => {
    throw new SnapdiskError('TooManyRequests', 'Slow down.', { retryAfterSeconds: 7 });
  });
  router.add('GET', '/midstream', (ctx) => {
    ctx.res.writeHead(200, { 'content-length': 100 });
    ctx.res.write('partial');
    throw new SnapdiskError('IntegrityError', 'chunk hash mismatch');
  });
  router.add('GET', '/empty', (ctx) => ctx.empty(204));
  router.group(xmlMapper).add('GET', '/blob/{id}', () => {
    throw new SnapdiskError('ResourceNotFound', 'no such blob');
  });
  server = createServer(router.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('Router.match', () => {
  it('matches literals case-insensitively and decodes params', () => {
    const m = router.match('get', '/SUBSCRIPTIONS/s1/resourcegroups/my%20rg/PROVIDERS/microsoft.compute/DISKS/d1');
    expect(m).toEqual({ pattern: DISK, params: { sub: 's1', rg: 'my rg', name: 'd1' } });
  });

  it('normalises leading double slashes and ignores one trailing slash', () => {
    expect(router.match('GET', '//metadata/endpoints')?.pattern).toBe('/metadata/endpoints');
    expect(router.match('GET', '/metadata/endpoints/')?.pattern).toBe('/metadata/endpoints');
    expect(router.match('GET', '/metadata')).toBeUndefined();
  });

  it('prefers the most specific pattern (literal beats parameter)', () => {
    expect(router.match('GET', '/adfs/oauth2/token')?.pattern).toBe('/adfs/oauth2/token');
    expect(router.match('GET', '/t1/oauth2/token')?.params).toEqual({ tenant: 't1' });
  });

  it('does not match empty parameter segments or other methods', () => {
    expect(router.match('GET', '/subscriptions//resourceGroups/rg/providers/Microsoft.Compute/disks/d')).toBeUndefined();
    expect(router.match('DELETE', '/metadata/endpoints')).toBeUndefined();
  });

  it('rejects unsupported pattern syntax at registration', () => {
    expect(() => new Router().add('GET', '/a/x{y}', () => undefined)).toThrow(/Unsupported/);
  });
});

describe('dispatch over node:http', () => {
  it('runs the handler with params, path and request id', async () => {
    const res = await simpleRequest(`${base}/Subscriptions/s/ResourceGroups/r/providers/Microsoft.Compute/disks/n%2Fx`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ params: { sub: 's', rg: 'r', name: 'n/x' }, path: '/Subscriptions/s/ResourceGroups/r/providers/Microsoft.Compute/disks/n%2Fx' });
    expect(res.headers['x-ms-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('reports scheme and host as the client addressed the server; serves //metadata/endpoints', async () => {
    const port = new URL(base).port;
    const res = await simpleRequest(`${base}//metadata/endpoints?api-version=2015-01-01`, {
      headers: { host: `localhost:${port}`, 'x-ms-client-request-id': 'abc-123' },
    });
    expect(res.json()).toEqual({ baseUrl: `http://localhost:${port}`, scheme: 'http', host: `localhost:${port}`, q: '2015-01-01' });
    expect(res.headers['x-ms-client-request-id']).toBe('abc-123');
    const bad = await simpleRequest(`${base}/metadata/endpoints`, { headers: { host: 'evil"/><x' } });
    expect((bad.json() as { host: string }).host).toBe(`127.0.0.1:${port}`);
  });

  it('unknown path: 404 with the default JSON error', async () => {
    const res = await simpleRequest(`${base}/nope`);
    expect(res.status).toBe(404);
    expect(res.json()).toMatchObject({ error: { code: 'NotFound' } });
  });

  it('known path, other method: 405 with Allow', async () => {
    const res = await simpleRequest(`${base}/metadata/endpoints`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, POST');
  });

  it('a group mapper renders its own wire form', async () => {
    const res = await simpleRequest(`${base}/blob/x`);
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('application/xml');
    expect(res.headers['x-ms-error-code']).toBe('ResourceNotFound');
    expect(res.text).toContain('<Code>ResourceNotFound</Code>');
  });

  it('unknown exceptions become an opaque 500 InternalError (stack only in the log)', async () => {
    const res = await simpleRequest(`${base}/boom`);
    expect(res.status).toBe(500);
    expect(res.json()).toMatchObject({ error: { code: 'InternalError' } });
    expect(res.text).not.toContain('password');
    expect(res.text).not.toContain('router.test');
    const entry = logs.find((e) => e.path === '/boom');
    expect(entry?.error?.stack).toContain('secret database password');
  });

  it('Retry-After comes from the error', async () => {
    const res = await simpleRequest(`${base}/limit`);
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('7');
  });

  it('an error after the response started destroys the socket', async () => {
    await expect(simpleRequest(`${base}/midstream`)).rejects.toThrow();
  });

  it('readJson: parses, 400 on malformed JSON, 400 on too large', async () => {
    const ok = await simpleRequest(`${base}/echo`, { method: 'POST', body: '{"a":1}' });
    expect(ok.json()).toEqual({ body: { a: 1 } });
    const empty = await simpleRequest(`${base}/echo`, { method: 'POST' });
    expect(empty.json()).toEqual({});
    const bad = await simpleRequest(`${base}/echo`, { method: 'POST', body: '{"a":' });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'BadRequest' } });
    const big = await simpleRequest(`${base}/echo`, { method: 'POST', body: JSON.stringify({ a: 'x'.repeat(200) }) });
    expect(big.status).toBe(400);
    expect(big.headers.connection).toBe('close');
  });

  it('readBody: chunked bodies are counted too', async () => {
    const ok = await simpleRequest(`${base}/raw`, { method: 'POST', body: 'x'.repeat(1000), headers: { 'transfer-encoding': 'chunked' } });
    expect(ok.json()).toEqual({ len: 1000 });
    const big = await simpleRequest(`${base}/raw`, { method: 'POST', body: 'x'.repeat(5000), headers: { 'transfer-encoding': 'chunked' } });
    expect(big.status).toBe(400);
  });

  it('empty(204) sends no body', async () => {
    const res = await simpleRequest(`${base}/empty`);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
  });
});

describe('request log', () => {
  it('one entry per request with status, duration and bytes; secrets redacted', async () => {
    await simpleRequest(`${base}/metadata/endpoints?api-version=1&sig=SECRETSIG&client_secret=SECRET2&Token=T3`);
    const entry = logs.find((e) => e.path.startsWith('/metadata/endpoints?api-version=1'));
    expect(entry).toMatchObject({ method: 'GET', status: 200, ip: '127.0.0.1', scheme: 'http' });
    expect(entry?.bytes).toBeGreaterThan(10);
    expect(entry?.durationMs).toBeGreaterThanOrEqual(0);
    expect(entry?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    const text = JSON.stringify(logs);
    for (const secret of ['SECRETSIG', 'SECRET2', 'T3']) expect(text).not.toContain(secret);
    expect(entry?.path).toBe('/metadata/endpoints?api-version=1&sig=REDACTED&client_secret=REDACTED&Token=REDACTED');
  });

  it('redactTarget keeps other parameters', () => {
    expect(redactTarget('/abcd', new URLSearchParams('sv=2020&sig=x%2By&comp=page'))).toBe('/abcd?sv=2020&sig=REDACTED&comp=page');
  });
});

describe('context helpers', () => {
  it('splitTarget normalises leading slashes and absolute-form targets', () => {
    expect(splitTarget('//metadata/endpoints?api-version=1').path).toBe('/metadata/endpoints');
    expect(splitTarget('http://h:1//a/b?x=1').path).toBe('/a/b');
    expect(splitTarget('/a?b=1&c=2').query.get('c')).toBe('2');
  });

  it('isLoopback', () => {
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('127.8.9.10')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('10.0.0.1')).toBe(false);
    expect(isLoopback('')).toBe(false);
  });
});
