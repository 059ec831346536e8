/**
 * @module cli/commands/snapshot-export-diff
 * `snapdisk snapshot export-diff`: the changes between two snapshots (or all the data of one) to
 * a diff file for an off-site differential backup chain (format in docs/CLI.md).
 */

import { resolve } from 'node:path';
import type { CommandSpec } from '../command.js';
import { exportDiff } from '../data/diff.js';
import { checkOutput } from '../data/files.js';
import { OVERWRITE_OPTION, PARALLEL_OPTION, parallel } from '../data/options.js';
import { usageError } from '../errors.js';
import { checkSnapshotRef, RG_OPTION, snapshotByNameOrId } from '../resources.js';

export const snapshotExportDiff: CommandSpec = {
  name: 'snapshot export-diff',
  summary: 'Write the changes between two snapshots (or a full export of one) to a diff file.',
  description:
    'Without --from, every allocated range of --to (the first link of a chain). The file ends with a SHA-256\nchecksum: apply-diff rejects a truncated or damaged file before writing anything.',
  options: [
    RG_OPTION,
    { name: '--from', aliases: ['--previous'], kind: 'string', metavar: 'SNAPSHOT', help: 'The older snapshot (name in the group, or id). Absent: a full export.' },
    { name: '--to', aliases: ['--name', '-n'], kind: 'string', metavar: 'SNAPSHOT', help: 'The newer snapshot (name in the group, or id).' },
    { name: '--file', aliases: ['-f'], kind: 'string', required: true, metavar: 'FILE', help: 'The diff file to write.' },
    OVERWRITE_OPTION,
    PARALLEL_OPTION,
  ],
  examples: [
    { title: 'First link of a backup chain: everything in snap1.', command: 'snapdisk snapshot export-diff -g rg1 --to snap1 --file snap1.sdiff' },
    { title: 'Next link: what changed from snap1 to snap2.', command: 'snapdisk snapshot export-diff -g rg1 --from snap1 --to snap2 --file snap2.sdiff' },
  ],
  async run(ctx, args) {
    const rg = args.str('resource-group');
    const toArg = args.str('to');
    if (toArg === undefined) throw usageError('the following arguments are required: --to/--name/-n');
    const fromArg = args.str('from');
    checkSnapshotRef(toArg, rg, '--to');
    if (fromArg !== undefined) checkSnapshotRef(fromArg, rg, '--from');
    const file = resolve(ctx.cwd, args.need('file'));
    const n = parallel(args);
    await checkOutput(file, args.flag('overwrite'));
    const to = await snapshotByNameOrId(ctx, toArg, rg, '--to');
    const from = fromArg !== undefined ? await snapshotByNameOrId(ctx, fromArg, rg, '--from') : undefined;
    return exportDiff(ctx, from, to, file, { parallel: n, overwrite: args.flag('overwrite') });
  },
};
