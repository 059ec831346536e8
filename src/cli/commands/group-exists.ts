/**
 * @module cli/commands/group-exists
 * `snapdisk group exists -n NAME`: prints true or false.
 */

import { API } from '../arm.js';
import type { CommandSpec } from '../command.js';
import { isNotFound } from '../errors.js';
import { groupPath } from '../resources.js';
import { GROUP_NAME } from '../groups.js';

export const groupExists: CommandSpec = {
  name: 'group exists',
  summary: 'Check if a resource group exists.',
  options: [GROUP_NAME],
  examples: [{ title: 'Create a group only when it is missing.', command: '[ "$(snapdisk group exists -n rg1)" = true ] || snapdisk group create -n rg1 -l eastus' }],
  async run(ctx, args) {
    try {
      await ctx.arm().get(groupPath(await ctx.subscription(), args.need('name')), API.groups);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  },
};
