/**
 * @module cli/commands/snapshot-delete
 * `snapdisk snapshot delete` (no confirmation, as in az).
 */

import type { CommandSpec } from '../command.js';
import { remove } from '../compute-verbs.js';
import { targetOptions } from '../resources.js';

export const snapshotDelete: CommandSpec = {
  name: 'snapshot delete',
  summary: 'Delete a snapshot.',
  options: [
    ...targetOptions('snapshot'),
    { name: '--yes', aliases: ['-y'], kind: 'flag', help: 'Accepted for symmetry with disk delete (snapshot delete does not prompt).' },
    { name: '--no-wait', kind: 'flag', help: 'Do not wait for the long-running operation to finish.' },
  ],
  examples: [
    { title: 'Delete a snapshot.', command: 'snapdisk snapshot delete -g rg1 -n snap1' },
    { title: 'Delete every snapshot of a group older than a date.', command: 'snapdisk snapshot delete --ids $(snapdisk snapshot list -g rg1 --query "[?timeCreated<\'2024-01-01\'].id" -o tsv)' },
  ],
  run: (ctx, args) => remove(ctx, args, 'snapshot', false),
};
