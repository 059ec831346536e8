/**
 * @module cli/commands/disk-upload
 * `snapdisk disk upload`: a local raw image or fixed VHD into a disk created for upload (created
 * here when it does not exist yet), skipping zero ranges, several Put Page requests in flight.
 */

import { resolve } from 'node:path';
import type { CommandSpec } from '../command.js';
import { PARALLEL_OPTION, parallel } from '../data/options.js';
import { inspectImage, upload, uploadSizeFor } from '../data/upload.js';
import type { UploadFormat } from '../data/upload.js';
import { openInput } from '../data/files.js';
import { isNotFound } from '../errors.js';
import { getResource, groupLocation, KINDS, resourcePath, target, targetOptions } from '../resources.js';
import type { WireResource } from '../resources.js';
import { DISK_SKUS } from './disk-create.js';

export const diskUpload: CommandSpec = {
  name: 'disk upload',
  summary: 'Upload a local raw image or fixed VHD into a managed disk created for upload.',
  description:
    'When the disk does not exist it is created for the file (--upload-type Upload, the size rounded up to a\nwhole MiB + 512), with --sku, -l and --zone. The VHD footer is written last, then access is revoked, which\nmakes the disk usable.',
  options: [
    ...targetOptions('disk'),
    { name: '--file', aliases: ['-f'], kind: 'string', required: true, metavar: 'FILE', help: 'The raw image or fixed VHD to upload.' },
    { name: '--format', kind: 'string', choices: ['auto', 'raw', 'vhd'], metavar: 'FORMAT', help: 'Input format. Default: auto (a file ending in a valid fixed-VHD footer is a VHD, anything else raw).' },
    { name: '--sku', kind: 'string', choices: DISK_SKUS, metavar: 'SKU', help: 'SKU of a disk created here. Default: Premium_LRS.' },
    { name: '--location', aliases: ['-l'], kind: 'string', metavar: 'LOCATION', help: "Location of a disk created here. Default: the resource group's." },
    { name: '--zone', kind: 'string', metavar: 'ZONE', help: 'Zone of a disk created here.' },
    PARALLEL_OPTION,
  ],
  examples: [
    { title: 'Upload a raw image into a new disk.', command: 'snapdisk disk upload -g rg1 -n imported --file disk.raw --sku Standard_LRS' },
    { title: 'Upload a fixed VHD into a disk created for it.', command: 'snapdisk disk create -g rg1 -n up1 --upload-type Upload --upload-size-bytes $(stat -c %s disk.vhd) && snapdisk disk upload -g rg1 -n up1 --file disk.vhd' },
  ],
  async run(ctx, args) {
    // the arguments and the file are checked before the first request: a bad one changes nothing
    const file = resolve(ctx.cwd, args.need('file'));
    const format = (args.str('format') ?? 'auto') as UploadFormat;
    const n = parallel(args);
    const { fh, size } = await openInput(file, '--file');
    const image = await inspectImage(fh, size, format).finally(() => fh.close());
    const t = await target(ctx, args, 'disk');
    let disk: WireResource;
    try {
      disk = await getResource(ctx, t);
    } catch (err) {
      if (!isNotFound(err) || !/disks/.test((err as Error).message)) throw err;
      const location = args.str('location') ?? (await groupLocation(ctx, t.subscriptionId, t.resourceGroup));
      const zone = args.str('zone');
      const body = {
        location,
        tags: {},
        sku: { name: args.str('sku') ?? 'Premium_LRS' },
        ...(zone !== undefined ? { zones: [zone] } : {}),
        properties: { hyperVGeneration: 'V1', creationData: { createOption: 'Upload', uploadSizeBytes: uploadSizeFor(image.dataSize) } },
      };
      ctx.log.info(`Creating disk ${t.name} for upload (${uploadSizeFor(image.dataSize)} bytes).`);
      disk = (await ctx.arm().lro('PUT', resourcePath(t), KINDS.disk.api, body, { signal: ctx.signal })) as WireResource;
    }
    return upload(ctx, t, disk, { file, format, parallel: n });
  },
};
