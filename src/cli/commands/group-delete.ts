/**
 * @module cli/commands/group-delete
 * `snapdisk group delete -n NAME [--yes] [--no-wait]`: deletes the group and every disk and
 * snapshot in it. Asks for confirmation unless --yes.
 */

import { API } from '../arm.js';
import type { CommandSpec } from '../command.js';
import { GROUP_NAME } from '../groups.js';
import { groupPath } from '../resources.js';

export const groupDelete: CommandSpec = {
  name: 'group delete',
  summary: 'Delete a resource group, with every disk and snapshot in it.',
  options: [
    GROUP_NAME,
    { name: '--yes', aliases: ['-y'], kind: 'flag', help: 'Do not prompt for confirmation.' },
    { name: '--no-wait', kind: 'flag', help: 'Do not wait for the long-running operation to finish.' },
  ],
  examples: [{ title: 'Delete a group without a prompt.', command: 'snapdisk group delete -n rg1 --yes' }],
  async run(ctx, args) {
    const name = args.need('name');
    await ctx.confirmOrCancel(args.flag('yes'));
    await ctx.arm().lro('DELETE', groupPath(await ctx.subscription(), name), API.groups, undefined, { noWait: args.flag('no-wait'), signal: ctx.signal });
    return undefined;
  },
};
