/**
 * The snapdisk client commands against a real server (in-process, port 0): connection defaults,
 * login/account, groups, disks, snapshots (incremental, full, cross-location CopyStart), grants,
 * waits, usage, exit codes, usage errors that name the option, --help on every command.
 */

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { startCli } from './cli-harness.js';
import type { CliTest } from './cli-harness.js';

let t: CliTest;
beforeAll(async () => {
  t = await startCli({ limits: { incrementalSnapshotsPerDiskPer5Minutes: 1000 } });
});
afterAll(async () => {
  await t?.close();
});

type Obj = Record<string, unknown>;

describe('cli: connection and account', () => {
  it('uses the local development server of SNAPDISK_DATA by default', async () => {
    const r = await t.run('account show');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ id: t.sub, name: 'snapdisk development', isDefault: true, environmentName: 'snapdisk', user: { type: 'servicePrincipal' } });
  });

  it('without a server configured: a clear error with a hint, exit 1', async () => {
    const r = await t.run('disk list', { env: { SNAPDISK_DATA: join(t.dir, 'nowhere') } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('dev-credentials.json does not exist');
    expect(r.stderr).toContain('Hint: Start a local server with `snapdisk serve`');
  });

  it('account list (az table columns), account set by name, --subscription by name and id', async () => {
    const table = await t.run('account list -o table');
    expect(table.stdout.split('\n')[0]).toMatch(/^Name\s+CloudName\s+SubscriptionId\s+TenantId\s+State\s+IsDefault$/);
    const sub2 = t.server.credentials.secondarySubscriptionId;
    expect((await t.run('account set --subscription "snapdisk secondary"')).code).toBe(0);
    expect((await t.run('account show --query id -o tsv')).stdout.trim()).toBe(sub2);
    expect((await t.run(`account show --subscription ${t.sub} --query name -o tsv`)).stdout.trim()).toBe('snapdisk development');
    expect((await t.run('account show --subscription "snapdisk development" --query id -o tsv')).stdout.trim()).toBe(t.sub);
    const bad = await t.run('account set -s nope');
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain("The subscription of 'nope' doesn't exist");
    expect((await t.run(`account set -s ${t.sub}`)).code).toBe(0);
  });

  it('login with explicit endpoint and credentials, then logout', async () => {
    const c = t.server.credentials;
    const cfg = { SNAPDISK_CONFIG_DIR: join(t.dir, 'login-config'), SNAPDISK_DATA: join(t.dir, 'nowhere') };
    const wrong = await t.run(['login', '--endpoint', t.server.httpsUrl, '--client-id', c.clientId, '--client-secret', 'wrong', '--tenant', c.tenantId, '--ca-cert', t.server.caCertPath], { env: cfg });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('invalid_client');
    const untrusted = await t.run(['login', '--endpoint', t.server.httpsUrl, '--client-id', c.clientId, '--client-secret', c.clientSecret], { env: cfg });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted[\s\S]*Hint: Trust the server certificate/);
    const ok = await t.run(['login', '--endpoint', t.server.httpsUrl, '--client-id', c.restrictedClientId, '--client-secret', c.restrictedClientSecret, '--ca-cert', t.server.caCertPath], { env: cfg });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json<Obj[]>().map((s) => s.id)).toEqual([c.secondarySubscriptionId]);
    const settings = JSON.parse(await readFile(join(cfg.SNAPDISK_CONFIG_DIR, 'config.json'), 'utf8')) as { login: Obj };
    expect(settings.login).toMatchObject({ endpoint: t.server.httpsUrl, clientId: c.restrictedClientId, tenantId: c.tenantId });
    expect((await stat(join(cfg.SNAPDISK_CONFIG_DIR, 'config.json'))).mode & 0o077).toBe(0);
    // the restricted principal reaches only its subscription
    expect((await t.run('account show --query id -o tsv', { env: cfg })).stdout.trim()).toBe(c.secondarySubscriptionId);
    const denied = await t.run(`group list --subscription ${t.sub}`, { env: cfg });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('AuthorizationFailed');
    expect((await t.run('logout', { env: cfg })).code).toBe(0);
    expect((await t.run('account show', { env: cfg })).code).toBe(1); // back to the (missing) dev server
    const viaData = await t.run(['login', '--data', join(t.dir, 'data')], { env: cfg });
    expect(viaData.code, viaData.stderr).toBe(0);
    expect((await t.run('account show --query id -o tsv', { env: cfg })).stdout.trim()).toBe(t.sub);
  });
});

