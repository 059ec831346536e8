/**
 * @module bench/scenarios/copy
 * Copy throughput beside a plain file copy of the same bytes, on the same filesystem:
 *   background copy of a fresh 1 GiB delta (snapshot request → packs fsynced and committed) vs
 *   `cp --sparse=never` + `sync` of a 1 GiB file;
 *   7. cross-region copy (CopyStart eastus → westus) of a family's first snapshot (every chunk
 *   moves) vs the same `cp`.
 * Random data, so neither compression nor deduplication helps anyone; rounds alternate.
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { order } from '../lib/context.js';
import type { BenchContext } from '../lib/context.js';
import { GiB, MiB, fmt } from '../lib/measure.js';
import { timed } from '../lib/sys.js';
import { Worker } from '../lib/worker-client.js';

export async function runCopy(ctx: BenchContext): Promise<void> {
  const { rec, quick } = ctx;
  const bytes = quick ? 512 * MiB : GiB;
  const reps = quick ? 2 : 3;
  const mb = bytes / 1e6;
  const label = bytes >= GiB ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`;
  const dataDir = join(ctx.root, 'snapdisk-copy');
  const scratch = join(ctx.root, 'copy-peer');
  mkdirSync(scratch, { recursive: true });
  const source = join(scratch, 'source.raw');
  execFileSync('sh', ['-c', `head -c ${bytes} /dev/urandom > '${source}' && sync '${source}'`]);
  const cp = async (): Promise<number> => {
    const target = join(scratch, 'copy.raw');
    const t = await timed('cp', ['--sparse=never', source, target]);
    const s = await timed('sync', [target]);
    rmSync(target, { force: true });
    return mb / ((t.ms + s.ms) / 1000);
  };
  const { worker: w } = await Worker.start(dataDir, false);
  try {
    await w.call('group', { rg: 'bench-copy', location: 'westus' });
    await w.call('createDisk', { rg: 'bench-copy', name: 'cd', sizeGb: Math.ceil(bytes / GiB) });
    const ours: number[] = [];
    const cps: number[] = [];
    for (let r = 0; r < reps; r++) {
      for (const side of order(r, 'snapdisk', 'cp')) {
        if (side === 'cp') {
          cps.push(await cp());
          continue;
        }
        await w.call('fill', { rg: 'bench-copy', name: 'cd', bytes }); // a fresh delta of `bytes`
        const s = await w.call<{ requestMs: number; totalMs: number }>('snapshot', { rg: 'bench-copy', name: `cd-${r}`, disk: 'cd' });
        ours.push(mb / (s.totalMs / 1000));
      }
    }
    rec.add({
      scenario: `background copy of a ${label} delta`,
      metric: 'throughput vs cp',
      unit: 'MB/s',
      samples: ours,
      peer: 'cp --sparse=never + sync',
      peerSamples: cps,
      better: 'higher',
      note: 'snapdisk: snapshot request to the end of the background copy (64 KiB blocks read from the head, SHA-256, packed, fsynced, committed); cp of a file of the same size on the same filesystem, then fsync',
    });

    await w.call('group', { rg: 'bench-east', location: 'eastus' });
    await w.call('group', { rg: 'bench-west', location: 'westus' });
    const copies: number[] = [];
    const cps2: number[] = [];
    for (let r = 0; r < reps; r++) {
      for (const side of order(r, 'snapdisk', 'cp')) {
        if (side === 'cp') {
          cps2.push(await cp());
          continue;
        }
        const rc = await w.call<{ first: { ms: number; bytesMoved: number } }>('regionCopy', {
          rg: 'bench-east',
          targetRg: 'bench-west',
          name: `rc${r}`,
          sizeGb: Math.ceil(bytes / GiB),
          bytes,
          blocks: 0,
          reps: 0,
        });
        if (rc.first.bytesMoved < bytes) throw new Error(`the first copy moved ${rc.first.bytesMoved} of ${bytes} bytes`);
        copies.push(mb / (rc.first.ms / 1000));
      }
    }
    rec.add({
      scenario: `7. cross-region copy (eastus → westus) of a first snapshot, ${label} of data`,
      metric: 'throughput vs cp',
      unit: 'MB/s',
      samples: copies,
      peer: 'cp --sparse=never + sync',
      peerSamples: cps2,
      better: 'higher',
      note: `CopyStart request to 100% (every chunk read from eastus, verified, packed into westus, fsynced, committed); ${fmt(bytes / MiB)} MiB moved per copy`,
    });
  } finally {
    await w.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
}
