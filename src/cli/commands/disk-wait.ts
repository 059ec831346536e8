/**
 * @module cli/commands/disk-wait
 * `snapdisk disk wait`: place the CLI in a waiting state until a condition of the disk is met.
 */

import type { CommandSpec } from '../command.js';
import { wait, WAIT_OPTIONS } from '../compute-verbs.js';
import { targetOptions } from '../resources.js';

export const diskWait: CommandSpec = {
  name: 'disk wait',
  summary: 'Place the CLI in a waiting state until a condition of a managed disk is met.',
  options: [...targetOptions('disk'), ...WAIT_OPTIONS],
  examples: [
    { title: 'Wait until a restored disk is fully hydrated.', command: 'snapdisk disk wait -g rg1 -n restored --custom "completionPercent==`100`"' },
    { title: 'Wait until a disk is deleted.', command: 'snapdisk disk wait -g rg1 -n disk1 --deleted' },
  ],
  run: (ctx, args) => wait(ctx, args, 'disk'),
};