describe('cli: resource groups', () => {
  it('create, show, list, exists, delete', async () => {
    const created = await t.run('group create -n rg-cli -l eastus --tags team=storage');
    expect(created.code, created.stderr).toBe(0);
    expect(created.json()).toEqual({
      id: `/subscriptions/${t.sub}/resourceGroups/rg-cli`,
      location: 'eastus',
      managedBy: null,
      name: 'rg-cli',
      properties: { provisioningState: 'Succeeded' },
      tags: { team: 'storage' },
      type: 'Microsoft.Resources/resourceGroups',
    });
    expect((await t.run('group show -g rg-cli --query location -o tsv')).stdout).toBe('eastus\n');
    const list = await t.run('group list -o table');
    expect(list.stdout).toMatch(/^Name\s+Location\s+Status\n-+\s+-+\s+-+\n/);
    expect(list.stdout).toMatch(/rg-cli\s+eastus\s+Succeeded/);
    expect((await t.run('group exists -n rg-cli')).stdout).toBe('true\n');
    expect((await t.run('group create -n rg-gone -l westus')).code).toBe(0);
    const noYes = await t.run('group delete -n rg-gone');
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toContain('Use --yes');
    expect((await t.run('group delete -n rg-gone', { stdin: 'n\n' })).code).toBe(1);
    expect((await t.run('group delete -n rg-gone', { stdin: 'y\n' })).code).toBe(0);
    expect((await t.run('group exists -n rg-gone')).stdout).toBe('false\n');
    const missing = await t.run('group show -n rg-gone');
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^ERROR: \(ResourceGroupNotFound\)/);
  });
});

describe('cli: disks', () => {
  it('create (az request shape), show, list, update, delete', async () => {
    const c = await t.run('disk create -g rg-cli -n d1 --size-gb 1 --sku Standard_LRS --tags a=b');
    expect(c.code, c.stderr).toBe(0);
    const d = c.json();
    expect(d).toMatchObject({ name: 'd1', location: 'eastus', diskSizeGb: 1, diskSizeBytes: 1073741824, diskState: 'Unattached', hyperVGeneration: 'V1', sku: { name: 'Standard_LRS', tier: 'Standard' }, tags: { a: 'b' }, resourceGroup: 'rg-cli', creationData: { createOption: 'Empty' } });
    expect(d.timeCreated).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/);
    const table = await t.run('disk show -g rg-cli -n d1 -o table');
    expect(table.stdout).toMatch(/^Name\s+ResourceGroup\s+Location\s+Zones\s+Sku\s+SizeGb\s+ProvisioningState\n/);
    expect(table.stdout).toMatch(/\nd1\s+rg-cli\s+eastus\s+Standard_LRS\s+1\s+Succeeded\n$/);
    expect((await t.run('disk create -g rg-cli -n dz --size-gb 2 --sku Premium_ZRS --zone 2 --query zones -o tsv')).stdout).toBe('2\n');
    const list = await t.run('disk list -g rg-cli --query "[].name" -o tsv');
    expect(list.stdout.split('\n').filter(Boolean).sort()).toEqual(['d1', 'dz']);
    expect((await t.run('disk list --query "length(@)"')).stdout.trim()).toBe('2');
    const up = await t.run('disk update -g rg-cli -n d1 --size-gb 2 --tags x=y --query "[diskSizeGb, tags.x]" -o tsv');
    expect(up.stdout).toBe('2\ny\n');
    const shrink = await t.run('disk update -g rg-cli -n d1 --size-gb 1');
    expect(shrink.code).toBe(1);
    expect(shrink.stderr).toMatch(/ERROR: \(\w+\)/);
    expect((await t.run('disk update -g rg-cli -n d1')).code).toBe(2);
    expect((await t.run('disk delete -g rg-cli -n dz --yes')).code).toBe(0);
    expect((await t.run('disk show -g rg-cli -n dz')).code).toBe(3);
    // deleting what is not there is not an error (ARM answers 204)
    expect((await t.run('disk delete -g rg-cli -n dz --yes')).code).toBe(0);
  });

  it('create for upload, and from a source given by name or id (snapshot first, like az)', async () => {
    const u = await t.run('disk create -g rg-cli -n up --upload-type Upload --upload-size-bytes 20972032 --sku Standard_LRS');
    expect(u.code, u.stderr).toBe(0);
    expect(u.json()).toMatchObject({ diskState: 'ReadyToUpload', creationData: { createOption: 'Upload', uploadSizeBytes: 20972032 } });
    const noType = await t.run('disk create -g rg-cli -n up2 --upload-size-bytes 20972032');
    expect(noType.code).toBe(2);
    expect(noType.stderr).toContain('--upload-size-bytes should be used together with --upload-type');
    expect((await t.run('snapshot create -g rg-cli -n d1 --source d1 --incremental true')).code).toBe(0); // a snapshot named like the disk
    const copy = await t.run('disk create -g rg-cli -n from-name --source d1 --sku Standard_LRS');
    expect(copy.code, copy.stderr).toBe(0);
    expect((copy.json().creationData as Obj).sourceResourceId).toBe(`/subscriptions/${t.sub}/resourceGroups/rg-cli/providers/Microsoft.Compute/snapshots/d1`);
    const diskId = `/subscriptions/${t.sub}/resourceGroups/rg-cli/providers/Microsoft.Compute/disks/d1`;
    const byId = await t.run(`disk create -g rg-cli -n from-id --source ${diskId} --sku Standard_LRS --query creationData.sourceResourceId -o tsv`);
    expect(byId.stdout.trim()).toBe(diskId);
    const none = await t.run('disk create -g rg-cli -n x --source nothing-here');
    expect(none.code).toBe(3);
    expect(none.stderr).toContain("no snapshot or disk named 'nothing-here'");
    expect((await t.run('snapshot delete -g rg-cli -n d1')).code).toBe(0);
  });

  it('grant-access, revoke-access, wait', async () => {
    const g = await t.run('disk grant-access -g rg-cli -n d1 --duration-in-seconds 600 --access-level Read');
    expect(g.code, g.stderr).toBe(0);
    expect(Object.keys(g.json()).sort()).toEqual(['accessSas', 'securityDataAccessSas']);
    expect(String(g.json().accessSas)).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/md-[0-9a-f]+\/abcd\?.*sp=r/);
    expect((await t.run('disk show -g rg-cli -n d1 --query diskState -o tsv')).stdout).toBe('ActiveSAS\n');
    expect((await t.run('disk revoke-access -g rg-cli -n d1')).stdout).toBe('');
    expect((await t.run('disk wait -g rg-cli -n d1 --custom "diskState==\'Unattached\'" --interval 0')).code).toBe(0);
    expect((await t.run('disk wait -g rg-cli -n d1 --created')).code).toBe(0);
    expect((await t.run('disk wait -g rg-cli -n never --deleted')).code).toBe(0);
    const timeout = await t.run('disk wait -g rg-cli -n d1 --custom "diskSizeGb==`99`" --interval 0 --timeout 0');
    expect(timeout.code).toBe(1);
    expect(timeout.stderr).toContain('timed-out');
    expect((await t.run('disk wait -g rg-cli -n d1')).code).toBe(2);
    const badWrite = await t.run('disk grant-access -g rg-cli -n d1 --duration-in-seconds 60 --access-level Write');
    expect(badWrite.code).toBe(1);
    expect(badWrite.stderr).toContain('OperationNotAllowed');
  });
});

