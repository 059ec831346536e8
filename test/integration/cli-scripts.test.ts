/**
 * The requirement document's scripts (test/e2e/seed, copied verbatim from
 * seed/incremental-snapshots.txt) run by bash with `az` replaced by `snapdisk` and nothing else
 * changed but the placeholders a reader replaces; `snapdisk` on PATH is the built CLI
 * (`node bin/snapdisk.js`). Also the README's az walkthrough, az → snapdisk.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startCli } from './cli-harness.js';
import type { CliTest } from './cli-harness.js';

let t: CliTest;
beforeAll(async () => {
  t = await startCli({ limits: { incrementalSnapshotsPerDiskPer5Minutes: 1000 } });
});
afterAll(async () => {
  await t?.close();
});

const RG = 'rg-doc';
const DISK = 'disk-doc';
const SNAP = 'snap-doc';

/** A seed script with `az` → `snapdisk` and the placeholders replaced. */
async function seed(file: string, values: Record<string, string>): Promise<string> {
  let text = await readFile(join(ROOT, 'test/e2e/seed', file), 'utf8');
  for (const [placeholder, value] of Object.entries(values)) text = text.split(placeholder).join(value);
  return `set -e\n${text.replace(/(^|\$\(|\s)az /gm, '$1snapdisk ')}`;
}

describe('cli: the requirement document scripts with az → snapdisk', () => {
  it('setup: a group and a disk', async () => {
    const r = await t.bash(`set -e\nsnapdisk group create -n ${RG} -l eastus -o none\nsnapdisk disk create -g ${RG} -n ${DISK} --size-gb 1 --sku Standard_LRS -o none`);
    expect(r.code, r.stderr).toBe(0);
  });

  it('"Create incremental snapshots"', async () => {
    const script = await seed('create-incremental-snapshot.sh', { yourDiskNameHere: DISK, yourResourceGroupNameHere: RG, desiredSnapshotNameHere: SNAP });
    expect(script).toContain('yourDiskID=$(snapdisk disk show -n $diskName -g $resourceGroupName --query "id" --output tsv)');
    expect(script).toContain('snapdisk snapshot create -g $resourceGroupName -n $snapshotName --source $yourDiskID --incremental true');
    const r = await t.bash(script);
    expect(r.code, r.stderr).toBe(0);
    const snap = r.json();
    expect(snap).toMatchObject({ name: SNAP, incremental: true, provisioningState: 'Succeeded', completionPercent: 100 });
    expect((snap.creationData as Record<string, unknown>).sourceResourceId).toMatch(new RegExp(`/resourceGroups/${RG}/providers/Microsoft.Compute/disks/${DISK}$`));
  });

  it('"CLI - List incremental snapshots" (account set, --query [id], the JMESPath filter, --output table)', async () => {
    const r = await t.bash(await seed('list-incremental-snapshots.sh', { yourSubscriptionId: t.sub, yourResourceGroupNameHere: RG, yourDiskNameHere: DISK }));
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Name\s+Location\s+TimeCreated\s+HyperVGeneration\s+DiskSizeGb\s+DiskSizeBytes\s+DiskState\s+UniqueId\s+ProvisioningState\s+Incremental\s+NetworkAccessPolicy\s+PublicNetworkAccess\s+CompletionPercent\s+ResourceGroup$/);
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(new RegExp(`^${SNAP}\\s+eastus\\s+\\S+\\s+V1\\s+1\\s+1073741824\\s+Unattached\\s+[0-9a-f-]{36}\\s+Succeeded\\s+True\\s+AllowAll\\s+Enabled\\s+100\\.0\\s+${RG}$`));
  });

  it('"CLI - Individual snapshot" and "Check sector size"', async () => {
    const pct = await t.bash(`set -e\nsourceSnapshotName=${SNAP}\nresourceGroupName=${RG}\n${(await seed('show-completion-percent.sh', {})).replace('set -e\n', '')}`);
    expect(pct.code, pct.stderr).toBe(0);
    expect(pct.stdout).toBe('100.0\n');
    const sector = await t.bash(await seed('show-logical-sector-size.sh', { resourcegroupname: RG, snapshotname: SNAP }));
    expect(sector.code, sector.stderr).toBe(0);
    expect(sector.stdout).toBe('512\n');
  });

  it("the README's az walkthrough, az → snapdisk", async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const block = /```sh\n([^`]*az group create -n rg1[^`]*)```/.exec(readme)?.[1];
    expect(block, 'README has the az walkthrough').toBeDefined();
    const lines = (block ?? '').split('\n').filter((l) => /^(\w+=\$\()?az /.test(l) && !/az (cloud|login|account set)/.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(6);
    const script = `set -e\n${lines.join('\n').replace(/(^|\$\(|\s)az /gm, '$1snapdisk ')}\n`;
    const r = await t.bash(script);
    expect(r.code, `${script}\n${r.stderr}`).toBe(0);
    expect((await t.run('snapshot show -g rg1 -n snap1-west --query creationData.createOption -o tsv')).stdout).toBe('CopyStart\n');
    expect((await t.run('disk show -g rg1 -n restored --query creationData.createOption -o tsv')).stdout).toBe('Copy\n');
  });
});
