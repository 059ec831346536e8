/**
 * The snapdisk client commands against a real server (in-process, port 0): connection defaults,
 * login/account, groups, disks, snapshots (incremental, full, cross-location CopyStart), grants,
 * waits, usage, exit codes, usage errors that name the option, --help on every command.
 */

import { readFile, stat, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { ConfigStore } from '../../src/cli/config.js';
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
    // a subscription the principal may not use is unknown to it, as to az: exit 1, az's wording
    const unknown = await t.run(`group list --subscription ${t.sub}`, { env: cfg });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(`WARNING: Subscription '${t.sub}' not recognized.\nERROR: Subscription '${t.sub}' not found. Check the spelling and casing and try again.\nHint: List the subscriptions this principal may use with \`snapdisk account list -o table\`.\n`);
    // the server refuses it too, when asked by id
    const denied = await t.run(`disk show --ids /subscriptions/${t.sub}/resourceGroups/rg/providers/Microsoft.Compute/disks/d`, { env: cfg });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^ERROR: \(AuthorizationFailed\)[\s\S]*\nHint: This principal may not use that subscription/);
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
    // no terminal to ask on: az's warning, then 'Operation cancelled.', exit 1, nothing deleted
    const noYes = await t.run('group delete -n rg-gone');
    expect(noYes.code).toBe(1);
    expect(noYes.stderr).toMatch(/^WARNING: Unable to prompt for confirmation as no tty available\. Use --yes\.\nERROR: Operation cancelled\.\nHint: Nothing was changed/);
    expect((await t.run('group exists -n rg-gone')).stdout).toBe('true\n');
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

