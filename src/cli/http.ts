/**
 * @module cli/http
 * The CLI's HTTP transport: `node:https`/`node:http` with keep-alive agents (several data-plane
 * requests in flight share connections), an optional extra CA (snapdisk's self-signed
 * certificate, trusted alongside the system roots), a debug log of every exchange with secrets
 * redacted, and transport failures turned into errors with a hint (server down, untrusted
 * certificate).
 */

import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { CliError } from './errors.js';

export interface HttpRequest {
  method: string;
  url: string;
  headers?: OutgoingHttpHeaders;
  body?: Buffer | string;
  signal?: AbortSignal;
  /** Default 120 s without any byte of the response. */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpOptions {
  /** PEM of an extra CA to trust (added to the system roots). */
  ca?: string;
  /** Receives one line per exchange (and headers and bodies) when --debug is on. */
  debug?: (line: string) => void;
  /** Connections per host (parallel transfers); default 16. */
  maxSockets?: number;
}

/** Hides SAS signatures, secrets and tokens in logged text. */
export function redact(text: string): string {
  return text
    .replace(/([?&]sig=)[^&\s'"]+/gi, '$1REDACTED')
    .replace(/(client_secret=)[^&\s]+/gi, '$1REDACTED')
    .replace(/("access_token"\s*:\s*")[^"]+/g, '$1REDACTED')
    .replace(/(Bearer\s+)[A-Za-z0-9._-]+/g, '$1REDACTED');
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export { header as responseHeader };

export class HttpClient {
  private readonly https: HttpsAgent;
  private readonly http: HttpAgent;

  constructor(private readonly options: HttpOptions = {}) {
    const maxSockets = options.maxSockets ?? 16;
    const ca = options.ca !== undefined ? [...rootCertificates, options.ca] : undefined;
    this.https = new HttpsAgent({ keepAlive: true, maxSockets, ...(ca ? { ca } : {}) });
    this.http = new HttpAgent({ keepAlive: true, maxSockets });
  }

  async request(req: HttpRequest): Promise<HttpResponse> {
    const started = Date.now();
    const debug = this.options.debug;
    if (debug) {
      debug(`Request URL: '${redact(req.url)}'`);
      debug(`Request method: '${req.method}'`);
      for (const [k, v] of Object.entries(req.headers ?? {})) debug(`    '${k}': '${redact(String(v))}'`);
      if (typeof req.body === 'string' && req.body.length > 0) debug(`Request body: ${redact(req.body.slice(0, 2048))}`);
      else if (req.body instanceof Buffer) debug(`Request body: <${req.body.length} bytes>`);
    }
    const res = await this.send(req);
    if (debug) {
      debug(`Response status: ${res.status} (${Date.now() - started} ms)`);
      for (const [k, v] of Object.entries(res.headers)) debug(`    '${k}': '${redact(String(v))}'`);
      const type = header(res.headers, 'content-type') ?? '';
      if (res.body.length > 0 && /json|xml|text/.test(type)) debug(`Response content: ${redact(res.body.toString('utf8', 0, Math.min(res.body.length, 4096)))}`);
    }
    return res;
  }

  private send(req: HttpRequest): Promise<HttpResponse> {
    const url = new URL(req.url);
    const secure = url.protocol === 'https:';
    const body = typeof req.body === 'string' ? Buffer.from(req.body) : req.body;
    const headers: OutgoingHttpHeaders = { ...(req.headers ?? {}) };
    if (body !== undefined) headers['content-length'] = body.length;
    else if (req.method === 'PUT' || req.method === 'POST' || req.method === 'PATCH') headers['content-length'] = 0;
    return new Promise<HttpResponse>((resolve, reject) => {
      const options = { method: req.method, headers, agent: secure ? this.https : this.http, ...(req.signal ? { signal: req.signal } : {}) };
      const r = (secure ? httpsRequest : httpRequest)(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (err) => reject(transportError(err, url)));
      });
      r.setTimeout(req.timeoutMs ?? 120_000, () => r.destroy(Object.assign(new Error(`no response within ${Math.round((req.timeoutMs ?? 120_000) / 1000)} s`), { code: 'ETIMEDOUT' })));
      r.on('error', (err) => reject(transportError(err, url)));
      r.end(body);
    });
  }

  close(): void {
    this.https.destroy();
    this.http.destroy();
  }
}

const CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A transport failure as a CliError saying what to check. */
export function transportError(err: unknown, url: URL): CliError {
  const e = err as NodeJS.ErrnoException;
  const origin = url.origin;
  if (e.name === 'AbortError' || e.code === 'ABORT_ERR') return new CliError('Interrupted.', { code: 'Interrupted', cause: err });
  if (e.code === 'ECONNREFUSED') {
    return new CliError(`Cannot reach ${origin}: connection refused.`, {
      code: 'ConnectionRefused',
      hint: 'Is the server running? Start it with `snapdisk serve` (or `npm start`), or log in to another one with `snapdisk login --endpoint URL ...`.',
      cause: err,
    });
  }
  if (e.code !== undefined && CERT_CODES.has(e.code)) {
    return new CliError(`The certificate of ${origin} is not trusted (${e.code}).`, {
      code: 'CertificateNotTrusted',
      hint: 'Trust the server certificate: `snapdisk login --endpoint URL --ca-cert DATA/tls/cert.pem ...`, or set NODE_EXTRA_CA_CERTS.',
      cause: err,
    });
  }
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') {
    return new CliError(`Cannot resolve the host of ${origin}.`, { code: e.code, hint: 'Check the endpoint given to `snapdisk login`.', cause: err });
  }
  const hint =
    e.code === 'ETIMEDOUT'
      ? 'The server accepted the connection but did not answer: is it overloaded or stopped (`snapdisk serve` logs every request)? Retry, or run with --debug.'
      : 'Is the server running? Start it with `snapdisk serve` (or `npm start`), or log in to another one with `snapdisk login --endpoint URL ...`; run with --debug to see the requests.';
  return new CliError(`Request to ${origin} failed: ${e.message}${e.code ? ` (${e.code})` : ''}.`, { code: e.code ?? 'TransportError', hint, cause: err });
}
