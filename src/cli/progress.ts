/**
 * @module cli/progress
 * Progress bars with rate and ETA for transfers (upload, download, export/apply-diff) and for
 * `wait` on `completionPercent`. Drawn on stderr, only when stderr is a terminal (or
 * `SNAPDISK_PROGRESS=always`); piped or redirected output gets nothing, so scripts stay quiet.
 *
 *   Downloading snap1  [██████████░░░░░░░░░░]  52%  532.0 MiB/1.0 GiB  210.4 MiB/s  ETA 0:02
 */

export interface Progress {
  /** Sets the amount done (bytes, or percent for `percent` bars). */
  update(done: number): void;
  /** Adds to the amount done. */
  add(delta: number): void;
  /** Clears the bar (call once, also on failure). */
  done(): void;
}

const NOOP: Progress = { update: () => undefined, add: () => undefined, done: () => undefined };

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function humanBytes(n: number): string {
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${UNITS[u] ?? ''}`;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export interface ProgressOptions {
  label: string;
  total: number;
  unit: 'bytes' | 'percent';
  write: (text: string) => void;
  /** Terminal width (default 100). */
  columns?: number;
  now?: () => number;
}

/** A bar on a terminal; `enabled` false gives a bar that draws nothing. */
export function createProgress(enabled: boolean, opts: ProgressOptions): Progress {
  if (!enabled) return NOOP;
  const now = opts.now ?? Date.now;
  const started = now();
  const samples: Array<{ t: number; v: number }> = [{ t: started, v: 0 }];
  let value = 0;
  let lastDraw = 0;
  let drawn = false;
  let finished = false;
  const draw = (force: boolean): void => {
    const t = now();
    if (!force && t - lastDraw < 100) return;
    lastDraw = t;
    samples.push({ t, v: value });
    while (samples.length > 2 && t - (samples[0]?.t ?? t) > 5000) samples.shift();
    const first = samples[0] ?? { t: started, v: 0 };
    const rate = t > first.t ? ((value - first.v) * 1000) / (t - first.t) : 0;
    const total = Math.max(opts.total, 1);
    const frac = Math.min(1, Math.max(0, value / total));
    const eta = rate > 0 ? (opts.total - value) / rate : NaN;
    const amount = opts.unit === 'bytes' ? `${humanBytes(value)}/${humanBytes(opts.total)}  ${humanBytes(rate)}/s` : `${rate.toFixed(2)} %/s`;
    const tail = `${String(Math.floor(frac * 100)).padStart(3)}%  ${amount}  ETA ${clock(eta)}`;
    const columns = opts.columns ?? 100;
    const barWidth = Math.max(10, Math.min(30, columns - opts.label.length - tail.length - 8));
    const filled = Math.round(frac * barWidth);
    const line = `${opts.label}  [${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)}]  ${tail}`;
    opts.write(`\r${line.slice(0, columns - 1)}\x1b[K`);
    drawn = true;
  };
  return {
    // throttled to 10 frames a second, except the one that reaches the total: the last state shows
    update(done: number) {
      if (finished) return;
      value = done;
      draw(value >= opts.total);
    },
    add(delta: number) {
      if (finished) return;
      value += delta;
      draw(value >= opts.total);
    },
    done() {
      if (finished) return;
      finished = true;
      if (drawn) opts.write('\r\x1b[K');
    },
  };
}
