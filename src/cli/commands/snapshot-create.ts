/**
 * @module cli/commands/snapshot-create
 * `snapdisk snapshot create` as az does it: `--source` is a disk or snapshot id or a bare name
 * (GET snapshots/{name}, then disks/{name}); without `-l` the snapshot goes to the resource
 * group's location; without `--copy-start`, a source in another location makes it a CopyStart
 * (a background cross-region copy: `snapdisk snapshot wait --custom "completionPercent==\`100\`"`).
 * `--for-upload` creates an empty full snapshot to upload a VHD into (createOption Upload: Write
 * grant, Put Page, revoke), sized by `--upload-size-bytes` or, as az 2.45 sends it, `--size-gb`.
 */

import { parseTags } from '../args.js';
import type { CommandSpec } from '../command.js';
import { usageError } from '../errors.js';
import { toAz } from '../output/az-shape.js';
import { checkSource, groupLocation, KINDS, nameOption, resolveSource, resourcePath, RG_OPTION } from '../resources.js';

export const snapshotCreate: CommandSpec = {
  name: 'snapshot create',
  summary: 'Create a snapshot (incremental with --incremental true).',
  options: [
    { ...RG_OPTION, required: true },
    nameOption('snapshot', true),
    { name: '--source', kind: 'string', metavar: 'SOURCE', help: 'The disk or snapshot to copy: a resource id, or a name in the group (snapshots are looked up first), or a SAS URL to import.' },
    { name: '--incremental', kind: 'bool', metavar: 'BOOL', help: 'Whether the snapshot is incremental (true|false). Incremental snapshots store only what changed since the previous one.' },
    { name: '--sku', kind: 'string', choices: ['Premium_LRS', 'Standard_LRS', 'Standard_ZRS'], metavar: 'SKU', help: 'Underlying storage SKU. Default: Standard_LRS.' },
    { name: '--location', aliases: ['-l'], kind: 'string', metavar: 'LOCATION', help: "Location. Default: the resource group's." },
    { name: '--copy-start', kind: 'bool', metavar: 'BOOL', help: 'Create the snapshot by a background copy (CopyStart; default: true when the source is in another location).' },
    { name: '--size-gb', aliases: ['-z'], kind: 'int', metavar: 'GB', help: 'Size in GiB of an empty snapshot (with --for-upload: of the image, without its 512-byte footer).' },
    { name: '--for-upload', kind: 'bool', metavar: 'BOOL', help: 'Create the snapshot to upload a fixed VHD into later: `snapshot grant-access --access-level Write` gives the SAS to Put Page to, `snapshot revoke-access` finishes it.' },
    { name: '--upload-size-bytes', kind: 'int', metavar: 'BYTES', help: 'With --for-upload: the VHD file size including its 512-byte footer (a whole number of MiB + 512).' },
    { name: '--tags', kind: 'list', metavar: 'K=V', help: "Space-separated tags: key[=value] [key[=value] ...]." },
    { name: '--hyper-v-generation', kind: 'string', choices: ['V1', 'V2'], metavar: 'GEN', help: 'The hypervisor generation (default: the source\'s).' },
    { name: '--network-access-policy', kind: 'string', choices: ['AllowAll', 'AllowPrivate', 'DenyAll'], metavar: 'POLICY', help: 'Policy for accessing the snapshot via network.' },
    { name: '--public-network-access', kind: 'string', choices: ['Disabled', 'Enabled'], metavar: 'ACCESS', help: 'Whether the snapshot may be exported publicly.' },
    { name: '--no-wait', kind: 'flag', help: 'Do not wait for the long-running operation to finish.' },
  ],
  examples: [
    { title: 'An incremental snapshot of a disk (the requirement document\'s script).', command: 'snapdisk snapshot create -g rg1 -n snap1 --source "$(snapdisk disk show -g rg1 -n disk1 --query id -o tsv)" --incremental true' },
    { title: 'Copy an incremental snapshot to another region (CopyStart, completes in the background).', command: 'snapdisk snapshot create -g rg1 -n snap1-west -l westus --source snap1 --incremental true' },
    { title: 'A full (not incremental) copy of a disk.', command: 'snapdisk snapshot create -g rg1 -n full1 --source disk1' },
    { title: 'A snapshot to upload a 1 GiB fixed VHD into (then grant-access --access-level Write, Put Page, revoke-access).', command: 'snapdisk snapshot create -g rg1 -n up1 --for-upload --upload-size-bytes 1073742336' },
  ],
  async run(ctx, args) {
    // every usage check before the first request
    const rg = args.need('resource-group');
    const name = args.need('name');
    const sourceArg = args.str('source');
    const forUpload = args.bool('for-upload') === true;
    const uploadSize = args.int('upload-size-bytes');
    if (uploadSize !== undefined && !forUpload) throw usageError('--upload-size-bytes should be used together with --for-upload.');
    if (forUpload && sourceArg !== undefined) throw usageError('--for-upload and --source exclude each other: an upload snapshot starts empty.');
    if (forUpload && uploadSize === undefined && args.int('size-gb') === undefined) {
      throw usageError('--upload-size-bytes (or --size-gb) is required with --for-upload.', 'It is the VHD file size including its 512-byte footer.');
    }
    if (!forUpload && sourceArg === undefined && args.int('size-gb') === undefined) throw usageError('--source or --size-gb is required: please supply a source or a size for the snapshot.');
    if (sourceArg !== undefined && !/^https?:\/\//i.test(sourceArg)) checkSource(sourceArg);
    const tags = parseTags(args.list('tags'));
    const sub = await ctx.subscription();
    const location = args.str('location') ?? (await groupLocation(ctx, sub, rg));
    let creationData: Record<string, unknown>;
    if (forUpload) {
      creationData = { createOption: 'Upload', ...(uploadSize !== undefined ? { uploadSizeBytes: uploadSize } : {}) };
    } else if (sourceArg === undefined) {
      creationData = { createOption: 'Empty' };
    } else if (/^https?:\/\//i.test(sourceArg)) {
      creationData = { createOption: 'Import', sourceUri: sourceArg };
    } else {
      const source = await resolveSource(ctx, sourceArg, rg);
      const copyStart = args.bool('copy-start') ?? source.resource.location !== location;
      if (copyStart && args.bool('copy-start') === undefined) ctx.log.info(`The source is in ${source.resource.location}, the snapshot in ${location}: creating it with CopyStart.`);
      creationData = { createOption: copyStart ? 'CopyStart' : 'Copy', sourceResourceId: source.id };
    }
    const opt = (key: string, value: unknown): Record<string, unknown> => (value === undefined ? {} : { [key]: value });
    const body = {
      location,
      tags: tags ?? {},
      sku: { name: args.str('sku') ?? 'Standard_LRS' },
      properties: {
        ...opt('hyperVGeneration', args.str('hyper-v-generation')),
        creationData,
        ...opt('diskSizeGB', args.int('size-gb')),
        ...opt('incremental', args.bool('incremental')),
        ...opt('networkAccessPolicy', args.str('network-access-policy')),
        ...opt('publicNetworkAccess', args.str('public-network-access')),
      },
    };
    const path = resourcePath({ kind: 'snapshot', subscriptionId: sub, resourceGroup: rg, name });
    const res = await ctx.arm().lro('PUT', path, KINDS.snapshot.api, body, { noWait: args.flag('no-wait'), signal: ctx.signal });
    return args.flag('no-wait') ? undefined : toAz(KINDS.snapshot.model, res);
  },
};
