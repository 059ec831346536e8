/**
 * @module cli/data/download
 * `disk download` and `snapshot download`: a resource to a local raw image (default), fixed VHD
 * or VHDX, through a read SAS that is revoked afterwards.
 *
 *   512-byte sectors, raw/vhd:  page list of the VHD blob → copy the allocated ranges (4 MiB
 *                               pieces, several in flight) → vhd: append the blob's footer
 *   vhdx:                       a VHDX grant; page list of the VHDX blob → copy those ranges
 *   4096-byte sectors, raw/vhd: served as VHDX only; read its BAT and copy the present blocks to
 *                               their disk offsets → vhd: append a generated footer
 *
 * The output is sparse: it is sized first and only non-zero 64 KiB blocks are written.
 */

import type { CommandContext } from '../command.js';
import { vhdFooter } from '../../core/vhd.js';
import { usageError } from '../errors.js';
import { humanBytes } from '../progress.js';
import { getResource } from '../resources.js';
import type { Target } from '../resources.js';
import { withRead } from './access.js';
import type { Access } from './access.js';
import { pieces, runPool } from './blob.js';
import { createOutput, writeSparse } from './files.js';
import type { OutputFile } from './files.js';
import { readVhdxMap } from './vhdx-reader.js';

export type ImageFormat = 'raw' | 'vhd' | 'vhdx';

export interface DownloadOptions {
  file: string;
  format: ImageFormat;
  overwrite: boolean;
  parallel: number;
  durationInSeconds?: number;
}

export interface DownloadSummary {
  file: string;
  format: ImageFormat;
  sizeBytes: number;
  diskSizeBytes: number;
  transferredBytes: number;
  elapsedSeconds: number;
}

/** The format of `--format`, else from the file's extension, else raw. */
export function imageFormat(value: string | undefined, file: string): ImageFormat {
  const v = (value ?? (/\.vhdx$/i.test(file) ? 'vhdx' : /\.vhd$/i.test(file) ? 'vhd' : 'raw')).toLowerCase();
  if (v !== 'raw' && v !== 'vhd' && v !== 'vhdx') throw usageError(`argument --format: invalid choice: '${value ?? ''}' (choose from 'raw', 'vhd', 'vhdx').`);
  return v;
}

interface Copy {
  /** Where to read in the blob. */
  from: number;
  /** Where to write in the file. */
  to: number;
  length: number;
}

async function copyAll(ctx: CommandContext, access: Access, out: OutputFile, copies: Copy[], parallel: number, label: string): Promise<number> {
  const total = copies.reduce((n, c) => n + c.length, 0);
  const bar = ctx.progress(label, total);
  let done = 0;
  try {
    const tasks = (function* () {
      for (const c of copies) {
        for (const p of pieces([{ start: c.from, end: c.from + c.length }])) {
          yield async () => {
            const data = await access.blob.read(p.start, p.end - p.start);
            await writeSparse(out.fh, data, c.to + (p.start - c.from));
            done += data.length;
            bar.update(done);
          };
        }
      }
    })();
    await runPool(tasks, parallel);
  } finally {
    bar.done();
  }
  return total;
}

export async function download(ctx: CommandContext, t: Target, opts: DownloadOptions): Promise<DownloadSummary> {
  const started = Date.now();
  const resource = await getResource(ctx, t);
  const size = resource.properties?.diskSizeBytes ?? 0;
  const sector = resource.properties?.creationData?.logicalSectorSize ?? 512;
  const vhdxBlob = opts.format === 'vhdx' || sector === 4096;
  const label = `Downloading ${t.name}`;
  return withRead(
    ctx,
    [{ target: t, resource, ...(vhdxBlob ? { fileFormat: 'VHDX' as const } : {}) }],
    async ([access]) => {
      if (!access) throw new Error('no grant');
      let out: OutputFile | undefined;
      try {
        let transferred: number;
        let fileSize: number;
        if (opts.format === 'vhdx') {
          fileSize = await access.blob.length();
          out = await createOutput(opts.file, fileSize, opts.overwrite);
          const ranges = (await access.blob.allPageRanges()).map((r) => ({ from: r.start, to: r.start, length: r.end - r.start }));
          transferred = await copyAll(ctx, access, out, ranges, opts.parallel, label);
        } else if (vhdxBlob) {
          const map = await readVhdxMap((o, n) => access.blob.read(o, n));
          fileSize = size + (opts.format === 'vhd' ? 512 : 0);
          out = await createOutput(opts.file, fileSize, opts.overwrite);
          transferred = await copyAll(ctx, access, out, map.blocks.map((b) => ({ from: b.fileOffset, to: b.virtualOffset, length: b.length })), opts.parallel, label);
          if (opts.format === 'vhd') await out.fh.write(vhdFooter(size, { timestamp: new Date() }), 0, 512, size);
        } else {
          fileSize = size + (opts.format === 'vhd' ? 512 : 0);
          out = await createOutput(opts.file, fileSize, opts.overwrite);
          const ranges: Copy[] = [];
          for (const r of await access.blob.allPageRanges()) {
            const end = Math.min(r.end, size);
            if (r.start < end) ranges.push({ from: r.start, to: r.start, length: end - r.start });
          }
          transferred = await copyAll(ctx, access, out, ranges, opts.parallel, label);
          if (opts.format === 'vhd') await out.fh.write(await access.blob.read(size, 512), 0, 512, size);
        }
        await out.commit();
        const elapsed = (Date.now() - started) / 1000;
        ctx.log.info(`Downloaded ${humanBytes(transferred)} of data into ${opts.file} (${humanBytes(fileSize)}, ${opts.format}) in ${elapsed.toFixed(1)} s.`);
        return { file: opts.file, format: opts.format, sizeBytes: fileSize, diskSizeBytes: size, transferredBytes: transferred, elapsedSeconds: Math.round(elapsed * 1000) / 1000 };
      } catch (err) {
        await out?.discard();
        throw err;
      }
    },
    opts.durationInSeconds,
  );
}
