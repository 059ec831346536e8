/**
 * @module cli/data/files
 * Local files of the data commands: sparse output (holes instead of zeros: a new file is sized
 * with ftruncate and only non-zero 64 KiB blocks are written), written under a temporary name
 * and renamed into place when complete, so a failed or interrupted command never leaves a
 * plausible-looking partial file.
 */

import { constants } from 'node:fs';
import { access, open, rename, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CliError, usageError } from '../errors.js';

export const ZERO_BLOCK = 64 * 1024;
const ZEROS = Buffer.alloc(4 * 1024 * 1024);

/** True when every byte of `buf` is zero. */
export function isZero(buf: Uint8Array): boolean {
  for (let off = 0; off < buf.length; off += ZEROS.length) {
    const n = Math.min(ZEROS.length, buf.length - off);
    if (!Buffer.from(buf.buffer, buf.byteOffset + off, n).equals(ZEROS.subarray(0, n))) return false;
  }
  return true;
}

/** Writes `buf` at `position`, skipping 64 KiB blocks (aligned to the file) that are all zeros. */
export async function writeSparse(fh: FileHandle, buf: Buffer, position: number): Promise<number> {
  let written = 0;
  let runStart = -1;
  const flush = async (end: number): Promise<void> => {
    if (runStart < 0) return;
    await fh.write(buf, runStart, end - runStart, position + runStart);
    written += end - runStart;
    runStart = -1;
  };
  let off = 0;
  while (off < buf.length) {
    const next = Math.min(buf.length, (Math.floor((position + off) / ZERO_BLOCK) + 1) * ZERO_BLOCK - position);
    if (isZero(buf.subarray(off, next))) await flush(off);
    else if (runStart < 0) runStart = off;
    off = next;
  }
  await flush(buf.length);
  return written;
}

export interface OutputFile {
  fh: FileHandle;
  path: string;
  /** Syncs, closes and renames into place. */
  commit(): Promise<void>;
  /** Closes and removes the temporary file. */
  discard(): Promise<void>;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks, before any request, that `path` can be written: absent (or `overwrite`), in an existing
 * directory the user may write to.
 */
export async function checkOutput(path: string, overwrite: boolean, option = '--file'): Promise<void> {
  if (!overwrite && (await exists(path))) throw usageError(`argument ${option}: ${path} exists.`, 'Pass --overwrite to replace it.');
  const dir = dirname(path);
  try {
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    await access(dir, constants.W_OK);
  } catch (err) {
    throw new CliError(`argument ${option}: cannot write into ${dir}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (err as Error).message}.`, {
      code: 'FileError',
      hint: `Check that the directory of ${option} exists and that you may write to it.`,
    });
  }
}

/** A new output file of `size` bytes (all holes), under a temporary name next to `path`. */
export async function createOutput(path: string, size: number, overwrite: boolean, option = '--file'): Promise<OutputFile> {
  if (!overwrite && (await exists(path))) throw usageError(`argument ${option}: ${path} exists.`, 'Pass --overwrite to replace it.');
  const tmp = join(dirname(path), `.${basename(path)}.snapdisk-partial`);
  let fh: FileHandle;
  try {
    fh = await open(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC, 0o644);
  } catch (err) {
    throw new CliError(`argument ${option}: cannot create ${tmp}: ${(err as Error).message}`, { code: 'FileError', hint: `Check that the directory of ${option} exists and that you may write to it.` });
  }
  await fh.truncate(size);
  let done = false;
  return {
    fh,
    path,
    async commit() {
      await fh.sync();
      await fh.close();
      await rename(tmp, path);
      done = true;
    },
    async discard() {
      if (done) return;
      done = true;
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
    },
  };
}

/** An input file that cannot be opened, as an error naming the option, with what to check. */
export function fileError(err: unknown, path: string, option: string): CliError {
  const code = (err as NodeJS.ErrnoException).code;
  const hint =
    code === 'ENOENT'
      ? `Check the path given to ${option} (a relative path is from the current directory).`
      : code === 'EACCES' || code === 'EPERM'
        ? `You may not read ${path}: check its permissions.`
        : `Give ${option} a readable regular file.`;
  return new CliError(`argument ${option}: cannot open ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}.`, { code: 'FileError', hint });
}

/** Opens an input file, with a clear error naming the option when it cannot be read. */
export async function openInput(path: string, option: string): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw fileError(err, path, option);
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new CliError(`argument ${option}: ${path} is not a regular file.`, { code: 'FileError', hint: `Give ${option} a readable regular file.` });
  }
  return { fh, size: st.size };
}
