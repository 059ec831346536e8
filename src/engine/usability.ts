/**
 * @module engine/usability
 * Whether a snapshot's content can be used (restore, copy, SAS, diff, NBD export): its point and
 * every point its content builds on (the base chain of a full snapshot or of a restored disk's
 * family) must not have failed, and a snapshot of an Ultra Disk or Premium SSD v2 disk, or a
 * cross-region copy (CopyStart), must have finished its background copy. A snapshot created for
 * upload has no content until its upload is complete (endGetAccess): it is refused for all of them.
 */

import { notAllowed } from '../core/errors.js';
import type { Point, SnapshotRecord } from '../core/model.js';
import { isUltraClass } from '../core/rules.js';
import type { EngineContext } from './context.js';
import { pointPercent } from './points.js';
import type { Resolver } from './resolver.js';

export interface SnapshotHealth {
  completionPercent: number;
  /** The failed point the content depends on, if any. */
  failed: Point | null;
  /** The snapshot's own point (null: none, or a snapshot waiting for its upload). */
  point: Point | null;
}

/** A snapshot created for upload whose upload is not complete yet: it has no point (no content) so far. */
export function isUploadPending(s: SnapshotRecord): boolean {
  return s.diskState === 'ReadyToUpload' || s.diskState === 'ActiveUpload';
}

/**
 * One walk of the snapshot's point and its base chain, each point read once: the completion
 * percent is the lowest of the chain (a missing point counts as complete, as in
 * `Points.progress`), `failed` the first failed point met.
 */
export async function snapshotHealth(ctx: EngineContext, resolver: Resolver, s: SnapshotRecord): Promise<SnapshotHealth> {
  if (isUploadPending(s)) return { completionPercent: 0, failed: null, point: null };
  let completionPercent = 100;
  let failed: Point | null = null;
  let point: Point | null | undefined;
  for (let at: { familyId: string; seq: number } | null = { familyId: s.familyId, seq: s.point }; at !== null; ) {
    const p = await ctx.catalog.getPoint(at.familyId, at.seq);
    if (point === undefined) point = p;
    if (p) completionPercent = Math.min(completionPercent, pointPercent(p));
    if (p?.state === 'failed') failed ??= p;
    const fam = await resolver.family(at.familyId);
    at = fam.baseFamilyId ? { familyId: fam.baseFamilyId, seq: fam.basePoint } : null;
  }
  return { completionPercent, failed, point: point ?? null };
}

/** Refuses a snapshot whose content failed, or that is still waiting for its upload. */
export function assertNotFailed(s: SnapshotRecord, h: SnapshotHealth, purpose: string): void {
  if (isUploadPending(s)) {
    throw notAllowed(
      `The snapshot ${s.name} is being uploaded (${s.diskState}) and cannot be used for ${purpose} until its upload is complete.`,
      'Write the VHD through the Write SAS (beginGetAccess with access Write), then call endGetAccess.',
    );
  }
  if (!h.failed) return;
  throw notAllowed(
    `The snapshot ${s.name} failed (${h.failed.errorCode ?? 'CopyFailed'}: ${h.failed.errorMessage ?? 'the background copy failed'}) and cannot be used for ${purpose}.`,
    'Delete it and take a new snapshot of the disk.',
  );
}

/** Refuses a snapshot that failed, or that must finish its background copy first and has not. */
export function assertUsable(s: SnapshotRecord, h: SnapshotHealth, purpose: string): void {
  assertNotFailed(s, h, purpose);
  const needsCompletion = isUltraClass(s.sourceDiskSku) || s.creationData.createOption === 'CopyStart';
  if (needsCompletion && h.completionPercent < 100) {
    const what = isUltraClass(s.sourceDiskSku) ? `of an ${s.sourceDiskSku} disk ` : 'copied from another region ';
    throw notAllowed(
      `The snapshot ${s.name} ${what}is still in background copy (completionPercent ${h.completionPercent}) and cannot be used for ${purpose} until it reaches 100.`,
      `Check progress with: az snapshot show -g ${s.resourceGroup} -n ${s.name} --query completionPercent`,
    );
  }
}
