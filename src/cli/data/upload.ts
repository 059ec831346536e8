/**
 * @module cli/data/upload
 * `disk upload`: a local raw image or fixed VHD into a disk created for upload, the way AzCopy
 * does it: grant Write → Put Page of the non-zero parts (4 MiB at most each, several in flight)
 * → the 512-byte VHD footer last → revoke, which makes the server check the footer and turn the
 * disk into an ordinary one.
 *
 * - Raw input gets a generated fixed-VHD footer (`core/vhd.ts`). A VHD whose size matches the
 *   disk keeps its own footer; a smaller image (raw or VHD) fills the start of the disk and the
 *   footer is generated for the disk's size.
 * - Zero detection works on 64 KiB blocks: all-zero blocks are never sent (an upload disk reads
 *   as zeros where nothing was written).
 * - When the upload fails the grant stays active, so the command can simply be run again.
 */

import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { parseVhdFooter, vhdFooter } from '../../core/vhd.js';
import type { CommandContext } from '../command.js';
import { CliError, usageError } from '../errors.js';
import { humanBytes } from '../progress.js';
import type { Target, WireResource } from '../resources.js';
import { grant } from './access.js';
import { PIECE, runPool } from './blob.js';
import { isZero, openInput, ZERO_BLOCK } from './files.js';

export type UploadFormat = 'auto' | 'raw' | 'vhd';

export interface UploadOptions {
  file: string;
  format: UploadFormat;
  parallel: number;
}

export interface ImageInfo {
  format: 'raw' | 'vhd';
  /** Bytes of disk data in the file (without a VHD footer). */
  dataSize: number;
  /** The file's own footer, for a VHD. */
  footer?: Buffer;
}

/** Whether the file is a fixed VHD (valid footer for its size) or raw data. */
export async function inspectImage(fh: FileHandle, size: number, format: UploadFormat): Promise<ImageInfo> {
  if (format !== 'raw' && size >= 1024) {
    const tail = Buffer.alloc(512);
    await fh.read(tail, 0, 512, size - 512);
    const info = parseVhdFooter(tail, { expectedSizeBytes: size - 512 });
    if (info.valid) return { format: 'vhd', dataSize: size - 512, footer: tail };
    if (format === 'vhd' || info.cookieOk) {
      throw new CliError(`--file is not a fixed VHD this disk can take: ${info.reason ?? 'invalid footer'}`, {
        code: 'BadImage',
        hint: 'Convert it with `qemu-img convert -O vpc -o subformat=fixed,force_size=on IN OUT.vhd`, or upload the raw image with --format raw.',
      });
    }
  } else if (format === 'vhd') {
    throw new CliError('--file is too small to be a VHD.', { code: 'BadImage', hint: 'Upload it as a raw image with --format raw (or --format auto).' });
  }
  return { format: 'raw', dataSize: size };
}

/** Upload size for an image: data rounded up to a whole MiB, plus the footer. */
export function uploadSizeFor(dataSize: number): number {
  const MiB = 1024 * 1024;
  return Math.max(20 * MiB, Math.ceil(dataSize / MiB) * MiB) + 512;
}

/** The non-zero runs of `buf` (64 KiB granularity, 512-aligned ends), as [start, end) offsets. */
function nonZeroRuns(buf: Buffer): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let start = -1;
  for (let off = 0; off < buf.length; off += ZERO_BLOCK) {
    const end = Math.min(buf.length, off + ZERO_BLOCK);
    if (isZero(buf.subarray(off, end))) {
      if (start >= 0) runs.push([start, off]);
      start = -1;
    } else if (start < 0) start = off;
  }
  if (start >= 0) runs.push([start, buf.length]);
  return runs;
}

export interface UploadSummary {
  id: string;
  file: string;
  format: 'raw' | 'vhd';
  uploadSizeBytes: number;
  sentBytes: number;
  skippedZeroBytes: number;
  elapsedSeconds: number;
}

export async function upload(ctx: CommandContext, t: Target, disk: WireResource, opts: UploadOptions): Promise<UploadSummary> {
  const started = Date.now();
  const { fh, size } = await openInput(opts.file, '--file');
  try {
    const image = await inspectImage(fh, size, opts.format);
    const state = disk.properties?.diskState;
    const uploadSize = disk.properties?.creationData?.uploadSizeBytes;
    if (disk.properties?.creationData?.createOption !== 'Upload' || uploadSize === undefined || (state !== 'ReadyToUpload' && state !== 'ActiveUpload')) {
      throw new CliError(`Disk ${t.name} is not waiting for an upload (createOption ${disk.properties?.creationData?.createOption ?? '?'}, diskState ${state ?? '?'}).`, {
        code: 'NotAnUploadDisk',
        hint: `Create one for this file: snapdisk disk create -g ${t.resourceGroup} -n NAME --upload-type Upload --upload-size-bytes ${uploadSizeFor(image.dataSize)}`,
      });
    }
    const diskData = uploadSize - 512;
    if (image.dataSize > diskData) {
      throw usageError(`--file holds ${image.dataSize} bytes of disk data, more than the ${diskData} bytes of disk ${t.name}.`, `Create the disk with --upload-size-bytes ${uploadSizeFor(image.dataSize)}.`);
    }
    const footer = image.footer && image.dataSize === diskData ? image.footer : vhdFooter(diskData, { uniqueId: randomBytes(16), timestamp: new Date() });
    const access = await grant(ctx, t, { access: 'Write', resource: disk });
    const bar = ctx.progress(`Uploading ${t.name}`, image.dataSize);
    let sent = 0;
    let read = 0;
    try {
      const tasks = (function* () {
        for (let off = 0; off < image.dataSize; off += PIECE) {
          const length = Math.min(PIECE, image.dataSize - off);
          yield async () => {
            const buf = Buffer.alloc(Math.ceil(length / 512) * 512);
            const { bytesRead } = await fh.read(buf, 0, length, off);
            if (bytesRead !== length) throw new CliError(`--file changed while it was read (short read at ${off}).`, { code: 'FileError' });
            for (const [s, e] of nonZeroRuns(buf)) {
              await access.blob.putPage(off + s, buf.subarray(s, e));
              sent += e - s;
            }
            read += length;
            bar.update(read);
          };
        }
      })();
      await runPool(tasks, opts.parallel);
      await access.blob.putPage(diskData, footer);
    } catch (err) {
      bar.done();
      if (err instanceof CliError) throw err.withHint(`${err.hint ? `${err.hint} ` : ''}The disk stays ${'ActiveUpload'}: run the upload again, or revoke access to give up.`);
      throw err;
    }
    bar.done();
    await access.release();
    const elapsed = (Date.now() - started) / 1000;
    ctx.log.info(`Uploaded ${humanBytes(sent)} (${humanBytes(image.dataSize - sent)} of zeros skipped) in ${elapsed.toFixed(1)} s.`);
    return { id: disk.id, file: opts.file, format: image.format, uploadSizeBytes: uploadSize, sentBytes: sent, skippedZeroBytes: image.dataSize - sent, elapsedSeconds: Math.round(elapsed * 1000) / 1000 };
  } finally {
    await fh.close();
  }
}
