/**
 * @module bench/report
 * Generates docs/BENCHMARKS.md and the SVG charts (bench/results/*.svg) from a results file:
 *
 *   npm run bench:report               # from bench/results/latest.json
 *   node dist/bench/report.js FILE     # from another results file
 *
 * `npm run bench` calls it at the end. The charts are drawn here without dependencies. The
 * hand-written analysis (profiles, causes of missed targets, proposed fixes) lives in
 * bench/analysis.md and is included verbatim.
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchReport, Measurement, Series } from './lib/measure.js';
import { fmt } from './lib/measure.js';

/** The rows of DESIGN.md §6, in its order. */
const DESIGN_ROWS: Array<{ row: string; what: string; target: string }> = [
  { row: 'create-snapshot request latency', what: 'create-snapshot request latency', target: '< 50 ms at any disk size and delta size' },
  { row: 'incremental snapshot, 4 GiB, 1% changed', what: 'incremental snapshot of a 4 GiB disk with 1% changed, to completion', target: '≥ 25× faster than restic backup; stored ≤ 1.05 × changed' },
  { row: 'restore hydration throughput', what: 'restore hydration throughput', target: '≥ 0.7 × a plain file copy' },
  { row: 'NBD sequential read', what: 'NBD sequential read', target: '≥ 0.8 × qemu-nbd, same client' },
  { row: 'NBD sequential write', what: 'NBD sequential write', target: '≥ 0.8 × qemu-nbd, same client' },
  { row: 'diff, 10,000 changed blocks, 1 TiB', what: 'diff, 10,000 changed blocks, 1 TiB disk', target: '< 200 ms for all pages' },
  { row: 'diff, 10,000 changed blocks, 16 TiB', what: 'diff, 10,000 changed blocks, 16 TiB disk', target: '< 200 ms for all pages' },
  { row: 'cross-region copy of an incremental snapshot', what: 'cross-region copy of an incremental snapshot', target: 'bytes moved ≤ 1.05 × the delta' },
  { row: 'memory', what: 'memory, 10 attached 1 TiB disks', target: 'RSS < 300 MiB' },
];

