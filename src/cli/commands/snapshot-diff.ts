/**
 * @module cli/commands/snapshot-diff
 * `snapdisk snapshot diff`: the byte ranges changed and cleared between two snapshots of a disk.
 */

import type { CommandSpec } from '../command.js';
import { listDiff } from '../data/diff.js';
import { usageError } from '../errors.js';
import { checkSnapshotRef, RG_OPTION, snapshotByNameOrId } from '../resources.js';

export const snapshotDiff: CommandSpec = {
  name: 'snapshot diff',
  summary: 'List the ranges changed and cleared between two incremental snapshots of a disk.',
  description:
    'Both snapshots get a read SAS for the comparison (revoked afterwards): at most 5 snapshots of a family may\nhave one at a time. Without --from, the allocated ranges of --to. Each item is {kind: changed|cleared,\noffset, length} in bytes.',
  options: [
    RG_OPTION,
    { name: '--from', aliases: ['--previous'], kind: 'string', metavar: 'SNAPSHOT', help: 'The older snapshot (name in the group, or id).' },
    { name: '--to', aliases: ['--name', '-n'], kind: 'string', metavar: 'SNAPSHOT', help: 'The newer snapshot (name in the group, or id).' },
  ],
  examples: [
    { title: 'What changed between two snapshots, as a table.', command: 'snapdisk snapshot diff -g rg1 --from snap1 --to snap2 -o table' },
    { title: 'Bytes changed.', command: 'snapdisk snapshot diff -g rg1 --from snap1 --to snap2 --query "sum([?kind==\'changed\'].length)"' },
  ],
  transformer: '{Kind:kind, Offset:offset, Length:length}',
  async run(ctx, args) {
    const rg = args.str('resource-group');
    const toArg = args.str('to');
    if (toArg === undefined) throw usageError('the following arguments are required: --to/--name/-n');
    const fromArg = args.str('from');
    checkSnapshotRef(toArg, rg, '--to');
    if (fromArg !== undefined) checkSnapshotRef(fromArg, rg, '--from');
    const to = await snapshotByNameOrId(ctx, toArg, rg, '--to');
    const from = fromArg !== undefined ? await snapshotByNameOrId(ctx, fromArg, rg, '--from') : undefined;
    return listDiff(ctx, from, to);
  },
};
