/**
 * @module api/blob/page-ranges
 * Get Page Ranges (`GET ?comp=pagelist`): the blob ranges holding data, or with a previous
 * snapshot the ranges changed since it (`PageRange` written, `ClearRange` cleared).
 *
 * Request:
 * - optional `x-ms-range`/`Range`, 512-aligned; an end past the blob is clamped.
 * - `maxresults` 1..10000 (larger values are capped at 10000, ≤ 0 is 400); without it every range
 *   is returned in one response (what `getPageRanges` and the backup sample expect) — streamed:
 *   the list is read `STREAM_PAGE` ranges at a time and each part of the XML is written before
 *   the next is read (chunked, no Content-Length), so memory stays bounded on a fragmented
 *   multi-TiB disk. A range cut by an internal page boundary is held back and merged, so the
 *   answer is exactly the one-piece list. A grant revoked meanwhile ends the response (destroyed).
 * - conditional headers as GET: `If-Match`/`If-Unmodified-Since` not met → 412,
 *   `If-None-Match`/`If-Modified-Since` met → 304.
 * - `marker`: the `NextMarker` of the previous page (opaque to clients: the next byte offset).
 * - previous snapshot, by header `x-ms-previous-snapshot-url` (a full SAS URL of an older
 *   snapshot of the same family, itself authenticated and readable) or by query `prevsnapshot`
 *   (a SAS URL as for the header — the SDK's `listPageRangesDiff` sends it there —, or that
 *   snapshot's uniqueId, its ARM resource id, or its `timeCreated`; it must be of the same
 *   family as the granted snapshot, which is what makes naming it without a SAS acceptable: only
 *   which ranges changed is revealed, never the older bytes). The header wins when both are given.
 *
 * Answers: full lists include the VHD footer page (`[size, size+511]`, as Azure does); diffs never
 * do. Diffs are served for snapshot grants in VHD format only (a VHDX file's layout depends on
 * its content, so byte ranges of two VHDX files do not correspond).
 */

import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { SnapdiskError } from '../../core/errors.js';
import { tryParseResourceId } from '../../core/ids.js';
import type { SnapshotRecord } from '../../core/model.js';
import type { DiffRange } from '../../core/ranges.js';
import type { Engine } from '../../engine/engine.js';
import type { RangePage } from '../../engine/snapshots.js';
import type { HttpContext } from '../http/context.js';
import type { AuthDeps } from './auth.js';
import { authorizeUrl, stillGranted } from './auth.js';
import { checkConditions } from './conditions.js';
import { drained } from './get-blob.js';
import { blobError } from './errors.js';
import type { BlobView } from './formats.js';
import { versionHeaders } from './headers.js';
import { pageRange, requestedRange } from './ranges.js';
import type { Span } from './ranges.js';

export const MAX_RESULTS = 10_000;
/** Ranges read per internal page of a streamed (no `maxresults`) list: about 250 KB of XML. */
export const STREAM_PAGE = 4096;
const MARKER_PREFIX = 'sdpl1:';
const XML_HEAD = '<?xml version="1.0" encoding="utf-8"?><PageList>';

type PageQuery = { start: number; end: number; maxRanges?: number };

