/**
 * @module api/http/request-log
 * Structured request logs: one JSON object per request, written when the response finishes (or
 * the client goes away). The path is logged with its query, minus secrets: SAS signatures,
 * client secrets and tokens are replaced by `REDACTED`. Request bodies and headers are never
 * logged, so credentials sent in forms (`client_secret=`) or headers (`Authorization`) cannot
 * leak through this channel.
 *
 * Output goes through a `RequestLogger` function given in the options; `defaultRequestLogger`
 * writes JSON lines to stderr when `SNAPDISK_LOG` is set (or when asked to be verbose).
 */
import type { SnapdiskError } from '../../core/errors.js';
import type { HttpContext } from './context.js';

export interface RequestLogEntry {
  time: string;
  requestId: string;
  method: string;
  /** Path and query with secret parameters redacted. */
  path: string;
  status: number;
  durationMs: number;
  /** Response body bytes written. */
  bytes: number;
  /** Request body bytes as declared by `content-length`, when present. */
  bytesIn?: number;
  ip: string;
  scheme: string;
  /** The client went away before the response finished. */
  aborted?: true;
  error?: { code: string; message: string; stack?: string };
}

export type RequestLogger = (entry: RequestLogEntry) => void;

/** Query parameters whose values are secrets (compared case-insensitively). */
export const SECRET_PARAMS: ReadonlySet<string> = new Set([
  'sig',
  'signature',
  'client_secret',
  'client_assertion',
  'assertion',
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'code',
  'password',
  'secret',
]);

/** `path?query` with secret values replaced; keeps parameter order and the other values. */
export function redactTarget(path: string, query: URLSearchParams): string {
  const parts: string[] = [];
  for (const [key, value] of query) {
    const shown = SECRET_PARAMS.has(key.toLowerCase()) ? 'REDACTED' : value;
    parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(shown)}`);
  }
  return parts.length > 0 ? `${path}?${parts.join('&')}` : path;
}

/** A logger writing one JSON line per entry through `write` (stderr by default). */
export function jsonLinesLogger(write: (line: string) => void = (l) => process.stderr.write(l)): RequestLogger {
  return (entry) => write(`${JSON.stringify(entry)}\n`);
}

/** stderr JSON lines when `verbose` or the `SNAPDISK_LOG` environment variable is set, else none. */
export function defaultRequestLogger(verbose = false): RequestLogger | undefined {
  const env = process.env.SNAPDISK_LOG;
  return verbose || (env !== undefined && env !== '' && env !== '0') ? jsonLinesLogger() : undefined;
}

function chunkLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') {
    return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  }
  return chunk instanceof Uint8Array ? chunk.byteLength : 0;
}

/** Handle returned by `trackRequest`: the router reports the error a reply was made from. */
export interface RequestTracker {
  setError(err: SnapdiskError, internal: boolean): void;
}

/**
 * Counts response bytes and emits one entry when the exchange ends. Wraps `res.write`/`res.end`
 * on this response only (Node's `end` does not call `write`, so nothing is counted twice).
 */
export function trackRequest(ctx: HttpContext, log: RequestLogger): RequestTracker {
  const res = ctx.res;
  let bytes = 0;
  let error: RequestLogEntry['error'];
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
  (res as { write: unknown }).write = (...args: unknown[]): boolean => {
    bytes += chunkLength(args[0], args[1]);
    return write(...args);
  };
  (res as { end: unknown }).end = (...args: unknown[]): typeof res => {
    if (typeof args[0] !== 'function') bytes += chunkLength(args[0], args[1]);
    return end(...args);
  };
  let done = false;
  const emit = (aborted: boolean): void => {
    if (done) return;
    done = true;
    const declared = Number(ctx.headers['content-length'] ?? NaN);
    log({
      time: new Date(ctx.startedAt).toISOString(),
      requestId: ctx.requestId,
      method: ctx.method,
      path: redactTarget(ctx.path, ctx.query),
      status: res.statusCode,
      durationMs: Date.now() - ctx.startedAt,
      bytes,
      ...(Number.isFinite(declared) ? { bytesIn: declared } : {}),
      ip: ctx.ip,
      scheme: ctx.scheme,
      ...(aborted ? { aborted: true as const } : {}),
      ...(error ? { error } : {}),
    });
  };
  res.once('finish', () => emit(false));
  res.once('close', () => emit(!res.writableFinished));
  return {
    setError(err, internal) {
      const cause = err.cause instanceof Error ? err.cause : undefined;
      error = { code: err.code, message: internal && cause ? cause.message : err.message };
      if (internal) error.stack = (cause ?? err).stack;
    },
  };
}
