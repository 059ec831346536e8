/**
 * @module cli/commands/disk-update
 * `snapdisk disk update`: grow a disk (`--size-gb`), change its SKU or tags (PATCH).
 */

import { parseTags } from '../args.js';
import type { CommandSpec } from '../command.js';
import { usageError } from '../errors.js';
import { DISK_TABLE } from '../output/az-models.js';
import { toAz } from '../output/az-shape.js';
import { KINDS, resourcePath, target, targetOptions } from '../resources.js';
import { DISK_SKUS } from './disk-create.js';

export const diskUpdate: CommandSpec = {
  name: 'disk update',
  summary: 'Update a managed disk: size (grow only), SKU, tags.',
  options: [
    ...targetOptions('disk'),
    { name: '--size-gb', aliases: ['-z'], kind: 'int', metavar: 'GB', help: 'New size in GiB (larger than the current one).' },
    { name: '--sku', kind: 'string', choices: DISK_SKUS, metavar: 'SKU', help: 'Underlying storage SKU.' },
    { name: '--tags', kind: 'list', metavar: 'K=V', help: "Space-separated tags: key[=value] [key[=value] ...]. Use '' to clear existing tags." },
    { name: '--no-wait', kind: 'flag', help: 'Do not wait for the long-running operation to finish.' },
  ],
  examples: [
    { title: 'Grow a disk to 16 GiB.', command: 'snapdisk disk update -g rg1 -n disk1 --size-gb 16' },
    { title: 'Move a disk to standard storage and tag it.', command: 'snapdisk disk update -g rg1 -n disk1 --sku Standard_LRS --tags env=test' },
  ],
  transformer: DISK_TABLE,
  async run(ctx, args) {
    const sizeGb = args.int('size-gb');
    const sku = args.str('sku');
    const tags = parseTags(args.list('tags'));
    if (sizeGb === undefined && sku === undefined && tags === undefined) throw usageError('give at least one of --size-gb, --sku or --tags.');
    const t = await target(ctx, args, 'disk');
    const body = {
      ...(sku !== undefined ? { sku: { name: sku } } : {}),
      ...(tags !== undefined ? { tags } : {}),
      ...(sizeGb !== undefined ? { properties: { diskSizeGB: sizeGb } } : {}),
    };
    const res = await ctx.arm().lro('PATCH', resourcePath(t), KINDS.disk.api, body, { noWait: args.flag('no-wait'), signal: ctx.signal });
    return args.flag('no-wait') ? undefined : toAz(KINDS.disk.model, res);
  },
};
