/**
 * @module cli/commands/disk-grant-access
 * `snapdisk disk grant-access`: a SAS URL to read a disk (or, Write, to upload into a disk
 * created for upload).
 */

import type { CommandSpec } from '../command.js';
import { GRANT_OPTIONS, grantAccess } from '../compute-verbs.js';
import { targetOptions } from '../resources.js';

export const diskGrantAccess: CommandSpec = {
  name: 'disk grant-access',
  summary: 'Grant a resource access to a managed disk (a SAS URL).',
  options: [...targetOptions('disk'), ...GRANT_OPTIONS],
  examples: [
    { title: 'A read SAS for one hour.', command: 'snapdisk disk grant-access -g rg1 -n disk1 --duration-in-seconds 3600 --query accessSas -o tsv' },
    { title: 'A write SAS on a disk created for upload.', command: 'snapdisk disk grant-access -g rg1 -n upload1 --access-level Write --duration-in-seconds 86400' },
  ],
  run: (ctx, args) => grantAccess(ctx, args, 'disk'),
};
