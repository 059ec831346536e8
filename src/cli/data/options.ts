/**
 * @module cli/data/options
 * Options the data commands share.
 */

import type { Args, OptionSpec } from '../args.js';
import { usageError } from '../errors.js';

export const PARALLEL_OPTION: OptionSpec = { name: '--parallel', kind: 'int', metavar: 'N', help: 'Requests in flight (1 to 32). Default: 8.' };
export const OVERWRITE_OPTION: OptionSpec = { name: '--overwrite', kind: 'flag', help: 'Replace the output file if it exists.' };
export const DURATION_OPTION: OptionSpec = { name: '--duration-in-seconds', kind: 'int', metavar: 'SECONDS', help: 'Lifetime of the SAS the command uses (revoked when it ends). Default: 86400.' };

export function parallel(args: Args): number {
  const n = args.int('parallel') ?? 8;
  if (n < 1 || n > 32) throw usageError(`argument --parallel: ${n} is not from 1 to 32.`);
  return n;
}

/** --duration-in-seconds of the data commands (undefined: the default). */
export function durationInSeconds(args: Args): number | undefined {
  const n = args.int('duration-in-seconds');
  if (n !== undefined && n < 1) throw usageError(`argument --duration-in-seconds: ${n} is not a positive number of seconds.`);
  return n;
}
