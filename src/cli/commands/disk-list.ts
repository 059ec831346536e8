/**
 * @module cli/commands/disk-list
 * `snapdisk disk list [-g GROUP]`: the disks of a group, or of the subscription.
 */

import type { CommandSpec } from '../command.js';
import { list } from '../compute-verbs.js';
import { DISK_TABLE } from '../output/az-models.js';
import { RG_OPTION } from '../resources.js';

export const diskList: CommandSpec = {
  name: 'disk list',
  summary: 'List managed disks.',
  options: [RG_OPTION],
  examples: [
    { title: 'List the disks of a group as a table.', command: 'snapdisk disk list -g rg1 -o table' },
    { title: 'Names of the disks larger than 100 GiB.', command: 'snapdisk disk list --query "[?diskSizeGb > `100`].name" -o tsv' },
  ],
  transformer: DISK_TABLE,
  run: (ctx, args) => list(ctx, args, 'disk'),
};
