/**
 * @module cli/commands/snapshot-grant-access
 * `snapdisk snapshot grant-access`: a read SAS URL on a snapshot (at most 5 snapshots of a
 * family may have one at a time).
 */

import type { CommandSpec } from '../command.js';
import { GRANT_OPTIONS, grantAccess } from '../compute-verbs.js';
import { targetOptions } from '../resources.js';

export const snapshotGrantAccess: CommandSpec = {
  name: 'snapshot grant-access',
  summary: 'Grant read access to a snapshot (a SAS URL).',
  options: [...targetOptions('snapshot'), ...GRANT_OPTIONS],
  examples: [
    { title: 'A SAS URL valid one hour.', command: 'snapdisk snapshot grant-access -g rg1 -n snap1 --duration-in-seconds 3600 --query accessSas -o tsv' },
    { title: 'The snapshot as a VHDX file.', command: 'snapdisk snapshot grant-access -g rg1 -n snap1 --duration-in-seconds 3600 --file-format VHDX' },
  ],
  run: (ctx, args) => grantAccess(ctx, args, 'snapshot'),
};
