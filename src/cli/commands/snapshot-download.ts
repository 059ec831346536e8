/**
 * @module cli/commands/snapshot-download
 * `snapdisk snapshot download`: a snapshot to a local raw image, VHD or VHDX (sparse).
 */

import type { CommandSpec } from '../command.js';
import { download, imageFormat } from '../data/download.js';
import { checkOutput } from '../data/files.js';
import { DURATION_OPTION, durationInSeconds, OVERWRITE_OPTION, PARALLEL_OPTION, parallel } from '../data/options.js';
import { target, targetOptions } from '../resources.js';
import { resolve } from 'node:path';

export const snapshotDownload: CommandSpec = {
  name: 'snapshot download',
  summary: 'Download a snapshot to a local raw image, fixed VHD or VHDX (sparse: holes stay holes).',
  description: 'A read SAS is granted for the transfer and revoked afterwards (unless the snapshot already had one).',
  options: [
    ...targetOptions('snapshot'),
    { name: '--file', aliases: ['-f'], kind: 'string', required: true, metavar: 'FILE', help: 'The local file to write.' },
    { name: '--format', kind: 'string', choices: ['raw', 'vhd', 'vhdx'], metavar: 'FORMAT', help: 'raw, vhd (fixed) or vhdx. Default: from the file extension, else raw.' },
    OVERWRITE_OPTION,
    PARALLEL_OPTION,
    DURATION_OPTION,
  ],
  examples: [
    { title: 'Download a snapshot as a raw image.', command: 'snapdisk snapshot download -g rg1 -n snap1 --file snap1.raw' },
    { title: 'As a fixed VHD qemu can open (qemu-img info -f vpc snap1.vhd).', command: 'snapdisk snapshot download -g rg1 -n snap1 --file snap1.vhd --format vhd' },
  ],
  async run(ctx, args) {
    // every check of the arguments and the output file before the first request
    const file = resolve(ctx.cwd, args.need('file'));
    const format = imageFormat(args.str('format'), file);
    const n = parallel(args);
    const duration = durationInSeconds(args);
    await checkOutput(file, args.flag('overwrite'));
    const t = await target(ctx, args, 'snapshot');
    return download(ctx, t, { file, format, overwrite: args.flag('overwrite'), parallel: n, ...(duration !== undefined ? { durationInSeconds: duration } : {}) });
  },
};