describe('cli: snapshots', () => {
  it('create incremental and full, show, list with the document query, delete', async () => {
    const id = (await t.run('disk show -g rg-cli -n d1 --query id -o tsv')).stdout.trim();
    const s = await t.run(`snapshot create -g rg-cli -n s1 --source ${id} --incremental true`);
    expect(s.code, s.stderr).toBe(0);
    expect(s.json()).toMatchObject({ name: 's1', incremental: true, provisioningState: 'Succeeded', creationData: { createOption: 'Copy', sourceResourceId: id }, sku: { name: 'Standard_LRS' } });
    expect(s.stdout).toContain('"completionPercent": 100.0');
    const full = await t.run('snapshot create -g rg-cli -n full1 --source d1');
    expect(full.json()).toMatchObject({ incremental: false });
    const table = await t.run(`snapshot list --query "[?creationData.sourceResourceId=='${id}' && incremental]" -g rg-cli --output table`);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Name\s+Location\s+TimeCreated\s+HyperVGeneration\s+DiskSizeGb\s+DiskSizeBytes\s+DiskState\s+UniqueId\s+ProvisioningState\s+Incremental\s+NetworkAccessPolicy\s+PublicNetworkAccess\s+CompletionPercent\s+ResourceGroup$/);
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/^s1\s+eastus\s+\S+\s+V1\s+2\s+2147483648\s+Unattached\s+\S+\s+Succeeded\s+True\s+AllowAll\s+Enabled\s+100\.0\s+rg-cli$/);
    expect((await t.run('snapshot show -n s1 -g rg-cli --query [completionPercent] -o tsv')).stdout).toBe('100.0\n');
    expect((await t.run('snapshot show -g rg-cli -n s1 --query [creationData.logicalSectorSize] -o tsv')).stdout).toBe('512\n');
    expect((await t.run('snapshot show -g rg-cli -n s1 --query incrementalSnapshotFamilyId -o tsv')).stdout).toMatch(/^[0-9a-f-]{36}\n$/);
    expect((await t.run('snapshot delete -g rg-cli -n full1')).code).toBe(0);
    expect((await t.run('snapshot show -g rg-cli -n full1')).code).toBe(3);
  });

  it('a source in another location becomes CopyStart (like az), and wait follows completionPercent', async () => {
    const c = await t.run('snapshot create -g rg-cli -n s1-west -l westus --source s1 --incremental true');
    expect(c.code, c.stderr).toBe(0);
    expect(c.json()).toMatchObject({ location: 'westus', incremental: true, creationData: { createOption: 'CopyStart' } });
    const w = await t.run('snapshot wait -g rg-cli -n s1-west --custom "completionPercent==`100`" --interval 0', { stderrIsTTY: true, env: { SNAPDISK_PROGRESS: '' } });
    expect(w.code, w.stderr).toBe(0);
    expect((await t.run('snapshot show -g rg-cli -n s1-west --query completionPercent')).stdout).toBe('100.0\n');
    const explicit = await t.run('snapshot create -g rg-cli -n s1-copy --source s1 --incremental true --copy-start false --query creationData.createOption -o tsv');
    expect(explicit.stdout).toBe('Copy\n');
    const nowait = await t.run('snapshot create -g rg-cli -n s1-nw --source s1 --incremental true --no-wait');
    expect(nowait.code).toBe(0);
    expect(nowait.stdout).toBe('');
    expect((await t.run('snapshot wait -g rg-cli -n s1-nw --created --interval 0')).code).toBe(0);
  });

  it('grant-access on a snapshot, the 5-SAS family limit with its hint, revoke-access', async () => {
    for (const n of ['f1', 'f2', 'f3', 'f4', 'f5', 'f6']) expect((await t.run(`snapshot create -g rg-cli -n ${n} --source d1 --incremental true -o none`)).code).toBe(0);
    for (const n of ['f1', 'f2', 'f3', 'f4', 'f5']) expect((await t.run(`snapshot grant-access -g rg-cli -n ${n} --duration-in-seconds 600 -o none`)).code).toBe(0);
    const sixth = await t.run('snapshot grant-access -g rg-cli -n f6 --duration-in-seconds 600');
    expect(sixth.code).toBe(1);
    expect(sixth.stderr).toMatch(/^ERROR: \(OperationNotAllowed\) .*activeSasPerSnapshotFamily/);
    expect(sixth.stderr).toContain('Hint: Revoke access to snapshots you no longer read');
    const ids = (await t.run('snapshot list -g rg-cli --query "[?starts_with(name, \'f\')].id" -o tsv')).stdout.trim().split('\n');
    expect((await t.run(['snapshot', 'revoke-access', '--ids', ...ids])).code).toBe(0);
    expect((await t.run('snapshot grant-access -g rg-cli -n f6 --duration-in-seconds 60 --file-format VHDX --query accessSas -o tsv')).code).toBe(0);
    expect((await t.run('snapshot revoke-access -g rg-cli -n f6')).code).toBe(0);
    expect((await t.run(['snapshot', 'delete', '--ids', ...ids])).code).toBe(0);
    expect((await t.run('snapshot list -g rg-cli --query "[?starts_with(name, \'f\')]" -o tsv')).stdout).toBe('');
  });
});

