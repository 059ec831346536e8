/**
 * @module cli/commands/verify
 * `snapdisk verify [--region R]`: reads every chunk of every region (or one) in every zone,
 * checks it against its SHA-256, rewrites damaged or missing zone copies from intact ones, and
 * reports what no zone holds intact with the snapshots that need it. Exits 1 when data is lost.
 * Runs on the server (`POST /providers/Snapdisk.Admin/verify`), for the development principal.
 */

import { armError } from '../arm.js';
import type { CommandSpec } from '../command.js';
import { CliError } from '../errors.js';

interface VerifyReport {
  region: string;
  packsChecked: number;
  chunksChecked: number;
  repaired: Array<{ pack: string; zones: string[] }>;
  lost: Array<{ hash: string; pack: string; snapshots: string[] }>;
  ok: boolean;
}

export const verify: CommandSpec = {
  name: 'verify',
  summary: 'Check every stored chunk against its hash, repair from other zones, report losses.',
  description:
    'Reads each pack in each zone of a region. A damaged or missing copy is rebuilt from intact copies in other zones (zone-redundant data); a chunk no zone holds intact is reported with every snapshot that needs it, and the command exits 1.',
  options: [{ name: '--region', kind: 'string', metavar: 'REGION', help: 'Only this region (default: all).' }],
  examples: [
    { title: 'Check everything.', command: 'snapdisk verify -o table' },
    { title: 'Fail a cron job when data is lost.', command: 'snapdisk verify --region eastus -o none || mail -s "snapdisk: lost data" ops@example.com' },
  ],
  transformer: (rows: unknown) =>
    (rows as VerifyReport[]).map((r) => ({ Region: r.region, Packs: r.packsChecked, Chunks: r.chunksChecked, Repaired: r.repaired.length, Lost: r.lost.length, Ok: r.ok })),
  async run(ctx, args) {
    const region = args.str('region');
    const arm = ctx.arm();
    const res = await arm.send('POST', arm.url(`/providers/Snapdisk.Admin/verify${region ? `?region=${encodeURIComponent(region)}` : ''}`, '1'));
    if (res.status >= 400) throw armError(res, 'verify');
    const body = JSON.parse(res.body.toString('utf8')) as { value: VerifyReport[]; ok: boolean };
    if (!body.ok) {
      const lost = body.value.flatMap((r) => r.lost.map((l) => `${r.region}: chunk ${l.hash.slice(0, 16)}… (pack ${l.pack}) needed by ${l.snapshots.length ? l.snapshots.join(', ') : 'no snapshot'}`));
      throw new CliError(`Some data has no intact copy left:\n  ${lost.join('\n  ')}`, {
        code: 'DataLost',
        hint: 'Restore the affected snapshots from another copy (a cross-region copy or a backup); the rest is intact.',
      });
    }
    return body.value;
  },
};
