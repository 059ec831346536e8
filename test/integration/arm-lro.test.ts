/**
 * Long-running operations on the wire (azure-api.md §3), with raw requests: the 202 and its
 * headers, the operation-status document, the Location URL answering the final result (resource,
 * AccessUri, empty 200), never 201; ARM-style operations for resource-group delete; and, with
 * work held open by the test, the InProgress shapes (Retry-After 1, 202 from Location) and the
 * Failed ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapdiskError } from '../../src/core/errors.js';
import { armErrorMapper } from '../../src/api/arm/errors.js';
import { Operations, registerOperationRoutes } from '../../src/api/arm/operations.js';
import type { FinalResult } from '../../src/api/arm/operations.js';
import { SasSigner } from '../../src/api/blob/sas.js';
import { simpleRequest, startIdentityTestServer } from '../../src/api/identity/testing.js';
import type { IdentityTestServer } from '../../src/api/identity/testing.js';
import { startEngine } from '../helpers/engine.js';
import type { TestEngine } from '../helpers/engine.js';
import { startArm } from './arm-harness.js';
import type { ArmTest } from './arm-harness.js';

const OP_ID = '[0-9a-f-]{36}';

describe('LRO shapes on the whole server', () => {
  let t: ArmTest;
  const disk = (): string => `/subscriptions/${t.sub}/resourceGroups/rg1/providers/Microsoft.Compute/disks/lro1`;
  beforeAll(async () => {
    t = await startArm();
    await t.group('rg1');
  });
  afterAll(async () => {
    await t.close();
  });

  it('PUT: 202 with Azure-AsyncOperation, Location (&monitor=true), Retry-After; status and Location give the disk', async () => {
    const res = await t.arm('PUT', `${disk()}?api-version=2023-04-02`, { location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 } });
    expect(res.status).toBe(202);
    const asyncUrl = String(res.headers['azure-asyncoperation']);
    expect(asyncUrl).toMatch(new RegExp(`^${t.base}/subscriptions/${t.sub}/providers/Microsoft.Compute/locations/eastus/DiskOperations/${OP_ID}\\?api-version=2023-04-02$`));
    expect(res.headers.location).toBe(`${asyncUrl}&monitor=true`);
    expect(res.headers['retry-after']).toBe('0');
    expect(res.json()).toMatchObject({ name: 'lro1', properties: { provisioningState: 'Succeeded', diskSizeGB: 1 } });

    const status = await t.arm('GET', asyncUrl);
    expect(status.status).toBe(200);
    const doc = status.json() as Record<string, unknown>;
    expect(Object.keys(doc)).toEqual(['startTime', 'endTime', 'status', 'properties', 'name']);
    expect(doc).toMatchObject({ status: 'Succeeded', name: asyncUrl.split('/').pop()?.split('?')[0], properties: { output: { id: disk(), properties: { diskState: 'Unattached' } } } });
    const final = await t.arm('GET', String(res.headers.location));
    expect(final.status).toBe(200);
    expect(final.json()).toMatchObject({ id: disk(), type: 'Microsoft.Compute/disks', properties: { provisioningState: 'Succeeded' } });
  });

  it('beginGetAccess: Location answers the AccessUri; endGetAccess and DELETE: an empty 200', async () => {
    const grant = await t.arm('POST', `${disk()}/beginGetAccess?api-version=2025-01-02`, { access: 'Read', durationInSeconds: 300 });
    expect(grant.status).toBe(202);
    expect(grant.text).toBe('');
    const status = (await t.arm('GET', String(grant.headers['azure-asyncoperation']))).json() as { properties: { output: { accessSAS: string } } };
    expect(status.properties.output.accessSAS).toMatch(new RegExp(`^${t.base}/md-[0-9a-f]{32}/abcd\\?`));
    const final = await t.arm('GET', String(grant.headers.location));
    expect(final.status).toBe(200);
    expect(final.json()).toEqual({ accessSAS: status.properties.output.accessSAS });

    const revoke = await t.arm('POST', `${disk()}/endGetAccess?api-version=2023-04-02`);
    expect(revoke.status).toBe(202);
    const revoked = await t.arm('GET', String(revoke.headers.location));
    expect([revoked.status, revoked.text]).toEqual([200, '']);
    expect(((await t.arm('GET', String(revoke.headers['azure-asyncoperation']))).json() as Record<string, unknown>).properties).toBeUndefined();

    const del = await t.arm('DELETE', disk());
    expect(del.status).toBe(202);
    const deleted = await t.arm('GET', String(del.headers.location));
    expect([deleted.status, deleted.text]).toEqual([200, '']);
    expect((await t.arm('GET', disk())).status).toBe(404);
  });

  it('operations are visible only in their subscription and to callers of it', async () => {
    const res = await t.arm('PUT', `${disk()}x`, { location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 } });
    const url = String(res.headers['azure-asyncoperation']);
    const other = await t.arm('GET', url.replace(t.sub, t.sub2));
    expect(other.status).toBe(404);
    expect(other.json()).toMatchObject({ error: { code: 'NotFound' } });
    const restricted = await t.arm('GET', url, undefined, 'restricted');
    expect(restricted.status).toBe(403);
    expect((await t.arm('GET', url, undefined, null)).status).toBe(401);
  });

  it('resource group DELETE: ARM 202 + Location only; empties the group; then 404 ResourceGroupNotFound', async () => {
    await t.group('rgdel');
    const base = `/subscriptions/${t.sub}/resourceGroups/rgdel/providers/Microsoft.Compute`;
    await t.arm('PUT', `${base}/disks/d1`, { location: 'eastus', properties: { creationData: { createOption: 'Empty' }, diskSizeGB: 1 } });
    await t.arm('PUT', `${base}/snapshots/s1`, { location: 'eastus', properties: { creationData: { createOption: 'Copy', sourceResourceId: `${base}/disks/d1` }, incremental: true } });
    await t.arm('POST', `${base}/snapshots/s1/beginGetAccess`, { access: 'Read', durationInSeconds: 60 });
    const refused = await t.arm('DELETE', `/subscriptions/${t.sub}/resourcegroups/rgdel?api-version=2021-04-01`);
    expect(refused.status).toBe(409);
    expect(refused.json()).toMatchObject({ error: { code: 'OperationNotAllowed', message: expect.stringContaining('active SAS') } });
    expect((await t.arm('GET', `/subscriptions/${t.sub}/resourcegroups/rgdel`)).json()).toMatchObject({ properties: { provisioningState: 'Succeeded' } });
    await t.arm('POST', `${base}/snapshots/s1/endGetAccess`);

    const res = await t.arm('DELETE', `/subscriptions/${t.sub}/resourcegroups/rgdel?api-version=2021-04-01`);
    expect(res.status).toBe(202);
    expect(res.headers['azure-asyncoperation']).toBeUndefined();
    expect(String(res.headers.location)).toMatch(new RegExp(`^${t.base}/subscriptions/${t.sub}/operationresults/${OP_ID}\\?api-version=2021-04-01$`));
    const done = await t.arm('GET', String(res.headers.location));
    expect([done.status, done.text]).toEqual([200, '']);
    const gone = await t.arm('GET', `/subscriptions/${t.sub}/resourcegroups/rgdel`);
    expect(gone.status).toBe(404);
    expect(gone.json()).toMatchObject({ error: { code: 'ResourceGroupNotFound' } });
    expect(await t.server.engine.ctx.catalog.listDisks({ subscriptionId: t.sub, resourceGroup: 'rgdel' })).toEqual([]);
    expect(await t.server.engine.ctx.catalog.listSnapshots({ subscriptionId: t.sub, resourceGroup: 'rgdel' })).toEqual([]);
    expect((await t.arm('DELETE', `/subscriptions/${t.sub}/resourcegroups/rgdel`)).status).toBe(404);
  });
});

describe('operations whose work is still running or fails', () => {
  let srv: IdentityTestServer;
  let te: TestEngine;
  let ops: Operations;
  let gate: { resolve(r: FinalResult): void; reject(e: unknown): void } | undefined;
  let token = '';

  beforeAll(async () => {
    srv = await startIdentityTestServer();
    te = await startEngine();
    const sas = SasSigner.open(`${te.dir}/sas.key`);
    ops = new Operations({ engine: te.engine, sas, render: () => Promise.resolve(null), syncWaitMs: 50 });
    const arm = srv.router.group(armErrorMapper);
    registerOperationRoutes(arm, { engine: te.engine, identity: srv.identity, sas, ops, pageSize: 10 });
    arm.add('POST', '/work/{mode}', (ctx) =>
      ops.start(ctx, {
        subscriptionId: srv.identity.credentials.subscriptionId,
        location: 'eastus',
        kind: 'test',
        style: ctx.param('mode') === 'arm' ? 'arm' : 'compute',
        work: () => new Promise<FinalResult>((resolve, reject) => (gate = { resolve, reject })),
      }, '2024-03-02'),
    );
    token = srv.identity.tokens.issue(srv.identity.principals.development, 'https://management.azure.com/', 'test').token;
  });
  afterAll(async () => {
    await srv.close();
    await te.dispose();
  });

  const get = (url: string) => simpleRequest(url, { headers: { authorization: `Bearer ${token}` }, ca: srv.tls.cert });
  const post = (mode: string) => simpleRequest(`${srv.httpsBase}/work/${mode}`, { method: 'POST', ca: srv.tls.cert });

  it('InProgress: status with Retry-After 1, Location answers 202 + Location + Retry-After; then the result', async () => {
    const res = await post('compute');
    expect(res.status).toBe(202);
    const asyncUrl = String(res.headers['azure-asyncoperation']);
    const running = await get(asyncUrl);
    expect(running.headers['retry-after']).toBe('1');
    expect(Object.keys(running.json() as object)).toEqual(['startTime', 'status', 'name']);
    expect(running.json()).toMatchObject({ status: 'InProgress' });
    const polled = await get(String(res.headers.location));
    expect(polled.status).toBe(202);
    expect(polled.text).toBe('');
    expect(polled.headers.location).toBe(String(res.headers.location));
    expect(polled.headers['retry-after']).toBe('1');
    gate?.resolve({ kind: 'empty', status: 200 });
    await ops.drain();
    expect((await get(asyncUrl)).json()).toMatchObject({ status: 'Succeeded', endTime: expect.any(String) });
    expect((await get(asyncUrl)).headers['retry-after']).toBeUndefined();
    expect((await get(String(res.headers.location))).status).toBe(200);
  });

  it('Failed after the answer: status carries the error; Location answers its status and CloudError', async () => {
    const res = await post('compute');
    gate?.reject(new SnapdiskError('OperationNotAllowed', 'The disk went away.', { hint: 'Try again.' }));
    await ops.drain();
    const status = await get(String(res.headers['azure-asyncoperation']));
    expect(status.json()).toMatchObject({ status: 'Failed', error: { code: 'OperationNotAllowed', message: 'The disk went away. Try again.' } });
    const final = await get(String(res.headers.location));
    expect(final.status).toBe(409);
    expect(final.json()).toEqual({ error: { code: 'OperationNotAllowed', message: 'The disk went away. Try again.' } });
  });

  it('a failure before the answer fails the request itself, as a limit must', async () => {
    gate = undefined;
    const pending = post('compute');
    const opened = async () => {
      for (;;) {
        if (gate) return gate;
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    (await opened()).reject(new SnapdiskError('TooManyRequests', 'Slow down.', { retryAfterSeconds: 42 }));
    const res = await pending;
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('42');
    expect(res.json()).toEqual({ error: { code: 'OperationNotAllowed', message: 'Slow down.', details: [{ code: 'TooManyRequests', message: 'Slow down.' }] } });
  });

  it('ARM-style: 202 with Location only, 202 while running, then the final status (204 for a move)', async () => {
    const res = await post('arm');
    expect(res.headers['azure-asyncoperation']).toBeUndefined();
    const url = String(res.headers.location);
    expect(url).toMatch(new RegExp(`/subscriptions/${srv.identity.credentials.subscriptionId}/operationresults/${OP_ID}\\?api-version=2024-03-02$`));
    expect((await get(url)).status).toBe(202);
    gate?.resolve({ kind: 'empty', status: 204 });
    await ops.drain();
    expect((await get(url)).status).toBe(204);
    const wrongStyle = url.replace('/operationresults/', '/providers/Microsoft.Compute/locations/eastus/DiskOperations/');
    expect((await get(wrongStyle)).status).toBe(404);
  });
});
