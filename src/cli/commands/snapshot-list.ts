/**
 * @module cli/commands/snapshot-list
 * `snapdisk snapshot list [-g GROUP]`: the snapshots of a group, or of the subscription.
 */

import type { CommandSpec } from '../command.js';
import { list } from '../compute-verbs.js';
import { RG_OPTION } from '../resources.js';

export const snapshotList: CommandSpec = {
  name: 'snapshot list',
  summary: 'List snapshots.',
  options: [RG_OPTION],
  examples: [
    {
      title: 'The incremental snapshots of a disk, as a table (the requirement document\'s script).',
      command: 'snapdisk snapshot list --query "[?creationData.sourceResourceId==\'$diskId\' && incremental]" -g rg1 --output table',
    },
    { title: 'Snapshots whose background copy is still running.', command: 'snapdisk snapshot list --query "[?completionPercent < `100`].name" -o tsv' },
  ],
  run: (ctx, args) => list(ctx, args, 'snapshot'),
};
