/**
 * @module cli/commands/snapshot-wait
 * `snapdisk snapshot wait`: wait for a condition, e.g. the end of a background copy (CopyStart).
 */

import type { CommandSpec } from '../command.js';
import { wait, WAIT_OPTIONS } from '../compute-verbs.js';
import { targetOptions } from '../resources.js';

export const snapshotWait: CommandSpec = {
  name: 'snapshot wait',
  summary: 'Place the CLI in a waiting state until a condition of a snapshot is met.',
  options: [...targetOptions('snapshot'), ...WAIT_OPTIONS],
  examples: [
    { title: 'Wait for the cross-region copy of a snapshot (a progress bar on a terminal).', command: 'snapdisk snapshot wait -g rg1 -n snap1-west --custom "completionPercent==`100`"' },
    { title: 'Wait until a snapshot exists.', command: 'snapdisk snapshot wait -g rg1 -n snap1 --created' },
  ],
  run: (ctx, args) => wait(ctx, args, 'snapshot'),
};