/** Handles `comp=pagelist` for `view`. */
export async function getPageRanges(ctx: HttpContext, deps: AuthDeps, view: BlobView): Promise<void> {
  const requested = requestedRange(ctx);
  const span = requested ? pageRange(requested, view.length) : { start: 0, end: view.length };
  const maxRanges = parseMaxResults(ctx.query.get('maxresults'));
  const marker = ctx.query.get('marker');
  const start = marker ? decodeMarker(marker, span) : span.start;
  const previous = await previousSnapshot(ctx, deps, view);
  const headers: OutgoingHttpHeaders = {
    ...versionHeaders(ctx),
    etag: view.properties.etag,
    'last-modified': view.properties.lastModified.toUTCString(),
    'x-ms-blob-content-length': String(view.length),
  };
  if (checkConditions(ctx, view.properties) === 'not-modified') {
    ctx.res.writeHead(304, headers);
    ctx.res.end();
    return;
  }
  const list = (q: PageQuery): Promise<RangePage<DiffRange>> => (previous ? diffPage(deps.engine, view, previous, q) : view.dataRanges(q));
  if (maxRanges !== undefined) {
    const body = pageListXml(await list({ start, end: span.end, maxRanges }));
    ctx.res.writeHead(200, { ...headers, 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    ctx.res.end(body);
    return;
  }
  await streamPageList(ctx.res, headers, list, { start, end: span.end }, () => stillGranted(deps.engine, view.access.grant.id));
}

/**
 * The whole list as XML, written part by part over internal pages of `STREAM_PAGE` ranges (see
 * the module notes). The first page is read before the headers go out, so its errors are
 * ordinary error responses; a later failure destroys the response (a short, invalid XML).
 */
async function streamPageList(
  res: ServerResponse,
  headers: OutgoingHttpHeaders,
  list: (q: PageQuery) => Promise<RangePage<DiffRange>>,
  span: { start: number; end: number },
  granted: () => Promise<boolean>,
): Promise<void> {
  let page = await list({ ...span, maxRanges: STREAM_PAGE });
  res.writeHead(200, { ...headers, 'content-type': 'application/xml' });
  let part = XML_HEAD;
  let held: DiffRange | undefined;
  for (;;) {
    for (const r of page.ranges) {
      if (held && held.end === r.start && held.clear === r.clear) {
        held = { start: held.start, end: r.end, clear: r.clear };
        continue;
      }
      if (held) part += rangeXml(held);
      held = r;
    }
    if (page.next === undefined) break;
    if (part !== '' && !res.write(part)) await drained(res);
    part = '';
    if (res.destroyed) return;
    if (!(await granted())) {
      res.destroy();
      return;
    }
    page = await list({ start: page.next, end: span.end, maxRanges: STREAM_PAGE });
  }
  if (held) part += rangeXml(held);
  res.end(`${part}<NextMarker></NextMarker></PageList>`);
}

function rangeXml(r: DiffRange): string {
  const tag = r.clear ? 'ClearRange' : 'PageRange';
  return `<${tag}><Start>${r.start}</Start><End>${r.end - 1}</End></${tag}>`;
}

/** `maxresults`: undefined when absent; 400 unless a positive integer; capped at 10000. */
export function parseMaxResults(value: string | null): number | undefined {
  if (value === null) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n <= 0) {
    throw blobError('InvalidQueryParameterValue', `Value '${value}' for query parameter maxresults is not valid: it must be a positive integer (at most ${MAX_RESULTS} are returned).`);
  }
  return Math.min(n, MAX_RESULTS);
}

export function encodeMarker(offset: number): string {
  return Buffer.from(`${MARKER_PREFIX}${offset}`).toString('base64url');
}

/** The byte offset a marker continues from; it must lie in the requested span. */
export function decodeMarker(marker: string, span: Span): number {
  const text = Buffer.from(marker, 'base64url').toString('utf8');
  const offset = text.startsWith(MARKER_PREFIX) ? Number(text.slice(MARKER_PREFIX.length)) : NaN;
  if (!Number.isSafeInteger(offset) || offset < span.start || offset > span.end) {
    throw blobError('InvalidQueryParameterValue', `Value '${marker}' for query parameter marker is not valid: pass the NextMarker of the previous response with the same range.`);
  }
  return offset;
}

/** The page-list XML (§5 of the wire contract): inclusive `End`, `NextMarker` empty on the last page. */
export function pageListXml(page: RangePage<DiffRange>): string {
  const next = page.next === undefined ? '' : encodeMarker(page.next);
  return `${XML_HEAD}${page.ranges.map(rangeXml).join('')}<NextMarker>${next}</NextMarker></PageList>`;
}

async function diffPage(engine: Engine, view: BlobView, previous: SnapshotRecord, q: PageQuery): Promise<RangePage<DiffRange>> {
  const res = view.access.resource;
  if (res.kind !== 'snapshot') {
    throw blobError(
      'PreviousSnapshotOperationNotSupported',
      'Changes since a previous snapshot can only be listed on the SAS of a snapshot, not of a disk.',
      { hint: 'Take an incremental snapshot of the disk, grant access to it and list its changes.' },
    );
  }
  if (view.format !== 'VHD') {
    throw blobError(
      'PreviousSnapshotOperationNotSupported',
      `Changes since a previous snapshot are listed on VHD-format SAS URLs only; this one serves ${view.format}.`,
      { hint: 'Grant access with fileFormat VHD for differential copies (4096-byte-sector snapshots: read the full VHDX).' },
    );
  }
  // the footer page never changes: a diff stops at the disk bytes
  return engine.snapshots.diff(res.snapshot, previous, { ...q, end: Math.min(q.end, res.snapshot.sizeBytes) });
}

/** The previous snapshot named by the request, if any. */
async function previousSnapshot(ctx: HttpContext, deps: AuthDeps, view: BlobView): Promise<SnapshotRecord | undefined> {
  const url = ctx.header('x-ms-previous-snapshot-url');
  if (url !== undefined && url.trim() !== '') return snapshotOfUrl(deps, url.trim(), 'x-ms-previous-snapshot-url');
  const name = ctx.query.get('prevsnapshot');
  if (name === null) return undefined;
  if (/^https?:\/\//i.test(name.trim())) {
    // the SDK's listPageRangesDiff(offset, count, prevSnapshotUrl) sends the URL here
    return snapshotOfUrl(deps, name.trim(), 'prevsnapshot URL');
  }
  const current = view.access.resource;
  if (current.kind !== 'snapshot') {
    throw blobError('PreviousSnapshotOperationNotSupported', 'prevsnapshot can only be used on the SAS of a snapshot, not of a disk.');
  }
  const found = await findSnapshot(deps.engine, current.snapshot, name.trim());
  if (!found || found.familyId !== current.snapshot.familyId) {
    throw blobError(
      'PreviousSnapshotNotFound',
      `The previous snapshot '${name}' was not found among the snapshots of the same disk (incremental snapshot family).`,
      { hint: 'Name it by uniqueId, resource id or timeCreated, or pass its SAS URL in x-ms-previous-snapshot-url.' },
    );
  }
  return found;
}

/** The snapshot behind a SAS URL of this server (authenticated, readable). */
async function snapshotOfUrl(deps: AuthDeps, url: string, what: string): Promise<SnapshotRecord> {
  const prev = await authorizeUrl(deps, url, what);
  if (prev.resource.kind !== 'snapshot') {
    throw blobError('PreviousSnapshotNotFound', `The ${what} is the SAS of a disk, not of a snapshot.`);
  }
  return prev.resource.snapshot;
}

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A snapshot by uniqueId, ARM resource id, or timeCreated (within `current`'s family). */
async function findSnapshot(engine: Engine, current: SnapshotRecord, name: string): Promise<SnapshotRecord | undefined> {
  try {
    if (GUID_RE.test(name)) return await engine.snapshots.getById(name.toLowerCase());
    const id = tryParseResourceId(name);
    if (id) return id.kind === 'snapshots' ? await engine.snapshots.get(id) : undefined;
  } catch (err) {
    if (err instanceof SnapdiskError && (err.code === 'ResourceNotFound' || err.code === 'NotFound')) return undefined;
    throw err;
  }
  const at = parseTime(name);
  if (at === undefined) {
    throw blobError('InvalidQueryParameterValue', `Value '${name}' for query parameter prevsnapshot is not a snapshot uniqueId, resource id or time.`);
  }
  // the family's snapshots only (a few hundred at most), wherever they live now
  const family = await engine.ctx.catalog.listSnapshots({ familyId: current.familyId });
  return family.find((s) => Date.parse(s.timeCreated) === at);
}

/** Milliseconds of an ISO time with up to 7 fractional digits (as blob snapshot ids are written). */
function parseTime(text: string): number | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?Z$/.exec(text);
  if (!m) return undefined;
  const t = Date.parse(`${m[1] ?? ''}.${(m[2] ?? '').padEnd(3, '0').slice(0, 3)}Z`);
  return Number.isFinite(t) ? t : undefined;
}