const COLORS: Record<string, string> = { snapdisk: '#1f6fb4', restic: '#c8382c', borg: '#2b8a3e' };
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A line chart: categorical x (equal spacing), linear or log y, one polyline per series line. */
export function lineChart(s: Series): string {
  const W = 680;
  const H = 380;
  const m = { l: 64, r: 130, t: 42, b: 56 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const values = s.lines.flatMap((l) => l.y.filter((v): v is number => v !== null && Number.isFinite(v) && (!s.logY || v > 0)));
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  const ticks: number[] = [];
  if (s.logY) {
    lo = 10 ** Math.floor(Math.log10(lo));
    hi = 10 ** Math.ceil(Math.log10(hi));
    for (let v = lo; v <= hi * 1.0001; v *= 10) ticks.push(v);
  } else {
    lo = 0;
    const step = niceStep(hi / 5);
    hi = Math.ceil(hi / step) * step || 1;
    for (let v = 0; v <= hi + step / 2; v += step) ticks.push(v);
  }
  const y = (v: number): number => (s.logY ? m.t + ph - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * ph : m.t + ph - ((v - lo) / (hi - lo)) * ph);
  const x = (i: number): number => m.l + (s.x.length === 1 ? pw / 2 : (i / (s.x.length - 1)) * pw);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(s.title)}</text>`);
  for (const t of ticks) {
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${m.l - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${esc(fmtTick(t))}</text>`);
  }
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#444"/>`);
  out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#444"/>`);
  s.x.forEach((v, i) => out.push(`<text x="${x(i).toFixed(1)}" y="${m.t + ph + 18}" text-anchor="middle">${esc(String(v))}</text>`));
  out.push(`<text x="${m.l + pw / 2}" y="${H - 14}" text-anchor="middle">${esc(s.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(s.yLabel)}${s.logY ? ' (log scale)' : ''}</text>`);
  s.lines.forEach((l, k) => {
    const color = COLORS[l.name] ?? ['#7048e8', '#e67700', '#495057'][k % 3] ?? '#000';
    const pts = l.y.map((v, i) => (v === null || !Number.isFinite(v) || (s.logY && v <= 0) ? null : ([x(i), y(v)] as const))).filter((p): p is readonly [number, number] => p !== null);
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>`);
    for (const [a, b] of pts) out.push(`<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3.5" fill="${color}"/>`);
    const ly = m.t + 10 + k * 22;
    out.push(`<line x1="${m.l + pw + 14}" x2="${m.l + pw + 38}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${m.l + pw + 44}" y="${ly + 4}">${esc(l.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function fmtTick(v: number): string {
  if (v >= 1) return Number(v.toPrecision(3)).toString();
  return Number(v.toPrecision(2)).toString();
}

/** "25× faster", "0.83× of qemu-nbd"… from a ratio (snapdisk ÷ peer). */
function ratioWords(m: Measurement): string {
  if (m.ratio === null || !Number.isFinite(m.ratio)) return '-';
  if (m.unit === '×') return `${fmt(m.ratio, 2)}×`;
  if (m.better === 'lower') return m.ratio <= 1 ? `${fmt(1 / m.ratio)}× faster` : `${fmt(m.ratio)}× slower`;
  return `${fmt(m.ratio, 2)}×`;
}

function value(v: number | null, unit: string): string {
  return v === null ? '-' : `${fmt(v)} ${unit}`;
}

function spread(m: Measurement): string {
  const a = `±${fmt(((m.spread ?? 0) * 100) / 2, 0)}%`;
  return m.peerSpread !== undefined ? `${a} / ±${fmt((m.peerSpread * 100) / 2, 0)}%` : a;
}

export function renderMarkdown(r: BenchReport, charts: Array<{ file: string; series: Series }>, analysis: string): string {
  const L: string[] = [];
  const load = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' / ');
  L.push('# Benchmarks');
  L.push('');
  L.push('<!-- generated by bench/report.ts from bench/results/latest.json: edit bench/analysis.md or the script, not this file -->');
  L.push('');
  L.push('`npm run bench` measures snapdisk beside its peers in one run, on the same data and filesystem, and');
  L.push('regenerates this page. `npm run bench -- --quick` runs every scenario with smaller sizes and fewer');
  L.push('rounds (about four minutes on this shared two-core machine, less when it is quiet); the full run');
  L.push('takes about half an hour; `npm run bench:report` redraws the page from `bench/results/latest.json`;');
  L.push('`-- --only=engine,backup,sweep,nbd,memory,copy,scaleout` runs a subset into `bench/results/partial.json`.');
  L.push('Ratios are snapdisk ÷ peer; medians of');
  L.push('alternating runs; the spread column is half the range of the runs around the median');
  L.push('(snapdisk / peer).');
  L.push('');
  L.push('## The run');
  L.push('');
  L.push('| | |');
  L.push('|---|---|');
  L.push(`| date | ${r.date} |`);
  L.push(`| mode | ${r.mode} (${r.durationSeconds} s) |`);
  L.push(`| machine | ${r.machine['cpu']}, ${r.machine['cores']} cores, ${r.machine['memoryGiB']} GiB RAM, ${r.machine['os']}, Node ${r.machine['node']} |`);
  if (r.machine['commit']) L.push(`| code measured | \`${r.machine['commit']}\` |`);
  L.push(`| filesystem | every file of every tool under \`${r.machine['benchFilesystem']}\` (one filesystem) |`);
  L.push(`| load average (1/5/15 min) | before ${load(r.loadBefore)}; after ${load(r.loadAfter)} |`);
  L.push(`| load at each scenario's start | ${r.loadDuring.map((x) => `${x.scenario} ${x.load1.toFixed(2)}`).join(', ')} |`);
  L.push(`| peers | ${Object.entries(r.peers).map(([k, v]) => `${k}: ${v}`).join('; ')} |`);
  L.push('');
  const busy = Math.max(r.loadBefore[0] ?? 0, r.loadAfter[0] ?? 0, ...r.loadDuring.map((x) => x.load1));
  const cores = Number(r.machine['cores']) || 1;
  if (busy > cores * 0.75) {
    L.push(`**Noise:** the machine was shared during this run (load average up to ${busy.toFixed(1)} on ${cores} cores), so`);
    L.push('absolute figures are lower and noisier than on an idle machine; the alternation of snapdisk and its peer');
    L.push('round by round keeps the ratios fairer than the absolute numbers. Spreads are listed per row.');
    L.push('');
  }
  L.push('## DESIGN.md §6 targets');
  L.push('');
  const checked = r.results.filter((m) => m.targetMet !== undefined);
  const missed = checked.filter((m) => m.targetMet === false);
  L.push(
    missed.length === 0
      ? `All ${checked.length} target checks of this run are met.`
      : `${checked.length - missed.length} of ${checked.length} target checks are met; missed: ${missed.map((m) => `${m.scenario.replace(/^\d+\. /, '')} (${m.metric}: ${value(m.snapdisk, m.unit)}${m.ratio !== null ? `, ${ratioWords(m)}` : ''})`).join('; ')}. The causes are below the tables.`,
  );
  L.push('');
  L.push('| DESIGN §6 row | target | measurement | snapdisk | peer | ratio | met |');
  L.push('|---|---|---|---|---|---|---|');
  for (const d of DESIGN_ROWS) {
    const rows = r.results.filter((m) => m.designRow === d.row);
    if (rows.length === 0) {
      L.push(`| ${d.what} | ${d.target} | not measured in this run | | | | - |`);
      continue;
    }
    for (const m of rows) {
      const met = m.targetMet === undefined ? '-' : m.targetMet ? 'yes' : '**no**';
      L.push(`| ${d.what} | ${m.target ?? d.target} | ${m.scenario.replace(/^\d+\. /, '')}: ${m.metric} | ${value(m.snapdisk, m.unit)} | ${m.peer ? `${m.peer}: ${value(m.peerValue, m.unit)}` : '-'} | ${ratioWords(m)} | ${met} |`);
    }
  }
  L.push('');
  if (charts.length > 0) {
    L.push('## Charts');
    L.push('');
    for (const c of charts) {
      L.push(`![${c.series.title}](../bench/results/${c.file})`);
      L.push('');
      if (c.series.note) L.push(`*${c.series.note}.*`);
      L.push('');
      L.push(`| ${c.series.xLabel} | ${c.series.lines.map((l) => l.name).join(' | ')} |`);
      L.push(`|---|${c.series.lines.map(() => '---').join('|')}|`);
      c.series.x.forEach((x, i) => L.push(`| ${x} | ${c.series.lines.map((l) => fmt(l.y[i] ?? null)).join(' | ')} |`));
      L.push('');
    }
  }
  L.push('## Every measurement');
  L.push('');
  L.push('| scenario | metric | snapdisk | peer | peer value | ratio | n | spread | notes |');
  L.push('|---|---|---|---|---|---|---|---|---|');
  for (const m of r.results) {
    const n = `${m.samples?.length ?? 1}${m.peerSamples ? `/${m.peerSamples.length}` : ''}`;
    L.push(`| ${m.scenario} | ${m.metric} | ${value(m.snapdisk, m.unit)} | ${m.peer ?? '-'} | ${value(m.peerValue, m.unit)} | ${ratioWords(m)} | ${n} | ${spread(m)} | ${(m.note ?? '').replace(/\|/g, '/')} |`);
  }
  L.push('');
  if (r.notes.length > 0) {
    L.push('## Notes from the run');
    L.push('');
    for (const n of r.notes) L.push(`- ${n}`);
    L.push('');
  }
  L.push(analysis.trim());
  L.push('');
  return L.join('\n');
}

/** Writes the charts and docs/BENCHMARKS.md under `root` (the repository). */
export function writeReport(r: BenchReport, root: string): void {
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const charts = r.series.map((s) => ({ file: `${s.id}.svg`, series: s }));
  for (const c of charts) writeFileSync(join(dir, c.file), lineChart(c.series));
  const analysisPath = join(root, 'bench', 'analysis.md');
  const analysis = existsSync(analysisPath) ? readFileSync(analysisPath, 'utf8') : '';
  mkdirSync(join(root, 'docs'), { recursive: true });
  writeFileSync(join(root, 'docs', 'BENCHMARKS.md'), renderMarkdown(r, charts, analysis));
  console.log(`wrote docs/BENCHMARKS.md and ${charts.length} chart(s) in bench/results/`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2] ?? join(process.cwd(), 'bench', 'results', 'latest.json');
  writeReport(JSON.parse(readFileSync(file, 'utf8')) as BenchReport, process.cwd());
}
