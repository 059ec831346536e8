/**
 * @module bench/scenarios/engine
 * Engine-level scenarios without a peer, in one worker process:
 *   2. snapshot request latency at 1 GiB and 1 TiB (sparse), with small and large deltas;
 *   6. diff of two snapshots with 10,000 changed blocks at 1 TiB and 16 TiB (all pages);
 *   7. cross-region copy (CopyStart eastus → westus) of later snapshots: bytes moved ÷ delta.
 */

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { BLOCK, GiB, MiB, fmt, nowMs } from '../lib/measure.js';
import { Worker } from '../lib/worker-client.js';

export async function runEngineScenarios(ctx: BenchContext): Promise<void> {
  const { rec, quick } = ctx;
  const dataDir = join(ctx.root, 'snapdisk-engine');
  const { worker: w } = await Worker.start(dataDir, false);
  try {
    await w.call('group', { rg: 'bench-lat', location: 'westus' });
    // 2. latency
    const cases: Array<[string, number, number, number]> = [
      ['1 GiB', 1, 64, quick ? 5 : 15],
      ['1 TiB', 1024, 64, quick ? 5 : 15],
      ['1 TiB', 1024, quick ? 2_000 : 20_000, quick ? 2 : 5],
      ['16 TiB', 16384, 64, quick ? 3 : 7],
    ];
    for (const [label, sizeGb, changed, rounds] of cases) {
      const t0 = nowMs();
      const times = await w.call<number[]>('latency', { rg: 'bench-lat', name: `lat${sizeGb}-${changed}`, sizeGb, changed, rounds });
      ctx.log(`  latency ${label}, ${changed} blocks: ${fmt((nowMs() - t0) / 1000)} s`);
      rec.add({
        scenario: `2. snapshot request latency, ${label} disk (sparse)`,
        metric: `request latency, ${changed} blocks changed (${fmt((changed * BLOCK) / MiB)} MiB delta)`,
        unit: 'ms',
        samples: times,
        peer: null,
        better: 'lower',
        target: '< 50 ms',
        designRow: 'create-snapshot request latency',
        check: (v) => v < 50,
        note: `engine call (freeze + catalog transaction), previous snapshot's copy still running; max ${fmt(Math.max(...times))} ms`,
      });
    }

    // 6. diff
    await w.call('group', { rg: 'bench-diff', location: 'westus' });
    for (const [label, sizeGb] of [['1 TiB', 1024], ['16 TiB', 16384]] as const) {
      const t0 = nowMs();
      const r = await w.call<{ times: number[]; ranges: number; pages: number }>('diff', { rg: 'bench-diff', name: `diff${sizeGb}`, sizeGb, changed: 10_000, before: quick ? 1_000 : 10_000, reps: quick ? 5 : 11 });
      ctx.log(`  diff ${label}: ${fmt((nowMs() - t0) / 1000)} s`);
      rec.add({
        scenario: `6. diff, 10,000 changed blocks, ${label} disk`,
        metric: `all pages (${r.ranges} ranges, ${r.pages} page${r.pages === 1 ? '' : 's'})`,
        unit: 'ms',
        samples: r.times,
        peer: null,
        better: 'lower',
        target: '< 200 ms',
        designRow: `diff, 10,000 changed blocks, ${label}`,
        check: (v) => v < 200,
        note: 'Snapshots.diff pages of 10,000 ranges, engine level (the page-blob API adds XML)',
      });
    }

    // 7. cross-region copy
    await w.call('group', { rg: 'bench-east', location: 'eastus' });
    await w.call('group', { rg: 'bench-west', location: 'westus' });
    const bytes = quick ? 256 * MiB : GiB;
    const blocks = Math.round((bytes / BLOCK) * 0.01);
    const rc = await w.call<{ first: { ms: number; bytesMoved: number }; rounds: Array<{ ms: number; bytesMoved: number; usedBytes: number; changedBytes: number }> }>('regionCopy', {
      rg: 'bench-east',
      targetRg: 'bench-west',
      sizeGb: 1,
      bytes,
      blocks,
      reps: quick ? 2 : 3,
    });
    const label = bytes >= GiB ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`;
    rec.add({
      scenario: `7. cross-region copy (eastus → westus) of the next snapshot, ${label} of data, 1% changed`,
      metric: 'bytes moved ÷ delta',
      unit: '×',
      samples: rc.rounds.map((x) => x.bytesMoved / x.changedBytes),
      peer: null,
      better: 'lower',
      target: '≤ 1.05 × the delta',
      designRow: 'cross-region copy of an incremental snapshot',
      check: (v) => v <= 1.05,
      note: `delta = ${blocks} rewritten 64 KiB blocks (${fmt((blocks * BLOCK) / MiB)} MiB); bytesMoved of the mirror point; first (full) copy moved ${fmt(rc.first.bytesMoved / MiB)} MiB of ${fmt(bytes / MiB)} MiB; copy times ${rc.rounds.map((x) => fmt(x.ms)).join(', ')} ms`,
    });
  } finally {
    await w.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
