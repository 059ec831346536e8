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
import type { Points } from './points.js';
import type { Resolver } from './resolver.js';

export interface SnapshotHealth {
  completionPercent: number;
  /** The failed point the content depends on, if any. */
  failed: Point | null;
}

/** A snapshot created for upload whose upload is not complete yet: it has no point (no content) so far. */
export function isUploadPending(s: SnapshotRecord): boolean {
  return s.diskState === 'ReadyToUpload' || s.diskState === 'ActiveUpload';
}

export async function snapshotHealth(ctx: EngineContext, points: Points, resolver: Resolver, s: SnapshotRecord): Promise<SnapshotHealth> {
  if (isUploadPending(s)) return { completionPercent: 0, failed: null };
  const completionPercent = await points.progress(s.familyId, s.point);
  return { completionPercent, failed: await failedPoint(ctx, resolver, s.familyId, s.point) };
}

async function failedPoint(ctx: EngineContext, resolver: Resolver, familyId: string, seq: number): Promise<Point | null> {
  const p = await ctx.catalog.getPoint(familyId, seq);
  if (p?.state === 'failed') return p;
  const fam = await resolver.family(familyId);
  return fam.baseFamilyId ? failedPoint(ctx, resolver, fam.baseFamilyId, fam.basePoint) : null;
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
