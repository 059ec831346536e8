/**
 * @module cli/commands/disk-delete
 * `snapdisk disk delete`: asks for confirmation unless --yes (as az does).
 */

import type { CommandSpec } from '../command.js';
import { remove } from '../compute-verbs.js';
import { targetOptions } from '../resources.js';

export const diskDelete: CommandSpec = {
  name: 'disk delete',
  summary: 'Delete a managed disk.',
  options: [
    ...targetOptions('disk'),
    { name: '--yes', aliases: ['-y'], kind: 'flag', help: 'Do not prompt for confirmation.' },
    { name: '--no-wait', kind: 'flag', help: 'Do not wait for the long-running operation to finish.' },
  ],
  examples: [{ title: 'Delete a disk without a prompt.', command: 'snapdisk disk delete -g rg1 -n disk1 --yes' }],
  run: (ctx, args) => remove(ctx, args, 'disk', true),
};