describe('cli: --no-wait, wait conditions, update --sku', () => {
  it('disk create, update and delete with --no-wait print nothing; wait --exists, --created, --updated, --deleted', async () => {
    expect((await t.run('group create -n rg-cli -l eastus -o none')).code).toBe(0); // (also when run alone)
    const c = await t.run('disk create -g rg-cli -n nw1 --size-gb 1 --sku Standard_LRS --no-wait');
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toBe('');
    expect((await t.run('disk wait -g rg-cli -n nw1 --exists --interval 0')).code).toBe(0);
    expect((await t.run('disk wait -g rg-cli -n nw1 --created --interval 0')).code).toBe(0);
    expect((await t.run('disk show -g rg-cli -n nw1 --query "[provisioningState, sku.name]" -o tsv')).stdout).toBe('Succeeded\nStandard_LRS\n');
    const u = await t.run('disk update -g rg-cli -n nw1 --sku Premium_LRS --no-wait');
    expect(u.code, u.stderr).toBe(0);
    expect(u.stdout).toBe('');
    expect((await t.run('disk wait -g rg-cli -n nw1 --updated --interval 0')).code).toBe(0);
    expect((await t.run('disk show -g rg-cli -n nw1 --query sku -o tsv')).stdout).toBe('Premium_LRS\tPremium\n');
    // --sku alone, waited for: the PATCH's result
    const sku = await t.run('disk update -g rg-cli -n nw1 --sku StandardSSD_LRS --query "[sku.name, sku.tier, diskSizeGb]" -o tsv');
    expect(sku.code, sku.stderr).toBe(0);
    expect(sku.stdout).toBe('StandardSSD_LRS\nStandard\n1\n');
    const d = await t.run('disk delete -g rg-cli -n nw1 --yes --no-wait');
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toBe('');
    expect((await t.run('disk wait -g rg-cli -n nw1 --deleted --interval 0')).code).toBe(0);
    expect((await t.run('disk show -g rg-cli -n nw1')).code).toBe(3);
    // --exists on what never comes: az's time-out, with a hint
    const never = await t.run('disk wait -g rg-cli -n nw-never --exists --interval 0 --timeout 0');
    expect(never.code).toBe(1);
    expect(never.stderr).toBe('ERROR: Wait operation timed-out after 0 seconds.\nHint: The condition did not hold in time: check where it stands with `snapdisk disk show -g rg-cli -n nw-never`, or wait longer with --timeout.\n');
  });

  it('group delete --no-wait returns at once; the group and its disks go', async () => {
    expect((await t.run('group create -n rg-nw -l eastus -o none')).code).toBe(0);
    expect((await t.run('disk create -g rg-nw -n in-group --size-gb 1 --sku Standard_LRS -o none')).code).toBe(0);
    const r = await t.run('group delete -n rg-nw --yes --no-wait');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    let exists = 'true\n';
    for (let i = 0; i < 100 && exists === 'true\n'; i++) {
      exists = (await t.run('group exists -n rg-nw')).stdout;
      if (exists === 'true\n') await new Promise((res) => setTimeout(res, 50));
    }
    expect(exists).toBe('false\n');
    expect((await t.run('disk show -g rg-nw -n in-group')).code).toBe(3);
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

describe('cli: hints', () => {
  it("server errors: the property blamed and the option that sets it, the limit and its config key", async () => {
    expect((await t.run('group create -n rg-hint -l eastus -o none')).code).toBe(0);
    expect((await t.run('disk create -g rg-hint -n d1 --size-gb 1 --sku Standard_LRS -o none')).code).toBe(0);
    const size = await t.run('disk create -g rg-hint -n bad --size-gb 0 --sku Standard_LRS');
    expect(size.code).toBe(1);
    expect(size.stderr).toMatch(/^ERROR: \(InvalidParameter\) .*\nCode: InvalidParameter\nMessage: .*\nTarget: properties\.diskSizeGB\nHint: The server rejected properties\.diskSizeGB: check --size-gb\.\n$/);
    expect((await t.run('disk create -g rg-hint -n bad --size-gb 1 --zone 7')).stderr).toContain('Hint: The server rejected zones: check --zone.');
    expect((await t.run('group create -n rg-hint -l westus')).stderr).toContain('Hint: The server rejected location: check --location/-l.');
    const sas = await t.run('disk grant-access -g rg-hint -n d1 --duration-in-seconds 99999999');
    expect(sas.code).toBe(1);
    expect(sas.stderr).toMatch(/^ERROR: \(OperationNotAllowed\) durationInSeconds 99999999 exceeds the limit/);
    expect(sas.stderr).toContain("Hint: Ask for a shorter --duration-in-seconds. The limit is maxSasDurationSeconds: limits.maxSasDurationSeconds in the server's config.json.\n");
    const zone = await t.run('disk create -g rg-hint -n d1 --size-gb 1 --sku Standard_LRS --zone 2');
    expect(zone.code).toBe(1);
    expect(zone.stderr).toMatch(/^ERROR: \(PropertyChangeNotAllowed\)[\s\S]*\nHint: \S+ cannot change on an existing resource: create one under another --name, or delete this one first\.\n$/);
    const state = await t.run('disk grant-access -g rg-hint -n d1 --duration-in-seconds 60 --access-level Write');
    expect(state.stderr).toMatch(/\nHint: The server does not allow this on the resource as it is now \(the message says why\)/);
  });

  it('local errors: a file that is not there, a diff file that is not one', async () => {
    const r = await t.run('snapshot apply-diff --file missing.sdiff --target out.raw');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ERROR: argument --file: cannot open \S+missing\.sdiff: no such file\.\nHint: Check the path given to --file \(a relative path is from the current directory\)\.\n$/);
    await writeFile(join(t.dir, 'not-a-diff.sdiff'), 'hello');
    const bad = await t.run('snapshot apply-diff --file not-a-diff.sdiff --target out.raw');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^ERROR: .*not a complete snapdisk diff file.*\nHint: /);
  });

  it('transport errors say to check the server; errors without a hint of their own point at --debug', async () => {
    // a port nobody listens on, and a server that drops every connection
    const closed = createNetServer();
    await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((res) => closed.close(() => res()));
    const dropper = createNetServer((sock) => sock.destroy());
    await new Promise<void>((res) => dropper.listen(0, '127.0.0.1', res));
    const dropPort = (dropper.address() as AddressInfo).port;
    // a server answering 503 with a page that is not a CloudError
    const broken = createHttpServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/html' });
      res.end('<html>maintenance</html>');
    });
    await new Promise<void>((res) => broken.listen(0, '127.0.0.1', res));
    const brokenPort = (broken.address() as AddressInfo).port;
    try {
      const env = { SNAPDISK_CONFIG_DIR: join(t.dir, 'transport-config') };
      const refused = await t.run(['login', '--endpoint', `http://127.0.0.1:${closedPort}/`, '-u', 'a', '-p', 'b'], { env });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(`ERROR: Cannot reach http://127.0.0.1:${closedPort}: connection refused.\nHint: Is the server running? Start it with \`snapdisk serve\` (or \`npm start\`), or log in to another one with \`snapdisk login --endpoint URL ...\`.\n`);
      const dropped = await t.run(['login', '--endpoint', `http://127.0.0.1:${dropPort}/`, '-u', 'a', '-p', 'b'], { env });
      expect(dropped.code).toBe(1);
      expect(dropped.stderr).toMatch(new RegExp(`^ERROR: Request to http://127\\.0\\.0\\.1:${dropPort} failed: .*\\nHint: Is the server running\\? Start it with \`snapdisk serve\``));
      // logged in to the broken server (settings and a cached token as `login` leaves them)
      const endpoint = `http://127.0.0.1:${brokenPort}/`;
      const store = new ConfigStore(join(t.dir, 'broken-config'));
      store.save({ login: { endpoint, tenantId: 'organizations', clientId: 'c', clientSecret: 's' } });
      store.saveToken(`${endpoint}|c`, { accessToken: 'token', expiresOn: Math.floor(Date.now() / 1000) + 3600 });
      const env2 = { SNAPDISK_CONFIG_DIR: store.dir };
      const down = await t.run('disk list', { env: env2 });
      expect(down.code).toBe(1);
      expect(down.stderr).toBe('ERROR: (HttpError503) <html>maintenance</html>\nCode: HttpError503\nMessage: <html>maintenance</html>\nHint: Run with --debug to see the requests.\n');
      const debug = await t.run('disk list --debug', { env: env2 });
      expect(debug.stderr).toContain(`DEBUG: Request URL: '${endpoint}subscriptions?api-version=`);
      expect(debug.stderr).not.toContain('Hint: Run with --debug');
    } finally {
      await new Promise<void>((res) => dropper.close(() => res()));
      await new Promise<void>((res) => broken.close(() => res()));
    }
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
    // az's defaults of wait
    expect((await t.run('disk wait --help')).stdout).toMatch(/--interval +: Polling interval in seconds\. Default: 30\.\n {4}--timeout +: Maximum wait in seconds\. Default: 3600\./);
    // the two commands main.ts handles itself
    const serve = await t.run('serve --help');
    expect(serve.code).toBe(0);
    expect(serve.stdout).toMatch(/^Usage: snapdisk serve [\s\S]*\nExamples\n[\s\S]*\n {4}snapdisk serve\n/);
    const ver = await t.run('version --help');
    expect(ver.code).toBe(0);
    expect(ver.stdout).toContain('snapdisk version : Show the version of snapdisk.');
    expect(ver.stdout).toContain('Examples');
    expect(ver.stdout).not.toMatch(/^snapdisk \d/m);
    expect((await t.run('version')).stdout).toMatch(/^snapdisk \d+\.\d+\.\d+\n$/);
    expect((await t.run('version --bogus')).code).toBe(2);
    for (const g of ['disk', 'snapshot', 'group', 'account']) {
      const r = await t.run([g]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Commands:');
    }
    const root = await t.run('--help');
    expect(root.stdout).toContain('snapshot');
    for (const name of ['serve', 'version']) expect(root.stdout, name).toMatch(new RegExp(`\\n {4}${name} +: `));
    // no arguments: the root help on stdout and exit 0, as az prints its welcome
    const bare = await t.run([]);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toBe(root.stdout);
    expect(bare.stderr).toBe('');
  });

  it('account show -s, and az\'s service-principal login spelling', async () => {
    const c = t.server.credentials;
    const shown = await t.run('account show -s "snapdisk secondary"');
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.json()).toMatchObject({ id: c.secondarySubscriptionId, name: 'snapdisk secondary', isDefault: false });
    expect((await t.run(`account show --name ${c.secondarySubscriptionId} --query name -o tsv`)).stdout).toBe('snapdisk secondary\n');
    expect((await t.run('account show --query isDefault')).stdout).toBe('true\n');
    const none = await t.run('account show -s nope');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^ERROR: Subscription 'nope' not found\. Check the spelling and casing and try again\.\n/);
    const bad = await t.run('disk list --subscription nope');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^WARNING: Subscription 'nope' not recognized\.\nERROR: Subscription 'nope' not found\./);
    const guid = await t.run('disk list --subscription 00000000-0000-0000-0000-000000000000');
    expect(guid.code).toBe(1);
    expect(guid.stderr).toContain("ERROR: Subscription '00000000-0000-0000-0000-000000000000' not found.");
    expect((await t.run('disk list --subscription "SNAPDISK SECONDARY" -o tsv')).code).toBe(0);
    // az login --service-principal -u ID -p SECRET --tenant T: the endpoint and certificate default to the local server
    const cfg = { SNAPDISK_CONFIG_DIR: join(t.dir, 'sp-config') };
    const sp = await t.run(['login', '--service-principal', '-u', c.restrictedClientId, '-p', c.restrictedClientSecret, '--tenant', c.tenantId], { env: cfg });
    expect(sp.code, sp.stderr).toBe(0);
    expect(sp.json<Obj[]>().map((x) => x.id)).toEqual([c.secondarySubscriptionId]);
    expect((await t.run('account show --query "[id, user.name]" -o tsv', { env: cfg })).stdout).toBe(`${c.secondarySubscriptionId}\n${c.restrictedClientId}\n`);
    const noServer = await t.run(['login', '--service-principal', '-u', 'x', '-p', 'y'], { env: { ...cfg, SNAPDISK_DATA: join(t.dir, 'nowhere') } });
    expect(noServer.code).toBe(2);
    expect(noServer.stderr).toContain('--endpoint is required');
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

  it('usage errors exit 2 before any request: with no server to reach at all', async () => {
    await writeFile(join(t.dir, 'usage.raw'), Buffer.alloc(1 << 20, 1));
    await writeFile(join(t.dir, 'exists.raw'), '');
    const cases: Array<[string, string]> = [
      ['disk create -g g -n x', '--size-gb is required to create an empty disk'],
      ['disk create -g g -n x --upload-size-bytes 20972032', '--upload-size-bytes should be used together with --upload-type'],
      ['disk create -g g -n x --upload-type Upload', '--upload-size-bytes is required'],
      ['disk create -g g -n x --upload-type Upload --upload-size-bytes 20972032 --source s', '--source and --upload-type cannot be used together'],
      ['disk create -g g -n x --source /not/an/id', "argument --source: '/not/an/id' is not the id"],
      ['disk create -g g -n x --size-gb 1 --tags =v', "argument --tags: '=v' has no key"],
      ['disk create -g g -n x --size-gb 1 --query "[?"', 'argument --query: invalid jmespath_type value'],
      ['snapshot create -g g -n s', '--source or --size-gb is required'],
      ['snapshot create -g g -n s --source /x/y', "argument --source: '/x/y' is not the id"],
      ['disk update -g g -n d', 'give at least one of --size-gb, --sku or --tags'],
      ['disk update -g g -n d --tags =', "argument --tags: '=' has no key"],
      ['disk upload -g g -n d --file usage.raw --parallel 99', 'argument --parallel: 99 is not from 1 to 32'],
      ['disk download -g g -n d --file out.raw --parallel 0', 'argument --parallel: 0 is not from 1 to 32'],
      ['disk download -g g -n d --file exists.raw', 'exists.raw exists'],
      ['snapshot download -g g -n s --file out.raw --duration-in-seconds 0', 'argument --duration-in-seconds: 0'],
      ['snapshot export-diff -g g --to s --file out.sdiff --parallel 40', 'argument --parallel: 40'],
      ['snapshot export-diff --to s --file out.sdiff', "argument --to: 's' is a name; give --resource-group/-g too"],
      ['snapshot export-diff -g g --from /bad --to s --file out.sdiff', "argument --from: '/bad' is not the id of a snapshot"],
      ['snapshot export-diff -g g --to s --file exists.raw', 'exists.raw exists'],
      ['snapshot diff --from a --to b', "argument --to: 'b' is a name"],
      ['disk wait -g g -n d --custom "[?"', 'argument --custom: invalid jmespath_type value'],
      ['disk wait -g g -n d --created --interval -1', 'argument --interval: -1 is negative'],
      ['disk wait -g g -n d --created --deleted', 'specify exactly one of'],
      ['disk grant-access -g g -n d', '--duration-in-seconds'],
      ['disk delete -g g -n d --ids x', 'use either --ids or'],
      ['usage --start-date 2024-13-01', "argument --start-date: '2024-13-01' is not a date"],
      ['login -u x', '--client-id/-u and --client-secret/-p are required'],
      ['login --endpoint ftp://x -u a -p b', "is not an http(s) URL"],
      ['group create -n g', '--location/-l'],
      ['account set', '--subscription'],
    ];
    const env = { SNAPDISK_DATA: join(t.dir, 'nowhere'), SNAPDISK_CONFIG_DIR: join(t.dir, 'no-config') };
    for (const [cmd, msg] of cases) {
      const r = await t.run(cmd, { env });
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(2);
      expect(r.stderr, cmd).toContain(msg);
      expect(r.stderr, cmd).not.toContain('No server to talk to');
      expect(r.stdout, cmd).toBe('');
    }
    // a file that cannot be read is a local error (exit 1, with a hint), found before any request too
    const missing = await t.run('disk upload -g g -n d --file no-such.raw', { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ERROR: argument --file: cannot open \S+no-such\.raw: no such file\.\nHint: Check the path given to --file/);
    const dir = await t.run(`disk upload -g g -n d --file ${t.dir}`, { env });
    expect(dir.code).toBe(1);
    expect(dir.stderr).toContain('is not a regular file');
    const noDir = await t.run('disk download -g g -n d --file no-dir/out.raw', { env });
    expect(noDir.code).toBe(1);
    expect(noDir.stderr).toMatch(/cannot write into \S+no-dir: no such directory\.\nHint: Check that the directory of --file exists/);
  });

  it('a bad --query or --parallel changes nothing on the server', async () => {
    expect((await t.run('disk create -g rg-cli -n dq --size-gb 1 --sku Standard_LRS -o none')).code).toBe(0);
    const del = await t.run('disk delete -g rg-cli -n dq --yes --query "[?"');
    expect(del.code).toBe(2);
    expect(del.stderr).toContain('argument --query: invalid jmespath_type value');
    expect((await t.run('disk show -g rg-cli -n dq --query name -o tsv')).stdout).toBe('dq\n'); // not deleted
    const create = await t.run('disk create -g rg-cli -n dq2 --size-gb 1 --sku Standard_LRS --query "[?"');
    expect(create.code).toBe(2);
    expect((await t.run('disk show -g rg-cli -n dq2')).code).toBe(3); // not created
    const update = await t.run('disk update -g rg-cli -n dq --size-gb 2 --query "{"');
    expect(update.code).toBe(2);
    expect((await t.run('disk show -g rg-cli -n dq --query diskSizeGb')).stdout).toBe('1\n'); // not grown
    const wait = await t.run('disk wait -g rg-cli -n dq --custom "diskState==" --interval 0');
    expect(wait.code).toBe(2);
    expect(wait.stderr).toContain('argument --custom: invalid jmespath_type value');
    await writeFile(join(t.dir, 'up.raw'), Buffer.alloc(1 << 20, 7));
    const up = await t.run('disk upload -g rg-cli -n dq-up --file up.raw --parallel 99');
    expect(up.code).toBe(2);
    expect((await t.run('disk show -g rg-cli -n dq-up')).code).toBe(3); // not created for the upload
    expect((await t.run('disk delete -g rg-cli -n dq --yes')).code).toBe(0);
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
