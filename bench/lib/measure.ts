/**
 * @module bench/lib/measure
 * The result schema of `bench/results/latest.json` and the statistics every scenario uses.
 *
 * One entry per measurement: `{scenario, metric, unit, snapdisk, peer, peerValue, ratio, better,
 * target}` plus the samples behind the medians, their spread and whether the DESIGN target is met.
 * `ratio` is always snapdisk ÷ peer; `better` says which way is good ("lower": a time, bytes;
 * "higher": a throughput), so a ratio of 0.04 on a time reads "25× faster".
 */

export interface Measurement {
  scenario: string;
  metric: string;
  unit: string;
  /** Median of the snapdisk samples. */
  snapdisk: number;
  peer: string | null;
  /** Median of the peer samples. */
  peerValue: number | null;
  /** snapdisk ÷ peer (null without a peer). */
  ratio: number | null;
  better: 'higher' | 'lower';
  /** The DESIGN.md §6 target this row is checked against, in words. */
  target?: string;
  /** Whether the target is met (absent when the row has no target). */
  targetMet?: boolean;
  /** The DESIGN.md §6 row this measurement answers (the report groups by it). */
  designRow?: string;
  samples?: number[];
  peerSamples?: number[];
  /** (max − min) ÷ median of the snapdisk samples, and of the peer's. */
  spread?: number;
  peerSpread?: number;
  note?: string;
}

/** A series for a chart: x values and one y list per line. */
export interface Series {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  x: number[];
  lines: Array<{ name: string; y: Array<number | null> }>;
  logY?: boolean;
  note?: string;
}

export interface BenchReport {
  date: string;
  mode: 'quick' | 'full';
  machine: Record<string, string | number>;
  loadBefore: number[];
  loadAfter: number[];
  /** Load average (1 min) when each scenario started. */
  loadDuring: Array<{ scenario: string; load1: number }>;
  durationSeconds: number;
  peers: Record<string, string>;
  notes: string[];
  results: Measurement[];
  series: Series[];
}

export const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};

export const spreadOf = (xs: number[]): number => {
  if (xs.length < 2) return 0;
  const m = median(xs);
  return m === 0 ? 0 : (Math.max(...xs) - Math.min(...xs)) / Math.abs(m);
};

export const fmt = (n: number | null | undefined, digits = 2): string => {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  const a = Math.abs(n);
  if (a >= 1000) return n.toFixed(0);
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 0.01 || a === 0) return n.toFixed(digits);
  return n.toPrecision(2);
};

export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const BLOCK = 64 * 1024;

/** Collects measurements and prints each one as it comes. */
export class Recorder {
  readonly results: Measurement[] = [];
  readonly series: Series[] = [];
  readonly notes: string[] = [];

  add(m: Omit<Measurement, 'snapdisk' | 'peerValue' | 'ratio' | 'spread' | 'peerSpread'> & {
    samples: number[];
    peerSamples?: number[];
    check?: (snapdisk: number, ratio: number | null) => boolean;
  }): Measurement {
    const { check, ...rest } = m;
    const snapdisk = median(m.samples);
    const peerValue = m.peerSamples && m.peerSamples.length > 0 ? median(m.peerSamples) : null;
    const ratio = peerValue !== null && peerValue !== 0 ? snapdisk / peerValue : null;
    const out: Measurement = {
      ...rest,
      snapdisk,
      peer: m.peer,
      peerValue,
      ratio,
      spread: spreadOf(m.samples),
      ...(m.peerSamples ? { peerSpread: spreadOf(m.peerSamples) } : {}),
    };
    if (check) out.targetMet = check(snapdisk, ratio);
    this.results.push(out);
    const peer = out.peer ? `   ${out.peer}: ${fmt(out.peerValue)}   ratio ${fmt(out.ratio, 3)}` : '';
    const met = out.targetMet === undefined ? '' : out.targetMet ? '   [target met]' : '   [TARGET MISSED]';
    console.log(`  ${out.scenario} | ${out.metric}: ${fmt(out.snapdisk)} ${out.unit} (n=${m.samples.length}, spread ${fmt((out.spread ?? 0) * 100, 0)}%)${peer}${met}`);
    return out;
  }

  note(text: string): void {
    this.notes.push(text);
    console.log(`  note: ${text}`);
  }
}
