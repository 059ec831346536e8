/**
 * @module api/http/atomic-file
 * Small file helpers for the state the API layer keeps under DATA (TLS material, signing key,
 * development credentials): atomic writes with an explicit mode, and reads that treat a missing
 * file as `undefined`.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';

/** Writes via a temporary file and rename, so a crash never leaves a half-written file. */
export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}

/** The file's text, or `undefined` when it does not exist. */
export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
