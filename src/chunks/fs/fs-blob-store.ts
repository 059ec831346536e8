/**
 * @module chunks/fs/fs-blob-store
 * BlobStore on a local directory (one zone). Writes follow the crash-safe recipe: write to a
 * temporary name beside the final one, check the length, fsync, rename, fsync the directory,
 * make the file read-only. A reader therefore never sees a partial object, also after a crash;
 * leftover temporary files are removed at open.
 */

import { constants, promises as fsp } from 'node:fs';
import type { Dirent } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, relative, sep } from 'node:path';
import { SnapdiskError } from '../../core/errors.js';
import type { BlobInfo, BlobStore } from '../../core/ports.js';

const TMP_SUFFIX = '.tmp';

export class FsBlobStore implements BlobStore {
  private readonly handles = new Map<string, Promise<fsp.FileHandle>>();
  private readonly maxHandles = 64;

  constructor(
    readonly root: string,
    readonly name: string = root,
  ) {}

  /** Creates the root and removes temporary files a crash left behind. */
  async init(): Promise<this> {
    await fsp.mkdir(this.root, { recursive: true });
    for await (const path of walk(this.root)) {
      if (path.endsWith(TMP_SUFFIX)) await fsp.rm(path, { force: true });
    }
    return this;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const path = this.path(key);
    const existing = await this.stat(key);
    if (existing && existing.size === data.length) return;
    await fsp.mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`;
    const fh = await fsp.open(tmp, 'wx', 0o644);
    try {
      let written = 0;
      while (written < data.length) {
        const { bytesWritten } = await fh.write(data, written, data.length - written, written);
        written += bytesWritten;
      }
      const st = await fh.stat();
      if (st.size !== data.length) {
        throw new SnapdiskError('IntegrityError', `short write of ${key}: ${st.size} of ${data.length} bytes`);
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.chmod(tmp, 0o444);
    await fsp.rename(tmp, path);
    await syncDir(dirname(path));
  }

  async read(key: string, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const fh = await this.handle(key);
    const out = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(out, done, length - done, offset + done);
      if (bytesRead === 0) {
        throw new SnapdiskError(
          'IntegrityError',
          `object ${key} in ${this.name} ends before ${offset + length} (read ${done} of ${length} bytes at ${offset})`,
        );
      }
      done += bytesRead;
    }
    return out;
  }

  async stat(key: string): Promise<BlobInfo | null> {
    try {
      const st = await fsp.stat(this.path(key));
      return { key, size: st.size, modified: st.mtime };
    } catch (err) {
      if (isEnoent(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.dropHandle(key);
    await fsp.rm(this.path(key), { force: true });
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    for await (const path of walk(this.root)) {
      if (path.endsWith(TMP_SUFFIX)) continue;
      const key = relative(this.root, path).split(sep).join('/');
      if (!key.startsWith(prefix)) continue;
      const st = await fsp.stat(path).catch(() => null);
      if (st) yield { key, size: st.size, modified: st.mtime };
    }
  }

  async close(): Promise<void> {
    const all = [...this.handles.keys()];
    for (const key of all) await this.dropHandle(key);
  }

  private path(key: string): string {
    if (key.startsWith('/') || key.split('/').includes('..')) {
      throw new SnapdiskError('InvalidParameter', `invalid object key ${JSON.stringify(key)}`);
    }
    return join(this.root, ...key.split('/'));
  }

  private handle(key: string): Promise<fsp.FileHandle> {
    let h = this.handles.get(key);
    if (h) {
      // refresh LRU position
      this.handles.delete(key);
      this.handles.set(key, h);
      return h;
    }
    h = fsp.open(this.path(key), constants.O_RDONLY).catch((err: unknown) => {
      this.handles.delete(key);
      if (isEnoent(err)) throw new SnapdiskError('ChunkNotFound', `object ${key} is missing from ${this.name}`, { cause: err });
      throw err;
    });
    this.handles.set(key, h);
    if (this.handles.size > this.maxHandles) {
      const oldest = this.handles.keys().next().value;
      if (oldest !== undefined) void this.dropHandle(oldest);
    }
    return h;
  }

  private async dropHandle(key: string): Promise<void> {
    const h = this.handles.get(key);
    if (!h) return;
    this.handles.delete(key);
    try {
      await (await h).close();
    } catch {
      // the open itself failed or the handle is already closed: nothing to release
    }
  }
}

async function* walk(dir: string): AsyncIterable<string> {
  let entries: Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isEnoent(err)) return;
    throw err;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* walk(path);
    else if (e.isFile()) yield path;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function isEnoent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === 'ENOENT';
}
