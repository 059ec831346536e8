/**
 * `snapdisk serve` as a process (the built CLI, as `npm start` runs it): the banner, /healthz,
 * the environment variables of the contract, exit codes for configuration and port errors, the
 * usage of other commands, and a clean exit 0 on SIGTERM and SIGINT with the data flushed.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleRequest } from '../../src/api/identity/testing.js';
import { cliBuilt, runCli, startServe } from '../e2e/snapdisk-process.js';

const built = cliBuilt();
if (!built) console.warn('arm-serve.test.ts skipped: dist/ is missing (npm test runs npm run build first).');

describe.skipIf(!built)('snapdisk serve', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'snapdisk-serve-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints endpoints, CA path and credentials; /healthz is 200; SIGTERM exits 0 and keeps the data', async () => {
    const data = join(dir, 'a');
    const s = await startServe(data);
    const creds = JSON.parse(await readFile(join(data, 'dev-credentials.json'), 'utf8')) as Record<string, string>;
    const out = s.stdout();
    expect(s.caCert).toBe(join(data, 'tls', 'cert.pem'));
    for (const key of ['tenantId', 'subscriptionId', 'secondarySubscriptionId', 'clientId', 'clientSecret', 'restrictedClientId', 'restrictedClientSecret']) {
      expect(out).toContain(String(creds[key]));
    }
    expect(creds.resourceManager).toBe(s.arm);
    expect(out).toContain(`az cloud register -n snapdisk --endpoint-resource-manager ${s.arm}`);
    expect(out).toContain(`export MSI_ENDPOINT=${s.http}msi/token`);
    expect((await simpleRequest(`${s.http}healthz`)).status).toBe(200);
    expect((await simpleRequest(`${s.arm}healthz`, { ca: await readFile(s.caCert, 'utf8') })).json()).toEqual({ status: 'ok' });
    const token = await simpleRequest(`${s.http}msi/token?resource=https://management.azure.com/`, { headers: { metadata: 'true' } });
    const put = await simpleRequest(`${s.arm}subscriptions/${creds.subscriptionId}/resourcegroups/kept?api-version=2021-04-01`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${(token.json() as { access_token: string }).access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ location: 'westus' }),
      ca: await readFile(s.caCert, 'utf8'),
    });
    expect(put.status).toBe(201);
    expect(s.stderr()).not.toContain(creds.clientSecret);
    expect(await s.stop('SIGTERM')).toBe(0);
    expect(s.stdout()).toContain('SIGTERM received');
    expect(s.stdout()).toContain('snapdisk: stopped.');

    const again = await startServe(data, [], { ...process.env, SNAPDISK_LOG: '1' });
    const token2 = await simpleRequest(`${again.http}msi/token?resource=https://management.azure.com/`, { headers: { metadata: 'true' } });
    const kept = await simpleRequest(`${again.arm}subscriptions/${creds.subscriptionId}/resourcegroups/kept?api-version=2021-04-01`, {
      headers: { authorization: `Bearer ${(token2.json() as { access_token: string }).access_token}` },
      ca: await readFile(again.caCert, 'utf8'),
    });
    expect(kept.json()).toMatchObject({ name: 'kept', location: 'westus' });
    expect(again.stdout()).toContain(String(creds.clientSecret));
    expect(await again.stop('SIGINT')).toBe(0);
    expect(again.stderr()).toContain('"path":"/subscriptions/');
    expect(again.stderr()).not.toContain('access_token');
    expect(again.stderr()).not.toContain(String(creds.clientSecret));
  });

  it('reads SNAPDISK_DATA, SNAPDISK_HOST and the port variables', async () => {
    const data = join(dir, 'env');
    const env = { ...process.env, SNAPDISK_DATA: data, SNAPDISK_HOST: '127.0.0.1', SNAPDISK_PORT: '0', SNAPDISK_HTTP_PORT: '0', SNAPDISK_NBD_PORT: '0' };
    const r = await runCli(['serve', '--port', 'x'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--port must be a port number from 0 to 65535, not 'x'");
    const s = await startServe(data, [], env);
    expect(s.caCert).toBe(join(data, 'tls', 'cert.pem'));
    expect(await s.stop()).toBe(0);
  });

  it('a configuration error names the key and exits 2; a busy port exits 1 with what to do', async () => {
    const cfg = join(dir, 'bad.json');
    await writeFile(cfg, JSON.stringify({ limits: { incrementalSnapshotsPerDsk: 3 } }));
    const bad = await runCli(['serve', '--data', join(dir, 'c'), '--port', '0', '--http-port', '0', '--config', cfg]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown key "limits.incrementalSnapshotsPerDsk"');
    const missing = await runCli(['serve', '--data', join(dir, 'c'), '--config', join(dir, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('does not exist');

    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const busy = await runCli(['serve', '--data', join(dir, 'd'), '--port', String(port), '--http-port', '0']);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain(`${port}`);
      expect(busy.stderr).toContain('Another server uses the port');
    } finally {
      blocker.close();
    }
  });

  it('other commands print the usage', async () => {
    const none = await runCli([]); // like az without arguments: the usage on stdout, exit 0
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('Usage: snapdisk <command>');
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    const help = await runCli(['serve', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--nbd-port P3');
    expect((await runCli(['--version'])).stdout).toMatch(/^snapdisk \d+\.\d+\.\d+/);
  });
});
