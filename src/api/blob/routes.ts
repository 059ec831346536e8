/**
 * @module api/blob/routes
 * The page-blob data plane behind SAS URLs: `/{container}/abcd` (docs/DATA-PLANE.md).
 *
 *   HEAD                 Get Blob Properties          read SAS
 *   GET                  Get Blob (whole or range)    read SAS
 *   GET  ?comp=pagelist  Get Page Ranges (and diffs)  read SAS
 *   PUT  ?comp=page      Put Page (From URL)          write SAS of an upload disk
 *   PUT                  Put Blob (create; no-op)     write SAS of an upload disk
 *
 * Each request is authenticated first (auth.ts), then its `comp` is dispatched; anything else is
 * a storage XML error (errors.ts): unknown `comp` → 400 `InvalidQueryParameterValue`, other
 * methods → 405 `UnsupportedHttpVerb`.
 */

import type { Engine } from '../../engine/engine.js';
import type { HttpContext } from '../http/context.js';
import type { Router } from '../http/router.js';
import { authorize } from './auth.js';
import { redirectToOwner } from '../http/errors.js';
import { blobErrorMapper, blobError } from './errors.js';
import { BlobViews } from './formats.js';
import { getBlob, headBlob } from './get-blob.js';
import { versionHeaders } from './headers.js';
import { getPageRanges } from './page-ranges.js';
import { putBlob, putPage } from './put-page.js';
import type { WriteDeps } from './put-page.js';
import { BLOB_NAME } from './sas.js';
import type { SasSigner } from './sas.js';

export interface BlobRouteDeps {
  engine: Engine;
  sas: SasSigner;
}

export function registerBlobRoutes(router: Router, deps: BlobRouteDeps): void {
  const all: WriteDeps = { ...deps, views: new BlobViews(deps.engine) };
  const group = router.group(redirectToOwner(blobErrorMapper));
  const pattern = `/{container}/${BLOB_NAME}`;
  group.add(['GET', 'HEAD'], pattern, (ctx) => read(ctx, all));
  group.add('PUT', pattern, (ctx) => write(ctx, all));
}

function begin(ctx: HttpContext): string | null {
  ctx.res.setHeader('x-ms-version', versionHeaders(ctx)['x-ms-version']);
  if (ctx.query.has('restype')) {
    throw blobError('InvalidQueryParameterValue', `restype=${ctx.query.get('restype') ?? ''} is not supported: a managed disk SAS names one blob.`);
  }
  const comp = ctx.query.get('comp');
  return comp === null ? null : comp.toLowerCase();
}

async function read(ctx: HttpContext, deps: WriteDeps): Promise<void> {
  const comp = begin(ctx);
  const access = await authorize(deps, ctx.param('container'), ctx.query, 'Read');
  if (comp !== null && !(comp === 'pagelist' && ctx.method === 'GET')) throw unsupportedComp(ctx, comp);
  const view = await deps.views.open(access);
  if (comp === 'pagelist') return getPageRanges(ctx, deps, view);
  if (ctx.method === 'HEAD') return headBlob(ctx, view);
  return getBlob(ctx, deps, view);
}

async function write(ctx: HttpContext, deps: WriteDeps): Promise<void> {
  const comp = begin(ctx);
  const access = await authorize(deps, ctx.param('container'), ctx.query, 'Write');
  if (comp === 'page') return putPage(ctx, deps, access);
  if (comp === null) return putBlob(ctx, deps, access);
  throw unsupportedComp(ctx, comp);
}

function unsupportedComp(ctx: HttpContext, comp: string): Error {
  return blobError(
    'InvalidQueryParameterValue',
    `Value '${comp}' for query parameter comp is not supported by ${ctx.method} on a managed disk blob: use comp=pagelist (GET) or comp=page (PUT).`,
  );
}
