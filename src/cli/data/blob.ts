/**
 * @module cli/data/blob
 * A client of the page blob behind a SAS URL (docs/API.md, wire contract §5): properties (HEAD),
 * ranged reads, page lists (whole, or the changes since an older snapshot through
 * `x-ms-previous-snapshot-url`, paged with `maxresults` and `marker`) and Put Page.
 *
 * Transient failures (connection resets, 500/503) are retried with backoff; a short read is an
 * error, never a short buffer; storage errors keep their code (`AuthenticationFailed` for a
 * revoked or expired SAS) and get a hint.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { CliError } from '../errors.js';
import type { HttpClient, HttpResponse } from '../http.js';
import { responseHeader } from '../http.js';

export const X_MS_VERSION = '2021-08-06';
/** Largest Put Page and the piece size of reads. */
export const PIECE = 4 * 1024 * 1024;

export interface PageRange {
  start: number;
  /** Exclusive. */
  end: number;
  /** A ClearRange of a diff. */
  clear: boolean;
}

const RETRY_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'UND_ERR_SOCKET']);

function storageError(res: HttpResponse, what: string): CliError {
  const text = res.body.toString('utf8');
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? responseHeader(res.headers, 'x-ms-error-code') ?? `HttpError${res.status}`;
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1]?.split('\n')[0] ?? `${what} failed with HTTP status ${res.status}.`;
  const hint =
    code === 'AuthenticationFailed'
      ? 'The SAS was revoked or has expired: grant access again (longer --duration-in-seconds for big transfers).'
      : /PreviousSnapshot/.test(code)
        ? 'Diffs need two snapshots of the same disk (incremental snapshot family), the older one first, in VHD format (512-byte sectors).'
        : undefined;
  return new CliError(message, { code, status: res.status, ...(hint !== undefined ? { hint } : {}) });
}

export class BlobClient {
  constructor(
    private readonly http: HttpClient,
    /** The SAS URL. */
    readonly url: string,
    private readonly signal?: AbortSignal,
    /** `maxresults` of page lists (the server's cap is 10000; tests use small pages). */
    private readonly pageSize = 10_000,
  ) {}

  private withQuery(extra: Record<string, string>): string {
    const u = new URL(this.url);
    for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v);
    return u.toString();
  }

  private async send(method: string, url: string, headers: Record<string, string | number>, body?: Buffer, what = method): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      let res: HttpResponse | undefined;
      try {
        res = await this.http.request({ method, url, headers: { 'x-ms-version': X_MS_VERSION, ...headers }, ...(body !== undefined ? { body } : {}), ...(this.signal ? { signal: this.signal } : {}) });
      } catch (err) {
        const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
        const code = (err as CliError).code ?? cause?.code;
        if (attempt >= 4 || code === undefined || !RETRY_CODES.has(code) || this.signal?.aborted) throw err;
      }
      if (res !== undefined) {
        if (res.status < 400) return res;
        if ((res.status !== 500 && res.status !== 503) || attempt >= 4) throw storageError(res, what);
      }
      await sleep(200 * 2 ** attempt, undefined, this.signal ? { signal: this.signal } : undefined);
    }
  }

  /** Blob length (HEAD). */
  async length(): Promise<number> {
    const res = await this.send('HEAD', this.url, {}, undefined, 'Get Blob Properties');
    const n = Number(responseHeader(res.headers, 'content-length'));
    if (!Number.isSafeInteger(n)) throw new CliError('The blob has no Content-Length.', { code: 'BadResponse' });
    return n;
  }

  /** Exactly `length` bytes from `start`. */
  async read(start: number, length: number): Promise<Buffer> {
    const res = await this.send('GET', this.url, { 'x-ms-range': `bytes=${start}-${start + length - 1}` }, undefined, 'Get Blob');
    if (res.body.length !== length) {
      throw new CliError(`Short read at ${start}: ${res.body.length} of ${length} bytes.`, { code: 'ShortRead', hint: 'Retry the command; the connection broke.' });
    }
    return res.body;
  }

  /**
   * Page ranges of [start, end) (whole blob by default), in order, one page of at most 10000 at
   * a time; with `previousUrl`, the changes since that snapshot (`clear` for ClearRange).
   */
  async *pageRanges(opts: { previousUrl?: string; start?: number; end?: number } = {}): AsyncGenerator<PageRange[]> {
    let marker = '';
    const range: Record<string, string> = opts.start !== undefined && opts.end !== undefined ? { 'x-ms-range': `bytes=${opts.start}-${opts.end - 1}` } : {};
    for (;;) {
      const url = this.withQuery({ comp: 'pagelist', maxresults: String(this.pageSize), ...(marker ? { marker } : {}) });
      const headers = { ...range, ...(opts.previousUrl !== undefined ? { 'x-ms-previous-snapshot-url': opts.previousUrl } : {}) };
      const res = await this.send('GET', url, headers, undefined, 'Get Page Ranges');
      const xml = res.body.toString('utf8');
      const page: PageRange[] = [];
      for (const m of xml.matchAll(/<(PageRange|ClearRange)>\s*<Start>(\d+)<\/Start>\s*<End>(\d+)<\/End>\s*<\/\1>/g)) {
        page.push({ start: Number(m[2]), end: Number(m[3]) + 1, clear: m[1] === 'ClearRange' });
      }
      yield page;
      marker = /<NextMarker>([^<]*)<\/NextMarker>/.exec(xml)?.[1] ?? '';
      if (marker === '') return;
    }
  }

  /** All page ranges (see `pageRanges`). */
  async allPageRanges(opts: { previousUrl?: string; start?: number; end?: number } = {}): Promise<PageRange[]> {
    const out: PageRange[] = [];
    for await (const page of this.pageRanges(opts)) out.push(...page);
    return out;
  }

  /** Put Page (update) of `data` (a multiple of 512 bytes, at most 4 MiB) at `offset`. */
  async putPage(offset: number, data: Buffer): Promise<void> {
    await this.send(
      'PUT',
      this.withQuery({ comp: 'page' }),
      { 'x-ms-page-write': 'update', 'x-ms-range': `bytes=${offset}-${offset + data.length - 1}`, 'content-type': 'application/octet-stream' },
      data,
      'Put Page',
    );
  }
}

/** Runs `tasks` with at most `concurrency` in flight; the first failure stops the rest. */
export async function runPool(tasks: Iterable<() => Promise<void>>, concurrency: number): Promise<void> {
  const it = tasks[Symbol.iterator]();
  let failed: unknown;
  const worker = async (): Promise<void> => {
    for (;;) {
      if (failed !== undefined) return;
      const next = it.next();
      if (next.done) return;
      try {
        await next.value();
      } catch (err) {
        failed ??= err;
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  if (failed !== undefined) throw failed;
}

/** Ranges split into pieces of at most `size` bytes. */
export function* pieces(ranges: Iterable<{ start: number; end: number }>, size = PIECE): Generator<{ start: number; end: number }> {
  for (const r of ranges) for (let s = r.start; s < r.end; s += size) yield { start: s, end: Math.min(r.end, s + size) };
}
