/**
 * @module cli/commands/disk-download
 * `snapdisk disk download`: a disk to a local raw image, VHD or VHDX (sparse).
 */

import type { CommandSpec } from '../command.js';
import { download, imageFormat } from '../data/download.js';
import { checkOutput } from '../data/files.js';
import { DURATION_OPTION, durationInSeconds, OVERWRITE_OPTION, PARALLEL_OPTION, parallel } from '../data/options.js';
import { target, targetOptions } from '../resources.js';
import { resolve } from 'node:path';

export const diskDownload: CommandSpec = {
  name: 'disk download',
  summary: 'Download a disk to a local raw image, fixed VHD or VHDX (sparse: holes stay holes).',
  description: 'The disk must not be attached. A read SAS is granted for the transfer and revoked afterwards.',
  options: [
    ...targetOptions('disk'),
    { name: '--file', aliases: ['-f'], kind: 'string', required: true, metavar: 'FILE', help: 'The local file to write.' },
    { name: '--format', kind: 'string', choices: ['raw', 'vhd', 'vhdx'], metavar: 'FORMAT', help: 'raw, vhd (fixed) or vhdx. Default: from the file extension, else raw.' },
    OVERWRITE_OPTION,
    PARALLEL_OPTION,
    DURATION_OPTION,
  ],
  examples: [
    { title: 'Download a disk as a raw image.', command: 'snapdisk disk download -g rg1 -n disk1 --file disk1.raw' },
    { title: 'Download it as a VHDX.', command: 'snapdisk disk download -g rg1 -n disk1 --file disk1.vhdx' },
  ],
  async run(ctx, args) {
    // every check of the arguments and the output file before the first request
    const file = resolve(ctx.cwd, args.need('file'));
    const format = imageFormat(args.str('format'), file);
    const n = parallel(args);
    const duration = durationInSeconds(args);
    await checkOutput(file, args.flag('overwrite'));
    const t = await target(ctx, args, 'disk');
    return download(ctx, t, { file, format, overwrite: args.flag('overwrite'), parallel: n, ...(duration !== undefined ? { durationInSeconds: duration } : {}) });
  },
};
