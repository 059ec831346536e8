/**
 * @module cli/resources
 * Disks, snapshots and resource groups as the commands address them: paths and ids, the options
 * every command shares (`-g`, `-n`, `--ids`), and az's lookups before a write: `--source` as an id
 * or a bare name (az GETs `snapshots/{name}`, then `disks/{name}`), the resource group's location
 * when `-l` is absent.
 */

import type { Args, OptionSpec } from './args.js';
import { API } from './arm.js';
import type { CommandContext } from './command.js';
import { CliError, isNotFound, usageError } from './errors.js';
import { ACCESS_URI, DISK, SNAPSHOT } from './output/az-models.js';
import type { AzModel } from './output/az-models.js';

export type Kind = 'disk' | 'snapshot';

export interface KindInfo {
  kind: Kind;
  /** ARM collection: `disks` or `snapshots`. */
  collection: 'disks' | 'snapshots';
  api: string;
  model: AzModel;
  label: string;
}

export const KINDS: Readonly<Record<Kind, KindInfo>> = {
  disk: { kind: 'disk', collection: 'disks', api: API.disks, model: DISK, label: 'managed disk' },
  snapshot: { kind: 'snapshot', collection: 'snapshots', api: API.snapshots, model: SNAPSHOT, label: 'snapshot' },
};

export { ACCESS_URI };

/** ARM JSON of a disk or snapshot (only the fields the CLI reads). */
export interface WireResource {
  id: string;
  name: string;
  location: string;
  sku?: { name?: string };
  properties?: {
    diskSizeBytes?: number;
    diskSizeGB?: number;
    diskState?: string;
    uniqueId?: string;
    timeCreated?: string;
    incremental?: boolean;
    incrementalSnapshotFamilyId?: string;
    completionPercent?: number;
    provisioningState?: string;
    creationData?: { createOption?: string; uploadSizeBytes?: number; logicalSectorSize?: number; sourceResourceId?: string };
  };
}

export interface Target {
  kind: Kind;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
}

export function groupPath(subscriptionId: string, group: string): string {
  return `/subscriptions/${encodeURIComponent(subscriptionId)}/resourcegroups/${encodeURIComponent(group)}`;
}

export function resourcePath(t: Target): string {
  return `/subscriptions/${encodeURIComponent(t.subscriptionId)}/resourceGroups/${encodeURIComponent(t.resourceGroup)}/providers/Microsoft.Compute/${KINDS[t.kind].collection}/${encodeURIComponent(t.name)}`;
}

export function resourceId(t: Target): string {
  return `/subscriptions/${t.subscriptionId}/resourceGroups/${t.resourceGroup}/providers/Microsoft.Compute/${KINDS[t.kind].collection}/${t.name}`;
}

/** A disk or snapshot id, or undefined when `id` is not one. */
export function parseResourceId(id: string): Target | undefined {
  const m = /^\/?subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/(disks|snapshots)\/([^/]+)\/?$/i.exec(id.trim());
  if (!m) return undefined;
  return { subscriptionId: m[1] ?? '', resourceGroup: m[2] ?? '', kind: (m[3] ?? '').toLowerCase() === 'disks' ? 'disk' : 'snapshot', name: m[4] ?? '' };
}

export const RG_OPTION: OptionSpec = { name: '--resource-group', aliases: ['-g'], kind: 'string', metavar: 'GROUP', help: 'Name of resource group.' };

export function nameOption(kind: Kind, required = false): OptionSpec {
  return { name: '--name', aliases: ['-n'], kind: 'string', required, metavar: 'NAME', help: `The name of the ${KINDS[kind].label}.` };
}

export const IDS_OPTION: OptionSpec = {
  name: '--ids',
  kind: 'list',
  metavar: 'ID',
  help: 'One or more resource ids (space-delimited). Give either --ids or --resource-group and --name.',
};

/** `-g`, `-n` and `--ids` for commands on existing resources. */
export function targetOptions(kind: Kind): OptionSpec[] {
  return [{ ...RG_OPTION }, nameOption(kind), IDS_OPTION];
}

