/**
 * @module cli/commands/snapshot-revoke-access
 * `snapdisk snapshot revoke-access`: ends every SAS of a snapshot.
 */

import type { CommandSpec } from '../command.js';
import { revokeAccess } from '../compute-verbs.js';
import { targetOptions } from '../resources.js';

export const snapshotRevokeAccess: CommandSpec = {
  name: 'snapshot revoke-access',
  summary: 'Revoke read access to a snapshot.',
  options: targetOptions('snapshot'),
  examples: [{ title: 'Revoke access.', command: 'snapdisk snapshot revoke-access -g rg1 -n snap1' }],
  run: (ctx, args) => revokeAccess(ctx, args, 'snapshot'),
};
