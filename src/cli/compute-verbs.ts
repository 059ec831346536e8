/**
 * @module cli/compute-verbs
 * The verbs disks and snapshots share (show, list, delete, grant-access, revoke-access, wait),
 * written once and parameterised by kind; `commands/disk-*.ts` and `commands/snapshot-*.ts` give
 * each its name, options and examples.
 */

import type { Args, OptionSpec } from './args.js';
import type { CommandContext } from './command.js';
import { CliError, isNotFound, usageError } from './errors.js';
import type { Json } from './output/az-shape.js';
import { toAz } from './output/az-shape.js';
import { compileQuery } from './output/query.js';
import { ACCESS_URI, getResource, KINDS, resourcePath, targets, target } from './resources.js';
import type { Kind } from './resources.js';
import { setTimeout as sleep } from 'node:timers/promises';

export async function show(ctx: CommandContext, args: Args, kind: Kind): Promise<unknown> {
  const all = await targets(ctx, args, kind);
  const out = [];
  for (const t of all) out.push(toAz(KINDS[kind].model, await getResource(ctx, t)));
  return args.has('ids') && out.length !== 1 ? out : out[0];
}

export async function list(ctx: CommandContext, args: Args, kind: Kind): Promise<unknown> {
  const sub = await ctx.subscription();
  const rg = args.str('resource-group');
  const { collection, api, model } = KINDS[kind];
  const path = rg !== undefined
    ? `/subscriptions/${encodeURIComponent(sub)}/resourceGroups/${encodeURIComponent(rg)}/providers/Microsoft.Compute/${collection}`
    : `/subscriptions/${encodeURIComponent(sub)}/providers/Microsoft.Compute/${collection}`;
  return (await ctx.arm().list(path, api)).map((r) => toAz(model, r));
}

export async function remove(ctx: CommandContext, args: Args, kind: Kind, confirm: boolean): Promise<undefined> {
  const all = await targets(ctx, args, kind);
  if (confirm) await ctx.confirmOrCancel(args.flag('yes'));
  for (const t of all) await ctx.arm().lro('DELETE', resourcePath(t), KINDS[kind].api, undefined, { noWait: args.flag('no-wait'), signal: ctx.signal });
  return undefined;
}

export const GRANT_OPTIONS: readonly OptionSpec[] = [
  { name: '--duration-in-seconds', kind: 'int', required: true, metavar: 'SECONDS', help: 'Time duration in seconds until the SAS access expires.' },
  { name: '--access-level', aliases: ['--access'], kind: 'string', choices: ['Read', 'Write'], metavar: 'LEVEL', help: 'Access level: Read, or Write to upload into a disk created for upload. Default: Read.' },
  { name: '--file-format', kind: 'string', choices: ['VHD', 'VHDX'], metavar: 'FORMAT', help: 'Format of the blob behind the SAS: VHD (default for 512-byte sectors) or VHDX.' },
];

export async function grantAccess(ctx: CommandContext, args: Args, kind: Kind): Promise<unknown> {
  const t = await target(ctx, args, kind);
  const body = {
    access: args.str('access-level') ?? 'Read',
    durationInSeconds: args.int('duration-in-seconds'),
    ...(args.has('file-format') ? { fileFormat: args.str('file-format') } : {}),
  };
  const res = await ctx.arm().lro('POST', `${resourcePath(t)}/beginGetAccess`, KINDS[kind].api, body, { signal: ctx.signal });
  return toAz(ACCESS_URI, res);
}

export async function revokeAccess(ctx: CommandContext, args: Args, kind: Kind): Promise<undefined> {
  for (const t of await targets(ctx, args, kind)) await ctx.arm().lro('POST', `${resourcePath(t)}/endGetAccess`, KINDS[kind].api, undefined, { signal: ctx.signal });
  return undefined;
}

export const WAIT_OPTIONS: readonly OptionSpec[] = [
  { name: '--created', kind: 'flag', help: "Wait until created with 'provisioningState' at 'Succeeded'." },
  { name: '--updated', kind: 'flag', help: "Wait until updated with provisioningState at 'Succeeded'." },
  { name: '--deleted', kind: 'flag', help: 'Wait until deleted.' },
  { name: '--exists', kind: 'flag', help: 'Wait until the resource exists.' },
  { name: '--custom', kind: 'string', metavar: 'JMESPATH', help: "Wait until the condition satisfies a custom JMESPath query, e.g. \"completionPercent==`100`\"." },
  { name: '--interval', kind: 'int', metavar: 'SECONDS', help: 'Polling interval in seconds. Default: 30.' },
  { name: '--timeout', kind: 'int', metavar: 'SECONDS', help: 'Maximum wait in seconds. Default: 3600.' },
];

/** JMESPath truthiness (false, null, '', [], {} are false). */
function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** az's `wait`: polls until the condition holds; a bar follows `completionPercent` on a terminal. */
export async function wait(ctx: CommandContext, args: Args, kind: Kind): Promise<undefined> {
  const conditions = ['created', 'updated', 'deleted', 'exists', 'custom'].filter((c) => args.has(c));
  if (conditions.length !== 1) throw usageError('specify exactly one of --created, --updated, --deleted, --exists or --custom.');
  const customArg = args.str('custom');
  const custom = customArg !== undefined ? compileQuery(customArg, '--custom') : undefined;
  const interval = args.int('interval') ?? 30;
  if (interval < 0) throw usageError(`argument --interval: ${interval} is negative.`);
  const timeout = args.int('timeout') ?? 3600;
  if (timeout < 0) throw usageError(`argument --timeout: ${timeout} is negative.`);
  const t = await target(ctx, args, kind);
  const deadline = Date.now() + timeout * 1000;
  const show = `snapdisk ${kind} show -g ${t.resourceGroup} -n ${t.name}`;
  const bar = ctx.progress(`Waiting for ${t.name}`, 100, 'percent');
  try {
    for (;;) {
      let resource: Record<string, Json> | undefined;
      try {
        resource = toAz(KINDS[kind].model, await getResource(ctx, t));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (resource === undefined) {
        if (args.has('deleted')) return undefined;
      } else {
        if (typeof resource.completionPercent === 'number') bar.update(resource.completionPercent);
        const state = resource.provisioningState;
        if (args.has('exists')) return undefined;
        if ((args.has('created') || args.has('updated')) && state === 'Succeeded') return undefined;
        if ((args.has('created') || args.has('updated')) && state === 'Failed') {
          throw new CliError(`${KINDS[kind].label} ${t.name} failed (provisioningState Failed).`, { code: 'Failed', hint: `See its state with \`${show}\`; delete it and create it again.` });
        }
        if (custom !== undefined && truthy(custom.search(resource))) return undefined;
      }
      if (Date.now() >= deadline) {
        throw new CliError(`Wait operation timed-out after ${timeout} seconds.`, {
          code: 'Timeout',
          hint: `The condition did not hold in time: check where it stands with \`${show}\`, or wait longer with --timeout.`,
        });
      }
      await sleep(Math.min(interval * 1000, Math.max(0, deadline - Date.now())), undefined, { signal: ctx.signal }).catch(() => {
        throw new CliError('Interrupted.', { code: 'Interrupted' });
      });
    }
  } finally {
    bar.done();
  }
}