/** The resources a command acts on: each of --ids, or -g and -n. */
export async function targets(ctx: CommandContext, args: Args, kind: Kind): Promise<Target[]> {
  const ids = args.list('ids');
  if (ids !== undefined && ids.length > 0) {
    if (args.has('resource-group') || args.has('name')) throw usageError('use either --ids or --resource-group/-g and --name/-n, not both.');
    return ids.map((id) => {
      const t = parseResourceId(id);
      if (!t || t.kind !== kind) throw usageError(`argument --ids: '${id}' is not the id of a ${KINDS[kind].label}.`);
      return t;
    });
  }
  const rg = args.str('resource-group');
  const name = args.str('name');
  if (rg === undefined || name === undefined) {
    throw usageError(`the following arguments are required: ${rg === undefined ? '--resource-group/-g' : ''}${rg === undefined && name === undefined ? ', ' : ''}${name === undefined ? '--name/-n' : ''} (or --ids)`);
  }
  return [{ kind, subscriptionId: await ctx.subscription(), resourceGroup: rg, name }];
}

/** The one resource a command acts on. */
export async function target(ctx: CommandContext, args: Args, kind: Kind): Promise<Target> {
  const all = await targets(ctx, args, kind);
  if (all.length !== 1 || !all[0]) throw usageError('argument --ids: give exactly one id for this command.');
  return all[0];
}

export async function getResource(ctx: CommandContext, t: Target): Promise<WireResource> {
  return ctx.arm().get<WireResource>(resourcePath(t), KINDS[t.kind].api);
}

/** The location of a resource group (az reads it when -l is absent). */
export async function groupLocation(ctx: CommandContext, subscriptionId: string, group: string): Promise<string> {
  const rg = await ctx.arm().get<{ location?: string }>(groupPath(subscriptionId, group), API.groups);
  if (!rg.location) throw new CliError(`Resource group ${group} has no location.`, { code: 'BadResponse' });
  return rg.location;
}

export interface Source {
  kind: Kind;
  id: string;
  resource: WireResource;
}

/** A --source that is neither a disk or snapshot id nor a bare name is a usage error. */
export function checkSource(source: string): void {
  if (source.startsWith('/') && !parseResourceId(source)) throw usageError(`argument --source: '${source}' is not the id of a disk or snapshot.`);
}

/**
 * `--source` as az resolves it: a disk or snapshot id (GET it), or a bare name looked up as a
 * snapshot, then as a disk, in `group` of the current subscription.
 */
export async function resolveSource(ctx: CommandContext, source: string, group: string): Promise<Source> {
  const byId = parseResourceId(source);
  if (byId) {
    const resource = await getResource(ctx, byId);
    return { kind: byId.kind, id: resource.id || resourceId(byId), resource };
  }
  checkSource(source);
  const subscriptionId = await ctx.subscription();
  for (const kind of ['snapshot', 'disk'] as const) {
    try {
      const resource = await getResource(ctx, { kind, subscriptionId, resourceGroup: group, name: source });
      return { kind, id: resource.id, resource };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  throw new CliError(`--source: there is no snapshot or disk named '${source}' in resource group '${group}'.`, {
    code: 'ResourceNotFound',
    hint: 'Give the full resource id, or check the name with `snapdisk snapshot list -g GROUP -o table`.',
  });
}

/** Checks a snapshot given by id or by name (diff, export-diff) without a request: usage errors. */
export function checkSnapshotRef(value: string, group: string | undefined, option: string): void {
  const t = parseResourceId(value);
  if (t && t.kind !== 'snapshot') throw usageError(`argument ${option}: '${value}' is not the id of a snapshot.`);
  if (!t && value.startsWith('/')) throw usageError(`argument ${option}: '${value}' is not the id of a snapshot.`);
  if (!t && group === undefined) throw usageError(`argument ${option}: '${value}' is a name; give --resource-group/-g too, or a full snapshot id.`);
}

/** A snapshot given by id or by name in `group` (diff, export-diff). */
export async function snapshotByNameOrId(ctx: CommandContext, value: string, group: string | undefined, option: string): Promise<{ target: Target; resource: WireResource }> {
  checkSnapshotRef(value, group, option);
  const t = parseResourceId(value) ?? { kind: 'snapshot' as const, subscriptionId: await ctx.subscription(), resourceGroup: group ?? '', name: value };
  return { target: t, resource: await getResource(ctx, t) };
}
