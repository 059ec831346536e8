/**
 * @module bench/lib/context
 * What every scenario receives: the mode, a scratch root on the benchmark filesystem, the recorder
 * and the installed peers.
 */

import type { Recorder } from './measure.js';

export interface BenchContext {
  quick: boolean;
  /** Scratch directory (same filesystem for snapdisk and every peer). */
  root: string;
  rec: Recorder;
  /** Peer name → version line, or null when it could not be installed. */
  peers: Record<string, string | null>;
  log(s: string): void;
}

/** Alternation: round r runs the sides in this order (snapdisk first on even rounds). */
export function order<T>(r: number, a: T, b: T): [T, T] {
  return r % 2 === 0 ? [a, b] : [b, a];
}
