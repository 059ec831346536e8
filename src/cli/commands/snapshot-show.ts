/**
 * @module cli/commands/snapshot-show
 * `snapdisk snapshot show`: a snapshot as az prints it (completionPercent, creationData, ...).
 */

import type { CommandSpec } from '../command.js';
import { show } from '../compute-verbs.js';
import { targetOptions } from '../resources.js';

export const snapshotShow: CommandSpec = {
  name: 'snapshot show',
  summary: 'Get information about a snapshot.',
  options: targetOptions('snapshot'),
  examples: [
    { title: 'Progress of the background copy of a snapshot.', command: 'snapdisk snapshot show -n snap1 -g rg1 --query [completionPercent] -o tsv' },
    { title: 'Logical sector size of a snapshot.', command: 'snapdisk snapshot show -g rg1 -n snap1 --query [creationData.logicalSectorSize] -o tsv' },
  ],
  run: (ctx, args) => show(ctx, args, 'snapshot'),
};
