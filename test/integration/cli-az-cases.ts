/**
 * The commands whose output snapdisk must print the way az 2.45 prints it, shared by
 * cli-output.test.ts (against az's output recorded in test/fixtures/cli/az-2.45/) and
 * test/e2e/cli-az.test.ts (az itself, live, against the same server).
 *
 * Both sides run AZ_SETUP on a fresh server, then each case; outputs are compared after
 * `normalize` (ids, times and URLs differ between runs) and, for snapdisk, after dropping the
 * two fields it keeps that az 2.45's models lack (`SNAPDISK_EXTRAS`).
 */

export const AZ_SETUP = [
  'group create -n rg1 -l eastus -o none',
  'disk create -g rg1 -n disk1 --size-gb 1 --sku Standard_LRS --tags env=test -o none',
  'snapshot create -g rg1 -n snap1 --source disk1 --incremental true -o none',
];

export interface AzCase {
  /** Fixture file name (test/fixtures/cli/az-2.45/NAME.txt). */
  name: string;
  /** Arguments after `az`/`snapdisk`; `{diskId}` is replaced by the disk's id. */
  args: string;
  /** Exit code (default 0). */
  exit?: number;
  /** Compare stderr instead of stdout (errors). */
  stderr?: boolean;
  /** Tables: compare with runs of spaces and dashes collapsed (widths depend on timestamps). */
  table?: boolean;
  /** Run after this case (not compared): e.g. revoke a grant. */
  after?: string;
  /** stdout is a terminal (az colours jsonc/yamlc then): the e2e suite runs both under `script`. */
  tty?: boolean;
}

