/**
 * @module cli/commands/disk-create
 * `snapdisk disk create`: an empty disk (`--size-gb`), a copy of a disk or snapshot (`--source`,
 * an id or a name: az looks up snapshots/{name} then disks/{name}), an import of a SAS URL
 * (`--source https://...`) or a disk to upload into (`--upload-type Upload
 * --upload-size-bytes N`). Without `-l` the disk goes to the resource group's location.
 */

import { parseTags } from '../args.js';
import type { CommandSpec } from '../command.js';
import { usageError } from '../errors.js';
import { DISK_TABLE } from '../output/az-models.js';
import { toAz } from '../output/az-shape.js';
import { checkSource, groupLocation, KINDS, nameOption, resolveSource, resourcePath, RG_OPTION } from '../resources.js';

export const DISK_SKUS = ['PremiumV2_LRS', 'Premium_LRS', 'Premium_ZRS', 'StandardSSD_LRS', 'StandardSSD_ZRS', 'Standard_LRS', 'UltraSSD_LRS'] as const;

export const diskCreate: CommandSpec = {
  name: 'disk create',
  summary: 'Create a managed disk.',
  options: [
    { ...RG_OPTION, required: true },
    nameOption('disk', true),
    { name: '--size-gb', aliases: ['-z'], kind: 'int', metavar: 'GB', help: 'Size in GiB (1 to 65536). Required for an empty disk.' },
    { name: '--sku', kind: 'string', choices: DISK_SKUS, metavar: 'SKU', help: 'Underlying storage SKU. Default: Premium_LRS.' },
    { name: '--location', aliases: ['-l'], kind: 'string', metavar: 'LOCATION', help: "Location. Default: the resource group's." },
    { name: '--zone', kind: 'string', metavar: 'ZONE', help: 'Availability zone into which to provision the disk (1, 2 or 3 in eastus).' },
    { name: '--source', kind: 'string', metavar: 'SOURCE', help: 'A disk or snapshot (resource id, or name in the group: snapshots are looked up first), or a SAS URL to import.' },
    { name: '--logical-sector-size', kind: 'int', metavar: 'BYTES', help: 'Logical sector size in bytes (512 or 4096) of UltraSSD_LRS and PremiumV2_LRS disks.' },
    { name: '--upload-type', kind: 'string', choices: ['Upload'], metavar: 'TYPE', help: "Create the disk for upload ('Upload'); then `snapdisk disk upload` or grant Write access." },
    { name: '--upload-size-bytes', kind: 'int', metavar: 'BYTES', help: 'Size of the upload including the 512-byte VHD footer (a whole number of MiB + 512).' },
    { name: '--for-upload', kind: 'bool', hidden: true, help: 'Deprecated: --upload-type Upload.' },
    { name: '--tags', kind: 'list', metavar: 'K=V', help: "Space-separated tags: key[=value] [key[=value] ...]. Use '' to clear existing tags." },
    { name: '--hyper-v-generation', kind: 'string', choices: ['V1', 'V2'], metavar: 'GEN', help: 'The hypervisor generation of the Virtual Machine (V1 for empty disks by default).' },
    { name: '--os-type', kind: 'string', choices: ['Linux', 'Windows'], metavar: 'OS', help: 'The Operating System type of the disk.' },
    { name: '--disk-iops-read-write', kind: 'int', metavar: 'IOPS', help: 'IOPS allowed for the disk (UltraSSD_LRS, PremiumV2_LRS).' },
    { name: '--disk-mbps-read-write', kind: 'int', metavar: 'MBPS', help: 'Bandwidth allowed for the disk (UltraSSD_LRS, PremiumV2_LRS).' },
    { name: '--max-shares', kind: 'int', metavar: 'N', help: 'The maximum number of VMs that can attach to the disk at the same time.' },
    { name: '--network-access-policy', kind: 'string', choices: ['AllowAll', 'AllowPrivate', 'DenyAll'], metavar: 'POLICY', help: 'Policy for accessing the disk via network.' },
    { name: '--public-network-access', kind: 'string', choices: ['Disabled', 'Enabled'], metavar: 'ACCESS', help: 'Whether the disk may be exported publicly.' },
    { name: '--no-wait', kind: 'flag', help: 'Do not wait for the long-running operation to finish.' },
  ],
  examples: [
    { title: 'Create an empty 8 GiB disk.', command: 'snapdisk disk create -g rg1 -n disk1 --size-gb 8 --sku Standard_LRS' },
    { title: 'Restore a disk from a snapshot (instant; hydrates in the background).', command: 'snapdisk disk create -g rg1 -n restored --source snap1' },
    { title: 'Create a disk to upload a 1 GiB image into.', command: 'snapdisk disk create -g rg1 -n up1 --upload-type Upload --upload-size-bytes 1073742336 --sku Standard_LRS' },
    { title: 'A zone-redundant disk in zone 2.', command: 'snapdisk disk create -g rg1 -n zdisk --size-gb 4 --sku Premium_ZRS --zone 2' },
  ],
  transformer: DISK_TABLE,
  async run(ctx, args) {
    // every usage check before the first request
    const rg = args.need('resource-group');
    const name = args.need('name');
    const sizeGb = args.int('size-gb');
    const sourceArg = args.str('source');
    const upload = args.str('upload-type') ?? (args.bool('for-upload') ? 'Upload' : undefined);
    const uploadSize = args.int('upload-size-bytes');
    if (uploadSize !== undefined && upload === undefined) throw usageError('--upload-size-bytes should be used together with --upload-type.');
    if (upload !== undefined && uploadSize === undefined) throw usageError('--upload-size-bytes is required with --upload-type Upload.', 'It is the image size including the 512-byte VHD footer.');
    if (upload !== undefined && sourceArg !== undefined) throw usageError('--source and --upload-type cannot be used together.');
    if (sourceArg === undefined && upload === undefined && sizeGb === undefined) throw usageError('--size-gb is required to create an empty disk.');
    if (sourceArg !== undefined && !/^https?:\/\//i.test(sourceArg)) checkSource(sourceArg);
    const tags = parseTags(args.list('tags'));
    const sub = await ctx.subscription();
    let creationData: Record<string, unknown>;
    if (sourceArg !== undefined && /^https?:\/\//i.test(sourceArg)) {
      creationData = { createOption: 'Import', sourceUri: sourceArg };
    } else if (sourceArg !== undefined) {
      const source = await resolveSource(ctx, sourceArg, rg);
      creationData = { createOption: 'Copy', sourceResourceId: source.id };
    } else if (upload !== undefined) {
      creationData = { createOption: 'Upload', uploadSizeBytes: uploadSize };
    } else {
      creationData = { createOption: 'Empty' };
    }
    const sector = args.int('logical-sector-size');
    if (sector !== undefined) creationData.logicalSectorSize = sector;
    const location = args.str('location') ?? (await groupLocation(ctx, sub, rg));
    const copy = creationData.createOption === 'Copy' || creationData.createOption === 'Import';
    const hyperV = args.str('hyper-v-generation') ?? (copy ? undefined : 'V1');
    const zone = args.str('zone');
    const opt = (key: string, value: unknown): Record<string, unknown> => (value === undefined ? {} : { [key]: value });
    const body = {
      location,
      tags: tags ?? {},
      sku: { name: args.str('sku') ?? 'Premium_LRS' },
      ...(zone !== undefined ? { zones: [zone] } : {}),
      properties: {
        ...opt('hyperVGeneration', hyperV),
        ...opt('osType', args.str('os-type')),
        creationData,
        ...opt('diskSizeGB', sizeGb),
        ...opt('diskIOPSReadWrite', args.int('disk-iops-read-write')),
        ...opt('diskMBpsReadWrite', args.int('disk-mbps-read-write')),
        ...opt('maxShares', args.int('max-shares')),
        ...opt('networkAccessPolicy', args.str('network-access-policy')),
        ...opt('publicNetworkAccess', args.str('public-network-access')),
      },
    };
    const path = resourcePath({ kind: 'disk', subscriptionId: sub, resourceGroup: rg, name });
    const res = await ctx.arm().lro('PUT', path, KINDS.disk.api, body, { noWait: args.flag('no-wait'), signal: ctx.signal });
    return args.flag('no-wait') ? undefined : toAz(KINDS.disk.model, res);
  },
};
