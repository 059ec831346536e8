/**
 * @module cli/commands/snapshot-apply-diff
 * `snapdisk snapshot apply-diff`: apply a diff file onto a local raw image (no server needed).
 */

import { resolve } from 'node:path';
import type { CommandSpec } from '../command.js';
import { applyDiff } from '../data/diff.js';
import { OVERWRITE_OPTION } from '../data/options.js';

export const snapshotApplyDiff: CommandSpec = {
  name: 'snapshot apply-diff',
  summary: 'Apply a diff file (export-diff) onto a local raw image.',
  description:
    'The whole file is checked first (structure, order, sizes, SHA-256): a truncated or damaged file writes\nnothing. A full export creates the image; an incremental diff needs the image of its --from snapshot, of\nthe right size. IMAGE.snapdisk.json records which snapshot the image holds, so diffs applied out of order\nare refused.',
  options: [
    { name: '--file', aliases: ['-f'], kind: 'string', required: true, metavar: 'FILE', help: 'The diff file.' },
    { name: '--target', aliases: ['-t'], kind: 'string', required: true, metavar: 'IMAGE', help: 'The raw image to update (created by a full export).' },
    { name: '--check', kind: 'flag', help: 'Only check the file; write nothing.' },
    { name: '--force', kind: 'flag', help: 'Apply even when IMAGE.snapdisk.json says the image holds another snapshot.' },
    OVERWRITE_OPTION,
  ],
  examples: [
    { title: 'Restore the chain into disk.raw.', command: 'for f in snap1.sdiff snap2.sdiff snap3.sdiff; do snapdisk snapshot apply-diff --file $f --target disk.raw || break; done' },
    { title: 'Check a backup file.', command: 'snapdisk snapshot apply-diff --file snap2.sdiff --target disk.raw --check' },
  ],
  async run(ctx, args) {
    return applyDiff(ctx, resolve(ctx.cwd, args.need('file')), resolve(ctx.cwd, args.need('target')), {
      force: args.flag('force'),
      check: args.flag('check'),
      overwrite: args.flag('overwrite'),
    });
  },
};