export const AZ_CASES: readonly AzCase[] = [
  { name: 'disk-show-json', args: 'disk show -g rg1 -n disk1' },
  { name: 'disk-show-table', args: 'disk show -g rg1 -n disk1 -o table', table: true },
  { name: 'disk-show-yaml', args: 'disk show -g rg1 -n disk1 -o yaml' },
  { name: 'disk-show-tsv', args: 'disk show -g rg1 -n disk1 -o tsv' },
  { name: 'disk-list-table', args: 'disk list -o table', table: true },
  { name: 'disk-list-query-table', args: 'disk list --query "[]" -o table', table: true },
  { name: 'snapshot-show-json', args: 'snapshot show -g rg1 -n snap1' },
  { name: 'snapshot-show-yaml', args: 'snapshot show -g rg1 -n snap1 -o yaml' },
  { name: 'snapshot-show-tsv', args: 'snapshot show -g rg1 -n snap1 -o tsv' },
  { name: 'snapshot-list-table', args: 'snapshot list -o table', table: true },
  { name: 'snapshot-list-document-query', args: `snapshot list --query "[?creationData.sourceResourceId=='{diskId}' && incremental]" -g rg1 --output table`, table: true },
  { name: 'snapshot-completion-percent', args: 'snapshot show -n snap1 -g rg1 --query [completionPercent] -o tsv' },
  { name: 'snapshot-logical-sector-size', args: 'snapshot show -g rg1 -n snap1 --query [creationData.logicalSectorSize] -o tsv' },
  { name: 'snapshot-multiselect-table', args: 'snapshot show -g rg1 -n snap1 --query "{name:name, pct:completionPercent, sector:creationData.logicalSectorSize, inc:incremental}" -o table', table: true },
  { name: 'snapshot-multiselect-json', args: 'snapshot show -g rg1 -n snap1 --query "{name:name, pct:completionPercent, sku:sku.name}"' },
  { name: 'snapshot-list-tsv', args: 'snapshot list --query "[].[name, completionPercent, diskSizeGb, incremental]" -o tsv' },
  { name: 'snapshot-mixed-tsv', args: 'snapshot show -g rg1 -n snap1 --query "[name, incremental, tags, creationData, zones]" -o tsv' },
  { name: 'snapshot-nested-table', args: 'snapshot show -g rg1 -n snap1 --query creationData -o table', table: true },
  { name: 'snapshot-null-query', args: 'snapshot show -g rg1 -n snap1 --query nothing' },
  { name: 'snapshot-grant-access', args: 'snapshot grant-access -g rg1 -n snap1 --duration-in-seconds 600', after: 'snapshot revoke-access -g rg1 -n snap1' },
  { name: 'snapshot-revoke-access', args: 'snapshot revoke-access -g rg1 -n snap1' },
  { name: 'group-show-json', args: 'group show -n rg1' },
  { name: 'group-show-table', args: 'group show -n rg1 -o table', table: true },
  { name: 'group-list-table', args: 'group list -o table', table: true },
  { name: 'account-list-table', args: 'account list -o table', table: true },
  { name: 'disk-not-found', args: 'disk show -g rg1 -n nope', exit: 3, stderr: true },
  { name: 'group-not-found', args: 'snapshot list -g nope', exit: 3, stderr: true },
  { name: 'disk-create-table', args: 'disk create -g rg1 -n dc1 --size-gb 1 --sku Standard_LRS -o table', table: true, after: 'disk delete -g rg1 -n dc1 --yes' },
  { name: 'disk-create-jsonc', args: 'disk create -g rg1 -n dc2 --size-gb 2 --sku Premium_LRS --tags a=b -o jsonc', after: 'disk delete -g rg1 -n dc2 --yes' },
  { name: 'disk-create-none', args: 'disk create -g rg1 -n dc3 --size-gb 1 --sku Standard_LRS -o none', after: 'disk delete -g rg1 -n dc3 --yes' },
  { name: 'account-show', args: 'account show' },
  { name: 'group-list-tsv', args: 'group list -o tsv' },
  // az's JMESPath (Python jmespath 1.0) orders strings too: the `snapshot delete` help example relies on it
  { name: 'snapshot-list-time-query', args: `snapshot list -g rg1 --query "[?timeCreated<'2999-01-01'].name" -o tsv` },
  { name: 'snapshot-list-time-query-none', args: `snapshot list -g rg1 --query "[?timeCreated<'2000-01-01'].name" -o tsv` },
  // no terminal to confirm on: az warns, cancels and exits 1; nothing is deleted
  { name: 'disk-delete-no-tty', args: 'disk delete -g rg1 -n disk1', exit: 1, stderr: true },
  { name: 'subscription-unknown', args: 'disk list --subscription nope', exit: 1, stderr: true },
  { name: 'subscription-unknown-id', args: 'disk list --subscription 00000000-0000-0000-0000-000000000000', exit: 1, stderr: true },
  { name: 'account-show-unknown', args: 'account show -s nope', exit: 1, stderr: true },
  // on a terminal: Pygments' colours
  { name: 'disk-show-yamlc-tty', args: 'disk show -g rg1 -n disk1 -o yamlc', tty: true },
  { name: 'snapshot-show-jsonc-tty', args: 'snapshot show -g rg1 -n snap1 --query "{name:name, pct:completionPercent, inc:incremental, zones:zones, tags:tags}" -o jsonc', tty: true },
  { name: 'group-show-yamlc-tty', args: 'group show -n rg1 -o yamlc', tty: true },
];

/** Fields snapdisk prints that az 2.45 does not (newer than its models). */
export const SNAPDISK_EXTRAS = ['incrementalSnapshotFamilyId', 'snapshotAccessState'];

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const TIME = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00/g;

/** Run-to-run differences out: ids, times, SAS URLs, the ARM host, az's/snapdisk's hint line. */
export function normalize(text: string, c: AzCase): string {
  let out = text
    .replace(/https:\/\/127\.0\.0\.1:\d+\/[^\s"']*/g, 'https://SERVER/URL')
    .replace(GUID, 'GUID')
    .replace(TIME, 'TIME');
  if (c.table) out = out.replace(/-{2,}/g, '--').replace(/ {2,}/g, '  ');
  if (c.stderr) out = out.split('\n').filter((l) => !l.startsWith('Hint: ')).join('\n');
  return out;
}

/** snapdisk's JSON/YAML/TSV without its extra fields, to compare with az 2.45. */
export function dropExtras(text: string, c: AzCase): string {
  if (c.name.endsWith('-tsv') || c.table) return text;
  return text
    .split('\n')
    // eslint-disable-next-line no-control-regex
    .filter((l) => !SNAPDISK_EXTRAS.some((k) => new RegExp(`^\\s*"?${k}"?:`).test(l.replace(/\x1b\[[0-9;]*m/g, ''))))
    .join('\n');
}
