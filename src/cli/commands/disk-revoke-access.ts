/**
 * @module cli/commands/disk-revoke-access
 * `snapdisk disk revoke-access`: ends every SAS of a disk (an upload disk becomes usable).
 */

import type { CommandSpec } from '../command.js';
import { revokeAccess } from '../compute-verbs.js';
import { targetOptions } from '../resources.js';

export const diskRevokeAccess: CommandSpec = {
  name: 'disk revoke-access',
  summary: 'Revoke a resource\'s read access to a managed disk (finalises an upload).',
  options: targetOptions('disk'),
  examples: [{ title: 'Revoke access.', command: 'snapdisk disk revoke-access -g rg1 -n disk1' }],
  run: (ctx, args) => revokeAccess(ctx, args, 'disk'),
};
