/**
 * @module api/http/context
 * `HttpContext`: one request parsed once into a typed object (STYLE §5: no `!` over optional
 * request state), plus the small set of reply helpers every surface needs. It wraps the raw
 * `node:http` request and response rather than web `Request`/`Response`, so data-plane handlers
 * can stream gigabytes with `ctx.req`/`ctx.res` and back-pressure intact.
 *
 * Design notes:
 * - `path` is the raw (still percent-encoded) path with leading slash runs collapsed to one:
 *   az asks for `//metadata/endpoints` when the registered resource manager URL ends in `/`.
 *   Route params are percent-decoded by the router.
 * - `host` is the authority the client addressed (the `Host` header, validated), so absolute URLs
 *   built from `baseUrl` (SAS URLs, `nextLink`, OpenID documents) point back to the same scheme,
 *   host and port. A malformed `Host` falls back to the local socket address.
 * - Every response carries `x-ms-request-id` (and echoes a sane `x-ms-client-request-id`).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { SnapdiskError } from '../../core/errors.js';

export type Scheme = 'http' | 'https';

export interface HttpContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Upper-case method. */
  readonly method: string;
  /** Raw path, leading slashes normalised, no query. */
  readonly path: string;
  /** Decoded route parameters of the matched pattern (`{name}` → `params.name`). */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** Peer address without the `::ffff:` IPv4-mapped prefix. */
  readonly ip: string;
  readonly scheme: Scheme;
  /** `host[:port]` as the client addressed us. */
  readonly host: string;
  /** `${scheme}://${host}`, no trailing slash. */
  readonly baseUrl: string;
  readonly requestId: string;
  /** Milliseconds since epoch when the request arrived. */
  readonly startedAt: number;
  /** A route parameter that the pattern guarantees (throws `InternalError` if the route lacks it). */
  param(name: string): string;
  /** A single header value (first one if repeated), or undefined. */
  header(name: string): string | undefined;
  json(status: number, body: unknown, headers?: OutgoingHttpHeaders): void;
  empty(status: number, headers?: OutgoingHttpHeaders): void;
  /** Whole body as bytes; `BadRequest` (and connection close) when longer than `maxBytes`. */
  readBody(maxBytes: number): Promise<Buffer>;
  /** Body parsed as JSON; `undefined` for an empty body; `BadRequest` when malformed. */
  readJson(maxBytes: number): Promise<unknown>;
  /** Body parsed as `application/x-www-form-urlencoded`. */
  readForm(maxBytes: number): Promise<URLSearchParams>;
}

const HOST_RE = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const CLIENT_REQUEST_ID_RE = /^[\w.:-]{1,200}$/;

/** Splits a request target into a normalised path and its query string. */
export function splitTarget(target: string): { path: string; query: URLSearchParams } {
  let rest = target;
  if (!rest.startsWith('/')) {
    // absolute-form (`http://host/path`) as a proxy would send it
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(rest);
    rest = m ? rest.slice(m[0].length) : `/${rest}`;
  }
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf('?');
  const rawPath = q >= 0 ? rest.slice(0, q) : rest;
  const query = new URLSearchParams(q >= 0 ? rest.slice(q + 1) : '');
  return { path: rawPath.replace(/^\/+/, '/') || '/', query };
}

export function normaliseIp(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/** True for 127.0.0.0/8 and ::1 (the callers allowed on the managed-identity endpoint). */
export function isLoopback(ip: string): boolean {
  return ip === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);
}

function localAuthority(req: IncomingMessage): string {
  const addr = req.socket.localAddress ?? '127.0.0.1';
  const ip = normaliseIp(addr);
  const host = ip.includes(':') ? `[${ip}]` : ip;
  return `${host}:${req.socket.localPort ?? 0}`;
}

export class NodeHttpContext implements HttpContext {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly ip: string;
  readonly scheme: Scheme;
  readonly host: string;
  readonly requestId: string;
  readonly startedAt = Date.now();
  params: Record<string, string> = {};
  private body?: Promise<Buffer>;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
  ) {
    this.method = (req.method ?? 'GET').toUpperCase();
    const { path, query } = splitTarget(req.url ?? '/');
    this.path = path;
    this.query = query;
    this.ip = normaliseIp(req.socket.remoteAddress);
    this.scheme = (req.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http';
    const hostHeader = req.headers.host;
    this.host = hostHeader !== undefined && HOST_RE.test(hostHeader) ? hostHeader : localAuthority(req);
    this.requestId = randomUUID();
    res.setHeader('x-ms-request-id', this.requestId);
    const clientRequestId = this.header('x-ms-client-request-id');
    if (clientRequestId !== undefined && CLIENT_REQUEST_ID_RE.test(clientRequestId)) {
      res.setHeader('x-ms-client-request-id', clientRequestId);
    }
  }

  get headers(): IncomingHttpHeaders {
    return this.req.headers;
  }

  get baseUrl(): string {
    return `${this.scheme}://${this.host}`;
  }

  param(name: string): string {
    const value = this.params[name];
    if (value === undefined) throw new SnapdiskError('InternalError', `Route has no parameter '${name}'.`);
    return value;
  }

  header(name: string): string | undefined {
    const value = this.req.headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
  }

  json(status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
    const text = JSON.stringify(body);
    this.res.writeHead(status, {
      ...headers,
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    this.res.end(text);
  }

  empty(status: number, headers: OutgoingHttpHeaders = {}): void {
    const noBody = status === 204 || status === 304 || (status >= 100 && status < 200);
    this.res.writeHead(status, noBody ? headers : { ...headers, 'content-length': 0 });
    this.res.end();
  }

  readBody(maxBytes: number): Promise<Buffer> {
    // The stream can be consumed once; later calls share the first read.
    this.body ??= readAll(this.req, this.res, maxBytes);
    return this.body;
  }

  async readJson(maxBytes: number): Promise<unknown> {
    const body = await this.readBody(maxBytes);
    const text = body.toString('utf8').replace(/^\uFEFF/, '');
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      throw new SnapdiskError('BadRequest', `The request content was invalid and could not be deserialized: ${detail}`);
    }
  }

  async readForm(maxBytes: number): Promise<URLSearchParams> {
    const body = await this.readBody(maxBytes);
    return new URLSearchParams(body.toString('utf8'));
  }
}

function tooLarge(res: ServerResponse, maxBytes: number): SnapdiskError {
  // Do not drain an oversized body on a keep-alive socket: close it after the reply.
  if (!res.headersSent) res.setHeader('connection', 'close');
  return new SnapdiskError('BadRequest', `The request body exceeds the limit of ${maxBytes} bytes.`);
}

function readAll(req: IncomingMessage, res: ServerResponse, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(tooLarge(res, maxBytes));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        req.pause();
        reject(tooLarge(res, maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new SnapdiskError('BadRequest', `Reading the request body failed: ${err.message}`, { cause: err }));
    };
    const onAborted = (): void => onError(new Error('client aborted the request'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
