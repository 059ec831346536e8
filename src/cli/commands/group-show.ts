/**
 * @module cli/commands/group-show
 * `snapdisk group show -n NAME`.
 */

import { API } from '../arm.js';
import type { CommandSpec } from '../command.js';
import { GROUP_NAME, groupToAz } from '../groups.js';
import { groupPath } from '../resources.js';

export const groupShow: CommandSpec = {
  name: 'group show',
  summary: 'Gets a resource group.',
  options: [GROUP_NAME],
  examples: [{ title: 'Show the location of a group.', command: 'snapdisk group show -n rg1 --query location -o tsv' }],
  async run(ctx, args) {
    return groupToAz(await ctx.arm().get(groupPath(await ctx.subscription(), args.need('name')), API.groups));
  },
};
