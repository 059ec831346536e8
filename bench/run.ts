/**
 * @module bench/run
 * `npm run bench [-- --quick] [-- --only=backup,sweep,engine,nbd,memory,copy,scaleout] [-- --dir=PATH]`
 *
 * Measures snapdisk against its peers in the same run and writes bench/results/latest.json
 * (`{date, mode, machine, loadBefore, loadAfter, peers, notes, results, series}`; each result
 * `{scenario, metric, unit, snapdisk, peer, peerValue, ratio, better, target, ...}`), then
 * regenerates docs/BENCHMARKS.md and the SVG charts (bench/report.ts).
 *
 *   backup  1. incremental backup after 1% changes vs restic and borg; 3. restore vs cp, restic restore
 *   sweep   chart: backup time and stored bytes against the fraction changed (snapdisk, restic, borg)
 *   engine  2. snapshot request latency; 6. diff at 1 and 16 TiB; 7. cross-region copy bytes ÷ delta
 *   nbd     4. NBD sequential and random I/O vs qemu-nbd; 5. SAS ranged download vs reading the file
 *   memory  8. peak RSS with 10 attached 1 TiB disks under light I/O
 *   copy    background copy of a 1 GiB delta and 7. a first cross-region copy, each vs cp
 *   scaleout  9. PostgreSQL + Ceph beside SQLite + files: copy, restore, catalog latency
 *
 * Peers come from Debian's packages (installed with apt-get when missing; a peer that cannot be
 * installed is skipped with a note). Test data is random. Each comparison alternates snapdisk and
 * its peer over several rounds and keeps medians and the spread; load averages before, during and
 * after are recorded because the machine may be shared. `--only` writes
 * bench/results/partial.json instead of latest.json.
 */

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext } from './lib/context.js';
import { Recorder } from './lib/measure.js';
import type { BenchReport } from './lib/measure.js';
import { ensurePeers, freeBytes, load1, machine } from './lib/sys.js';
import { loadavg } from 'node:os';
import { writeReport } from './report.js';
import { runBackupAndRestore, runSweep } from './scenarios/backup.js';
import { runEngineScenarios } from './scenarios/engine.js';
import { runMemory } from './scenarios/memory.js';
import { runNbdAndSas } from './scenarios/nbd-sas.js';
import { runCopy } from './scenarios/copy.js';
import { runScaleOut } from './scenarios/scaleout.js';

const SCENARIOS: Record<string, (ctx: BenchContext) => Promise<void>> = {
  engine: runEngineScenarios,
  backup: runBackupAndRestore,
  sweep: runSweep,
  nbd: runNbdAndSas,
  memory: runMemory,
  copy: runCopy,
  scaleout: runScaleOut,
};

function arg(name: string): string | undefined {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a?.slice(name.length + 3);
}

/** The commit measured (with "+changes" when the work tree differs from it), or "unknown". */
function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', 'src'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+changes in src` : head;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const only = arg('only')?.split(',').filter(Boolean);
  for (const o of only ?? []) if (!SCENARIOS[o]) throw new Error(`unknown scenario ${o} (known: ${Object.keys(SCENARIOS).join(', ')})`);
  const base = arg('dir') ?? process.env['SNAPDISK_BENCH_DIR'] ?? tmpdir();
  mkdirSync(base, { recursive: true });
  const root = mkdtempSync(join(base, 'snapdisk-bench-'));
  const t0 = Date.now();
  const loadBefore = loadavg();
  const rec = new Recorder();
  const log = (s: string): void => console.log(s);
  console.log(`snapdisk bench (${quick ? 'quick' : 'full'}) in ${root}; load ${loadBefore.map((x) => x.toFixed(2)).join(' ')}; ${(freeBytes(root) / 1024 ** 3).toFixed(1)} GiB free`);
  const peers = await ensurePeers(log);
  for (const [k, v] of Object.entries(peers)) console.log(`  peer ${k}: ${v ?? 'NOT AVAILABLE'}`);
  const ctx: BenchContext = { quick, root, rec, peers, log };
  const loadDuring: BenchReport['loadDuring'] = [];
  const failures: string[] = [];
  try {
    for (const [name, fn] of Object.entries(SCENARIOS)) {
      if (only && !only.includes(name)) continue;
      loadDuring.push({ scenario: name, load1: load1() });
      console.log(`== ${name} (load ${load1().toFixed(2)})`);
      const s0 = Date.now();
      try {
        await fn(ctx);
      } catch (err) {
        const msg = `scenario ${name} failed: ${err instanceof Error ? err.message : String(err)}`;
        failures.push(msg);
        rec.note(msg);
        console.error(err);
      }
      console.log(`   ${name} took ${((Date.now() - s0) / 1000).toFixed(0)} s`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const report: BenchReport = {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    machine: { ...machine(), benchFilesystem: base, commit: gitCommit() },
    loadBefore,
    loadAfter: loadavg(),
    loadDuring,
    durationSeconds: Math.round((Date.now() - t0) / 1000),
    peers: Object.fromEntries(Object.entries(peers).map(([k, v]) => [k, v ?? 'not available'])),
    notes: rec.notes,
    results: rec.results,
    series: rec.series,
  };
  const out = join(process.cwd(), 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const file = join(out, only ? 'partial.json' : 'latest.json');
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  console.log(`wrote ${file} (${report.durationSeconds} s; load after ${report.loadAfter.map((x) => x.toFixed(2)).join(' ')})`);
  if (!only) writeReport(report, process.cwd());
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
