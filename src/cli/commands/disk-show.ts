/**
 * @module cli/commands/disk-show
 * `snapdisk disk show`: a managed disk as az prints it.
 */

import type { CommandSpec } from '../command.js';
import { show } from '../compute-verbs.js';
import { DISK_TABLE } from '../output/az-models.js';
import { targetOptions } from '../resources.js';

export const diskShow: CommandSpec = {
  name: 'disk show',
  summary: 'Get information about a disk.',
  options: targetOptions('disk'),
  examples: [
    { title: 'Get the id of a disk.', command: 'snapdisk disk show -g rg1 -n disk1 --query id -o tsv' },
    { title: 'Show a disk as a table.', command: 'snapdisk disk show -g rg1 -n disk1 -o table' },
  ],
  transformer: DISK_TABLE,
  run: (ctx, args) => show(ctx, args, 'disk'),
};
