/**
 * @module api/arm/paging
 * List responses `{"value":[…],"nextLink":"…"}` (azure-api.md §1). Items are ordered by a key;
 * `nextLink` is an absolute URL on the request's scheme, host and port that embeds the
 * api-version, the request's other query parameters (`$filter`, `$top`) and a `$skiptoken` (the
 * last key served, base64url), so a client can GET it verbatim. Continuing after a key rather than an offset keeps pages stable while resources are
 * created or deleted between calls. `nextLink` is omitted on the last page.
 */
import { invalid } from '../../core/errors.js';
import type { HttpContext } from '../http/context.js';
import { apiVersion } from './request.js';

export interface Page<T> {
  items: T[];
  nextLink?: string;
}

function decodeToken(token: string): string {
  const key = Buffer.from(token, 'base64url').toString('utf8');
  if (key === '' || Buffer.from(key, 'utf8').toString('base64url') !== token) {
    throw invalid(`The $skiptoken '${token}' is not valid.`, '$skiptoken', 'Follow the nextLink of the previous page as it is.');
  }
  return key;
}

/** One page of `all` (any order) after the request's `$skiptoken`, `size` items at most. */
export function pageOf<T>(ctx: HttpContext, all: readonly T[], keyOf: (item: T) => string, size: number): Page<T> {
  const keyed = all.map((item) => ({ item, key: keyOf(item).toLowerCase() }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const token = ctx.query.get('$skiptoken');
  const after = token ? decodeToken(token) : undefined;
  const rest = after === undefined ? keyed : keyed.filter((k) => k.key > after);
  const pageItems = rest.slice(0, Math.max(1, size));
  const last = pageItems[pageItems.length - 1];
  if (rest.length <= pageItems.length || last === undefined) return { items: pageItems.map((k) => k.item) };
  const q = new URLSearchParams(ctx.query);
  q.set('api-version', apiVersion(ctx));
  q.set('$skiptoken', Buffer.from(last.key, 'utf8').toString('base64url'));
  return { items: pageItems.map((k) => k.item), nextLink: `${ctx.baseUrl}${ctx.path}?${q.toString()}` };
}

/** Writes the list response of a page whose items were converted to JSON. */
export function sendPage(ctx: HttpContext, value: unknown[], nextLink: string | undefined): void {
  ctx.json(200, nextLink ? { value, nextLink } : { value });
}