describe('cli: usage report', () => {
  it('table and CSV with date, resource, meter, quantity', async () => {
    const table = await t.run('usage -o table');
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^Date\s+ResourceGroup\s+Resource\s+Meter\s+Quantity\s+Unit\n/);
    expect(table.stdout).toMatch(/\d{4}-\d\d-\d\d\s+rg-cli\s+s1\s+\w+ Incremental Snapshots\s+[\d.]+\s+1 GB\/Month/);
    const csv = await t.run('usage -o csv');
    expect(csv.stdout.split('\r\n')[0]).toBe('Date,ResourceGroup,Resource,Meter,Quantity,Unit');
    const rows = await t.run('usage --query "[?resource==\'s1\']"');
    expect(rows.json<Obj[]>()[0]).toMatchObject({ resource: 's1', incremental: true, unit: '1 GB/Month' });
    expect((await t.run('usage --start-date 2024-13-01')).code).toBe(2);
  });
});

describe('cli: help, usage errors, exit codes, logging', () => {
  it('--help on every command, with examples', async () => {
    for (const c of COMMANDS) {
      const r = await t.run([...c.name.split(' '), '--help']);
      expect(r.code, c.name).toBe(0);
      expect(r.stdout, c.name).toContain(`snapdisk ${c.name} : `);
      expect(r.stdout, c.name).toContain('Examples');
      expect(r.stdout, c.name).toContain('Global Arguments');
    }
    for (const g of ['disk', 'snapshot', 'group', 'account']) {
      const r = await t.run([g]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Commands:');
    }
    expect((await t.run('--help')).stdout).toContain('snapshot');
  });

  it('usage errors name the option and exit 2', async () => {
    const cases: Array<[string, string]> = [
      ['disk create -g rg-cli', '--name/-n'],
      ['disk create -g rg-cli -n x', '--size-gb is required'],
      ['disk create -g rg-cli -n x --size-gb ten', 'argument --size-gb: invalid int value'],
      ['disk create -g rg-cli -n x --size-gb 1 --sku Fast', "argument --sku: invalid choice: 'Fast'"],
      ['disk show -g rg-cli -n d1 --bogus', 'unrecognized arguments: --bogus'],
      ['disk show -g rg-cli -n d1 -o xml', "argument --output/-o: invalid choice: 'xml'"],
      ['disk show -g rg-cli -n d1 --query "[?"', 'argument --query: invalid jmespath_type value'],
      ['snapshot create -g rg-cli -n x --source d1 --incremental maybe', 'argument --incremental: invalid value'],
      ['disk show -g rg-cli', '--name/-n'],
      ['disk show --ids /subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/snapshots/z', "argument --ids: '/subscriptions/x"],
      ['disk frobnicate', "'frobnicate' is misspelled"],
      ['snapshot diff -g rg-cli', '--to'],
      ['disk download -g rg-cli -n d1', '--file'],
    ];
    for (const [cmd, msg] of cases) {
      const r = await t.run(cmd);
      expect(r.code, cmd).toBe(2);
      expect(r.stderr, cmd).toContain(msg);
      expect(r.stdout, cmd).toBe('');
    }
  });

  it('--debug logs requests with secrets redacted; --verbose; --only-show-errors', async () => {
    const d = await t.run('snapshot grant-access -g rg-cli -n s1 --duration-in-seconds 60 --debug -o none');
    expect(d.code).toBe(0);
    expect(d.stderr).toContain("DEBUG: Request URL: 'https://127.0.0.1:");
    expect(d.stderr).toContain('DEBUG: Response status: 202');
    expect(d.stderr).toContain('sig=REDACTED');
    expect(d.stderr).not.toContain(t.server.credentials.clientSecret);
    expect(d.stderr).not.toMatch(/Bearer ey/);
    await t.run('snapshot revoke-access -g rg-cli -n s1');
    const v = await t.run('disk show -g rg-cli -n d1 --verbose -o none');
    expect(v.stderr).toMatch(/INFO: Command ran in [\d.]+ seconds/);
    const q = await t.run('logout --only-show-errors');
    expect(q.stderr).toBe('');
    expect((await t.run('logout')).stderr).toContain('WARNING: Not logged in');
  });

  it('output formats: json, jsonc, yaml, tsv, table, none', async () => {
    const base = 'snapshot show -g rg-cli -n s1 --query "{name:name, pct:completionPercent, inc:incremental, zones:creationData.sourceUniqueId}"';
    expect((await t.run(`${base} -o json`)).json()).toMatchObject({ name: 's1', pct: 100, inc: true });
    expect((await t.run(`${base} -o jsonc`)).stdout).toBe((await t.run(`${base} -o json`)).stdout); // no colours when piped
    expect((await t.run(`${base} -o yaml`)).stdout).toMatch(/^inc: true\nname: s1\npct: 100\.0\nzones: [0-9a-f-]+\n$/);
    expect((await t.run(`${base} -o tsv`)).stdout).toMatch(/^s1\t100\.0\tTrue\t[0-9a-f-]+\n$/);
    expect((await t.run(`${base} -o table`)).stdout).toMatch(/^Name\s+Pct\s+Inc\s+Zones\n-+\s+-+\s+-+\s+-+\ns1\s+100\.0\s+True\s+[0-9a-f-]+\n$/);
    expect((await t.run(`${base} -o none`)).stdout).toBe('');
    expect((await t.run('snapshot show -g rg-cli -n s1 --query timeCreated -o yaml')).stdout).toMatch(/^'\d{4}-.*\+00:00'\n\.\.\.\n$/);
  });
});
