/**
 * @module cli/data/diff
 * The differential commands: `snapshot diff` (list the ranges changed and cleared between two
 * snapshots of a disk), `snapshot export-diff` (write them, with the new bytes, to a diff file)
 * and `snapshot apply-diff` (apply such a file onto a local raw image), so a chain of
 * incremental backups can be kept off-site and restored:
 *
 *   export-diff --to s1 --file full.sdiff              apply-diff --file full.sdiff --target img.raw
 *   export-diff --from s1 --to s2 --file s2.sdiff      apply-diff --file s2.sdiff   --target img.raw
 *
 * Diffs come from the data plane: Read grants on both snapshots, `comp=pagelist` on the newer
 * with `x-ms-previous-snapshot-url` = the older's SAS, paged by marker; both grants are revoked
 * afterwards (a family allows 5 snapshots with a SAS at a time). The image's state (which
 * snapshot it holds) is kept next to it in `IMAGE.snapdisk.json`; apply-diff refuses a diff
 * whose base is another snapshot, or whose size is not the image's.
 */

import { readFile, rename, stat, writeFile, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { CommandContext } from '../command.js';
import { version } from '../version.js';
import { CliError, usageError } from '../errors.js';
import { humanBytes } from '../progress.js';
import type { Target, WireResource } from '../resources.js';
import { withRead } from './access.js';
import type { Access } from './access.js';
import { pieces } from './blob.js';
import type { PageRange } from './blob.js';
import { DiffWriter, readDiff } from './diff-file.js';
import type { DiffHeader, SnapshotRef } from './diff-file.js';
import { createOutput, exists, isZero, ZERO_BLOCK } from './files.js';
import { readVhdxMap } from './vhdx-reader.js';

export interface SnapshotArg {
  target: Target;
  resource: WireResource;
}

function ref(s: SnapshotArg): SnapshotRef {
  const p = s.resource.properties ?? {};
  return { id: s.resource.id, name: s.resource.name, uniqueId: p.uniqueId ?? '', timeCreated: p.timeCreated ?? '', diskSizeBytes: p.diskSizeBytes ?? 0 };
}

function sectorOf(s: SnapshotArg): number {
  return s.resource.properties?.creationData?.logicalSectorSize ?? 512;
}

/** Early, clear refusals (the server would refuse too, less readably). */
function checkPair(from: SnapshotArg, to: SnapshotArg): void {
  const fp = from.resource.properties ?? {};
  const tp = to.resource.properties ?? {};
  if (!fp.incremental || !tp.incremental) throw usageError('--from and --to must be incremental snapshots (diffs exist only within an incremental snapshot family).');
  if (fp.incrementalSnapshotFamilyId && tp.incrementalSnapshotFamilyId && fp.incrementalSnapshotFamilyId !== tp.incrementalSnapshotFamilyId) {
    throw usageError(`--from ${from.resource.name} and --to ${to.resource.name} are snapshots of different disks (incremental snapshot families).`);
  }
  if (fp.timeCreated && tp.timeCreated && Date.parse(fp.timeCreated) > Date.parse(tp.timeCreated)) {
    throw usageError(`--from ${from.resource.name} is newer than --to ${to.resource.name}: give the older snapshot as --from.`);
  }
  if (sectorOf(to) === 4096) {
    throw new CliError('Snapshots with 4096-byte sectors are served as VHDX, and page-range diffs exist only for VHD (512-byte sectors).', {
      code: 'DiffNotSupported',
      hint: 'Export the full snapshot instead (export-diff without --from).',
    });
  }
}

/** Changed (and, with `from`, cleared) ranges of `to`, clipped to the disk. */
async function ranges(to: Access, from: Access | undefined, size: number): Promise<PageRange[]> {
  const out: PageRange[] = [];
  for (const r of await to.blob.allPageRanges(from ? { previousUrl: from.url } : {})) {
    const end = Math.min(r.end, size);
    if (r.start < end) out.push({ start: r.start, end, clear: r.clear });
  }
  return out;
}

/** Grants on `to` (and `from`), then `fn`; revoked afterwards. */
function withPair<T>(ctx: CommandContext, from: SnapshotArg | undefined, to: SnapshotArg, fn: (to: Access, from: Access | undefined) => Promise<T>, vhdx = false): Promise<T> {
  const list = [{ ...to, ...(vhdx ? { fileFormat: 'VHDX' as const } : {}) }, ...(from ? [from] : [])];
  return withRead(ctx, list, ([t, f]) => {
    if (!t) throw new Error('no grant');
    return fn(t, f);
  });
}

export interface DiffItem {
  kind: 'changed' | 'cleared';
  offset: number;
  length: number;
}

/** `snapshot diff`: the ranges, without data. */
export async function listDiff(ctx: CommandContext, from: SnapshotArg | undefined, to: SnapshotArg): Promise<DiffItem[]> {
  if (from) checkPair(from, to);
  const size = to.resource.properties?.diskSizeBytes ?? 0;
  return withPair(ctx, from, to, async (t, f) => (await ranges(t, f, size)).map((r) => ({ kind: r.clear ? 'cleared' : 'changed', offset: r.start, length: r.end - r.start })), !from && sectorOf(to) === 4096);
}

interface Item {
  kind: 'data' | 'zero';
  start: number;
  end: number;
  /** Where to read (blob offset) when it differs from `start` (VHDX). */
  from?: number;
}

/** Writes items in order, fetching data `parallel` pieces ahead; zero runs are merged. */
async function writeItems(ctx: CommandContext, access: Access, writer: DiffWriter, items: Item[], parallel: number): Promise<void> {
  const total = items.reduce((n, i) => n + (i.kind === 'data' ? i.end - i.start : 0), 0);
  const bar = ctx.progress(`Exporting ${writer.header.to.name}`, total);
  const fetches: Array<Promise<Buffer> | undefined> = [];
  let started = 0;
  let pendingZero: { start: number; end: number } | undefined;
  let done = 0;
  const zero = async (start: number, end: number): Promise<void> => {
    if (pendingZero && pendingZero.end === start) pendingZero.end = end;
    else {
      if (pendingZero) await writer.zero(pendingZero.start, pendingZero.end - pendingZero.start);
      pendingZero = { start, end };
    }
  };
  const data = async (start: number, buf: Buffer): Promise<void> => {
    if (pendingZero) await writer.zero(pendingZero.start, pendingZero.end - pendingZero.start);
    pendingZero = undefined;
    await writer.data(start, buf);
  };
  try {
    for (let i = 0; i < items.length; i++) {
      for (; started < Math.min(items.length, i + parallel); started++) {
        const it = items[started];
        if (it?.kind === 'data') {
          const p = access.blob.read(it.from ?? it.start, it.end - it.start);
          p.catch(() => undefined);
          fetches[started] = p;
        }
      }
      const it = items[i];
      if (!it) continue;
      if (it.kind === 'zero') {
        await zero(it.start, it.end);
        continue;
      }
      const buf = await (fetches[i] ?? Promise.reject(new Error('missing fetch')));
      fetches[i] = undefined;
      // all-zero 64 KiB blocks become zero records
      let runStart = -1;
      for (let off = 0; off < buf.length; ) {
        const next = Math.min(buf.length, (Math.floor((it.start + off) / ZERO_BLOCK) + 1) * ZERO_BLOCK - it.start);
        const zeros = isZero(buf.subarray(off, next));
        if (zeros) {
          if (runStart >= 0) await data(it.start + runStart, buf.subarray(runStart, off));
          runStart = -1;
          await zero(it.start + off, it.start + next);
        } else if (runStart < 0) runStart = off;
        off = next;
      }
      if (runStart >= 0) await data(it.start + runStart, buf.subarray(runStart));
      done += buf.length;
      bar.update(done);
    }
    if (pendingZero) await writer.zero(pendingZero.start, pendingZero.end - pendingZero.start);
  } finally {
    bar.done();
  }
}

export interface ExportSummary {
  file: string;
  kind: 'incremental' | 'full';
  from: string | null;
  to: string;
  diskSizeBytes: number;
  records: number;
  dataBytes: number;
  fileBytes: number;
  elapsedSeconds: number;
}

/** `snapshot export-diff`. */
export async function exportDiff(ctx: CommandContext, from: SnapshotArg | undefined, to: SnapshotArg, file: string, opts: { parallel: number; overwrite: boolean }): Promise<ExportSummary> {
  const started = Date.now();
  if (from) checkPair(from, to);
  if (!opts.overwrite && (await exists(file))) throw usageError(`argument --file: ${file} exists.`, 'Pass --overwrite to replace it.');
  const size = to.resource.properties?.diskSizeBytes ?? 0;
  const vhdx = !from && sectorOf(to) === 4096;
  const header: DiffHeader = {
    format: 'snapdisk-diff',
    version: 1,
    kind: from ? 'incremental' : 'full',
    diskSizeBytes: size,
    baseSizeBytes: from ? (from.resource.properties?.diskSizeBytes ?? 0) : null,
    from: from ? ref(from) : null,
    to: ref(to),
    incrementalSnapshotFamilyId: to.resource.properties?.incrementalSnapshotFamilyId ?? null,
    createdAt: new Date().toISOString(),
    createdBy: `snapdisk ${version()}`,
  };
  return withPair(
    ctx,
    from,
    to,
    async (t, f) => {
      let items: Item[];
      if (vhdx) {
        const map = await readVhdxMap((o, n) => t.blob.read(o, n));
        items = [];
        for (const b of map.blocks) for (const p of pieces([{ start: b.virtualOffset, end: b.virtualOffset + b.length }])) items.push({ kind: 'data', start: p.start, end: p.end, from: b.fileOffset + (p.start - b.virtualOffset) });
      } else {
        items = [];
        for (const r of await ranges(t, f, size)) {
          if (r.clear) items.push({ kind: 'zero', start: r.start, end: r.end });
          else for (const p of pieces([r])) items.push({ kind: 'data', start: p.start, end: p.end });
        }
      }
      const writer = await DiffWriter.create(file, header);
      try {
        await writeItems(ctx, t, writer, items, opts.parallel);
        await writer.finish();
      } catch (err) {
        await writer.abort();
        throw err;
      }
      const s = writer.stats;
      const elapsed = (Date.now() - started) / 1000;
      ctx.log.info(`Wrote ${file}: ${s.records} records, ${humanBytes(s.dataBytes)} of data, in ${elapsed.toFixed(1)} s.`);
      return { file, kind: header.kind, from: header.from?.id ?? null, to: header.to.id, diskSizeBytes: size, records: s.records, dataBytes: s.dataBytes, fileBytes: s.fileBytes + 40, elapsedSeconds: Math.round(elapsed * 1000) / 1000 };
    },
    vhdx,
  );
}

/** The state file of an image: which snapshot it holds. */
export function statePath(image: string): string {
  return `${image}.snapdisk.json`;
}

interface ImageState {
  format: 'snapdisk-image-state';
  snapshot: SnapshotRef;
  diskSizeBytes: number;
  appliedAt: string;
  lastDiff: string;
}

async function readState(image: string): Promise<ImageState | undefined> {
  try {
    return JSON.parse(await readFile(statePath(image), 'utf8')) as ImageState;
  } catch {
    return undefined;
  }
}

async function writeState(image: string, state: ImageState): Promise<void> {
  const tmp = `${statePath(image)}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, statePath(image));
}

export interface ApplySummary {
  target: string;
  kind: 'incremental' | 'full';
  from: string | null;
  to: string;
  diskSizeBytes: number;
  records: number;
  dataBytes: number;
  zeroBytes: number;
  applied: boolean;
  sha256: string;
}

const ZEROS = Buffer.alloc(4 * 1024 * 1024);

async function writeZeros(fh: FileHandle, offset: number, length: number): Promise<void> {
  for (let off = 0; off < length; off += ZEROS.length) await fh.write(ZEROS, 0, Math.min(ZEROS.length, length - off), offset + off);
}

/** `snapshot apply-diff`: validate the whole file, check the image, then apply. */
export async function applyDiff(ctx: CommandContext, file: string, image: string, opts: { force: boolean; check: boolean; overwrite: boolean }): Promise<ApplySummary> {
  const valid = await readDiff(file);
  const h = valid.header;
  const summary = (applied: boolean): ApplySummary => ({
    target: image,
    kind: h.kind,
    from: h.from?.id ?? null,
    to: h.to.id,
    diskSizeBytes: h.diskSizeBytes,
    records: valid.records,
    dataBytes: valid.dataBytes,
    zeroBytes: valid.zeroBytes,
    applied,
    sha256: valid.sha256,
  });
  if (opts.check) return summary(false);
  const present = await exists(image);
  let fh: FileHandle;
  let commit: () => Promise<void>;
  let abort: () => Promise<void>;
  if (h.kind === 'full') {
    if (present && !opts.overwrite) throw usageError(`argument --target: ${image} exists; a full export restores into a new image.`, 'Pass --overwrite to replace it, or give a new --target.');
    const out = await createOutput(image, h.diskSizeBytes, true, '--target');
    fh = out.fh;
    commit = async () => out.commit();
    abort = async () => out.discard();
  } else {
    if (!present) throw usageError(`argument --target: ${image} does not exist; an incremental diff applies onto the image of ${h.from?.name ?? 'its base snapshot'}.`, 'Apply the chain in order, starting with a full export (export-diff without --from).');
    const size = (await stat(image)).size;
    if (size !== h.baseSizeBytes) {
      throw new CliError(`${image} is ${size} bytes, but this diff applies to a ${h.baseSizeBytes ?? '?'}-byte image (${h.from?.name ?? '?'}). Nothing was written.`, { code: 'WrongBase', hint: 'Apply it onto the image of its --from snapshot.' });
    }
    const state = await readState(image);
    if (state && h.from && state.snapshot.uniqueId !== h.from.uniqueId && !opts.force) {
      if (state.snapshot.uniqueId === h.to.uniqueId) {
        ctx.log.warn(`${image} already holds ${h.to.name}: nothing to do.`);
        return summary(false);
      }
      throw new CliError(`${image} holds snapshot ${state.snapshot.name} (${state.snapshot.timeCreated}), but this diff goes from ${h.from.name} to ${h.to.name}. Nothing was written.`, {
        code: 'WrongBase',
        hint: 'Apply the diffs of the chain in order (or --force if you know better).',
      });
    }
    if (!state) ctx.log.warn(`${statePath(image)} is missing: cannot check that ${image} holds ${h.from?.name ?? 'the base snapshot'}; applying anyway.`);
    const handle = await open(image, 'r+');
    fh = handle;
    abort = async () => handle.close().catch(() => undefined);
    commit = async () => {
      if (h.diskSizeBytes !== size) await fh.truncate(h.diskSizeBytes);
      await fh.sync();
      await fh.close();
    };
  }
  const bar = ctx.progress(`Applying ${h.to.name}`, valid.dataBytes + valid.zeroBytes);
  let done = 0;
  try {
    const again = await readDiff(file, async (r) => {
      if (r.kind === 'data' && r.data) await fh.write(r.data, 0, r.length, r.offset);
      else if (h.kind === 'incremental') await writeZeros(fh, r.offset, r.length);
      done += r.length;
      bar.update(done);
    });
    if (again.sha256 !== valid.sha256) throw new CliError(`${file} changed while it was applied.`, { code: 'BadDiffFile' });
    await commit();
  } catch (err) {
    await abort();
    throw err;
  } finally {
    bar.done();
  }
  await writeState(image, { format: 'snapdisk-image-state', snapshot: h.to, diskSizeBytes: h.diskSizeBytes, appliedAt: new Date().toISOString(), lastDiff: file });
  return summary(true);
}
