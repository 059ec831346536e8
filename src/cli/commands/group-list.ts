/**
 * @module cli/commands/group-list
 * `snapdisk group list`.
 */

import { API } from '../arm.js';
import type { CommandSpec } from '../command.js';
import { groupTable, groupToAz } from '../groups.js';

export const groupList: CommandSpec = {
  name: 'group list',
  summary: 'List resource groups.',
  options: [],
  examples: [{ title: 'List the groups as a table.', command: 'snapdisk group list -o table' }],
  transformer: groupTable,
  async run(ctx) {
    const sub = await ctx.subscription();
    return (await ctx.arm().list(`/subscriptions/${encodeURIComponent(sub)}/resourcegroups`, API.groups)).map(groupToAz);
  },
};
