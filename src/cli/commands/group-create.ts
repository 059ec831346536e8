/**
 * @module cli/commands/group-create
 * `snapdisk group create -n NAME -l LOCATION [--tags k=v ...]` (PUT, create or update).
 */

import { parseTags } from '../args.js';
import { API } from '../arm.js';
import type { CommandSpec } from '../command.js';
import { GROUP_NAME, groupToAz } from '../groups.js';
import { groupPath } from '../resources.js';

export const groupCreate: CommandSpec = {
  name: 'group create',
  summary: 'Create a new resource group.',
  options: [
    GROUP_NAME,
    { name: '--location', aliases: ['-l'], kind: 'string', required: true, metavar: 'LOCATION', help: 'Location: eastus or westus on the default configuration.' },
    { name: '--tags', kind: 'list', metavar: 'K=V', help: "Space-separated tags: key[=value] [key[=value] ...]. Use '' to clear existing tags." },
  ],
  examples: [{ title: 'Create a resource group in eastus.', command: 'snapdisk group create -n rg1 -l eastus' }],
  async run(ctx, args) {
    const name = args.need('name');
    const body = { location: args.need('location'), ...(args.has('tags') ? { tags: parseTags(args.list('tags')) } : {}) };
    const sub = await ctx.subscription();
    const res = await ctx.arm().lro('PUT', groupPath(sub, name), API.groups, body);
    return groupToAz(res);
  },
};
